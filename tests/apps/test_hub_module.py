"""PaddleHub modules: the generator, the shipped sources, and the real PaddleHub 2.4.0 loading them.

PaddleHub runs in its own interpreter (``tools/make_reference_envs.sh paddlehub`` installs
paddlehub 2.4.0 into ``.venv-paddlenlp``; ``PADDLE_ELECTRA_PADDLEHUB_PYTHON`` may point at
another one). One launch of ``python -m paddle_electra.apps.hubmodule.hub_runner`` there serves
every PaddleHub test: it loads the modules generated here from tiny models with
``hub.Module(directory=...)``, runs ``predict`` / ``get_embedding`` / hub serving's
``predict_v2`` / PaddleHub's own tokenizing and training step, and writes the answers;
this side compares them with paddle_electra run directly (max |diff| <= 1e-5).
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddle_electra import (
    ElectraConfig,
    ElectraDiscriminator,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraForTotalPretraining,
    ElectraGenerator,
    ElectraModel,
    ElectraTokenizer,
)
from paddle_electra.cli.app import main as cli_main
from paddle_electra.apps.hubmodule import SHIPPED, make_hub_module, make_shipped_sources
from paddle_electra.apps.hubmodule.runtime import HubTokenizer
from paddle_electra.inference.pipelines import pipeline

REPO = Path(__file__).resolve().parents[2]
MAKE_ENVS = "tools/make_reference_envs.sh"
TOL = 1e-5
VOCAB = REPO.parent / "shared" / "data" / "chinese-bert-vocab.txt"
SMALL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("我爱北京天安门张三在工作谁的是中国人民很好看电影这部")
TEXTS = ["我爱北京天安门", "张三在北京工作", "这部电影很好看", "中国人民"]
MASKED = ["我爱北京天[MASK]门", "张三在[MASK]京工作", "[MASK]部电影很[MASK]看"]
CLS_LABELS = {0: "negative", 1: "positive", 2: "neutral"}
NER_LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}


# ----------------------------------------------------------------------------- tiny models and modules
def _tokenizer(root: Path) -> ElectraTokenizer:
    if VOCAB.is_file():
        return ElectraTokenizer(str(VOCAB))
    path = root / "vocab.txt"
    path.write_text("\n".join(SMALL_VOCAB) + "\n", encoding="utf-8")
    return ElectraTokenizer(str(path))


def _save(model, tok, folder: Path) -> str:
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return str(folder)


def make_models(root: Path) -> dict:
    """Tiny model folders: a discriminator (as chinese-electra-small), classifiers, a generator."""
    tok = _tokenizer(root)
    kw = dict(vocab_size=tok.vocab_size, embedding_size=16, hidden_size=32, num_hidden_layers=2,
              num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)
    specs = {"disc": (ElectraDiscriminator, {}), "cls": (ElectraForSequenceClassification,
                                                        dict(num_labels=3, id2label=CLS_LABELS)),
             "tok": (ElectraForTokenClassification, dict(num_labels=5, id2label=NER_LABELS)),
             "gen": (ElectraGenerator, {})}
    out = {}
    for i, (key, (cls, extra)) in enumerate(specs.items()):
        paddle.seed(40 + i)
        out[key] = _save(cls(ElectraConfig(**kw, **extra)), tok, root / "models" / key)
    return out


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub_modules")
    models = make_models(root)
    return {key: make_hub_module(folder, str(root / f"tiny_{key}_module"), name=f"tiny-{key}")["dir"]
            for key, folder in models.items()}


def _module_py(folder) -> ast.Module:
    return ast.parse(Path(folder, "module.py").read_text(encoding="utf-8"))


def _moduleinfo(tree: ast.Module) -> dict:
    """@moduleinfo's keywords, read as PaddleHub's load_module_info reads them (plain string constants)."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "moduleinfo":
                    return {k.arg: (k.value.value if isinstance(k.value, ast.Constant) else ast.dump(k.value))
                            for k in deco.keywords}
    raise AssertionError("no @moduleinfo class")


def _class_attr(tree: ast.Module, name: str):
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    for node in cls.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"no {name} in the class")


def _default_task(tree: ast.Module):
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    names = [a.arg for a in init.args.args][-len(init.args.defaults):]
    return ast.literal_eval(init.args.defaults[names.index("task")])


# ----------------------------------------------------------------------------- generator (this environment)
def test_generated_module_folder(modules):
    files = sorted(str(p.relative_to(modules["cls"])) for p in Path(modules["cls"]).rglob("*") if p.is_file())
    assert files == ["README.md", "__init__.py", "model/config.json", "model/model_state.pdparams",
                     "model/special_tokens_map.json", "model/tokenizer_config.json", "model/vocab.txt", "module.py",
                     "requirements.txt"]
    tree = _module_py(modules["cls"])
    info = _moduleinfo(tree)
    assert info["name"] == "tiny-cls" and info["version"] == "1.0.0" and info["type"] == "nlp/semantic_model"
    assert info["summary"] == "tiny-cls, ELECTRA sequence classifier, 2-layer, 32-hidden, 4-heads, 0.4M parameters, " \
        "on paddle_electra"
    assert info["meta"].startswith("Name(id='TransformerModule'")
    assert _class_attr(tree, "TASKS") == (None, "seq-cls", "token-cls", "text-matching")
    assert _default_task(tree) == "seq-cls"  # a fine-tuned classifier: its own task by default
    assert _default_task(_module_py(modules["disc"])) is None  # an encoder: embeddings, as PaddleHub's
    assert _class_attr(_module_py(modules["gen"]), "TASKS") == (None, "fill-mask")
    assert _default_task(_module_py(modules["gen"])) == "fill-mask"
    assert Path(modules["cls"], "requirements.txt").read_text().startswith("paddle_electra>=")
    readme = Path(modules["cls"], "README.md").read_text(encoding="utf-8")
    assert "# tiny-cls" in readme and "hub.Module(directory=" in readme and "hub serving start -m tiny-cls" in readme
    config = json.loads(Path(modules["cls"], "model", "config.json").read_text())
    assert config["id2label"] == {str(k): v for k, v in CLS_LABELS.items()}
    # nothing but the module folders next to them: no temporary folder left
    assert sorted(p.name for p in Path(modules["cls"]).parent.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("case", ["missing-folder", "file", "not-empty", "no-weights-folder", "bad-name",
                                  "bad-version", "pretraining-class", "unknown-name"])
def test_generator_errors_name_the_problem(tmp_path, modules, case):
    src = str(Path(modules["disc"], "model"))
    out = tmp_path / "out"
    kwargs = {}
    if case == "missing-folder":
        src, expect = str(tmp_path / "nope"), "does not exist"
    elif case == "file":
        src, expect = str(Path(src, "config.json")), "is a file"
    elif case == "not-empty":
        out.mkdir()
        (out / "keep.txt").write_text("x")
        expect = "exists and is not empty"
    elif case == "no-weights-folder":
        kwargs, expect = {"weights": False}, "weights must go into the module"
    elif case == "bad-name":
        kwargs, expect = {"name": "bad name/1"}, "module name"
    elif case == "bad-version":
        kwargs, expect = {"version": "v1"}, "version must look like"
    elif case == "pretraining-class":
        paddle.seed(0)
        src = str(tmp_path / "pretrain")
        ElectraForTotalPretraining(ElectraConfig(vocab_size=30, embedding_size=16, hidden_size=32,
                                                 num_hidden_layers=1, num_attention_heads=4,
                                                 intermediate_size=37)).save_pretrained(src)
        expect = "ElectraForTotalPretraining"
    else:
        src, expect = "chinese-electra-smal", "did you mean chinese-electra-small"
    with pytest.raises(ValueError, match=expect):
        make_hub_module(src, str(out), **kwargs)
    left = sorted(os.listdir(tmp_path))
    assert left in ([], ["out"], ["pretrain"], ["nope"]) and all(not n.startswith(".") for n in left), left
    if case == "not-empty":
        assert os.listdir(out) == ["keep.txt"]  # untouched


def test_overwrite_replaces_the_module(tmp_path, modules):
    out = tmp_path / "m"
    make_hub_module(str(Path(modules["cls"], "model")), str(out), name="first")
    info = make_hub_module(str(Path(modules["disc"], "model")), str(out), name="second", overwrite=True)
    assert _moduleinfo(_module_py(out))["name"] == "second" and info["model_class"] == "ElectraDiscriminator"
    assert sorted(os.listdir(tmp_path)) == ["m"]


def test_shipped_sources_are_what_the_generator_writes(tmp_path):
    fresh = make_shipped_sources(str(tmp_path))
    expected = {"chinese-electra-small": ("chinese-electra-small", None, (None, "seq-cls", "token-cls",
                                                                            "text-matching")),
                "chinese-electra-base": ("chinese-electra-base", None, (None, "seq-cls", "token-cls",
                                                                          "text-matching")),
                "chinese-legal-electra-small-generator": ("hfl/chinese-legal-electra-small-generator", "fill-mask",
                                                          (None, "fill-mask"))}
    assert sorted(fresh) == sorted(expected) == sorted(m.name for m in SHIPPED)
    for m in SHIPPED:
        shipped = REPO / "hub_modules" / m.folder
        names = sorted(p.name for p in shipped.iterdir())
        assert names == ["README.md", "__init__.py", "module.py", "requirements.txt"], names  # no weights
        for name in names:
            assert (shipped / name).read_text(encoding="utf-8") == Path(fresh[m.name], name).read_text(
                encoding="utf-8"), f"hub_modules/{m.folder}/{name} is stale: regenerate with make_shipped_sources"
        tree = _module_py(shipped)
        model, task, tasks = expected[m.name]
        assert _moduleinfo(tree)["name"] == m.name and _moduleinfo(tree)["type"] == "nlp/semantic_model"
        assert _class_attr(tree, "TASKS") == tasks and _default_task(tree) == task
        # the weights come by name at first use
        assert f"MODEL = {model!r}" in (shipped / "module.py").read_text(encoding="utf-8")


def test_cli_hub_module(tmp_path, modules, capsys):
    src = str(Path(modules["gen"], "model"))
    out = tmp_path / "gen-module"
    assert cli_main(["hub-module", "--model", src, "--out", str(out), "--name", "my-gen", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "my-gen" and info["tasks"] == [None, "fill-mask"] and info["default_task"] == "fill-mask"
    assert "model/model_state.pdparams" in info["files"]
    assert cli_main(["hub-module", "--model", src, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists and is not empty" in err[0]


def test_hub_tokenizer_takes_paddlenlp_calls(tmp_path):
    tok = _tokenizer(tmp_path)
    hub_tok = HubTokenizer(tok)
    ours = tok("我爱北京")["input_ids"]
    enc = hub_tok(text="我爱北京", max_seq_len=10, pad_to_max_seq_len=True, return_length=True)
    assert enc["input_ids"] == ours + [tok.pad_token_id] * (10 - len(ours)) and enc["seq_len"] == len(ours)
    assert enc["token_type_ids"] == [0] * 10
    words = hub_tok(text=list("我爱北京"), is_split_into_words=True, max_seq_len=5, return_length=True)
    assert words["input_ids"] == ours[:4] + [ours[-1]] and words["seq_len"] == 5  # cut to fit [CLS] .. [SEP]
    pair = hub_tok(text="我爱北京天安门", text_pair="张三", max_seq_len=8, return_length=True)
    assert pair["input_ids"] == tok("我爱北", "张三")["input_ids"]  # longest first, as PaddleNLP
    assert hub_tok._tokenize("我爱") == ["我", "爱"] and hub_tok("我爱") == tok("我爱")  # the rest is ours


# ----------------------------------------------------------------------------- real PaddleHub 2.4.0
def _paddlehub_python() -> str:
    path = os.environ.get("PADDLE_ELECTRA_PADDLEHUB_PYTHON") or str(REPO / ".venv-paddlenlp" / "bin" / "python")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"the PaddleHub 2.4.0 reference interpreter {path} does not exist; create it with "
                    f"`bash {MAKE_ENVS} paddlehub` (or set PADDLE_ELECTRA_PADDLEHUB_PYTHON to a python with "
                    "paddlehub==2.4.0 and paddlepaddle==3.3.1)", pytrace=False)
    return path


def _data(texts):
    return [[t] for t in texts]


@pytest.fixture(scope="module")
def hub(modules, tmp_path_factory):
    python = _paddlehub_python()
    root = tmp_path_factory.mktemp("paddlehub_run")
    state = str(root / "matching.pdparams")
    jobs = [
        {"id": "disc", "dir": modules["disc"], "ops": [
            {"op": "call", "method": "get_embedding", "kwargs": {"data": _data(TEXTS)}},
            {"op": "call", "method": "get_embedding", "kwargs": {"data": _data(TEXTS), "batch_size": 3}},
            {"op": "call", "method": "predict", "kwargs": {"data": _data(TEXTS), "batch_size": 2}},
            {"op": "serving", "input": {"data": _data(TEXTS[:2])}},
            {"op": "hub_tokenize", "texts": [TEXTS[0]], "max_seq_len": 16}]},
        {"id": "matching", "dir": modules["disc"], "init": {"task": "text-matching", "label_map": {"0": "different",
                                                                                                  "1": "same"}},
         "ops": [{"op": "call", "method": "predict",
                  "kwargs": {"data": [[TEXTS[0], TEXTS[1]], [TEXTS[2], TEXTS[3]]], "return_prob": True}},
                 {"op": "save_state", "path": state}]},
        {"id": "matching-reloaded", "dir": modules["disc"],
         "init": {"task": "text-matching", "label_map": {"0": "different", "1": "same"}, "load_checkpoint": state},
         "ops": [{"op": "call", "method": "predict",
                  "kwargs": {"data": [[TEXTS[0], TEXTS[1]], [TEXTS[2], TEXTS[3]]], "return_prob": True}}]},
        {"id": "cls", "dir": modules["cls"], "ops": [
            {"op": "call", "method": "predict", "kwargs": {"data": _data(TEXTS), "return_prob": True,
                                                           "batch_size": 2}},
            {"op": "serving", "input": {"data": _data(TEXTS)}},
            {"op": "training_step", "batch": [[[2, 5, 6, 3]], [[0, 0, 0, 0]], [1]]}]},
        {"id": "tok", "dir": modules["tok"], "ops": [
            {"op": "call", "method": "predict", "kwargs": {"data": _data(TEXTS), "return_prob": True}},
            {"op": "training_step", "batch": [[[2, 5, 6, 3]], [[0, 0, 0, 0]], [4], [[0, 1, 2, 0]]]}]},
        {"id": "gen", "dir": modules["gen"], "ops": [
            {"op": "call", "method": "predict", "kwargs": {"data": _data(MASKED), "top_k": 5, "batch_size": 2}},
            {"op": "call", "method": "get_embedding", "kwargs": {"data": _data(TEXTS[:2])}},
            {"op": "serving", "input": {"data": _data(MASKED[:1])}}]},
    ] + [{"id": f"shipped/{m.name}", "dir": str(REPO / "hub_modules" / m.folder), "inspect_only": True}
         for m in SHIPPED]
    (root / "request.json").write_text(json.dumps({"jobs": jobs}, ensure_ascii=False), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME",)}
    env.update(PYTHONPATH=str(REPO), HUB_HOME=str(root / "hub_home"), CUDA_VISIBLE_DEVICES="",
               PADDLE_ELECTRA_OFFLINE="1")
    try:
        proc = subprocess.run([python, "-m", "paddle_electra.apps.hubmodule.hub_runner", str(root / "request.json"),
                               str(root / "response.json")], capture_output=True, text=True, env=env, timeout=600,
                              cwd=str(root))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the PaddleHub runner under {python} ran past 600 s", pytrace=False)
    if proc.returncode != 0 or not (root / "response.json").exists():
        pytest.fail(f"the PaddleHub runner failed (exit {proc.returncode}) under {python}; is the reference venv "
                    f"complete? re-run `bash {MAKE_ENVS} paddlehub`.\n--- stderr (tail) ---\n{proc.stderr[-4000:]}",
                    pytrace=False)
    response = json.loads((root / "response.json").read_text(encoding="utf-8"))
    assert response["versions"]["paddlehub"] == "2.4.0", response["versions"]
    assert response["versions"]["paddle_electra_file"].startswith(str(REPO)), response["versions"]
    return response["jobs"]


def _ops(hub, job):
    out = hub[job]
    assert "error" not in out, f"{job}: {out.get('error')}\n{out.get('traceback', '')}"
    for i, op in enumerate(out["ops"]):
        assert "error" not in op, f"{job} op {i}: {op['error']}\n{op.get('traceback', '')}"
    return out["info"], [op["result"] for op in out["ops"]]


def _maxdiff(a, b) -> float:
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def test_hub_module_loads_as_paddlehub_transformer_module(hub):
    info, _ = _ops(hub, "disc")
    assert info["name"] == "tiny-disc" and info["version"] == "1.0.0" and info["type"] == "nlp/semantic_model"
    assert info["task"] is None and info["is_layer"] and info["serving_func_name"] == "predict_method"
    assert {"TransformerModule", "RunModule", "ElectraHubLayer", "Layer"} <= set(info["mro"])


def test_get_embedding_equals_paddle_electra(hub, modules):
    _, (emb, emb_batched, predicted, served, _) = _ops(hub, "disc")
    model = ElectraModel.from_pretrained(str(Path(modules["disc"], "model")))
    model.eval()
    tok = ElectraTokenizer.from_pretrained(str(Path(modules["disc"], "model")))
    worst = 0.0
    for text, (cls_vec, tokens), (cls_b, tokens_b) in zip(TEXTS, emb, emb_batched):
        enc = tok(text, return_tensors="pd")
        with paddle.no_grad():
            ref = model(enc["input_ids"], token_type_ids=enc["token_type_ids"]).numpy()[0]
        worst = max(worst, _maxdiff(tokens, ref), _maxdiff(cls_vec, ref[0]), _maxdiff(tokens_b, ref))
    print(f"get_embedding vs ElectraModel: max |diff| = {worst:.3g}")
    assert worst <= TOL
    assert _maxdiff(predicted[0][1], emb[0][1]) <= TOL  # predict with task=None is get_embedding
    assert served["status"] == "000" and _maxdiff(served["results"][1][1], emb[1][1]) <= TOL


def test_seq_cls_predict_equals_pipeline(hub, modules):
    info, (predicted, served, step) = _ops(hub, "cls")
    assert info["task"] == "seq-cls" and info["label_map"] == {str(k): v for k, v in CLS_LABELS.items()}
    labels, probs = predicted
    ref = pipeline("text-classification", model=str(Path(modules["cls"], "model")), top_k=None)(TEXTS)
    worst = 0.0
    for label, row, ranked in zip(labels, probs, ref):
        by_label = {r["label"]: r["score"] for r in ranked}
        assert label == ranked[0]["label"]
        worst = max(worst, _maxdiff(row, [by_label[CLS_LABELS[i]] for i in range(3)]))
    print(f"seq-cls predict vs pipeline: max |diff| = {worst:.3g}")
    assert worst <= TOL
    assert served == {"status": "000", "msg": "", "results": labels}  # hub serving's predict_v2
    assert np.isfinite(step["loss"]) and "acc" in step["metrics"]  # hub.Trainer's training_step runs


def test_token_cls_predict_equals_pipeline(hub, modules):
    info, (predicted, step) = _ops(hub, "tok")
    assert info["task"] == "token-cls"
    labels, probs = predicted
    ref = pipeline("token-classification", model=str(Path(modules["tok"], "model")), aggregation="none")(TEXTS)
    worst = 0.0
    for text_labels, rows, tokens in zip(labels, probs, ref):
        assert text_labels == [t["label"] for t in tokens]
        worst = max(worst, _maxdiff([max(r) for r in rows], [t["score"] for t in tokens]))
    assert worst <= TOL
    assert np.isfinite(step["loss"]) and "f1_score" in step["metrics"]


def test_fill_mask_predict_equals_pipeline(hub, modules):
    info, (predicted, emb, served) = _ops(hub, "gen")
    assert info["task"] == "fill-mask" and info["tasks"] == [None, "fill-mask"]
    ref = pipeline("fill-mask", model=str(Path(modules["gen"], "model")), top_k=5)(MASKED)
    worst = 0.0
    for ours, theirs in zip(predicted, ref):
        assert len(ours) == len(theirs)  # one list per [MASK]
        for a, b in zip(ours, theirs):
            assert [c["token_id"] for c in a] == [c["token_id"] for c in b]
            assert [c["sequence"] for c in a] == [c["sequence"] for c in b]
            worst = max(worst, _maxdiff([c["score"] for c in a], [c["score"] for c in b]))
    assert worst <= TOL
    assert served["status"] == "000" and served["results"][0][0][0]["token_id"] == ref[0][0][0]["token_id"]
    gen = ElectraModel.from_pretrained(str(Path(modules["gen"], "model")))  # the generator's encoder
    gen.eval()
    enc = ElectraTokenizer.from_pretrained(str(Path(modules["gen"], "model")))(TEXTS[0], return_tensors="pd")
    with paddle.no_grad():
        assert _maxdiff(emb[0][1], gen(enc["input_ids"]).numpy()[0]) <= TOL


def test_text_matching_and_load_checkpoint(hub):
    info, (predicted, _) = _ops(hub, "matching")
    assert info["label_map"] == {"0": "different", "1": "same"}  # JSON keys as hub serving's config gives them
    labels, probs = predicted
    assert set(labels) <= {"different", "same"} and len(probs) == 2
    assert all(abs(sum(p) - 1) < 1e-5 and len(p) == 2 for p in probs)
    _, (reloaded,) = _ops(hub, "matching-reloaded")
    assert reloaded[0] == labels and _maxdiff(reloaded[1], probs) == 0.0  # the saved head came back


def test_paddlehub_tokenizes_with_get_tokenizer(hub, modules):
    _, ops = _ops(hub, "disc")
    (enc,) = ops[-1]
    tok = ElectraTokenizer.from_pretrained(str(Path(modules["disc"], "model")))
    ours = tok(TEXTS[0])["input_ids"]
    assert enc["input_ids"] == ours + [tok.pad_token_id] * (16 - len(ours)) and enc["seq_len"] == len(ours)


@pytest.mark.parametrize("shipped", SHIPPED, ids=lambda m: m.name)
def test_shipped_sources_load_in_paddlehub(hub, shipped):
    out = hub[f"shipped/{shipped.name}"]
    assert "error" not in out, out.get("traceback")
    info, module_info = out["info"], out["module_info"]
    assert info["name"] == module_info["name"] == shipped.name
    assert info["type"] == module_info["type"] == "nlp/semantic_model" and info["version"] == "1.0.0"
    assert "TransformerModule" in info["mro"]
    generator = shipped.name.endswith("generator")
    assert info["tasks"] == ([None, "fill-mask"] if generator else [None, "seq-cls", "token-cls", "text-matching"])
    assert info["default_task"] == ("fill-mask" if generator else None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
