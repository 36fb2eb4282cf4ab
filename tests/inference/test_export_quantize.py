"""Fused fp32 ONNX and int8 exports: fusions happen and verify, int8 is recorded, smaller and agrees with fp32,
and every consumer (predictor, pipelines, serve, CLI, hub modules) takes a quantised export or says why not."""

import json
import os

import httpx
import numpy as np
import onnx
import paddle
import pytest

import paddle_electra as pe
from conftest import TINY
from paddle_electra.cli.app import main as cli_main
from paddle_electra.inference.export import ElectraPredictor, ExportError, OnnxPredictor, export, load_export
from paddle_electra.inference.export import cpu_info as cpu_info_mod
from paddle_electra.inference.export import optimize as optimize_mod
from paddle_electra.inference.export.cpu_info import FLAGS, bf16_support, cpu_info
from paddle_electra.inference.export.quantize import agreement
from paddle_electra.inference.pipelines import pipeline
from paddle_electra.apps.serving import ServerThread, build_service

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("我爱北京天安门张三在工作谁的是中国人民很好看电影这部太差"
                                                               "了一")
TEXTS = ["我爱北京天安门", "张三在北京工作", "这部电影很好看", "中国人民", "太差了", "电影很好"]
LABELS = {0: "negative", 1: "positive", 2: "neutral"}
# hidden 128: the weights dominate the file, so int8 is visibly smaller; E != H exercises the projection
SHAPE = dict(vocab_size=len(VOCAB), embedding_size=64, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
             intermediate_size=256, max_position_embeddings=64, num_labels=3, id2label=LABELS)


def op_counts(path):
    counts = {}
    for node in onnx.load(path).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("quant-model")
    (root / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    paddle.seed(11)
    model = pe.ElectraForSequenceClassification(pe.ElectraConfig(**SHAPE)).eval()
    model.save_pretrained(str(root / "model"))
    pe.ElectraTokenizer(str(root / "vocab.txt")).save_pretrained(str(root / "model"))
    return str(root / "model")


@pytest.fixture(scope="module")
def int8_export(model_dir, tmp_path_factory):
    """One verified int8 export (module-scoped: exporting is the slow part)."""
    out = str(tmp_path_factory.mktemp("quant-export") / "int8")
    return out, export(model_dir, out, quantize="int8", verify=True)


# ----------------------------------------------------------------------------- fused fp32
def test_fused_export_verifies_and_lists_fusions(int8_export):
    folder, manifest = int8_export
    fusion = manifest["onnx_optimization"]
    assert fusion["applied"] and fusion["reason"] is None and fusion["tool"] == "onnxruntime.transformers.optimizer"
    assert fusion["opt_level"] == 1  # basic: portable across CPUs
    # every layer's attention fused (needs the canonicalising rewrites), and the LayerNorm / GELU fusions
    assert fusion["fused"]["Attention"] == SHAPE["num_hidden_layers"]
    assert fusion["fused"]["SkipLayerNormalization"] == 2 * SHAPE["num_hidden_layers"]
    assert fusion["fused"]["BiasGelu"] >= SHAPE["num_hidden_layers"]
    assert fusion["rewrites"]["query_scale_moved"] == SHAPE["num_hidden_layers"]
    assert fusion["max_abs_diff_vs_unfused"] <= 1e-4
    on_disk = op_counts(os.path.join(folder, "model.onnx"))  # model.onnx is the fused graph
    assert on_disk["Attention"] == SHAPE["num_hidden_layers"] and "Softmax" not in on_disk
    report = manifest["verification"]
    assert report["passed"] and report["max_abs_diff"]["onnxruntime"]["logits"] <= 1e-4


@pytest.mark.parametrize("inputs", [("input_ids",), ("input_ids", "attention_mask")])
def test_fusion_with_fewer_inputs(tmp_path, inputs):
    """Without attention_mask the graph builds the mask from pad ids: that form is rewritten and fused too."""
    paddle.seed(3)
    model = pe.ElectraDiscriminator(pe.ElectraConfig(**TINY)).eval()
    manifest = export(model, str(tmp_path / "x"), inputs=inputs, onnx=True, verify=True, atol=1e-5, tokenizer=False)
    fusion = manifest["onnx_optimization"]
    assert fusion["applied"] and fusion["fused"]["Attention"] == TINY["num_hidden_layers"]
    assert fusion["rewrites"]["mask_rewritten"] == 1
    assert manifest["verification"]["passed"] and manifest["quantization"] is None and manifest["cpu"] is None


def test_no_optimize_onnx_keeps_the_plain_graph(tmp_path):
    model = pe.ElectraModel(pe.ElectraConfig(**TINY)).eval()
    manifest = export(model, str(tmp_path / "plain"), onnx=True, optimize_onnx=False, tokenizer=False)
    assert not manifest["onnx_optimization"]["applied"]
    assert "optimize_onnx=False" in manifest["onnx_optimization"]["reason"]
    assert "Attention" not in op_counts(str(tmp_path / "plain" / "model.onnx"))
    assert export(model, str(tmp_path / "none"), tokenizer=False)["onnx_optimization"] is None  # no ONNX at all


@pytest.mark.parametrize("failure", ["optimizer-raises", "outputs-differ"])
def test_fusion_fallback_is_recorded(tmp_path, monkeypatch, failure):
    if failure == "optimizer-raises":
        def broken(*args, **kwargs):
            raise RuntimeError("pattern matcher exploded")

        monkeypatch.setattr(optimize_mod, "fuse", broken)
        words = "optimizer failed (RuntimeError: pattern matcher exploded)"
    else:
        monkeypatch.setattr(optimize_mod, "max_abs_diff", lambda *args, **kwargs: 0.5)
        words = "differ from the unfused graph's by 0.5 > atol"
    model = pe.ElectraDiscriminator(pe.ElectraConfig(**TINY)).eval()
    manifest = export(model, str(tmp_path / "x"), onnx=True, verify=True, tokenizer=False)
    fusion = manifest["onnx_optimization"]
    assert not fusion["applied"] and words in fusion["reason"] and "kept the unfused graph" in fusion["reason"]
    assert "Attention" not in op_counts(str(tmp_path / "x" / "model.onnx"))
    assert manifest["verification"]["passed"]  # the unfused graph is still a good export
    assert sorted(os.listdir(tmp_path / "x")) == sorted(list(manifest["files"]) + ["manifest.json"])  # no temp file


# ----------------------------------------------------------------------------- int8 export
def test_int8_export_is_recorded_smaller_and_agrees(int8_export):
    folder, manifest = int8_export
    q = manifest["quantization"]
    assert q["type"] == "dynamic-int8" and q["tool"] == "onnxruntime.quantization.quantize_dynamic"
    assert q["weights"] == "QInt8" and q["file"] == "model.int8.onnx" and q["version"]
    assert q["per_channel"] is True and q["reduce_range"] is True
    assert q["quantized_ops"]["QAttention"] == SHAPE["num_hidden_layers"] and q["quantized_ops"]["MatMulInteger"] > 0
    assert "not built" in q["paddle_inference_int8"]
    files = manifest["files"]
    int8_path = os.path.join(folder, "model.int8.onnx")
    assert files["model.int8.onnx"]["size"] == q["size_bytes"] == os.path.getsize(int8_path)
    assert q["size_bytes"] < 0.4 * files["model.onnx"]["size"]  # int8 weights: about a quarter of fp32
    assert set(manifest["cpu"]["flags"]) == set(FLAGS)
    int8 = manifest["verification"]["int8"]
    assert int8["reference"] == "dygraph fp32" and int8["batch_shape"] == [16, 32] and int8["compared"]["logits"] == 16
    assert int8["top1_agreement"]["logits"] >= 0.75
    assert 0 < int8["max_abs_prob_diff"]["logits"] < 0.05 and 0 < int8["max_abs_diff"]["logits"] < 0.1
    assert load_export(folder)["verification"] == manifest["verification"]


def test_int8_of_the_unfused_graph_quantises_its_weights(tmp_path, monkeypatch):
    """paddle2onnx writes weights as Constant nodes, which the quantiser skips: they are made initializers first."""
    from paddle_electra.inference.export import quantize as quantize_mod

    model = pe.ElectraForSequenceClassification(pe.ElectraConfig(**TINY)).eval()
    manifest = export(model, str(tmp_path / "x"), quantize="int8", optimize_onnx=False, verify=True, tokenizer=False)
    assert not manifest["onnx_optimization"]["applied"]
    assert manifest["quantization"]["quantized_ops"]["MatMulInteger"] == 6 * TINY["num_hidden_layers"] + 3
    assert manifest["verification"]["int8"]["top1_agreement"]["logits"] is not None
    # a quantiser run that quantises nothing is an error, not an "int8" file holding fp32 weights
    monkeypatch.setattr(quantize_mod, "OP_TYPES", ("Conv",))
    with pytest.raises(RuntimeError, match="quantised no MatMul or Attention of model.onnx"):
        export(model, str(tmp_path / "y"), quantize="int8", tokenizer=False)
    assert sorted(os.listdir(tmp_path)) == ["x"]


def test_int8_predictor_and_pipelines(int8_export):
    folder, _ = int8_export
    fp32, int8 = OnnxPredictor(folder, threads=1), OnnxPredictor(folder, threads=1, precision="int8")
    assert int8.precision == "int8" and "precision='int8'" in repr(int8)
    enc = pe.ElectraTokenizer.from_pretrained(folder)(TEXTS, padding=True, return_tensors="np")
    a = fp32(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
    b = int8(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
    assert list(a) == list(b) == ["logits"] and a["logits"].shape == b["logits"].shape == (len(TEXTS), 3)
    assert 0 < np.abs(a["logits"] - b["logits"]).max() < 0.1  # quantised (not the fp32 file), and close
    want = pipeline("text-classification", model=folder, backend="onnx")(TEXTS)
    got = pipeline("text-classification", model=folder, backend="onnx-int8")(TEXTS)
    assert [set(r) for r in got] == [set(r) for r in want] == [{"label", "score"}] * len(TEXTS)
    assert sum(g["label"] == w["label"] for g, w in zip(got, want)) >= len(TEXTS) - 1


def test_precision_errors(int8_export, tmp_path):
    folder, _ = int8_export
    with pytest.raises(ValueError, match="unknown precision 'int4'; choose from 'fp32', 'int8'"):
        OnnxPredictor(folder, precision="int4")
    export(pe.ElectraModel(pe.ElectraConfig(**TINY)).eval(), str(tmp_path / "fp32"), onnx=True, tokenizer=False)
    with pytest.raises(ExportError, match="has no model.int8.onnx; export with quantize='int8'"):
        OnnxPredictor(str(tmp_path / "fp32"), precision="int8")
    with pytest.raises(ValueError, match="backend='onnx-int8' runs an export folder"):
        pipeline("text-classification", model=str(tmp_path / "not-an-export"), backend="onnx-int8")


# ----------------------------------------------------------------------------- bf16 (Paddle Inference, oneDNN)
def test_bf16_predictor_pipeline_and_serve(int8_export):
    """On a CPU with AVX512-BF16 / AMX: the same export in bf16 is close to fp32 and every consumer takes it;
    on one without: a clear error naming the CPU and the missing flags (never a silent fp32 run)."""
    folder, _ = int8_export
    missing = bf16_support()
    if missing:
        with pytest.raises(RuntimeError, match="has no native bf16 matrix instructions"):
            ElectraPredictor(folder, threads=1, precision="bf16")
        return
    fp32, bf16 = ElectraPredictor(folder, threads=1), ElectraPredictor(folder, threads=1, precision="bf16")
    assert bf16.precision == "bf16" and "precision='bf16'" in repr(bf16) and fp32.precision == "fp32"
    enc = pe.ElectraTokenizer.from_pretrained(folder)(TEXTS, padding=True, return_tensors="np")
    a = fp32(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])["logits"]
    b = bf16(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])["logits"]
    assert b.dtype == np.float32 and b.shape == a.shape == (len(TEXTS), 3)
    assert 0 < np.abs(a - b).max() < 0.05  # bf16 arithmetic (not the fp32 kernels), and close
    want = pipeline("text-classification", model=folder, backend="inference")(TEXTS)
    got = pipeline("text-classification", model=folder, backend="inference-bf16")(TEXTS)
    assert sum(g["label"] == w["label"] for g, w in zip(got, want)) >= len(TEXTS) - 1
    service, cleanup = build_service(folder, "text-classification", backend="inference-bf16", name="tiny-bf16")
    try:
        with ServerThread(service) as server:
            r = httpx.post(server.url + "/predict", json={"texts": TEXTS[:3]})
            assert r.status_code == 200, r.text
            assert [g["label"] for g in r.json()["results"]] == [w["label"] for w in got[:3]]
            assert httpx.get(server.url + "/metadata").json()["backend"] == "paddle-inference-bf16"
    finally:
        cleanup()


def test_bf16_errors(int8_export, monkeypatch):
    folder, _ = int8_export
    with pytest.raises(ValueError, match="unknown precision 'fp8'; choose from 'fp32', 'bf16'"):
        ElectraPredictor(folder, precision="fp8")
    with pytest.raises(RuntimeError, match="needs use_onednn=True"):
        ElectraPredictor(folder, precision="bf16", use_onednn=False)
    with pytest.raises(RuntimeError, match="precision='bf16' is the CPU oneDNN path"):
        ElectraPredictor(folder, precision="bf16", device="gpu")
    # an AVX2-only CPU (the EPYC kind some machines are): refused, naming the CPU and the flags it lacks
    monkeypatch.setattr(cpu_info_mod, "cpu_info", lambda path="/proc/cpuinfo": {
        "model": "AMD EPYC 7B12", "flags": {f: f == "avx2" for f in FLAGS}})
    with pytest.raises(RuntimeError, match=r"this CPU \(AMD EPYC 7B12\) has no native bf16 matrix instructions "
                                           r"\(avx512_bf16 / amx_bf16: absent\); use precision='fp32'"):
        ElectraPredictor(folder, precision="bf16")
    with pytest.raises(RuntimeError, match="has no native bf16"):
        pipeline("text-classification", model=folder, backend="inference-bf16")
    monkeypatch.setattr(cpu_info_mod, "cpu_info", lambda path="/proc/cpuinfo": {
        "model": None, "flags": {f: None for f in FLAGS}})
    assert "unknown (no /proc/cpuinfo)" in bf16_support()
    monkeypatch.setattr(cpu_info_mod, "cpu_info", lambda path="/proc/cpuinfo": {
        "model": "Xeon", "flags": {f: f == "amx_bf16" for f in FLAGS}})
    assert bf16_support() is None  # AMX alone is enough


def test_bad_quantize_arguments(tmp_path):
    model = pe.ElectraDiscriminator(pe.ElectraConfig(**TINY)).eval()
    with pytest.raises(ValueError, match=r"unknown quantize='int4'; allowed: 'int8' or None"):
        export(model, str(tmp_path / "a"), quantize="int4", tokenizer=False)
    with pytest.raises(ValueError, match="quantize='int8' quantises the ONNX model, so it needs onnx=True"):
        export(model, str(tmp_path / "b"), quantize="int8", onnx=False, tokenizer=False)
    with pytest.raises(ValueError, match="optimize_onnx=True fuses the ONNX graph: it needs onnx=True"):
        export(model, str(tmp_path / "c"), optimize_onnx=True, tokenizer=False)
    assert os.listdir(tmp_path) == []  # refused before anything was written


# ----------------------------------------------------------------------------- serve, CLI, hub
def test_serve_answers_with_the_int8_export(int8_export):
    folder, _ = int8_export
    want = pipeline("text-classification", model=folder, backend="onnx-int8")(TEXTS[:3])
    service, cleanup = build_service(folder, "text-classification", backend="onnx-int8", name="tiny-int8")
    try:
        with ServerThread(service) as server:
            r = httpx.post(server.url + "/predict", json={"texts": TEXTS[:3]})
            assert r.status_code == 200, r.text
            got = r.json()["results"]
            assert [g["label"] for g in got] == [w["label"] for w in want]
            assert np.allclose([g["score"] for g in got], [w["score"] for w in want], atol=1e-5)
            meta = httpx.get(server.url + "/metadata").json()
            assert meta["backend"] == "onnxruntime-int8"
    finally:
        cleanup()
    with pytest.raises(ValueError, match="unknown backend 'int4'; choose from inference, onnx, onnx-int8"):
        build_service(folder, "text-classification", backend="int4")


def test_cli_export_quantize_verify_prints_agreement(model_dir, tmp_path, capsys):
    out = tmp_path / "cli-int8"
    assert cli_main(["export", "--model", model_dir, "--out", str(out), "--quantize", "int8", "--verify"]) == 0
    text = capsys.readouterr().out
    assert "fused ONNX graph: Attention 2" in text and "int8: model.int8.onnx" in text
    assert "top-1 agreement" in text and "against fp32 on a 16 x 32 batch" in text
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["quantization"]["file"] == "model.int8.onnx" and manifest["onnx"]["file"] == "model.onnx"
    out2 = tmp_path / "cli-plain"
    assert cli_main(["export", "--model", model_dir, "--out", str(out2), "--onnx", "--no-optimize-onnx"]) == 0
    assert "ONNX graph not fused: turned off" in capsys.readouterr().out


def test_hub_module_from_an_int8_export_runs_int8(int8_export, tmp_path):
    """Hub modules accept quantised exports: the module runs model.int8.onnx by default, as OnnxPredictor does."""
    from paddle_electra.apps.hubmodule import make_hub_module
    from paddle_electra.apps.hubmodule.export_runtime import ElectraExportHubModule

    folder, _ = int8_export
    info = make_hub_module(folder, str(tmp_path / "mod"))
    assert info["backend"] == "onnx-int8" and "export/model.int8.onnx" in info["files"]
    module = ElectraExportHubModule(str(tmp_path / "mod" / "export"), task="seq-cls")
    texts = ["我爱北京", "天安门"]
    labels, probs = module.predict([[t] for t in texts], return_prob=True, batch_size=2)
    ref = pipeline("text-classification", model=folder, backend="onnx-int8", top_k=None)(texts)
    for label, row, ranked in zip(labels, probs, ref):
        assert label == ranked[0]["label"]
        assert max(row) == pytest.approx(ranked[0]["score"], abs=1e-6)


# ----------------------------------------------------------------------------- helpers
def test_cpu_info_reads_flags_and_says_unknown_elsewhere(tmp_path):
    sample = tmp_path / "cpuinfo"
    sample.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 avx512f avx512_vnni amx_int8\n"
                      "\nprocessor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n", encoding="utf-8")
    info = cpu_info(str(sample))
    assert info["model"] == "Test CPU 9000" and info["source"] == str(sample)
    assert info["flags"] == {"avx2": True, "avx512f": True, "avx512_vnni": True, "avx_vnni": False,
                             "avx512_bf16": False, "amx_int8": True, "amx_bf16": False}
    missing = cpu_info(str(tmp_path / "nope"))
    assert missing["source"] is None and set(missing["flags"].values()) == {None}


def test_agreement_reads_outputs_as_the_task_does():
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    # question answering: padded positions never count (their logits differ wildly here)
    start = np.array([[0.0, 3.0, 1.0, 9.0], [2.0, 1.0, 5.0, 0.0]])
    other = start + np.array([[0.0, 0.0, 0.0, -20.0], [0.0, 0.0, 30.0, 0.0]])
    r = agreement("question-answering", {"start_logits": start}, {"start_logits": other}, mask)
    assert r["top1_agreement"]["start_logits"] == 1.0 and r["compared"]["start_logits"] == 2
    assert r["max_abs_prob_diff"]["start_logits"] < 1e-12 and r["max_abs_diff"]["start_logits"] == 30.0
    # replaced-token detection: one logit per token, replaced when > 0, real tokens only
    rtd = agreement("replaced-token-detection", {"logits": np.array([[1.0, -1.0, 0.5, 9.0], [-2, 2, 0, 0]])},
                    {"logits": np.array([[1.0, 1.0, 0.5, -9.0], [-2, 2, 0, 0]])}, mask)
    assert rtd["top1_agreement"]["logits"] == 4 / 5 and rtd["compared"]["logits"] == 5
    # feature extraction has no labels
    fe = agreement("feature-extraction", {"last_hidden_state": np.zeros((2, 4, 3))},
                   {"last_hidden_state": np.ones((2, 4, 3))}, mask)
    assert fe["top1_agreement"]["last_hidden_state"] is None and fe["max_abs_diff"]["last_hidden_state"] == 1.0
