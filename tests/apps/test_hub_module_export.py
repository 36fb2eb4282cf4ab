"""PaddleHub modules made from export folders (fp32, int8, bf16): generator, runtime, and real PaddleHub 2.4.0.

The module runs the export through paddle_electra's predictors; its answers are
compared with the dygraph module (:class:`ElectraHubLayer`) on the weights the
export was made from: fp32 backends within 1e-4 (the export rule), int8 and bf16
within a loose bound (their precision) with the same labels on these inputs.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from paddle_electra.inference import export
from paddle_electra.cli.app import main as cli_main
from paddle_electra.inference.export.cpu_info import bf16_support
from paddle_electra.inference.export.manifest import ExportError
from paddle_electra.apps.hubmodule import make_hub_module
from paddle_electra.apps.hubmodule.export_runtime import ElectraExportHubModule
from paddle_electra.apps.hubmodule.runtime import GENERATOR_TASKS, ElectraHubLayer
from paddle_electra.inference.pipelines import pipeline

from test_hub_module import (
    CLS_LABELS,
    MASKED,
    REPO,
    TEXTS,
    _default_task,
    _class_attr,
    _maxdiff,
    _module_py,
    _moduleinfo,
    _ops,
    _paddlehub_python,
    make_models,
)

FP32_TOL = 1e-4


def _data(texts):
    return [[t] for t in texts]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Exports of the tiny models: a classifier with int8, a token classifier, an encoder, a generator."""
    root = tmp_path_factory.mktemp("hub_exports")
    models = make_models(root)
    out = {"models": models}
    for key, task, kw in (("cls", "text-classification", {"quantize": "int8"}),
                          ("tok", "token-classification", {"onnx": True}),
                          ("disc", "feature-extraction", {}), ("gen", "fill-mask", {})):
        out[key] = str(root / "exports" / key)
        export(models[key], out[key], task=task, **kw)
    return out


@pytest.fixture(scope="module")
def modules(exports, tmp_path_factory):
    root = tmp_path_factory.mktemp("hub_export_modules")
    return {key: make_hub_module(exports[key], str(root / f"{key}_module"), name=f"tiny-{key}-export")["dir"]
            for key in ("cls", "tok", "disc", "gen")}


class _GeneratorLayer(ElectraHubLayer):
    TASKS = GENERATOR_TASKS  # as a generated generator module sets it


def _layer(exports, key, task):
    return (_GeneratorLayer if key == "gen" else ElectraHubLayer)(exports["models"][key], task=task)


# ----------------------------------------------------------------------------- the generator
def test_module_folder_from_an_int8_export(modules, exports):
    folder = Path(modules["cls"])
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    listed = json.loads((Path(exports["cls"]) / "manifest.json").read_text())["files"]
    assert files == sorted(["README.md", "__init__.py", "module.py", "requirements.txt", "export/manifest.json"]
                           + [f"export/{f}" for f in listed])
    assert "export/model.int8.onnx" in files
    tree = _module_py(folder)
    info = _moduleinfo(tree)
    assert info["name"] == "tiny-cls-export" and info["type"] == "nlp/semantic_model"
    assert "meta" not in info  # PaddleHub's plain RunModule: an export predicts, it does not train
    assert "export (onnx-int8)" in info["summary"]
    assert _class_attr(tree, "TASKS") == ("seq-cls",) and _default_task(tree) == "seq-cls"
    text = (folder / "module.py").read_text(encoding="utf-8")
    assert "backend: Optional[str] = 'onnx-int8'" in text  # a quantised export runs int8 by default
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "dynamic-int8" in readme and "--backend onnx-int8" in readme and "hub serving start -m tiny-cls-export" \
        in readme
    assert (folder / "requirements.txt").read_text().splitlines()[1] == "onnxruntime>=1.20"
    assert (Path(modules["disc"]) / "requirements.txt").read_text().count("\n") == 1  # no ONNX model: no ORT
    assert "backend: Optional[str] = 'inference'" in (Path(modules["tok"]) / "module.py").read_text(encoding="utf-8")
    assert _class_attr(_module_py(modules["disc"]), "TASKS") == (None,)
    assert _class_attr(_module_py(modules["gen"]), "TASKS") == ("fill-mask",)
    assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("case", ["int8-missing", "onnx-missing", "backend-for-model", "qa-export", "no-weights",
                                  "altered-file", "path-outside"])
def test_export_module_errors_name_the_problem(tmp_path, exports, case):
    src = tmp_path / "src"
    shutil.copytree(exports["tok"] if case in ("int8-missing", "altered-file") else
                    exports["disc"] if case == "onnx-missing" else exports["cls"], src)
    kwargs, error = {}, ValueError
    manifest_path = src / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if case == "int8-missing":
        kwargs, expect = {"backend": "onnx-int8"}, "runs model.int8.onnx, which the export .* does not have"
    elif case == "onnx-missing":
        kwargs, expect = {"backend": "onnx"}, "runs model.onnx, which the export"
    elif case == "backend-for-model":
        src = Path(exports["models"]["cls"])
        kwargs, expect = {"backend": "onnx"}, "picks how an export folder runs"
    elif case == "qa-export":
        manifest["task"] = "question-answering"
        expect = "paddle-electra serve --model"
    elif case == "no-weights":
        kwargs, expect = {"weights": False}, "its files go into the module"
    elif case == "altered-file":
        with open(src / "inference.pdiparams", "r+b") as f:
            f.seek(10)
            f.write(b"\x00\x01\x02\x03")
        error, expect = ExportError, "sha256 of inference.pdiparams does not match"
    else:
        manifest["files"]["../outside.txt"] = {"size": 1, "sha256": "0"}
        expect = "a path outside the export folder"
    manifest_path.write_text(json.dumps(manifest))
    out = tmp_path / "out"
    with pytest.raises(error, match=expect):
        make_hub_module(str(src), str(out), **kwargs)
    assert sorted(os.listdir(tmp_path)) == ["src"]  # no module folder, no temporary folder left


def test_cli_hub_module_from_an_export(tmp_path, exports, capsys):
    out = tmp_path / "m"
    assert cli_main(["hub-module", "--model", exports["cls"], "--out", str(out), "--backend", "onnx", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["backend"] == "onnx" and info["tasks"] == ["seq-cls"] and "export/model.onnx" in info["files"]
    assert cli_main(["hub-module", "--model", exports["models"]["cls"], "--out", str(tmp_path / "x"),
                     "--backend", "onnx"]) == 2
    assert "picks how an export folder runs" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the runtime, in this process
@pytest.mark.parametrize("backend", ["inference", "onnx", "onnx-int8"])
def test_seq_cls_export_module_equals_the_dygraph_module(modules, exports, backend):
    module = ElectraExportHubModule(str(Path(modules["cls"], "export")), task="seq-cls", backend=backend, threads=1)
    labels, probs = module.predict(_data(TEXTS), return_prob=True, batch_size=3)
    ref_labels, ref_probs = _layer(exports, "cls", "seq-cls").predict(_data(TEXTS), return_prob=True)
    worst = _maxdiff(probs, ref_probs)
    print(f"{backend}: max |diff| of probabilities vs the dygraph module = {worst:.3g}")
    assert worst <= (FP32_TOL if backend != "onnx-int8" else 0.02)
    # the tiny random classifier's classes are ~1/3 each, so int8 may flip a label where two are within its error
    close = [abs(sorted(p)[-1] - sorted(p)[-2]) > 2 * worst for p in ref_probs]
    assert [a for a, c in zip(labels, close) if c] == [b for b, c in zip(ref_labels, close) if c]
    assert set(labels) <= set(CLS_LABELS.values())
    renamed = ElectraExportHubModule(str(Path(modules["cls"], "export")), task="seq-cls", backend=backend,
                                     label_map={"0": "a", "1": "b", "2": "c"})
    assert renamed.predict(_data(TEXTS[:1])) == [{"negative": "a", "positive": "b", "neutral": "c"}[
        module.predict(_data(TEXTS[:1]))[0]]]


def test_token_cls_embedding_and_fill_mask_export_modules(modules, exports):
    tok = ElectraExportHubModule(str(Path(modules["tok"], "export")), task="token-cls")
    labels, probs = tok.predict(_data(TEXTS), return_prob=True)
    ref_labels, ref_probs = _layer(exports, "tok", "token-cls").predict(_data(TEXTS), return_prob=True)
    assert labels == ref_labels and max(_maxdiff(a, b) for a, b in zip(probs, ref_probs)) <= FP32_TOL
    onnx_tok = ElectraExportHubModule(str(Path(modules["tok"], "export")), task="token_classification",
                                      backend="onnx")
    assert onnx_tok.predict(_data(TEXTS)) == ref_labels

    emb = ElectraExportHubModule(str(Path(modules["disc"], "export")))
    ours, ref = emb.get_embedding(_data(TEXTS), batch_size=2), _layer(exports, "disc", None).get_embedding(
        _data(TEXTS))
    assert max(_maxdiff(a[1], b[1]) for a, b in zip(ours, ref)) <= FP32_TOL
    assert max(_maxdiff(a[0], b[0]) for a, b in zip(ours, ref)) <= FP32_TOL
    assert _maxdiff(emb.predict(_data(TEXTS[:1]))[0][1], ours[0][1]) == 0.0  # predict with task=None

    gen = ElectraExportHubModule(str(Path(modules["gen"], "export")), task="fill-mask")
    filled = gen.predict(_data(MASKED), top_k=3, batch_size=2)
    ref = pipeline("fill-mask", model=exports["models"]["gen"], top_k=3)(MASKED)
    assert [[[c["token_id"] for c in m] for m in t] for t in filled] == \
        [[[c["token_id"] for c in m] for m in t] for t in ref]


def test_bf16_backend_runs_or_says_why(modules, exports):
    folder = str(Path(modules["cls"], "export"))
    reason = bf16_support()
    if reason is not None:  # an AVX2-only CPU: refused with the reason, never emulated silently
        with pytest.raises(RuntimeError, match="bf16"):
            ElectraExportHubModule(folder, task="seq-cls", backend="inference-bf16")
        return
    module = ElectraExportHubModule(folder, task="seq-cls", backend="inference-bf16")
    _, probs = module.predict(_data(TEXTS), return_prob=True)
    _, ref = _layer(exports, "cls", "seq-cls").predict(_data(TEXTS), return_prob=True)
    assert _maxdiff(probs, ref) <= 0.02


@pytest.mark.parametrize("case", ["other-task", "label-map-size", "use-gpu", "top-k", "return-prob", "fill-mask-pairs",
                                  "embedding-of-classifier", "altered-module", "unknown-backend"])
def test_export_module_refuses_what_it_cannot_do(tmp_path, modules, case):
    folder = str(Path(modules["cls"], "export"))
    kwargs = {"task": "seq-cls"}
    call = None
    if case == "other-task":
        kwargs, expect = {"task": "token-cls"}, "cannot do task='token-cls'"
    elif case == "label-map-size":
        kwargs["label_map"], expect = {0: "a", 1: "b"}, "must name the export's 3 label ids"
    elif case == "unknown-backend":
        kwargs["backend"], expect = "tensorrt", "unknown backend 'tensorrt'"
    elif case == "use-gpu":
        call, expect = (lambda m: m.predict(_data(TEXTS), use_gpu=True)), "runs its export on the CPU"
    elif case == "top-k":
        call, expect = (lambda m: m.predict(_data(TEXTS), top_k=3)), "top_k is a fill-mask option"
    elif case == "return-prob":
        folder, kwargs = str(Path(modules["gen"], "export")), {"task": "fill-mask"}
        call, expect = (lambda m: m.predict(_data(MASKED), return_prob=True)), "return_prob is for the class"
    elif case == "fill-mask-pairs":
        folder, kwargs = str(Path(modules["gen"], "export")), {"task": "fill-mask"}
        call, expect = (lambda m: m.predict([[MASKED[0], TEXTS[0]]])), "one text per item"
    elif case == "embedding-of-classifier":
        call, expect = (lambda m: m.get_embedding(_data(TEXTS))), "outputs no hidden states"
    else:
        copy = tmp_path / "export"
        shutil.copytree(folder, copy)
        (copy / "vocab.txt").write_text("[PAD]\n", encoding="utf-8")
        folder, expect = str(copy), "vocab.txt has .* bytes, the manifest says"
    error = RuntimeError if case == "use-gpu" else ExportError if case == "altered-module" else ValueError
    with pytest.raises(error, match=expect):
        module = ElectraExportHubModule(folder, **kwargs)
        if call is not None:
            call(module)


# ----------------------------------------------------------------------------- real PaddleHub 2.4.0
@pytest.fixture(scope="module")
def hub(modules, tmp_path_factory):
    python = _paddlehub_python()
    root = tmp_path_factory.mktemp("paddlehub_export_run")
    jobs = [
        {"id": "cls", "dir": modules["cls"], "ops": [
            {"op": "call", "method": "predict", "kwargs": {"data": _data(TEXTS), "return_prob": True,
                                                           "batch_size": 2}},
            {"op": "serving", "input": {"data": _data(TEXTS)}}]},
        {"id": "cls-inference", "dir": modules["cls"], "init": {"backend": "inference"}, "ops": [
            {"op": "call", "method": "predict", "kwargs": {"data": _data(TEXTS), "return_prob": True}}]},
        {"id": "tok", "dir": modules["tok"], "ops": [
            {"op": "call", "method": "predict", "kwargs": {"data": _data(TEXTS)}}]},
        {"id": "disc", "dir": modules["disc"], "ops": [
            {"op": "call", "method": "get_embedding", "kwargs": {"data": _data(TEXTS[:2])}},
            {"op": "serving", "input": {"data": _data(TEXTS[:1])}}]},
        {"id": "gen", "dir": modules["gen"], "ops": [
            {"op": "call", "method": "predict", "kwargs": {"data": _data(MASKED), "top_k": 5}}]},
    ]
    (root / "request.json").write_text(json.dumps({"jobs": jobs}, ensure_ascii=False), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME",)}
    env.update(PYTHONPATH=str(REPO), HUB_HOME=str(root / "hub_home"), CUDA_VISIBLE_DEVICES="",
               PADDLE_ELECTRA_OFFLINE="1")
    proc = subprocess.run([python, "-m", "paddle_electra.apps.hubmodule.hub_runner", str(root / "request.json"),
                           str(root / "response.json")], capture_output=True, text=True, env=env, timeout=600,
                          cwd=str(root))
    if proc.returncode != 0 or not (root / "response.json").exists():
        pytest.fail(f"the PaddleHub runner failed (exit {proc.returncode}) under {python}\n{proc.stderr[-4000:]}",
                    pytrace=False)
    response = json.loads((root / "response.json").read_text(encoding="utf-8"))
    assert response["versions"]["paddlehub"] == "2.4.0", response["versions"]
    return response["jobs"]


def test_paddlehub_loads_and_runs_export_modules(hub, modules):
    info, ((labels, probs), served) = _ops(hub, "cls")
    assert info["task"] == "seq-cls" and not info["is_layer"] and info["serving_func_name"] == "predict_method"
    assert "RunModule" in info["mro"] and "TransformerModule" not in info["mro"]
    here = ElectraExportHubModule(str(Path(modules["cls"], "export")), task="seq-cls")  # onnx-int8, as there
    # same batches (int8 activations are quantised per batch); the reference venv's onnxruntime release
    # may differ from this one, so the int8 bound is the export rule, not bit equality
    ref_labels, ref_probs = here.predict(_data(TEXTS), return_prob=True, batch_size=2)
    assert labels == ref_labels and _maxdiff(probs, ref_probs) <= FP32_TOL
    assert served == {"status": "000", "msg": "", "results": labels}  # hub serving's predict_v2
    _, ((labels32, probs32),) = _ops(hub, "cls-inference")
    fp32 = ElectraExportHubModule(str(Path(modules["cls"], "export")), task="seq-cls", backend="inference")
    assert _maxdiff(probs32, fp32.predict(_data(TEXTS), return_prob=True)[1]) <= 1e-6
    _, (tok_labels,) = _ops(hub, "tok")
    assert tok_labels == ElectraExportHubModule(str(Path(modules["tok"], "export")), task="token-cls").predict(
        _data(TEXTS))
    info, (emb, served_emb) = _ops(hub, "disc")
    assert info["task"] is None
    ref = ElectraExportHubModule(str(Path(modules["disc"], "export"))).get_embedding(_data(TEXTS[:2]))
    assert max(_maxdiff(a[1], b[1]) for a, b in zip(emb, ref)) <= 1e-6
    assert served_emb["status"] == "000" and _maxdiff(served_emb["results"][0][1], ref[0][1]) <= 1e-6
    _, (filled,) = _ops(hub, "gen")
    ref = ElectraExportHubModule(str(Path(modules["gen"], "export")), task="fill-mask").predict(_data(MASKED))
    assert [[[c["token_id"] for c in m] for m in t] for t in filled] == \
        [[[c["token_id"] for c in m] for m in t] for t in ref]
    print("PaddleHub 2.4.0 runs the export modules (int8, fp32, embeddings, fill-mask) as paddle_electra does")


def test_export_module_sources_stay_plain(modules):
    """PaddleHub reads @moduleinfo with ``ast``: every keyword must be a plain constant."""
    for folder in modules.values():
        info = _moduleinfo(_module_py(folder))
        assert all(isinstance(v, str) for v in info.values()), info
        assert np.all([k in info for k in ("name", "version", "summary", "author", "type")])


def test_hub_module_bench_tool_runs(tmp_path, exports):
    """tools/hub_module_bench.py end to end on a few real reviews (the documented numbers come from it)."""
    import sys

    sys.path.insert(0, str(REPO / "tools"))
    try:
        import hub_module_bench
    finally:
        sys.path.remove(str(REPO / "tools"))
    out = tmp_path / "bench"
    # the tiny classifier has 3 labels; the reviews' labels are 0 / 1, which it names too
    assert hub_module_bench.main(["--model", exports["models"]["cls"], "--out", str(out), "--limit", "16"]) == 0
    report = json.loads((out / "hub_module_bench.json").read_text())
    assert report["reviews"] == 16
    results = report["results"]
    assert results["dygraph module"]["agree_with_dygraph"] == 100.0
    for backend in ("inference", "onnx"):
        assert results[f"export module {backend}"]["agree_with_dygraph"] == 100.0
    assert results["export module onnx-int8"]["texts_per_s"] > 0
    assert isinstance(results["export module inference-bf16"], (dict, str))


def test_dygraph_module_refuses_options_its_task_does_not_use(exports):
    """The same checks in the dygraph module: nothing passed to predict is silently ignored."""
    gen = _layer(exports, "gen", "fill-mask")
    with pytest.raises(ValueError, match="one text per item"):
        gen.predict([[MASKED[0], TEXTS[0]]])
    with pytest.raises(ValueError, match="return_prob is for the class"):
        gen.predict(_data(MASKED), return_prob=True)
    assert len(gen.predict(_data(MASKED[:1]), top_k=2)[0][0]) == 2
    with pytest.raises(ValueError, match="top_k is a fill-mask option"):
        _layer(exports, "cls", "seq-cls").predict(_data(TEXTS), top_k=2)
