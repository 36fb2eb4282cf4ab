"""Atomic folder saves (issue 10): a killed or failing save leaves the old folder or the new one, never a mix.

The kill tests run the real saves in a child process and SIGKILL it at random
moments. Starting Python + Paddle for every kill would take a second each, so
one helper process (``python -c ZYGOTE``) imports the package once and forks a
fresh writer per round; the test kills that writer by pid (a real SIGKILL of a
real process mid-save), the helper reaps it, and the test then checks the folder.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import paddle
import pytest

import paddle_electra as pe
from paddle_electra import _io
from paddle_electra._io import atomic_folder, remove_leftovers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(pe.__file__)))
SMALL = dict(vocab_size=40, embedding_size=8, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
             intermediate_size=16, max_position_embeddings=16)
MARKERS = {"gelu": 1.0, "relu": 2.0}  # config.hidden_act <-> word_embeddings[0, 0]: must agree after any kill

# argv: repo, mode, target, source A, source B, "fallback" or "exchange"
ZYGOTE = r"""
import logging, os, sys
sys.path.insert(0, sys.argv[1])
import paddle_electra as pe
from paddle_electra import _io
logging.getLogger("paddle_electra").setLevel(logging.ERROR)
mode, target, sources = sys.argv[2], sys.argv[3], sys.argv[4:6]
if sys.argv[6] == "fallback":  # a kernel or file system without renameat2(RENAME_EXCHANGE)
    _io._exchange = lambda a, b: False
if mode == "model":
    items = [pe.ElectraDiscriminator.from_pretrained(s) for s in sources]
    save = lambda i: items[i].save_pretrained(target, safe_serialization=bool(i))
elif mode == "tokenizer":
    items = [pe.ElectraTokenizer.from_pretrained(s) for s in sources]
    save = lambda i: items[i].save_pretrained(target)
else:
    from paddle_electra.inference.export import export
    items = [pe.ElectraDiscriminator.from_pretrained(s).eval() for s in sources]
    save = lambda i: export(items[i], target, overwrite=True, tokenizer=False)
    export(items[1], target + "-warm", tokenizer=False)  # the first export in a process is the slow one
print("ready", flush=True)
for line in sys.stdin:
    cmd, arg = line.split()
    if cmd == "go":
        pid = os.fork()
        if pid == 0:
            i = int(arg)
            while True:
                save(i % 2)
                i += 1
        print(pid, flush=True)
    else:
        os.waitpid(int(arg), 0)  # a zombie would still look alive to the next save
        print("reaped", flush=True)
"""


def tiny(act: str, seed: int):
    paddle.seed(seed)
    model = pe.ElectraDiscriminator(pe.ElectraConfig(hidden_act=act, **SMALL)).eval()
    weight = model.electra.embeddings.word_embeddings.weight
    value = weight.numpy()
    value[0, 0] = MARKERS[act]
    weight.set_value(value)
    return model


def tokenizer(root, words, lower: bool):
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    return pe.ElectraTokenizer(os.path.join(root, "vocab.txt"), do_lower_case=lower)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def leftovers(parent, name):
    """Our temporary names beside ``parent/name`` and ``.tmp`` files anywhere inside it."""
    found = [e for e in os.listdir(parent) if e.startswith(f".{name}.")]
    for root, dirs, files in os.walk(os.path.join(parent, name)):
        found += [os.path.join(root, f) for f in files + dirs if f.endswith(".tmp") or ".tmp-" in f]
    return found


def kill_rounds(tmp_path, mode, target, sources, check, rounds, window, fallback=False, budget=20.0):
    """Fork a writer that saves ``sources`` alternately into ``target``; SIGKILL it at a random moment; check.

    Returns:
        (rounds done, rounds where the kill left temporary files behind).
    """
    err = open(tmp_path / f"zygote-{mode}.log", "w+")
    zygote = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE, REPO, mode, target, *sources, "fallback" if fallback else "exchange"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
    rng = random.Random(0)
    parent, name = os.path.split(target)
    done = interrupted = 0
    start = time.monotonic()
    try:
        assert zygote.stdout.readline() == "ready\n", open(err.name).read()[-3000:]
        while done < rounds and time.monotonic() - start < budget:
            zygote.stdin.write(f"go {rng.randrange(2)}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            time.sleep(rng.uniform(0.001, window))
            os.kill(pid, signal.SIGKILL)
            zygote.stdin.write(f"reap {pid}\n")
            zygote.stdin.flush()
            assert zygote.stdout.readline() == "reaped\n"
            interrupted += bool(leftovers(parent, name))
            if fallback:  # between the two renames the target is missing; the next save's first step restores it
                remove_leftovers(parent, name)
            check(done)
            done += 1
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=30)
        err.close()
    return done, interrupted


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Two saved models that differ in config (activation) and in every weight."""
    root = tmp_path_factory.mktemp("versions")
    made = {}
    for act, seed in (("gelu", 1), ("relu", 2)):
        model = tiny(act, seed)
        model.save_pretrained(str(root / act))
        made[act] = (str(root / act), model, {k: v.numpy() for k, v in model.state_dict().items()})
    return made


def assert_one_version(folder, versions):
    """``folder`` loads as exactly one of ``versions``: config and every weight from the same save."""
    names = sorted(os.listdir(folder))
    assert not {"model_state.pdparams", "model.safetensors"} <= set(names), names  # one model, not two
    loaded = pe.ElectraDiscriminator.from_pretrained(folder)
    act = loaded.config.hidden_act
    assert act in versions, act
    state = {k: v.numpy() for k, v in loaded.state_dict().items()}
    assert state["electra.embeddings.word_embeddings.weight"][0, 0] == MARKERS[act], "config and weights disagree"
    for key, want in versions[act][2].items():
        np.testing.assert_array_equal(state[key], want, err_msg=f"{key} is not the {act} version's")


def test_killed_model_saves_leave_one_whole_model(tmp_path, versions):
    work = tmp_path / "work"
    target = str(work / "m")
    gelu = versions["gelu"][1]
    gelu.save_pretrained(target)
    tokenizer(str(tmp_path / "tok"), ["a", "b"], True).save_pretrained(target)
    os.makedirs(os.path.join(target, "extra"))
    with open(os.path.join(target, "extra", "notes.txt"), "w") as f:
        f.write("keep me")

    def check(_):
        assert_one_version(target, versions)
        assert os.path.isfile(os.path.join(target, "vocab.txt"))  # other files survive every kill
        assert open(os.path.join(target, "extra", "notes.txt")).read() == "keep me"
        gelu.save_pretrained(target)  # the next run on the folder removes what the killed one left
        assert leftovers(str(work), "m") == []

    sources = [versions["gelu"][0], versions["relu"][0]]
    done, interrupted = kill_rounds(tmp_path, "model", target, sources, check, rounds=30, window=0.02)
    assert done >= 10 and interrupted >= 1, (done, interrupted)


def test_killed_saves_without_rename_exchange_are_restored(tmp_path, versions):
    work = tmp_path / "work"
    target = str(work / "m")
    gelu = versions["gelu"][1]
    gelu.save_pretrained(target)

    def check(_):
        assert_one_version(target, versions)
        gelu.save_pretrained(target)
        assert leftovers(str(work), "m") == []

    sources = [versions["gelu"][0], versions["relu"][0]]
    done, interrupted = kill_rounds(tmp_path, "model", target, sources, check, rounds=20, window=0.02,
                                    fallback=True)
    assert done >= 10 and interrupted >= 1, (done, interrupted)


def test_killed_tokenizer_saves_leave_one_whole_tokenizer(tmp_path, versions):
    words = {True: ["x", "y", "z"], False: ["P", "Q"]}  # do_lower_case <-> vocabulary: must agree
    sources = [str(tmp_path / "lower"), str(tmp_path / "cased")]
    for src, lower in zip(sources, (True, False)):
        tokenizer(src, words[lower], lower).save_pretrained(src)
    target = str(tmp_path / "work" / "t")
    versions["gelu"][1].save_pretrained(target)
    first = pe.ElectraTokenizer.from_pretrained(sources[0])
    first.save_pretrained(target)

    def check(_):
        tok = pe.ElectraTokenizer.from_pretrained(target)
        assert list(tok.vocab)[5:] == words[tok.do_lower_case]
        assert_one_version(target, versions)  # the model saved in the folder stays
        first.save_pretrained(target)
        assert leftovers(str(tmp_path / "work"), "t") == []

    done, interrupted = kill_rounds(tmp_path, "tokenizer", target, sources, check, rounds=20, window=0.01)
    assert done >= 10 and interrupted >= 1, (done, interrupted)


def test_killed_exports_leave_one_whole_export(tmp_path, versions):
    from paddle_electra.inference.export import check_export, export

    target = str(tmp_path / "work" / "e")
    export(versions["gelu"][1], target, tokenizer=False)

    def check(_):
        check_export(target)  # every file listed in the manifest, with its hash: a mix fails here
        assert json.load(open(os.path.join(target, "config.json")))["hidden_act"] in MARKERS
        remove_leftovers(str(tmp_path / "work"), "e")  # what the next export does first (export is slow)
        assert leftovers(str(tmp_path / "work"), "e") == []

    sources = [versions["gelu"][0], versions["relu"][0]]
    done, interrupted = kill_rounds(tmp_path, "export", target, sources, check, rounds=6, window=0.5)
    assert done >= 4 and interrupted >= 1, (done, interrupted)


# ------------------------------------------------------------ failures, leftovers, other files
def test_failed_saves_leave_the_old_folder(tmp_path, versions, monkeypatch):
    import paddle_electra.tokenizer.saving as tokenizer_module
    from paddle_electra.inference.export import builder, check_export, export
    from paddle_electra.apps.hubmodule import generator, make_hub_module
    from paddle_electra.apps.train.finetune import save_best

    gelu, relu = versions["gelu"][1], versions["relu"][1]
    target = str(tmp_path / "m")
    gelu.save_pretrained(target)
    tok = tokenizer(str(tmp_path / "tok"), ["a"], True)
    tok.save_pretrained(target)
    before = {n: open(os.path.join(target, n), "rb").read() for n in os.listdir(target)}

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pe.ElectraConfig, "save_pretrained", boom)  # after the weights were written
    with pytest.raises(RuntimeError, match="disk full"):
        relu.save_pretrained(target, safe_serialization=True)
    monkeypatch.undo()
    calls = []

    def second_write_fails(*args, **kwargs):  # vocab.txt written, tokenizer_config.json not
        calls.append(args)
        if len(calls) == 2:
            boom()
        _io.write_text(*args, **kwargs)

    monkeypatch.setattr(tokenizer_module, "write_text", second_write_fails)
    with pytest.raises(RuntimeError, match="disk full"):
        tokenizer(str(tmp_path / "tok2"), ["b", "c"], False).save_pretrained(target)
    monkeypatch.undo()
    assert {n: open(os.path.join(target, n), "rb").read() for n in os.listdir(target)} == before
    assert sorted(os.listdir(tmp_path)) == ["m", "tok", "tok2"]

    out = str(tmp_path / "exp")
    export(gelu, out, tokenizer=False)
    manifest = open(os.path.join(out, "manifest.json")).read()
    monkeypatch.setattr(builder, "write_manifest", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        export(relu, out, overwrite=True, tokenizer=False)
    monkeypatch.undo()
    check_export(out)
    assert open(os.path.join(out, "manifest.json")).read() == manifest

    hub = str(tmp_path / "hub")
    make_hub_module(target, hub, weights=True)
    files = sorted(os.listdir(hub))
    monkeypatch.setattr(generator.AutoModel, "from_pretrained", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        make_hub_module(target, hub, weights=True, overwrite=True)
    monkeypatch.undo()
    assert sorted(os.listdir(hub)) == files and os.path.isfile(os.path.join(hub, "model", "config.json"))

    run = tmp_path / "run"
    run.mkdir()
    best = save_best(gelu, tok, str(run), {"epoch": 1})
    monkeypatch.setattr(type(tok), "save_pretrained", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_best(relu, tok, str(run), {"epoch": 2})
    monkeypatch.undo()
    assert_one_version(best, {"gelu": versions["gelu"]})
    assert json.load(open(os.path.join(best, "finetune_info.json"))) == {"epoch": 1}
    assert sorted(os.listdir(tmp_path)) == ["exp", "hub", "m", "run", "tok", "tok2"]
    assert sorted(os.listdir(run)) == ["best"]


def test_leftovers_of_dead_writers_are_removed_live_ones_kept(tmp_path, versions):
    from paddle_electra.inference.export import export
    from paddle_electra.apps.hubmodule import make_hub_module
    from paddle_electra.apps.train.finetune import save_best

    dead = dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        past = time.time() - 3600
        for parent, name, save in (
            (tmp_path, "m", lambda: versions["gelu"][1].save_pretrained(str(tmp_path / "m"))),
            (tmp_path, "t", lambda: tokenizer(str(tmp_path / "src"), ["a"], True).save_pretrained(str(tmp_path / "t"))),
            (tmp_path, "e", lambda: export(versions["gelu"][1], str(tmp_path / "e"), overwrite=True, tokenizer=False)),
            (tmp_path, "h", lambda: make_hub_module("electra-small", str(tmp_path / "h"), weights=False,
                                                    overwrite=True)),
            (tmp_path / "run", "best", lambda: save_best(versions["gelu"][1], pe.ElectraTokenizer(
                str(tmp_path / "src" / "vocab.txt")), str(tmp_path / "run"), {})),
        ):
            save()
            killed = [f".{name}.tmp-{dead}-0123abcd", f".{name}.old-{dead}-89abcdef", f".{name}.tmp-abcd1234",
                      f".{name}.old.x1y2z3w4"]  # ours with a dead pid; earlier versions' mkdtemp names
            for d in killed:
                os.makedirs(parent / d / "sub")
                (parent / d / "sub" / "f.bin").write_bytes(b"x" * 10)
            for d in killed[2:]:
                os.utime(parent / d, (past, past))
            running = parent / f".{name}.tmp-{live.pid}-00000000"  # another process's save in progress
            running.mkdir()
            inner = [f"config.json.{dead}-abcdefgh.tmp", "vocab.txt.k2j4h5g6.tmp"]  # atomic_path leftovers
            for f in inner:
                (parent / name / f).write_text("half")
            os.utime(parent / name / inner[1], (past, past))
            other = parent / f".{name}x.tmp-{dead}-0123abcd"  # another target's: not this save's business
            other.mkdir()
            save()
            assert sorted(e for e in os.listdir(parent) if e.startswith(f".{name}")) == sorted(
                [running.name, other.name]), name
            assert not [f for f in os.listdir(parent / name) if f.endswith(".tmp")], name
            for d in (running, other):
                d.rmdir()
    finally:
        live.kill()
        live.wait()


def test_interrupted_fallback_swap_is_restored(tmp_path, versions, monkeypatch):
    """Without RENAME_EXCHANGE a kill between the two renames leaves only ``.m.old-*``: the next save restores it."""
    target = tmp_path / "m"
    versions["relu"][1].save_pretrained(str(target))
    tokenizer(str(tmp_path / "src"), ["a"], True).save_pretrained(str(target))
    os.rename(target, tmp_path / f".m.old-{dead_pid()}-0123abcd")  # as a killed writer leaves it
    remove_leftovers(str(tmp_path), "m")
    assert_one_version(str(target), {"relu": versions["relu"]})
    os.rename(target, tmp_path / f".m.old-{dead_pid()}-0123abcd")
    monkeypatch.setattr(_io, "_exchange", lambda a, b: False)
    versions["gelu"][1].save_pretrained(str(target), safe_serialization=True)
    assert_one_version(str(target), {"gelu": versions["gelu"]})
    assert sorted(os.listdir(target)) == ["config.json", "model.safetensors", "special_tokens_map.json",
                                          "tokenizer_config.json", "vocab.txt"]
    assert sorted(os.listdir(tmp_path)) == ["m", "src"]


def test_saves_keep_the_folders_other_files(tmp_path, versions, caplog):
    target = tmp_path / "m"
    tok = tokenizer(str(tmp_path / "src"), ["a", "b"], True)
    tok.save_pretrained(str(target))
    (target / "sub" / "deeper").mkdir(parents=True)
    (target / "sub" / "deeper" / "notes.txt").write_text("mine")
    (target / "model_config.json").write_text("{}")
    for act, safe in (("gelu", False), ("relu", True), ("gelu", False)):
        versions[act][1].save_pretrained(str(target), safe_serialization=safe)
        assert_one_version(str(target), versions)
        assert pe.ElectraDiscriminator.from_pretrained(str(target)).config.hidden_act == act
        assert list(pe.ElectraTokenizer.from_pretrained(str(target)).vocab)[5:] == ["a", "b"]
        assert (target / "sub" / "deeper" / "notes.txt").read_text() == "mine"
        assert (target / "model_config.json").read_text() == "{}"
    assert "removed the stale" in caplog.text  # the other format's weights file went, as before
    with atomic_folder(str(target), carry_over=False) as tmp:
        open(os.path.join(tmp, "only.txt"), "w").close()
    assert os.listdir(target) == ["only.txt"]
    assert sorted(os.listdir(tmp_path)) == ["m", "src"]


def test_save_into_the_working_directory_is_refused(tmp_path, versions, monkeypatch):
    from paddle_electra.inference.export import export

    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    model = versions["gelu"][1]
    for folder in (".", str(here), str(tmp_path), ".."):
        with pytest.raises(ValueError, match="current working directory.*save into a subfolder"):
            model.save_pretrained(folder)
        with pytest.raises(ValueError, match="current working directory"):
            tokenizer(str(here / "src"), ["a"], True).save_pretrained(folder)
    with pytest.raises(ValueError, match="current working directory"):
        export(model, ".", overwrite=True, tokenizer=False)
    model.save_pretrained("sub")  # a subfolder is fine
    assert_one_version(str(here / "sub"), versions)
    assert sorted(os.listdir(here)) == ["src", "sub"]


def test_checkpoint_saves_clean_up_after_killed_ones(tmp_path):
    from paddle_electra.apps.train.checkpoint import list_checkpoints, save_checkpoint

    layer = paddle.nn.Linear(2, 2)
    opt = paddle.optimizer.AdamW(parameters=layer.parameters())
    save_checkpoint(str(tmp_path), 1, layer, opt, {"a": 1})
    dead = dead_pid()
    (tmp_path / f".step-00000002.tmp-{dead}-0123abcd").mkdir()  # a save of step 2 that was killed
    os.rename(tmp_path / "step-00000001", tmp_path / f".step-00000001.old-{dead}-0123abcd")  # killed mid-swap
    save_checkpoint(str(tmp_path), 3, layer, opt, {"a": 3})
    assert [os.path.basename(p) for p in list_checkpoints(str(tmp_path))] == ["step-00000001", "step-00000003"]
    save_checkpoint(str(tmp_path), 3, layer, opt, {"a": 4})  # re-saving a step replaces it in one swap
    assert json.load(open(tmp_path / "step-00000003" / "trainer_state.json"))["a"] == 4
    assert sorted(os.listdir(tmp_path)) == ["step-00000001", "step-00000003"]
