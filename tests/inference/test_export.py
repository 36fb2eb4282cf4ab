"""paddle_electra.export: export + verify every head, predictors, manifest checks, failure modes."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

import paddle_electra as pe
from conftest import TINY, make_batch
from paddle_electra.inference.export import (
    TASK_OUTPUTS,
    TASKS,
    ElectraPredictor,
    ExportError,
    ExportVerificationError,
    OnnxPredictor,
    check_export,
    export,
    load_export,
    verify,
)


def tiny(cls_name, seed=0, **kw):
    paddle.seed(seed)
    return getattr(pe, cls_name)(pe.ElectraConfig(**dict(TINY, **kw))).eval()


def dygraph(model, ids, types=None, mask=None):
    kw = {}
    if types is not None:
        kw["token_type_ids"] = paddle.to_tensor(types)
    if mask is not None:
        kw["attention_mask"] = paddle.to_tensor(mask)
    with paddle.no_grad():
        out = model(paddle.to_tensor(ids), **kw)
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def assert_close(got, want, names, tol=1e-5):
    assert list(got) == list(names)
    for name, w in zip(names, want):
        assert got[name].shape == w.shape, name
        assert np.abs(got[name] - w).max() <= tol, name


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """One ONNX + verified export per task (module-scoped: exporting is the slow part)."""
    root = tmp_path_factory.mktemp("exports")
    made = {}
    for task, cls_name in TASKS.items():
        model = tiny(cls_name, id2label={0: "neg", 1: "neu", 2: "pos"})
        manifest = export(model, str(root / task), onnx=True, verify=True, atol=1e-5, tokenizer=False)
        made[task] = (model, str(root / task), manifest)
    return made


@pytest.mark.parametrize("task", list(TASKS))
def test_export_verifies_every_head(exports, task):
    model, folder, manifest = exports[task]
    assert manifest["task"] == task and manifest["model_class"] == TASKS[task]
    assert [i["name"] for i in manifest["inputs"]] == ["input_ids", "token_type_ids", "attention_mask"]
    assert all(i["dtype"] == "int64" and i["shape"] == [-1, -1] for i in manifest["inputs"])
    assert [o["name"] for o in manifest["outputs"]] == TASK_OUTPUTS[task]
    report = manifest["verification"]
    assert report["passed"] and report["batch_shape"] == [3, 16]
    assert set(report["max_abs_diff"]) == {"paddle_inference", "onnxruntime"}
    for backend, diffs in report["max_abs_diff"].items():
        assert set(diffs) == set(TASK_OUTPUTS[task])
        assert max(diffs.values()) <= 1e-5, backend
    assert {k: v for k, v in load_export(folder).items() if k != "path"} == manifest
    on_disk = json.load(open(os.path.join(folder, "manifest.json")))
    assert on_disk["verification"] == report
    assert on_disk["versions"]["paddle"] == paddle.__version__ and on_disk["versions"]["paddle2onnx"]
    assert on_disk["onnx"]["opset"] == 17
    assert sorted(os.listdir(folder)) == sorted(list(on_disk["files"]) + ["manifest.json"])
    assert on_disk["tokenizer"] is None and "tokenizer" in on_disk["tokenizer_missing"]
    if task in ("text-classification", "token-classification"):
        assert on_disk["labels"] == ["neg", "neu", "pos"]
    else:
        assert on_disk["labels"] is None


@pytest.mark.parametrize("task", list(TASKS))
def test_predictors_match_dygraph(exports, task):
    model, folder, _ = exports[task]
    names = TASK_OUTPUTS[task]
    for predictor in (ElectraPredictor(folder, threads=1), OnnxPredictor(folder, threads=1)):
        assert predictor.task == task and predictor.output_names == names
        assert predictor.input_names == ["input_ids", "token_type_ids", "attention_mask"]
        assert predictor.manifest["task"] == task
        ids, types, mask = make_batch(batch=1, seq=7)  # batch 1
        assert_close(predictor(ids, types, mask), dygraph(model, ids, types, mask), names)
        ids, types, mask = make_batch(batch=3, seq=11, pad_from=4)  # padded batch
        assert_close(predictor(ids, token_type_ids=types, attention_mask=mask),
                     dygraph(model, ids, types, mask), names)
        # omitted inputs: zeros for token types, ids != pad for the mask
        assert_close(predictor(ids), dygraph(model, ids), names)
        assert_close(predictor(ids[0].tolist()), dygraph(model, ids[:1]), names)  # a 1-D list is batch 1


def test_export_from_folder_with_tokenizer(tmp_path):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(40)] + ["hello", "world"]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(w + "\n" for w in words), encoding="utf-8")
    tok = pe.ElectraTokenizer(str(vocab))
    model = tiny("ElectraForSequenceClassification")
    src = tmp_path / "model"
    model.save_pretrained(str(src))

    out = tmp_path / "exported"
    manifest = export(str(src), str(out), tokenizer=tok)  # task inferred from config.json
    assert manifest["task"] == "text-classification" and manifest["source"] == os.path.abspath(src)
    assert manifest["tokenizer"]["files"] == ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]
    assert manifest["special_token_ids"] == sorted(tok.all_special_ids)
    assert set(manifest["files"]) == {"inference.json", "inference.pdiparams", "config.json", "vocab.txt",
                                      "tokenizer_config.json", "special_tokens_map.json"}
    for rel, entry in manifest["files"].items():
        data = (out / rel).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert (out / "vocab.txt").read_text(encoding="utf-8").split() == words
    assert pe.ElectraConfig.from_pretrained(str(out)).num_labels == TINY["num_labels"]

    enc = pe.ElectraTokenizer.from_pretrained(str(out))(["hello world", "w1 w2 w3 hello w5"], padding=True,
                                                          return_tensors="np")
    got = ElectraPredictor(str(out))(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
    assert_close(got, dygraph(model, enc["input_ids"], enc["token_type_ids"], enc["attention_mask"]), ["logits"])

    # verify() reloads the model from the manifest's source folder and records its report
    report = verify(str(out), atol=1e-5)
    assert report["passed"] and set(report["max_abs_diff"]) == {"paddle_inference"}
    assert load_export(str(out))["verification"] == report

    # a tokenizer saved next to the model is picked up without tokenizer=
    tok.save_pretrained(str(src))
    m2 = export(str(src), str(tmp_path / "auto-tok"), task="text-classification")
    assert m2["tokenizer"] is not None and "vocab.txt" in m2["files"]


def test_input_ids_only(tmp_path):
    model = tiny("ElectraDiscriminator")
    manifest = export(model, str(tmp_path / "ids"), inputs=("input_ids",), onnx=True, verify=True, atol=1e-5,
                      tokenizer=False)
    assert [i["name"] for i in manifest["inputs"]] == ["input_ids"]
    ids, _, _ = make_batch(batch=3, seq=9, pad_from=5)  # the graph masks pad ids itself
    for predictor in (ElectraPredictor(str(tmp_path / "ids")), OnnxPredictor(str(tmp_path / "ids"))):
        assert predictor.input_names == ["input_ids"]
        assert_close(predictor(ids), dygraph(model, ids), ["logits"])
        with pytest.raises(ValueError, match="attention_mask"):
            predictor(ids, attention_mask=np.ones_like(ids))
    # a subset in any order is put into graph order
    m2 = export(model, str(tmp_path / "mask"), inputs=["input_ids", "attention_mask"], tokenizer=False)
    assert [i["name"] for i in m2["inputs"]] == ["input_ids", "attention_mask"]
    _, _, mask = make_batch(batch=3, seq=9, pad_from=5)
    assert_close(ElectraPredictor(str(tmp_path / "mask"))(ids, attention_mask=mask),
                 dygraph(model, ids, mask=mask), ["logits"])


def test_bad_arguments(tmp_path):
    model = tiny("ElectraDiscriminator")
    with pytest.raises(ValueError, match="unknown task 'summarization'"):
        export(model, str(tmp_path / "a"), task="summarization")
    with pytest.raises(ValueError, match="ElectraGenerator"):
        export(model, str(tmp_path / "b"), task="fill-mask")
    src = tmp_path / "gen"
    tiny("ElectraGenerator").save_pretrained(str(src))
    with pytest.raises(ValueError, match="ElectraForQuestionAnswering"):
        export(str(src), str(tmp_path / "c"), task="question-answering")
    with pytest.raises(ValueError, match="start with 'input_ids'"):
        export(model, str(tmp_path / "d"), inputs=("attention_mask", "input_ids"))
    with pytest.raises(ValueError, match="unknown export inputs"):
        export(model, str(tmp_path / "e"), inputs=("input_ids", "position_ids"))
    with pytest.raises(ValueError, match="no export task"):
        export(pe.ElectraForMultipleChoice(pe.ElectraConfig(**TINY)), str(tmp_path / "f"))
    assert sorted(os.listdir(tmp_path)) == ["gen"]  # nothing half-written


def test_existing_out_dir(tmp_path):
    model = tiny("ElectraModel")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(ValueError, match="not empty"):
        export(model, str(out), tokenizer=False)
    assert os.listdir(out) == ["keep.txt"] and (out / "keep.txt").read_text() == "old"
    manifest = export(model, str(out), overwrite=True, tokenizer=False)
    assert "keep.txt" not in os.listdir(out) and manifest["task"] == "feature-extraction"
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no temporary folders left
    (tmp_path / "empty").mkdir()
    export(model, str(tmp_path / "empty"), tokenizer=False)  # an empty folder is fine
    check_export(str(tmp_path / "empty"))


def test_check_export_failures(tmp_path):
    out = tmp_path / "exp"
    export(tiny("ElectraForTokenClassification"), str(out), tokenizer=False)
    check_export(str(out))
    params = out / "inference.pdiparams"
    data = bytearray(params.read_bytes())
    data[-1] ^= 0xFF  # same size, other content
    params.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="sha256 of inference.pdiparams"):
        check_export(str(out))
    with pytest.raises(ExportError, match="inference.pdiparams"):
        ElectraPredictor(str(out))
    params.write_bytes(bytes(data[:-8]))
    with pytest.raises(ExportError, match="inference.pdiparams has"):
        check_export(str(out))
    os.remove(out / "config.json")
    with pytest.raises(ExportError, match="config.json is missing"):
        load_export(str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps(dict(manifest, format_version=99)))
    with pytest.raises(ExportError, match="unknown export format version 99"):
        check_export(str(out))
    os.remove(out / "manifest.json")
    with pytest.raises(ExportError, match="manifest.json is missing"):
        OnnxPredictor(str(out))


def test_verification_failure_names_output(tmp_path, monkeypatch):
    model = tiny("ElectraForQuestionAnswering")
    real_run = OnnxPredictor._run

    def corrupt(self, feed):
        out = real_run(self, feed)
        out["end_logits"] = out["end_logits"] + 1e-3
        return out

    monkeypatch.setattr(OnnxPredictor, "_run", corrupt)
    out = tmp_path / "bad"
    with pytest.raises(ExportVerificationError, match="'end_logits' of onnxruntime"):
        export(model, str(out), onnx=True, verify=True, tokenizer=False)
    assert not os.path.exists(out) and os.listdir(tmp_path) == []
    # standalone verify on a good folder records the failure, then raises
    monkeypatch.setattr(OnnxPredictor, "_run", real_run)
    export(model, str(out), onnx=True, tokenizer=False)
    monkeypatch.setattr(OnnxPredictor, "_run", corrupt)
    with pytest.raises(ExportVerificationError, match="end_logits"):
        verify(str(out), model=model)
    report = load_export(str(out))["verification"]
    assert not report["passed"] and report["max_abs_diff"]["onnxruntime"]["end_logits"] > 1e-4
    assert report["max_abs_diff"]["onnxruntime"]["start_logits"] <= 1e-5
    with pytest.raises(ValueError, match="in-memory"):
        verify(str(out))  # no source to reload the model from


def test_paddle2onnx_optimizer_never_runs(tmp_path, monkeypatch):
    import paddle2onnx

    calls = []
    real_export = paddle2onnx.export

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_export(*args, **kwargs)

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"a subprocess was started during export: {args}")

    monkeypatch.setattr(paddle2onnx, "export", spy)
    for name in ("Popen", "run", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, no_subprocess)
    for module in ("polygraphy", "polygraphy.backend.onnx", "onnxoptimizer", "onnxsim"):
        monkeypatch.setitem(sys.modules, module, None)  # importing them fails
    monkeypatch.delenv("POLYGRAPHY_AUTOINSTALL_DEPS", raising=False)
    export(tiny("ElectraGenerator"), str(tmp_path / "x"), onnx=True, tokenizer=False)
    assert len(calls) == 1 and calls[0]["optimize_tool"] == "None" and calls[0]["opset_version"] == 17
    assert "POLYGRAPHY_AUTOINSTALL_DEPS" not in os.environ


def test_onnx_libraries_imported_lazily():
    code = ("import sys, paddle_electra.export as e; "
            "bad = [m for m in ('paddle2onnx', 'onnxruntime', 'onnx') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_package_level_export_is_callable(tmp_path):
    """``paddle_electra.export(model, out_dir)`` as in the issue, and the subpackage's names alongside."""
    import paddle_electra as pe

    paddle.seed(0)
    model = pe.ElectraDiscriminator(pe.ElectraConfig(vocab_size=60, embedding_size=16, hidden_size=32,
                                                     num_hidden_layers=1, num_attention_heads=4,
                                                     intermediate_size=40)).eval()
    manifest = pe.export(model, str(tmp_path / "exp"), tokenizer=False)
    assert manifest["task"] == "replaced-token-detection"
    assert pe.export.check_export is not None and pe.export.TASKS["fill-mask"] == "ElectraGenerator"
    pred = pe.ElectraPredictor(str(tmp_path / "exp"))
    ids = np.array([[2, 5, 7, 9, 0]], "int64")
    np.testing.assert_allclose(pred(ids)["logits"], model(paddle.to_tensor(ids)).numpy(), atol=1e-5)
