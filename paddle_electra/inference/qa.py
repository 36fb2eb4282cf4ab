"""Extractive question answering over contexts of any length: features, labels, answers.

A context longer than one model input is split into overlapping *windows*
(features); each feature is ``[CLS] question [SEP] context window [SEP]``.
The three steps, usable on their own (pipelines, fine-tuning, evaluation):

1. :func:`build_features`: (question, context[, answer]) examples -> :class:`QAFeature` s,
   with token types, each context token's character span in its context, and
   the example each window came from; with answers, the start/end token
   labels of each window (:func:`answer_token_span`, :func:`label_window`).
2. the model: ``start_logits, end_logits`` per feature (:func:`collate` pads a batch).
3. :func:`postprocess`: per example the best spans over all its windows, as
   character spans of the context with their text and score.

Example:
    >>> feats = build_features(tok, ["谁在北京工作？"], [long_context], max_length=384, doc_stride=128)
    >>> batch = collate(feats, tok.pad_token_id)             # int64 arrays, padded
    >>> start, end = model(*(paddle.to_tensor(batch[k]) for k in ("input_ids", "token_type_ids")))
    >>> postprocess(feats, start.numpy(), end.numpy(), [long_context], top_k=3)[0]
    [{'answer': '张三', 'start': 0, 'end': 2, 'score': 0.83...}, ...]

Conventions (those of HF transformers and the SQuAD scripts): ``doc_stride`` is
the number of context tokens two neighbouring windows *share*; the question is
never cut; a window whose context does not hold the whole answer is labelled
with the ``[CLS]`` position (0) for both start and end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

Span = Tuple[int, int]
DEFAULT_DOC_STRIDE = 128


@dataclass
class QAFeature:
    """One model input: ``[CLS] question [SEP] context[window] [SEP]`` and where it came from.

    Attributes:
        example_index: index of the (question, context) example in the input lists.
        window_index: 0 for the window at the start of the context, 1 for the next, ...
        input_ids: token ids, special tokens included.
        token_type_ids: 0 for ``[CLS] question [SEP]``, 1 for ``context [SEP]``.
        offset_mapping: per token, its ``(start, end)`` character span in the
            *context* for context tokens, ``None`` for question and special tokens.
        context_start: index in ``input_ids`` of the window's first context token.
        context_end: index one past its last context token (the final ``[SEP]``).
        token_start: index of the window's first token among the context's tokens.
        start_position, end_position: the answer's first / last token in
            ``input_ids``, 0 (``[CLS]``) when this window does not hold the whole
            answer; ``None`` when no answer was given.
    """

    example_index: int
    window_index: int
    input_ids: List[int]
    token_type_ids: List[int]
    offset_mapping: List[Optional[Span]]
    context_start: int
    context_end: int
    token_start: int
    start_position: Optional[int] = None
    end_position: Optional[int] = None

    @property
    def attention_mask(self) -> List[int]:
        """All ones: a feature holds no padding (:func:`collate` adds it)."""
        return [1] * len(self.input_ids)

    def context_span(self) -> Span:
        """Character span of the context that the window covers."""
        return self.offset_mapping[self.context_start][0], self.offset_mapping[self.context_end - 1][1]

    def to_dict(self) -> Dict[str, Any]:
        """The fields as a plain dict (e.g. for a ``datasets`` / ``paddle.io`` dataset)."""
        return asdict(self)


# ------------------------------------------------------------------ features
def tokenize_with_offsets(tokenizer, texts: Sequence[str]) -> Tuple[List[List[int]], List[List[Span]]]:
    """WordPiece ids of each text (no special tokens) and each token's character span in that text."""
    enc = tokenizer(list(texts), return_offsets_mapping=True)
    # the tokenizer adds [CLS] ... [SEP]; both backends give offsets into the original text
    return ([ids[1:-1] for ids in enc["input_ids"]],
            [[tuple(o) for o in offs[1:-1]] for offs in enc["offset_mapping"]])


def context_windows(n_tokens: int, window: int, doc_stride: int) -> List[Span]:
    """Token ranges ``[a, b)`` covering ``n_tokens`` context tokens, ``window`` at a time, sharing ``doc_stride``.

    Consecutive windows start ``window - doc_stride`` tokens apart; the last one
    ends at ``n_tokens`` (and may be shorter). Every token lies in at least one window.

    Raises:
        ValueError: ``window < 1``, or ``doc_stride`` not in ``[0, window)``.
    """
    if window < 1:
        raise ValueError(f"a window must hold at least one context token, got {window}")
    if not 0 <= doc_stride < window:
        raise ValueError(f"doc_stride={doc_stride} must be >= 0 and smaller than the {window} context tokens "
                         "per window")
    spans, start = [], 0
    while True:
        end = min(start + window, n_tokens)
        spans.append((start, end))
        if end >= n_tokens:
            return spans
        start = end - doc_stride


def resolve_doc_stride(doc_stride: Optional[int], window: int) -> int:
    """``doc_stride``, or for ``None`` the default: 128, at most half a window (HF's ``min(max_len // 2, 128)``)."""
    if doc_stride is None:
        return min(DEFAULT_DOC_STRIDE, window // 2)
    if not isinstance(doc_stride, int) or isinstance(doc_stride, bool) or doc_stride < 0:
        raise ValueError(f"doc_stride must be a non-negative int (tokens shared by neighbouring windows), "
                         f"got {doc_stride!r}")
    return doc_stride


def build_features(tokenizer, questions: Sequence[str], contexts: Sequence[str],
                   answers: Optional[Sequence[Any]] = None, max_length: int = 384, doc_stride: Optional[int] = None,
                   max_windows: Optional[int] = None) -> List[QAFeature]:
    """Split each (question, context) into features of at most ``max_length`` tokens, in example order.

    Args:
        tokenizer: an :class:`~paddle_electra.ElectraTokenizer` (either backend).
        questions, contexts: one question and one context per example.
        answers: optional, per example: ``None`` / ``[]`` (no answer), a dict
            ``{"text", "answer_start"}`` (character offset into the context; SQuAD
            / ``datasets`` lists of both are accepted), or a list of such dicts
            (the first one labels the windows).
        max_length: tokens per feature, special tokens included.
        doc_stride: context tokens shared by neighbouring windows; ``None``
            (default): 128, at most half of each example's window (with the
            default ``max_length`` that is 128, as in HF's SQuAD scripts).
        max_windows: keep at most this many windows per example (``1``: the
            context is cut after the first window); ``None`` keeps all.

    Returns:
        The features of example 0, then those of example 1, ...

    Raises:
        ValueError: lists of different lengths; a question that leaves no room
            for the context (the question is never cut; the error names it); a
            ``doc_stride`` not smaller than the context tokens per window; an
            empty context; an answer that is not at its ``answer_start``.
    """
    if len(questions) != len(contexts) or (answers is not None and len(answers) != len(contexts)):
        raise ValueError(f"got {len(questions)} questions, {len(contexts)} contexts"
                         + ("" if answers is None else f" and {len(answers)} answers") + "; one of each per example")
    if max_windows is not None and max_windows < 1:
        raise ValueError(f"max_windows must be >= 1 or None, got {max_windows}")
    q_ids, _ = tokenize_with_offsets(tokenizer, questions)
    c_ids, c_offs = tokenize_with_offsets(tokenizer, contexts)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    features: List[QAFeature] = []
    for i, (q, ids, offs) in enumerate(zip(q_ids, c_ids, c_offs)):
        window = max_length - len(q) - 3
        if window < 1:
            raise ValueError(f"question {i} is {len(q)} tokens long, which leaves no room for the context within "
                             f"max_length={max_length} ({len(q)} + 3 special tokens + at least 1 context token); "
                             "shorten the question or raise max_length (the question is never cut)")
        if not ids:
            raise ValueError(f"context {i} has no tokens (nothing but whitespace or characters the vocabulary drops)")
        stride = resolve_doc_stride(doc_stride, window)
        if stride >= window:
            raise ValueError(f"example {i}: doc_stride={stride} must be smaller than the {window} context tokens per "
                             f"window left by its {len(q)}-token question at max_length={max_length}; lower "
                             "doc_stride or raise max_length")
        token_span = None if answers is None else answer_token_span(offs, answer_char_span(contexts[i], answers[i], i))
        head = [cls, *q, sep]
        for w, (a, b) in enumerate(context_windows(len(ids), window, stride)[:max_windows]):
            f = QAFeature(example_index=i, window_index=w, input_ids=head + ids[a:b] + [sep],
                          token_type_ids=[0] * len(head) + [1] * (b - a + 1),
                          offset_mapping=[None] * len(head) + offs[a:b] + [None],
                          context_start=len(head), context_end=len(head) + b - a, token_start=a)
            if answers is not None:
                f.start_position, f.end_position = label_window(f, token_span)
            features.append(f)
    return features


def answer_char_span(context: str, answer: Any, index: int = 0) -> Optional[Span]:
    """The answer's ``[start, end)`` characters in ``context``, or ``None`` for no answer (see :func:`build_features`).

    Raises:
        ValueError: a malformed answer, or one whose text is not at ``answer_start``.
    """
    if isinstance(answer, (list, tuple)):
        if not answer:
            return None
        answer = answer[0]
    if answer is None:
        return None
    if not isinstance(answer, dict) or "text" not in answer or "answer_start" not in answer:
        raise ValueError(f"answer {index} must be None, a dict with 'text' and 'answer_start', or a list of them; "
                         f"got {answer!r}")
    text, start = answer["text"], answer["answer_start"]
    if isinstance(text, (list, tuple)):  # SQuAD / datasets: {"text": [...], "answer_start": [...]}
        if not text:
            return None
        text, start = text[0], start[0]
    if not isinstance(text, str) or not text or not isinstance(start, (int, np.integer)):
        raise ValueError(f"answer {index}: 'text' must be a non-empty str and 'answer_start' an int, got {answer!r}")
    start = int(start)
    if context[start:start + len(text)] != text:
        raise ValueError(f"answer {index}: {text!r} is not at character {start} of its context "
                         f"(found {context[start:start + len(text)]!r})")
    return start, start + len(text)


def answer_token_span(offsets: Sequence[Span], char_span: Optional[Span]) -> Optional[Span]:
    """First and last token (inclusive, indices into ``offsets``) of the shortest token span covering ``char_span``.

    The first token is the first one ending after the answer's first
    character, the last one the last starting before its end. ``None`` when no
    answer is given or no token overlaps it (an answer of dropped characters).
    """
    if char_span is None:
        return None
    s, e = char_span
    inside = [k for k, (a, b) in enumerate(offsets) if b > s and a < e]
    return (inside[0], inside[-1]) if inside else None


def label_window(feature: QAFeature, token_span: Optional[Span]) -> Span:
    """Start / end positions (in ``input_ids``) of the answer's tokens in this window; ``(0, 0)`` (``[CLS]``)
    when there is no answer or the window does not hold all of its tokens.

    Args:
        feature: the window.
        token_span: the answer's first and last context token (:func:`answer_token_span`).
    """
    if token_span is None:
        return 0, 0
    first, last = token_span
    a, b = feature.token_start, feature.token_start + feature.context_end - feature.context_start
    if first < a or last >= b:
        return 0, 0
    return feature.context_start + first - a, feature.context_start + last - a


def collate(features: Sequence[QAFeature], pad_token_id: int = 0) -> Dict[str, np.ndarray]:
    """Pad features to the longest: int64 ``input_ids``, ``token_type_ids``, ``attention_mask`` [N, L]
    (and ``start_positions`` / ``end_positions`` [N] when every feature is labelled)."""
    width = max((len(f.input_ids) for f in features), default=0)
    out = {"input_ids": np.full((len(features), width), pad_token_id, dtype="int64"),
           "token_type_ids": np.zeros((len(features), width), dtype="int64"),
           "attention_mask": np.zeros((len(features), width), dtype="int64")}
    for r, f in enumerate(features):
        n = len(f.input_ids)
        out["input_ids"][r, :n] = f.input_ids
        out["token_type_ids"][r, :n] = f.token_type_ids
        out["attention_mask"][r, :n] = 1
    if features and all(f.start_position is not None for f in features):
        out["start_positions"] = np.array([f.start_position for f in features], dtype="int64")
        out["end_positions"] = np.array([f.end_position for f in features], dtype="int64")
    return out


# ------------------------------------------------------------------ answers
def _softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype="float64")
    e = np.exp(x - x.max())
    return e / e.sum()


def window_scores(feature: QAFeature, start_logits, end_logits, max_answer_len: int = 30,
                  score: str = "probability", with_null: bool = False,
                  n_best: Optional[int] = None) -> Tuple[np.ndarray, Optional[float]]:
    """Score of every span of the window's context tokens, ``-inf`` where not allowed; and the null score.

    ``scores[i, j]`` scores the span from context token ``i`` to ``j`` (window
    positions); allowed: ``i <= j < i + max_answer_len``, and with ``n_best``
    only the ``n_best`` best start and end tokens (SQuAD's n_best_size).
    ``score="probability"``: softmax over the window's context tokens (plus
    ``[CLS]`` when ``with_null``) of start and end, multiplied;
    ``"logits"``: start + end logit (SQuAD v2's scale). The null score
    (``with_null``) is that of the span ``[CLS]``-``[CLS]``.
    """
    cs, ce = feature.context_start, feature.context_end
    s = np.asarray(start_logits, dtype="float64")[cs:ce]
    e = np.asarray(end_logits, dtype="float64")[cs:ce]
    null = None
    if score == "probability":
        if with_null:
            ps = _softmax(np.concatenate([[start_logits[0]], s]))
            pe = _softmax(np.concatenate([[end_logits[0]], e]))
            null, ps, pe = float(ps[0] * pe[0]), ps[1:], pe[1:]
        else:
            ps, pe = _softmax(s), _softmax(e)
        scores = np.outer(ps, pe)
    elif score == "logits":
        scores = s[:, None] + e[None, :]
        if with_null:
            null = float(start_logits[0]) + float(end_logits[0])
    else:
        raise ValueError(f"score must be 'probability' or 'logits', got {score!r}")
    n = len(s)
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    allowed = (j >= i) & (j < i + max_answer_len)
    if n_best is not None and n_best < n:
        allowed &= np.isin(np.arange(n), np.argsort(-s, kind="stable")[:n_best])[:, None]
        allowed &= np.isin(np.arange(n), np.argsort(-e, kind="stable")[:n_best])[None, :]
    return np.where(allowed, scores, -np.inf), null


def postprocess(features: Sequence[QAFeature], start_logits, end_logits, contexts: Sequence[str], top_k: int = 1,
                max_answer_len: int = 30, n_best: Optional[int] = None, handle_impossible_answer: bool = False,
                score: str = "probability") -> List[List[Dict[str, Any]]]:
    """The ``top_k`` best answers of every example over all its windows, best first.

    Args:
        features: from :func:`build_features` (any order; grouped by ``example_index``).
        start_logits, end_logits: per feature, its logits: a padded ``[N, L]``
            array or a list of 1-D arrays (positions past a feature's length are ignored).
        contexts: the contexts, indexed by ``example_index``.
        top_k: answers per example.
        max_answer_len: longest answer in tokens.
        n_best: consider only the ``n_best`` best start and end tokens of each
            window (SQuAD's n_best_size); ``None``: every span (exact).
        handle_impossible_answer: add the "no answer" candidate ``{"answer": "",
            "start": 0, "end": 0}`` scored by its lowest ``[CLS]`` score over the
            example's windows; it ranks among the spans.
        score: ``"probability"`` (default; per window softmax of start and end,
            multiplied) or ``"logits"`` (start + end logit).

    Returns:
        Per example (``0 .. len(contexts) - 1``), a list of up to ``top_k``
        ``{"answer", "start", "end", "score"}``: ``start``/``end`` are character
        offsets into the context and ``answer == context[start:end]``. The same
        character span found in several windows appears once, with its best
        score; ties go to the earlier, then shorter span. An example without
        features gets ``[]``.
    """
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    if not isinstance(max_answer_len, int) or max_answer_len < 1:
        raise ValueError(f"max_answer_len must be a positive int, got {max_answer_len!r}")
    if len(start_logits) != len(features) or len(end_logits) != len(features):
        raise ValueError(f"got {len(features)} features but {len(start_logits)} start and {len(end_logits)} end logits")
    best: List[Dict[Span, float]] = [{} for _ in contexts]
    nulls: List[Optional[float]] = [None] * len(contexts)
    for f, sl, el in zip(features, start_logits, end_logits):
        n = len(f.input_ids)
        scores, null = window_scores(f, np.asarray(sl)[:n], np.asarray(el)[:n], max_answer_len, score,
                                     handle_impossible_answer, n_best)
        if null is not None:
            k = f.example_index
            nulls[k] = null if nulls[k] is None else min(nulls[k], null)
        flat = scores.ravel()
        allowed = np.flatnonzero(np.isfinite(flat))
        order = allowed[np.argsort(-flat[allowed], kind="stable")]
        # this window's best top_k distinct character spans are all the example can need from it
        spans, seen, width = best[f.example_index], set(), scores.shape[1]
        for t in order:
            i, j = divmod(int(t), width)
            char = (f.offset_mapping[f.context_start + i][0], f.offset_mapping[f.context_start + j][1])
            if char in seen:
                continue
            seen.add(char)
            if flat[t] > spans.get(char, -np.inf):
                spans[char] = float(flat[t])
            if len(seen) == top_k:
                break
    results = []
    for k, spans in enumerate(best):
        cands = [(sc, s, e, contexts[k][s:e]) for (s, e), sc in spans.items()]
        if nulls[k] is not None:
            cands.append((nulls[k], 0, 0, ""))
        cands.sort(key=lambda c: (-c[0], c[1], c[2] - c[1]))
        results.append([{"answer": a, "start": s, "end": e, "score": sc} for sc, s, e, a in cands[:top_k]])
    return results


__all__ = ["QAFeature", "DEFAULT_DOC_STRIDE", "tokenize_with_offsets", "context_windows", "resolve_doc_stride",
           "build_features", "answer_char_span", "answer_token_span", "label_window", "collate", "window_scores", "postprocess"]
