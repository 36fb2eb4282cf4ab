"""paddle_electra.inference.qa: windows over long contexts, answer labels, span selection; the QA pipeline and CLI on top."""

import json
import math
import os
import random

import numpy as np
import paddle
import pytest

from paddle_electra import ElectraConfig, ElectraForQuestionAnswering, ElectraTokenizer
from paddle_electra.cli import app as cli
from paddle_electra.inference import qa
from paddle_electra.bench.deploy_workers import generate_vocab
from paddle_electra.inference.pipelines import pipeline

SHARED_VOCAB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), os.pardir, "shared", "data",
                            "chinese-bert-vocab.txt")
WORDS = ["北京", "天安门", "张三", "在", "工作", "的", "中国人民", "很好看", "Café", "ELECTRA", "hello", "world",
         "running", "2024", "3.14", "，", "。", "！", "(", ")", "x", "abc", "über", "Qu'est", "数据集", "模型"]


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    if os.path.isfile(SHARED_VOCAB):
        return SHARED_VOCAB
    return generate_vocab(str(tmp_path_factory.mktemp("vocab") / "vocab.txt"))


@pytest.fixture(scope="module", params=["python", "fast"])
def tok(request, vocab):
    return ElectraTokenizer(vocab, backend=request.param)


def random_text(rs: random.Random, n_words: int) -> str:
    """Chinese, latin, digits and punctuation, joined by nothing, one space or several spaces / a tab."""
    out = []
    for _ in range(n_words):
        out.append(rs.choice(WORDS))
        out.append(rs.choice(["", "", " ", "  ", "\t", " "]))
    return rs.choice(["", " "]) + "".join(out).rstrip() + rs.choice(["", " "])


# ------------------------------------------------------------------ windows
def test_context_windows_cover_every_token_and_share_doc_stride():
    rs = random.Random(0)
    for _ in range(500):
        n, window = rs.randint(1, 200), rs.randint(1, 40)
        stride = rs.randint(0, window - 1)
        spans = qa.context_windows(n, window, stride)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert set().union(*(range(a, b) for a, b in spans)) == set(range(n))
        for (a, b), (c, d) in zip(spans, spans[1:]):
            assert b - a == window and b - c == stride and d > b  # full windows, overlap = doc_stride, progress
        assert all(0 < b - a <= window for a, b in spans)
    with pytest.raises(ValueError, match="doc_stride=5 must be"):
        qa.context_windows(10, 5, 5)


def test_features_cover_the_whole_context(tok):
    rs = random.Random(1)
    questions = [random_text(rs, rs.randint(1, 4)) for _ in range(40)]
    contexts = [random_text(rs, rs.randint(1, 60)) for _ in range(40)]
    max_length, stride = 32, 6
    feats = qa.build_features(tok, questions, contexts, max_length=max_length, doc_stride=stride)
    full_ids, full_offs = qa.tokenize_with_offsets(tok, contexts)
    q_ids, _ = qa.tokenize_with_offsets(tok, questions)
    assert sorted({f.example_index for f in feats}) == list(range(40))
    assert [f.example_index for f in feats] == sorted(f.example_index for f in feats)  # grouped, in example order
    for i in range(40):
        mine = [f for f in feats if f.example_index == i]
        assert [f.window_index for f in mine] == list(range(len(mine)))
        covered = set()
        for f in mine:
            n = len(f.input_ids)
            assert n <= max_length and len(f.token_type_ids) == len(f.offset_mapping) == n
            assert f.input_ids[:len(q_ids[i]) + 2] == [tok.cls_token_id, *q_ids[i], tok.sep_token_id]
            assert f.input_ids[-1] == tok.sep_token_id and f.context_end == n - 1
            assert f.token_type_ids == [0] * f.context_start + [1] * (n - f.context_start)
            ctx = range(f.context_start, f.context_end)
            a = f.token_start
            assert f.input_ids[f.context_start:f.context_end] == full_ids[i][a:a + len(ctx)]
            assert [f.offset_mapping[k] for k in ctx] == full_offs[i][a:a + len(ctx)]
            assert all(f.offset_mapping[k] is None for k in range(n) if k not in ctx)
            covered.update(range(a, a + len(ctx)))
        assert covered == set(range(len(full_ids[i])))
        if len(mine) > 1:  # neighbouring windows share exactly doc_stride tokens
            assert all(g.token_start == f.token_start + (f.context_end - f.context_start) - stride
                       for f, g in zip(mine, mine[1:]))


# ------------------------------------------------------------------ labels
def test_answer_labels_map_back_to_the_answer_characters(tok):
    rs = random.Random(2)
    checked_inside = checked_outside = 0
    for case in range(300):
        context = random_text(rs, rs.randint(1, 50))
        question = random_text(rs, rs.randint(1, 3))
        ids, offs = qa.tokenize_with_offsets(tok, [context])
        ids, offs = ids[0], offs[0]
        i = rs.randrange(len(ids))
        j = min(len(ids) - 1, i + rs.randint(0, 6))
        s, e = offs[i][0], offs[j][1]
        answer = {"text": context[s:e], "answer_start": s}
        fmt = rs.choice(["dict", "list", "squad"])
        given = {"dict": answer, "list": [answer], "squad": {"text": [answer["text"]], "answer_start": [s]}}[fmt]
        window = rs.randint(1, 25)  # context tokens per window
        n_question = len(qa.tokenize_with_offsets(tok, [question])[0][0])
        feats = qa.build_features(tok, [question], [context], answers=[given], max_length=n_question + 3 + window,
                                  doc_stride=rs.randint(0, min(3, window - 1)))
        for f in feats:
            a, b = f.token_start, f.token_start + f.context_end - f.context_start
            if a <= i and j < b:  # the window holds the whole answer: its labels give back exactly its characters
                assert context[f.offset_mapping[f.start_position][0]:f.offset_mapping[f.end_position][1]] == \
                    answer["text"], (case, context, answer)
                assert f.start_position - f.context_start == i - a and f.end_position - f.context_start == j - a
                checked_inside += 1
            else:
                assert (f.start_position, f.end_position) == (0, 0)
                checked_outside += 1
    assert checked_inside > 150 and checked_outside > 100  # both kinds of window were exercised


def test_labels_of_answers_inside_a_token_cover_them_minimally(tok):
    context = "我在 ELECTRA的running模型 里"
    ids, offs = qa.tokenize_with_offsets(tok, [context])
    for text in ("LECT", "run", "ELECTRA的", "的running模", " ELECTRA"):
        s = context.index(text)
        (f,) = qa.build_features(tok, ["谁"], [context], answers=[{"text": text, "answer_start": s}], max_length=64)
        got_s, got_e = f.offset_mapping[f.start_position][0], f.offset_mapping[f.end_position][1]
        assert got_s <= s + (len(text) - len(text.lstrip())) and got_e >= s + len(text)
        # minimal: dropping the first or last token would lose part of the answer
        assert f.offset_mapping[f.start_position][1] > s and f.offset_mapping[f.end_position][0] < s + len(text)


def test_no_answer_and_bad_answers(tmp_path):
    tok = ElectraTokenizer(generate_vocab(str(tmp_path / "vocab.txt")))
    (f,) = qa.build_features(tok, ["谁"], ["张三在北京"], answers=[None], max_length=32)
    assert (f.start_position, f.end_position) == (0, 0)
    (f,) = qa.build_features(tok, ["谁"], ["张三在北京"], answers=[[]], max_length=32)
    assert (f.start_position, f.end_position) == (0, 0)
    with pytest.raises(ValueError, match=r"answer 1: '北京' is not at character 0"):
        qa.build_features(tok, ["谁", "哪"], ["张三", "张三在北京"], answers=[None, {"text": "北京", "answer_start": 0}])
    batch = qa.collate(qa.build_features(tok, ["谁", "哪里"], ["张三在北京", "北京" * 30],
                                         answers=[{"text": "北京", "answer_start": 3}, None], max_length=20), 0)
    assert batch["input_ids"].shape[1] == 20 and batch["start_positions"].tolist()[0] == 6
    assert (batch["attention_mask"].sum(1) == (batch["input_ids"] != 0).sum(1)).all()


def test_question_longer_than_the_window_is_an_error_naming_it(tok):
    long_q = "中国人民" * 10
    with pytest.raises(ValueError, match=r"question 1 is 40 tokens long.*max_length=32.*never cut"):
        qa.build_features(tok, ["谁", long_q], ["张三", "张三"], max_length=32)
    with pytest.raises(ValueError, match=r"example 0: doc_stride=10 must be smaller than the 9 context tokens"):
        qa.build_features(tok, ["中国人民" * 5], ["张三在北京" * 5], max_length=32, doc_stride=10)
    with pytest.raises(ValueError, match="doc_stride must be a non-negative int"):
        qa.build_features(tok, ["谁"], ["张三"], doc_stride=-1)


# ------------------------------------------------------------------ span selection
def _brute_force(feats, starts, ends, contexts, top_k, max_len, n_best, null, score):
    """Every allowed (start, end) of every window, scored from the definitions with plain Python."""
    spans = [{} for _ in contexts]
    nulls = [None] * len(contexts)

    def softmax(v):
        m = max(v)
        z = sum(math.exp(x - m) for x in v)
        return [math.exp(x - m) / z for x in v]

    for f, sl, el in zip(feats, starts, ends):
        ctx = list(range(f.context_start, f.context_end))
        s = [float(sl[k]) for k in ctx]
        e = [float(el[k]) for k in ctx]
        if score == "probability":
            ps, pe = softmax(([float(sl[0])] if null else []) + s), softmax(([float(el[0])] if null else []) + e)
            if null:
                nv = ps[0] * pe[0]
                ps, pe = ps[1:], pe[1:]
        else:
            ps, pe = s, e
            nv = float(sl[0]) + float(el[0])
        if null:
            nulls[f.example_index] = nv if nulls[f.example_index] is None else min(nulls[f.example_index], nv)
        good_s = sorted(range(len(s)), key=lambda k: (-s[k], k))[:n_best] if n_best else range(len(s))
        good_e = sorted(range(len(e)), key=lambda k: (-e[k], k))[:n_best] if n_best else range(len(e))
        for i in good_s:
            for j in good_e:
                if i <= j < i + max_len:
                    val = ps[i] * pe[j] if score == "probability" else ps[i] + pe[j]
                    char = (f.offset_mapping[ctx[i]][0], f.offset_mapping[ctx[j]][1])
                    d = spans[f.example_index]
                    d[char] = max(d.get(char, -math.inf), val)
    out = []
    for k, d in enumerate(spans):
        c = [(v, s, e) for (s, e), v in d.items()] + ([(nulls[k], 0, 0)] if nulls[k] is not None else [])
        c.sort(key=lambda x: (-x[0], x[1], x[2] - x[1]))
        out.append([(s, e, v) for v, s, e in c[:top_k]])
    return out


def test_postprocess_equals_brute_force(tok):
    rs = random.Random(3)
    nr = np.random.RandomState(3)
    for case in range(30):
        n = rs.randint(1, 5)
        questions = [random_text(rs, rs.randint(1, 3)) for _ in range(n)]
        contexts = [random_text(rs, rs.randint(1, 40)) for _ in range(n)]
        n_question = max(len(ids) for ids in qa.tokenize_with_offsets(tok, questions)[0])
        window = rs.randint(6, 30)
        feats = qa.build_features(tok, questions, contexts, max_length=n_question + 3 + window,
                                  doc_stride=rs.randint(0, 5))
        width = max(len(f.input_ids) for f in feats)
        starts = nr.randn(len(feats), width).astype("float32") * 3
        ends = nr.randn(len(feats), width).astype("float32") * 3
        opts = dict(top_k=rs.choice([1, 3, 10]), max_answer_len=rs.choice([1, 4, 30]),
                    n_best=rs.choice([None, None, 3]), handle_impossible_answer=rs.random() < 0.3,
                    score=rs.choice(["probability", "logits"]))
        got = qa.postprocess(feats, starts, ends, contexts, **opts)
        want = _brute_force(feats, starts, ends, contexts, opts["top_k"], opts["max_answer_len"], opts["n_best"],
                            opts["handle_impossible_answer"], opts["score"])
        assert len(got) == n
        for g, w, ctx in zip(got, want, contexts):
            assert [(a["start"], a["end"]) for a in g] == [(s, e) for s, e, _ in w], (case, opts)
            assert [a["score"] for a in g] == pytest.approx([v for _, _, v in w], rel=1e-9, abs=1e-12)
            assert all(a["answer"] == ctx[a["start"]:a["end"]] for a in g)


def test_impossible_answer_wins_when_cls_scores_highest(tok):
    feats = qa.build_features(tok, ["谁"], ["张三在北京工作"], max_length=32)
    starts = np.zeros((1, len(feats[0].input_ids)))
    ends = starts.copy()
    starts[0, 0] = ends[0, 0] = 10.0  # [CLS]
    (best,) = qa.postprocess(feats, starts, ends, ["张三在北京工作"], handle_impossible_answer=True)
    assert best == [{"answer": "", "start": 0, "end": 0, "score": pytest.approx(best[0]["score"])}]
    assert best[0]["score"] > 0.99
    (spans,) = qa.postprocess(feats, starts, ends, ["张三在北京工作"])  # without the option a span is returned
    assert spans[0]["answer"] and spans[0]["end"] > spans[0]["start"]


# ------------------------------------------------------------------ a tiny model, end to end
def _span_model(tok, start_token: str, end_token: str, max_positions: int = 64):
    """A QA model whose start logit peaks on ``start_token`` and end logit on ``end_token``, wherever they are.

    Attention output and FFN output are zeroed and position / segment embeddings
    are zero, so each token's final hidden state depends on its id alone; the
    span head then points at the two tokens' hidden states.
    """
    paddle.seed(7)
    cfg = ElectraConfig(vocab_size=tok.vocab_size, embedding_size=16, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=8, max_position_embeddings=max_positions)
    m = ElectraForQuestionAnswering(cfg)
    m.eval()
    emb = m.electra.embeddings
    zero = lambda p: p.set_value(paddle.zeros_like(p))  # noqa: E731
    zero(emb.position_embeddings.weight)
    zero(emb.token_type_embeddings.weight)
    for layer in m.electra.encoder.layers:
        for p in (layer.self_attn.out_proj.weight, layer.self_attn.out_proj.bias, layer.linear2.weight,
                  layer.linear2.bias):
            zero(p)
    with paddle.no_grad():
        h = m.electra(paddle.to_tensor([[tok.vocab[start_token], tok.vocab[end_token]]])).numpy()[0]
    m.classifier.weight.set_value(paddle.to_tensor((4.0 * h.T).astype("float32")))
    zero(m.classifier.bias)
    return m


def test_pipeline_finds_an_answer_beyond_the_first_window(tok, tmp_path):
    model = _span_model(tok, "北", "京")
    context = "我爱天安门，张三在工作。" * 9 + "他住在北京。" + "中国人民很好看" * 3
    question = "他住在哪里？"
    answer_at = context.index("北京")
    assert answer_at > 100
    pipe = pipeline("question-answering", model=model, tokenizer=tok, max_length=40, doc_stride=8)
    feats = qa.build_features(tok, [question], [context], max_length=40, doc_stride=8)
    assert len(feats) >= 5 and feats[0].context_span()[1] < answer_at  # several windows; not in the first
    res = pipe(question=question, context=context)
    assert (res["answer"], res["start"], res["end"]) == ("北京", answer_at, answer_at + 2)
    assert 0 < res["score"] <= 1
    # truncation=True reads the first window only: the answer is not there
    cut = pipeline("question-answering", model=model, tokenizer=tok, max_length=40, truncation=True)
    first = cut(question=question, context=context)
    assert first["answer"] != "北京" and first["end"] <= feats[0].context_span()[1]
    # batches of long and short contexts: results in input order, as one at a time
    items = [{"question": question, "context": c} for c in (context, "北京", "天安门在北京", "北京在中国" + context)]
    batched = pipeline("question-answering", model=model, tokenizer=tok, max_length=40, doc_stride=8,
                       batch_size=3)(items)
    assert [r["answer"] for r in batched] == ["北京"] * 4
    for b, one in zip(batched, [pipe(it) for it in items]):
        assert (b["start"], b["end"]) == (one["start"], one["end"]) and b["score"] == pytest.approx(one["score"])
    top = pipe(question=question, context=context, top_k=3)
    assert len(top) == 3 and top[0] == res and top[0]["score"] >= top[1]["score"] >= top[2]["score"]
    # a question too long for the window is an error naming it, truncation or not
    for p in (pipe, cut):
        with pytest.raises(ValueError, match="question 1 is"):
            p([{"question": "谁", "context": "北京"}, {"question": "我爱天安门" * 8, "context": "北京"}])

    # the CLI's qa command reads long contexts the same way
    folder = str(tmp_path / "qa-model")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    out = _cli(["qa", "--question", question, "--context", context, "--model", folder, "--max-length", "40",
                "--doc-stride", "8", "--json"])
    assert json.loads(out)["answer"] == "北京" and json.loads(out)["start"] == answer_at


def _cli(argv):
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(argv) == 0
    return buf.getvalue()


def test_labels_train_the_span_head(tok):
    """collate's labels feed the model's loss: finite, and lower for the labelled span than for another."""
    model = _span_model(tok, "北", "京")
    context = "张三在北京工作，李四在上海。" * 4
    feats = qa.build_features(tok, ["谁在北京？"] * 2, [context] * 2,
                              answers=[{"text": "北京", "answer_start": 3}, {"text": "上海", "answer_start": 11}],
                              max_length=40, doc_stride=8)
    batch = {k: paddle.to_tensor(v) for k, v in qa.collate(feats, tok.pad_token_id).items()}
    labelled = [k for k, f in enumerate(feats) if f.start_position]
    assert labelled and len(labelled) < len(feats)
    with paddle.no_grad():
        losses = []
        for k in (labelled[0], labelled[-1]):  # first: 北京 (what the head points at); last: 上海
            idx = paddle.to_tensor([k])
            loss = model(batch["input_ids"][idx], token_type_ids=batch["token_type_ids"][idx],
                         attention_mask=batch["attention_mask"][idx], start_positions=batch["start_positions"][idx],
                         end_positions=batch["end_positions"][idx])[0]
            losses.append(float(loss))
    assert all(np.isfinite(losses)) and losses[0] < losses[1]
