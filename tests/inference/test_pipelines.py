"""paddle_electra.inference.pipelines: every task's output against the model run directly, batching, errors."""

import importlib
import os
import sys
import types

import numpy as np
import paddle
import pytest

from paddle_electra.inference.pipelines import TASK_CLASSES, TokenClassificationPipeline, pipeline

from task_folders import CLS_LABELS, NER_LABELS, TEXTS, make_task_folders


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return make_task_folders(tmp_path_factory.mktemp("pipeline-models"))


@pytest.fixture(scope="module")
def pipes(folders):
    return {task: pipeline(task, model=folder) for task, folder in folders.items()}


def _direct(pipe, text, pair=None):
    """The model run directly on one unpadded text: numpy outputs without the batch axis, and the encoding."""
    enc = pipe.tokenizer(text, pair, return_offsets_mapping=True, return_special_tokens_mask=True)
    model = pipe.runner.model
    with paddle.no_grad():
        out = model(paddle.to_tensor([enc["input_ids"]]), token_type_ids=paddle.to_tensor([enc["token_type_ids"]]))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.numpy()[0].astype("float64") for o in outs], enc


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ------------------------------------------------------------------- tasks
def test_fill_mask_scores_are_softmax_of_generator_logits(pipes):
    pipe = pipes["fill-mask"]
    text = "经[MASK]审理查明，[MASK]告无罪"
    res = pipe(text)
    (logits,), enc = _direct(pipe, text)
    mask_pos = [i for i, t in enumerate(enc["input_ids"]) if t == pipe.tokenizer.mask_token_id]
    assert len(res) == len(mask_pos) == 2
    for cands, pos in zip(res, mask_pos):
        probs = _softmax(logits[pos])
        assert len(cands) == 5
        assert [c["token_id"] for c in cands] == list(np.argsort(-probs, kind="stable")[:5])
        for c in cands:
            assert c["score"] == pytest.approx(probs[c["token_id"]], abs=1e-5)
            assert c["token"] == pipe.tokenizer.convert_ids_to_tokens(c["token_id"])
        assert [c["score"] for c in cands] == sorted((c["score"] for c in cands), reverse=True)
    # the first [MASK] filled, the second kept
    c = res[0][0]
    word = c["token"][2:] if c["token"].startswith("##") else c["token"]
    assert c["sequence"] == "经" + word + "审理查明，[MASK]告无罪"
    assert len(pipe(text, top_k=2)[0]) == 2


def test_fill_mask_targets_equal_hf_transformers(pipes, folders, tmp_path):
    # HF's own fill-mask pipeline (torch) on the same weights: targets rank only those tokens, with their
    # probabilities over the whole vocabulary; a target that is not a token stands for its first piece
    import transformers

    pipe = pipes["fill-mask"]
    hf_dir = tmp_path / "hf"
    pipe.runner.model.save_pretrained(str(hf_dir), format="hf")
    pipe.tokenizer.save_pretrained(str(hf_dir))
    hf = transformers.pipeline("fill-mask", model=str(hf_dir))
    text, targets = "我爱[MASK]京", ["北", "天", "北京", "门", "天"]
    with pytest.warns(UserWarning, match="target '北京' is not a token of the vocabulary; using its first piece '北'"):
        ours = pipe(text, targets=targets)[0]
    theirs = hf(text, targets=targets)
    assert [c["token_id"] for c in ours] == [c["token"] for c in theirs]
    assert len(ours) == 3  # 北, 天, 门: 北京 is 北 again, 天 once
    for a, b in zip(ours, theirs):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
    assert [c["token_id"] for c in pipe(text, targets=targets, top_k=2)[0]] == \
        [c["token"] for c in hf(text, targets=targets, top_k=2)]
    fixed = pipeline("fill-mask", model=folders["fill-mask"], targets="门")  # at construction, for every call
    assert [c["token"] for c in fixed(text)[0]] == ["门"]
    for bad, message in [([], "non-empty list of strings"), ([1], "targets must be strings"), (" ", "holds no token")]:
        with pytest.raises(ValueError, match=message):
            pipe(text, targets=bad)


def test_fill_mask_without_mask_names_the_text(pipes):
    with pytest.raises(ValueError, match=r"text 1 .*no \[MASK\]"):
        pipes["fill-mask"](["我[MASK]北京", "我爱北京"])


def test_replaced_token_detection(pipes):
    pipe = pipes["replaced-token-detection"]
    text = "我爱北京天安门 hello"
    res = pipe(text)
    (logits,), enc = _direct(pipe, text)
    inner = [i for i, s in enumerate(enc["special_tokens_mask"]) if not s]
    assert [r["token"] for r in res] == pipe.tokenizer.convert_ids_to_tokens([enc["input_ids"][i] for i in inner])
    np.testing.assert_allclose([r["replaced_probability"] for r in res], 1 / (1 + np.exp(-logits[inner])), atol=1e-5)
    assert [text[r["start"]:r["end"]] for r in res[:7]] == list("我爱北京天安门")
    assert set(res[0]) == {"token", "start", "end", "replaced_probability"}


def test_text_classification_label_is_argmax(pipes):
    pipe = pipes["text-classification"]
    for text in TEXTS[:3]:
        res = pipe(text)
        (logits,), _ = _direct(pipe, text)
        probs = _softmax(logits)
        assert res["label"] == CLS_LABELS[int(np.argmax(logits))]
        assert res["score"] == pytest.approx(probs.max(), abs=1e-5)
        every = pipe(text, top_k=None)
        assert [r["label"] for r in every] == [CLS_LABELS[i] for i in np.argsort(-probs, kind="stable")]
        assert sum(r["score"] for r in every) == pytest.approx(1.0, abs=1e-5)
        assert pipe(text, top_k=2) == every[:2]


def test_token_classification_tokens_and_entities(pipes):
    pipe = pipes["token-classification"]
    text = "张三在北京天安门工作 hello world"
    tokens = pipe(text, aggregation="none")
    (logits,), enc = _direct(pipe, text)
    inner = [i for i, s in enumerate(enc["special_tokens_mask"]) if not s]
    assert [t["label"] for t in tokens] == [NER_LABELS[int(k)] for k in logits[inner].argmax(-1)]
    for t, i in zip(tokens, inner):
        assert (t["start"], t["end"]) == tuple(enc["offset_mapping"][i])
    entities = pipe(text)
    assert entities == TokenClassificationPipeline.aggregate(tokens, text)
    for e in entities:
        assert e["text"] == text[e["start"]:e["end"]] and e["entity"] in ("PER", "LOC")


def test_bio_aggregation_maps_to_characters():
    text = "张三在北京工作 hello"
    spans = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (8, 13)]
    labels = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-PER", "O", "B-PER"]
    rows = [{"token": text[s:e], "label": lab, "score": 0.5 + 0.05 * k, "start": s, "end": e}
            for k, ((s, e), lab) in enumerate(zip(spans, labels))]
    ents = TokenClassificationPipeline.aggregate(rows, text)
    assert [(e["entity"], e["text"], e["start"], e["end"]) for e in ents] == [
        ("PER", "张三", 0, 2), ("LOC", "北京", 3, 5), ("PER", "工", 5, 6), ("PER", "hello", 8, 13)]
    assert ents[0]["score"] == pytest.approx(0.525)


def test_question_answering_best_valid_span(pipes):
    pipe = pipes["question-answering"]
    question, context = "谁在北京工作？", "张三在北京天安门工作，李四在上海。"
    res = pipe(question=question, context=context)
    (start, end), enc = _direct(pipe, question, context)
    ctx = [i for i, (t, s) in enumerate(zip(enc["token_type_ids"], enc["special_tokens_mask"])) if t == 1 and not s]
    ps, pe = _softmax(start[ctx]), _softmax(end[ctx])
    best = max(((ps[i] * pe[j], i, j) for i in range(len(ctx)) for j in range(i, min(len(ctx), i + 30))))
    score, i, j = best
    s, e = enc["offset_mapping"][ctx[i]][0], enc["offset_mapping"][ctx[j]][1]
    assert (res["start"], res["end"]) == (s, e)
    assert res["answer"] == context[s:e] and 0 <= s < e <= len(context)
    assert res["score"] == pytest.approx(score, abs=1e-5)
    # the other calling forms agree; max_answer_len=1 gives one token
    _assert_close(pipe({"question": question, "context": context}), res)
    _assert_close(pipe([{"question": question, "context": context}] * 2), [res, res])
    assert len(pipe(question=question, context=context, max_answer_len=1)["answer"]) == 1


def test_feature_extraction(pipes):
    pipe = pipes["feature-extraction"]
    feats = pipe(TEXTS[:3])
    for text, f in zip(TEXTS[:3], feats):
        (h,), enc = _direct(pipe, text)
        assert f.shape == (len(enc["input_ids"]), 32)
        np.testing.assert_allclose(f, h, atol=1e-5)
    np.testing.assert_allclose(pipe(TEXTS[0], pooling="cls"), feats[0][0], atol=1e-5)
    assert pipeline("feature-extraction", model=pipe.runner.model, tokenizer=pipe.tokenizer,
                    pooling="cls")(TEXTS[0]).shape == (32,)


# ------------------------------------------------------------ batching
@pytest.mark.parametrize("task", ["fill-mask", "text-classification", "token-classification",
                                  "replaced-token-detection", "feature-extraction"])
def test_input_order_and_batch_size_do_not_matter(folders, task):
    texts = [t + "[MASK]" for t in TEXTS] if task == "fill-mask" else TEXTS
    one = pipeline(task, model=folders[task], batch_size=1)(texts)
    eight = pipeline(task, model=folders[task], batch_size=8)(texts)
    three = pipeline(task, model=folders[task], batch_size=3)(texts)
    singles = [pipeline(task, model=folders[task])(t) for t in texts]
    for a, b, c, d in zip(one, eight, three, singles):
        _assert_close(a, b)
        _assert_close(a, c)
        _assert_close(a, d)


def _assert_close(a, b):
    if isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, atol=1e-5)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_close(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_close(x, y)
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=1e-5)
    else:
        assert a == b


def test_results_follow_input_order(pipes):
    pipe = pipes["replaced-token-detection"]
    res = pipe(TEXTS)  # lengths differ, so sorting reorders them internally
    for text, r in zip(TEXTS, res):
        assert "".join(t["token"].lstrip("#") for t in r).replace(" ", "") == \
            "".join(pipe.tokenizer.tokenize(text)).replace("##", "")


# ------------------------------------------------------------- errors
def test_truncation_is_explicit(folders):
    long_text = "我爱北京天安门" * 20  # 140 characters > max_position_embeddings = 64
    pipe = pipeline("text-classification", model=folders["text-classification"])
    with pytest.raises(ValueError, match=r"input 1 is 142 tokens long.*max_length=64.*truncation=True"):
        pipe(["我", long_text])
    assert pipeline("text-classification", model=folders["text-classification"], truncation=True)(long_text)["label"]
    short = pipeline("feature-extraction", model=folders["feature-extraction"], max_length=16, truncation=True)
    assert short(long_text).shape == (16, 32)
    with pytest.raises(ValueError, match="max_length=16"):
        pipeline("feature-extraction", model=folders["feature-extraction"], max_length=16)(long_text)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        pipeline("feature-extraction", model=folders["feature-extraction"], max_length=100)
    # question answering reads a long context in windows; truncation=True keeps the first window only
    qa = pipeline("question-answering", model=folders["question-answering"], truncation=True)
    res = qa(question="谁？", context=long_text)
    assert long_text[res["start"]:res["end"]] == res["answer"] and res["end"] <= 64
    whole = pipeline("question-answering", model=folders["question-answering"])(question="谁？", context=long_text)
    assert long_text[whole["start"]:whole["end"]] == whole["answer"] and whole["score"] >= res["score"] - 1e-6


def test_empty_text_and_bad_inputs(pipes, folders):
    with pytest.raises(ValueError, match="text 1 is empty"):
        pipes["text-classification"](["我", ""])
    with pytest.raises(ValueError, match="empty"):
        pipes["replaced-token-detection"]("   ")
    with pytest.raises(ValueError, match="context 0 is empty"):
        pipes["question-answering"](question="谁", context="")
    with pytest.raises(TypeError):
        pipes["text-classification"](3)
    assert pipes["text-classification"]([]) == []
    with pytest.raises(ValueError, match="unknown task"):
        pipeline("summarization", model=folders["fill-mask"])
    with pytest.raises(ValueError, match="Export it first"):
        pipeline("fill-mask", model=folders["fill-mask"], backend="inference")


# --------------------------------------------------- export-folder path
class _FakePredictor:
    """Stands in for paddle_electra.ElectraPredictor: runs the dygraph model of the folder."""

    def __init__(self, export_dir, threads=None, precision="fp32"):
        import json

        assert precision == "fp32"  # backend auto / inference / onnx: full precision

        with open(os.path.join(export_dir, "manifest.json"), encoding="utf-8") as f:
            self.manifest = json.load(f)
        self.model = TASK_CLASSES[self.manifest["task"]].from_pretrained(export_dir)
        self.model.eval()

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None):
        from paddle_electra.inference.pipelines import TASK_OUTPUTS

        with paddle.no_grad():
            out = self.model(paddle.to_tensor(input_ids), token_type_ids=paddle.to_tensor(token_type_ids),
                             attention_mask=paddle.to_tensor(attention_mask))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return {k: o.numpy() for k, o in zip(TASK_OUTPUTS[self.manifest["task"]], outs)}


def test_export_folder_goes_through_the_predictor(folders, tmp_path, monkeypatch):
    import json
    import shutil

    import paddle_electra.inference

    fake = types.ModuleType("paddle_electra.inference.export")
    fake.ElectraPredictor = fake.OnnxPredictor = _FakePredictor
    monkeypatch.setitem(sys.modules, "paddle_electra.inference.export", fake)
    monkeypatch.setattr(paddle_electra.inference, "export", fake, raising=False)
    src = folders["text-classification"]
    exp = str(tmp_path / "exported")
    shutil.copytree(src, exp)
    with open(os.path.join(exp, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"task": "text-classification", "labels": {"0": "a", "1": "b", "2": "c"}}, f)
    pipe = pipeline("text-classification", model=exp)
    direct = pipeline("text-classification", model=src, top_k=None)(TEXTS)
    got = pipe(TEXTS, top_k=None)
    names = {"negative": "a", "positive": "b", "neutral": "c"}
    for g, d in zip(got, direct):
        assert [r["label"] for r in g] == [names[r["label"]] for r in d]
        np.testing.assert_allclose([r["score"] for r in g], [r["score"] for r in d], atol=1e-5)
    assert type(pipe.runner).__name__ == "PredictorRunner"
    with pytest.raises(ValueError, match="exported for task 'text-classification'"):
        pipeline("fill-mask", model=exp)
    with pytest.raises(ValueError, match="export folder"):
        pipeline("text-classification", model=exp, backend="dygraph")


def test_real_export_matches_dygraph(folders, tmp_path):
    export = importlib.import_module("paddle_electra.export")
    out = str(tmp_path / "exp")
    export.export(folders["token-classification"], task="token-classification", out_dir=out)
    exported = pipeline("token-classification", model=out, aggregation="none")(TEXTS)
    direct = pipeline("token-classification", model=folders["token-classification"], aggregation="none")(TEXTS)
    for a, b in zip(exported, direct):
        assert [t["label"] for t in a] == [t["label"] for t in b]
        np.testing.assert_allclose([t["score"] for t in a], [t["score"] for t in b], atol=1e-4)
