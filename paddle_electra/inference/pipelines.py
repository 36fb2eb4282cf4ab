"""Task pipelines: text in, readable results out, for every ELECTRA head.

    >>> from paddle_electra.inference.pipelines import pipeline
    >>> fill = pipeline("fill-mask", model="hfl/chinese-legal-electra-small-generator")
    >>> fill("经[MASK]审理查明")[0][:2]     # per [MASK]: the top-k candidates
    [{'token': '因', 'token_id': ..., 'score': 0.27..., 'sequence': '经因审理查明'}, ...]

One input (a ``str``, or for question answering one question/context) gives one
result; a list gives a list of results in input order. Inputs are sorted by
token length and padded per batch (dynamic padding); every backend goes
through one *runner* ``runner(input_ids, token_type_ids, attention_mask) ->
{output name: np.ndarray}``, so post-processing is shared:

* ``"dygraph"``: the task's class ``from_pretrained`` (a published name or a
  model folder), in eval mode under ``paddle.no_grad()``;
* ``"inference"`` / ``"onnx"``: an export folder (it has ``manifest.json``),
  run by ``paddle_electra.ElectraPredictor`` / ``OnnxPredictor``;
* ``"onnx-int8"``: an export folder's ``model.int8.onnx`` (``export(..., quantize="int8")``);
* ``"inference-bf16"``: Paddle Inference on the same files with oneDNN's bf16 kernels
  (CPUs with AVX512-BF16 or AMX);
* ``"auto"``: ``"inference"`` for an export folder, else ``"dygraph"``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Dict, List, Optional

import numpy as np

from .._io import read_json
from . import qa
from ..model.configuration import ElectraConfig
from ..model.modeling import (
    ElectraDiscriminator,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraGenerator,
    ElectraModel,
)
from .pipeline_base import (
    Encoded,
    Pipeline,
    Runner,
    _sigmoid,
    _softmax,
    check_batch_size,
    check_max_length,
    check_top_k,
)
from ..tokenizer import ElectraTokenizer

TASK_CLASSES = {
    "fill-mask": ElectraGenerator,
    "replaced-token-detection": ElectraDiscriminator,
    "text-classification": ElectraForSequenceClassification,
    "token-classification": ElectraForTokenClassification,
    "question-answering": ElectraForQuestionAnswering,
    "feature-extraction": ElectraModel,
}
# the names of each task's outputs, in the order the dygraph forward returns them
TASK_OUTPUTS = {
    "fill-mask": ("logits",),
    "replaced-token-detection": ("logits",),
    "text-classification": ("logits",),
    "token-classification": ("logits",),
    "question-answering": ("start_logits", "end_logits"),
    "feature-extraction": ("last_hidden_state",),
}
TASKS = tuple(TASK_CLASSES)
#: other names for the tasks: Hugging Face's (``sentiment-analysis``, ``ner``), PaddleHub's (``seq-cls``,
#: ``token-cls``) and short forms
TASK_ALIASES = {
    "sentiment-analysis": "text-classification", "seq-cls": "text-classification",
    "sequence-classification": "text-classification", "ner": "token-classification",
    "token-cls": "token-classification", "mask-filling": "fill-mask", "masked-lm": "fill-mask",
    "qa": "question-answering", "rtd": "replaced-token-detection", "embeddings": "feature-extraction",
}
#: ``pipeline(task)`` without ``model=`` (and the CLI's default): the demo models that ship inside the
#: package, so these work offline. The other tasks need a fine-tuned head, so they need ``model=``.
DEFAULT_MODELS = {
    "fill-mask": "electra-zh-peoples-daily-small-generator",
    "replaced-token-detection": "electra-zh-peoples-daily-small-discriminator",
}
BACKENDS = ("auto", "dygraph", "inference", "onnx", "onnx-int8", "inference-bf16")
#: the backends that run an export folder -> (predictor class in paddle_electra.export, its precision)
EXPORT_BACKENDS = {"inference": ("ElectraPredictor", "fp32"), "onnx": ("OnnxPredictor", "fp32"),
                   "onnx-int8": ("OnnxPredictor", "int8"), "inference-bf16": ("ElectraPredictor", "bf16")}
MANIFEST = "manifest.json"

def export_options(backends) -> Dict[str, Any]:
    """``export()``'s ``onnx`` / ``quantize`` arguments for an export that the given backends can all run."""
    kinds = [EXPORT_BACKENDS[b] for b in backends]
    return {"onnx": any(cls == "OnnxPredictor" for cls, _ in kinds) or None,
            "quantize": "int8" if any(precision == "int8" for _, precision in kinds) else None}


# ------------------------------------------------------------------ runners
class DygraphRunner:
    """Run a dygraph model: int64 arrays in, ``{output name: float32 array}`` out."""

    def __init__(self, model, task: str):
        import paddle

        self.paddle = paddle
        self.model = model
        self.model.eval()
        self.names = TASK_OUTPUTS[task]

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None) -> Dict[str, np.ndarray]:
        paddle = self.paddle
        t = lambda a: None if a is None else paddle.to_tensor(np.asarray(a, dtype="int64"))  # noqa: E731
        with paddle.no_grad():
            out = self.model(t(input_ids), token_type_ids=t(token_type_ids), attention_mask=t(attention_mask))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return {name: o.numpy().astype("float32") for name, o in zip(self.names, outs)}


class PredictorRunner:
    """Run an exported model through ``ElectraPredictor`` / ``OnnxPredictor`` (same call signature)."""

    def __init__(self, predictor):
        self.predictor = predictor

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None) -> Dict[str, np.ndarray]:
        out = self.predictor(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)
        return {k: np.asarray(v, dtype="float32") for k, v in out.items()}


# ----------------------------------------------------------------- factory
def canonical_task(task: str) -> str:
    """The task name for ``task`` or one of its aliases (:data:`TASK_ALIASES`); a ``ValueError`` otherwise."""
    key = task.lower().replace("_", "-") if isinstance(task, str) else task
    if key in TASK_CLASSES or key in TASK_ALIASES:
        return TASK_ALIASES.get(key, key)
    raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)} (aliases: {', '.join(TASK_ALIASES)})")


def is_export_dir(path) -> bool:
    """True for a folder written by ``paddle_electra.export`` (it holds ``manifest.json``)."""
    return isinstance(path, (str, os.PathLike)) and os.path.isfile(os.path.join(path, MANIFEST))


def pipeline(task: str, model=None, tokenizer=None, backend: str = "auto", batch_size: int = 32,
             max_length: Optional[int] = None, truncation: bool = False, threads: Optional[int] = None,
             **kwargs: Any) -> "Pipeline":
    """The pipeline of ``task`` for ``model``.

    Args:
        task: one of :data:`TASKS` or an alias (:data:`TASK_ALIASES`: ``"sentiment-analysis"``,
            ``"ner"``, ``"mask-filling"``, ...).
        model: a published name, a model folder, an export folder (with
            ``manifest.json``), or an already built model of the task's class.
            Default: the demo model embedded in the package (:data:`DEFAULT_MODELS`;
            fill-mask and replaced-token-detection only).
        tokenizer: an :class:`ElectraTokenizer`, a folder or name; default: the model's.
        backend: ``"auto"`` (export folder -> ``"inference"``, else ``"dygraph"``),
            ``"dygraph"``, ``"inference"`` (Paddle Inference), ``"onnx"`` (ONNX Runtime) or
            ``"onnx-int8"`` (ONNX Runtime on the int8 model of an export made with ``quantize="int8"``)
            or ``"inference-bf16"`` (Paddle Inference in bfloat16 on a CPU with AVX512-BF16 / AMX).
        batch_size: texts per forward pass.
        max_length: longest input in tokens (special tokens included); default
            and upper bound: the model's ``max_position_embeddings``.
        truncation: cut over-long inputs to ``max_length``; ``False`` makes them
            a ``ValueError``. Question answering reads long contexts in windows
            (``doc_stride``) instead; there ``truncation=True`` keeps only the
            first window.
        threads: CPU threads (Paddle's kernels or the predictor's).
        kwargs: task options, e.g. ``top_k`` (fill-mask, text-classification),
            ``max_answer_len``, ``doc_stride``, ``handle_impossible_answer`` (question
            answering), ``pooling`` (feature extraction),
            ``aggregation`` (token classification).

    ``batch_size``, ``max_length``, ``truncation`` and the task options are
    defaults: a call can override each one, as in HF pipelines
    (``pipe(texts, truncation=True, max_length=64, top_k=3)``).

    Raises:
        ValueError: unknown task/backend, a backend that does not fit the folder,
            an export folder made for another task.
    """
    task = canonical_task(task)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if model is None:
        if task not in DEFAULT_MODELS:
            raise ValueError(f"pipeline({task!r}) needs model= (a published name, a model folder or an export "
                             f"folder): the embedded demo models have no {task} head; defaults exist for "
                             f"{', '.join(DEFAULT_MODELS)}")
        model = DEFAULT_MODELS[task]
    check_batch_size(batch_size)
    model_name = os.fspath(model) if isinstance(model, (str, os.PathLike)) else None
    id2label: Optional[Dict[int, str]] = None
    extra: Dict[str, Any] = {}
    if is_export_dir(model):
        if backend == "dygraph":
            raise ValueError(f"{model} is an export folder (it has {MANIFEST}); use backend='inference' or 'onnx' "
                             "(or 'auto'), or pass the original model folder for backend='dygraph'")
        from . import export as _export  # written alongside; imported only when needed

        cls, precision = EXPORT_BACKENDS.get(backend, EXPORT_BACKENDS["inference"])  # auto: Paddle Inference
        predictor = getattr(_export, cls)(os.fspath(model), threads=threads, precision=precision)
        manifest = dict(getattr(predictor, "manifest", None) or _read_manifest(model))
        if manifest.get("task") not in (None, task):
            raise ValueError(f"{model} was exported for task {manifest.get('task')!r}, not {task!r}; "
                             f"use that task, or export the model again with task={task!r}")
        labels = manifest.get("labels")
        if labels:
            id2label = {int(k): str(v) for k, v in (labels.items() if isinstance(labels, dict) else enumerate(labels))}
        cfg = manifest.get("config") or _read_json(os.path.join(model, "config.json")) or {}
        max_positions = int(manifest.get("max_sequence_length") or manifest.get("max_position_embeddings")
                            or cfg.get("max_position_embeddings") or 512)
        extra["multi_label"] = (manifest.get("problem_type") or cfg.get("problem_type")) == \
            "multi_label_classification"
        runner: Runner = PredictorRunner(predictor)
        if tokenizer is None:
            tokenizer = os.fspath(model)
    else:
        if backend in EXPORT_BACKENDS:
            raise ValueError(f"backend={backend!r} runs an export folder (with {MANIFEST}); {model!r} is not one. "
                             f"Export it first: paddle_electra.export({model!r}, DIR) or paddle-electra export --model "
                             f"{model} --out DIR")
        if threads:
            from .._cpu import set_num_threads

            set_num_threads(threads)
        cls = TASK_CLASSES[task]
        if isinstance(model, (str, os.PathLike)):
            if tokenizer is None:
                tokenizer = os.fspath(model)
            model = cls.from_pretrained(os.fspath(model))
        elif tokenizer is None:
            raise ValueError("a model object needs tokenizer= (an ElectraTokenizer or its folder)")
        config: ElectraConfig = model.config
        max_positions = config.max_position_embeddings
        id2label = config.id2label or ({i: f"LABEL_{i}" for i in range(config.num_labels)}
                                       if task in ("text-classification", "token-classification") else None)
        extra["multi_label"] = config.problem_type == "multi_label_classification"
        runner = DygraphRunner(model, task)
    if not isinstance(tokenizer, ElectraTokenizer):
        tokenizer = ElectraTokenizer.from_pretrained(os.fspath(tokenizer))
    max_length = check_max_length(max_length, max_positions)
    pipe_cls = _PIPELINES[task]
    if task not in ("text-classification",):
        extra.pop("multi_label")
    pipe = pipe_cls(runner, tokenizer, task=task, id2label=id2label, batch_size=batch_size, max_length=max_length,
                    truncation=truncation, **extra, **kwargs)
    pipe.max_positions = max_positions
    pipe.model_name = model_name
    return pipe


def _read_manifest(folder) -> Dict:
    return read_json(os.path.join(folder, MANIFEST))


def _read_json(path) -> Optional[Dict]:
    return read_json(path) if os.path.isfile(path) else None


class FillMaskPipeline(Pipeline):
    """Per text, per ``[MASK]`` (left to right): the top-k ``{token, token_id, score, sequence}`` (softmax scores).

    ``sequence`` is the text with that ``[MASK]`` replaced by the token. ``targets``
    (a string or a list of them, as in HF transformers) ranks only those tokens,
    with their probabilities over the whole vocabulary; a target that is not one
    token of the vocabulary stands for its first word piece, with a warning.
    """

    def __init__(self, *args, top_k: int = 5, targets=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.top_k = check_top_k(top_k)
        self.target_ids = self._target_ids(targets, warn_level=4)  # the warning points at pipeline(...)

    # targets reach postprocess as ids: __call__ converts them once per call
    _OPTIONS = {"top_k": lambda v: v is None or check_top_k(v), "targets": lambda v: v}

    def __call__(self, inputs, *args, **kwargs):
        if kwargs.get("targets") is not None:
            kwargs["targets"] = self._target_ids(kwargs["targets"], warn_level=3)
        return super().__call__(inputs, *args, **kwargs)

    def _target_ids(self, targets, warn_level: int) -> Optional[List[int]]:
        """The vocabulary ids ``targets`` name, in order and once each; ``None`` for the whole vocabulary."""
        if targets is None:
            return None
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, (list, tuple)) or not targets:
            raise ValueError(f"targets must be a string or a non-empty list of strings, got {targets!r:.80}")
        tok, ids = self.tokenizer, []
        for target in targets:
            if not isinstance(target, str):
                raise ValueError(f"targets must be strings, got {target!r:.80}")
            tid = tok.convert_tokens_to_ids(target)
            if tid == tok.unk_token_id and target != tok.unk_token:  # not in the vocabulary as it is
                pieces = tok.tokenize(target)
                if not pieces:
                    raise ValueError(f"target {target!r:.40} holds no token (empty or only spaces)")
                tid = tok.convert_tokens_to_ids(pieces[0])
                warnings.warn(f"target {target!r:.40} is not a token of the vocabulary; using its first piece "
                              f"{pieces[0]!r}", stacklevel=warn_level)
            if tid not in ids:
                ids.append(tid)
        return ids

    def _validate(self, encoded, texts):
        mask_id = self.tokenizer.mask_token_id
        for i, enc in enumerate(encoded):
            if mask_id not in enc["input_ids"]:
                raise ValueError(f"text {i} ({texts[i][:40]!r}) has no {self.tokenizer.mask_token} token; "
                                 f"fill-mask predicts the tokens written as {self.tokenizer.mask_token}")

    def postprocess(self, text, enc, out, top_k: Optional[int] = None, targets: Optional[List[int]] = None):
        top_k = self.top_k if top_k is None else check_top_k(top_k)
        ids = self.target_ids if targets is None else targets
        tok, logits = self.tokenizer, out["logits"]
        results = []
        for pos, tid in enumerate(enc["input_ids"]):
            if tid != tok.mask_token_id:
                continue
            probs = _softmax(logits[pos])
            if ids is None:
                best = np.argsort(-probs, kind="stable")[:top_k]
            else:
                best = np.asarray(ids)[np.argsort(-probs[ids], kind="stable")[:top_k]]
            s, e = enc["offset_mapping"][pos]
            cands = []
            for cid in best:
                token = tok.convert_ids_to_tokens(int(cid))
                word = token[2:] if token.startswith("##") else token
                cands.append({"token": token, "token_id": int(cid), "score": float(probs[cid]),
                              "sequence": text[:s] + word + text[e:]})
            results.append(cands)
        return results


class ReplacedTokenDetectionPipeline(Pipeline):
    """Per token (special tokens skipped): ``{token, start, end, replaced_probability}`` (sigmoid of the logit)."""

    def postprocess(self, text, enc, out):
        probs = _sigmoid(out["logits"])
        tokens = self.tokenizer.convert_ids_to_tokens(enc["input_ids"])
        return [{"token": tokens[i], "start": int(enc["offset_mapping"][i][0]), "end": int(enc["offset_mapping"][i][1]),
                 "replaced_probability": float(probs[i])}
                for i in range(len(tokens)) if not enc["special_tokens_mask"][i]]


class TextClassificationPipeline(Pipeline):
    """``{label, score}`` of the best label; ``top_k=k`` gives the best k as a list, ``top_k=None`` all labels.

    Scores are softmax probabilities (sigmoid for ``problem_type="multi_label_classification"``).
    """

    _UNSET = object()

    def __init__(self, *args, top_k: Optional[int] = 1, multi_label: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.top_k, self.multi_label = check_top_k(top_k, allow_none=True), multi_label

    _OPTIONS = {"top_k": lambda v: check_top_k(v, allow_none=True)}

    def postprocess(self, text, enc, out, top_k=_UNSET):
        top_k = self.top_k if top_k is self._UNSET else top_k
        logits = out["logits"]
        probs = _sigmoid(logits) if self.multi_label else _softmax(logits)
        order = np.argsort(-probs, kind="stable")
        names = self.id2label or {}
        ranked = [{"label": names.get(int(i), f"LABEL_{int(i)}"), "score": float(probs[i])} for i in order]
        if top_k == 1:
            return ranked[0]
        return ranked if top_k is None else ranked[:top_k]


class TokenClassificationPipeline(Pipeline):
    """Entities ``{entity, text, start, end, score}`` from BIO(ES) tags (character spans of the original text).

    ``aggregation="none"`` returns every non-special token's
    ``{token, label, score, start, end}`` instead. An ``I-X`` that does not
    follow ``B-X``/``I-X`` starts a new entity; tags without a prefix group
    consecutive equal tags; entity score = mean of its tokens' probabilities.
    """

    def __init__(self, *args, aggregation: str = "simple", **kwargs):
        super().__init__(*args, **kwargs)
        self.aggregation = _check_aggregation(aggregation)

    _OPTIONS = {"aggregation": lambda v: v is None or _check_aggregation(v)}

    def postprocess(self, text, enc, out, aggregation: Optional[str] = None):
        probs = _softmax(out["logits"])
        names = self.id2label or {}
        tokens = self.tokenizer.convert_ids_to_tokens(enc["input_ids"])
        rows = []
        for i, tok in enumerate(tokens):
            if enc["special_tokens_mask"][i]:
                continue
            k = int(np.argmax(probs[i]))
            s, e = enc["offset_mapping"][i]
            rows.append({"token": tok, "label": names.get(k, f"LABEL_{k}"), "score": float(probs[i][k]),
                         "start": int(s), "end": int(e)})
        if (aggregation or self.aggregation) == "none":
            return rows
        return self.aggregate(rows, text)

    @staticmethod
    def aggregate(rows: List[Dict], text: str) -> List[Dict]:
        """Group tagged tokens into entities (see the class docstring)."""
        entities: List[Dict] = []
        current: Optional[Dict] = None

        def close():
            nonlocal current
            if current is not None:
                scores = current.pop("scores")
                current["score"] = float(np.mean(scores))
                current["text"] = text[current["start"]:current["end"]]
                entities.append(current)
            current = None

        for r in rows:
            label = r["label"]
            if label.upper() == "O":
                close()
                continue
            prefix, kind = (label[:1].upper(), label[2:]) if len(label) > 2 and label[1] in "-_" else ("", label)
            continues = current is not None and current["entity"] == kind and prefix in ("I", "E", "")
            if not continues:
                close()
                current = {"entity": kind, "start": r["start"], "end": r["end"], "scores": []}
            current["end"] = r["end"]
            current["scores"].append(r["score"])
            if prefix in ("E", "S"):
                close()
        close()
        return [{"entity": e["entity"], "text": e["text"], "start": e["start"], "end": e["end"], "score": e["score"]}
                for e in entities]


class QuestionAnsweringPipeline(Pipeline):
    """``{answer, start, end, score}``: the best span of the context over all its windows.

    Call as ``pipe(question=..., context=...)``, ``pipe({"question": ..., "context": ...})``
    or with a list of such dicts (results in input order). A context longer than
    one input is read in overlapping windows of ``max_length`` tokens that share
    ``doc_stride`` tokens (:mod:`paddle_electra.inference.qa`); the best span
    (start <= end < start + ``max_answer_len`` tokens) over all windows wins.
    ``start``/``end`` are character offsets into the context; score = p_start *
    p_end (softmax over the window's context tokens). ``top_k > 1`` gives a list
    of the best answers; ``handle_impossible_answer=True`` lets "no answer"
    (``{"answer": "", "start": 0, "end": 0}``) win when ``[CLS]`` scores higher.
    ``truncation=True`` reads only the first window (the context is cut). The
    question is never cut: one too long for ``max_length`` is an error naming it.

    Args:
        max_answer_len: longest answer in tokens (default 30).
        doc_stride: context tokens shared by neighbouring windows (default:
            128, at most half the context tokens of a window).
        top_k: answers per input (default 1: one dict; more: a list).
        handle_impossible_answer: allow the empty answer.
    """

    def __init__(self, *args, max_answer_len: int = 30, doc_stride: Optional[int] = None, top_k: int = 1,
                 handle_impossible_answer: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        qa.resolve_doc_stride(doc_stride, 1 << 30)  # validates the type early
        check_top_k(top_k)
        self.max_answer_len, self.doc_stride, self.top_k = max_answer_len, doc_stride, top_k
        self.handle_impossible_answer = handle_impossible_answer

    def __call__(self, inputs=None, question=None, context=None, max_answer_len: Optional[int] = None,
                 doc_stride: Optional[int] = None, top_k: Optional[int] = None,
                 handle_impossible_answer: Optional[bool] = None, batch_size: Optional[int] = None,
                 max_length: Optional[int] = None, truncation: Optional[bool] = None):
        if inputs is None:
            if question is None or context is None:
                raise ValueError("question answering needs question= and context= (or a dict / list of dicts)")
            items, batched = [{"question": question, "context": context}], False
        elif isinstance(inputs, dict):
            items, batched = [inputs], False
        elif isinstance(inputs, (list, tuple)):
            items, batched = list(inputs), True
        else:
            raise TypeError(f"expected question=/context=, a dict or a list of dicts, got {type(inputs).__name__}")
        for i, it in enumerate(items):
            if not isinstance(it, dict) or "question" not in it or "context" not in it:
                raise ValueError(f"input {i} must be a dict with 'question' and 'context'")
        run = self._settings(batch_size, max_length, truncation)
        if not items:
            return []
        questions = [it["question"] for it in items]
        contexts = [it["context"] for it in items]
        self._check_texts(questions, "question")
        self._check_texts(contexts, "context")
        top_k = self.top_k if top_k is None else check_top_k(top_k)
        features = qa.build_features(self.tokenizer, questions, contexts, max_length=run["max_length"],
                                     doc_stride=self.doc_stride if doc_stride is None else doc_stride,
                                     max_windows=1 if run["truncation"] else None)
        outs = self.run([Encoded(input_ids=f.input_ids, token_type_ids=f.token_type_ids) for f in features],
                        run["batch_size"])
        answers = qa.postprocess(features, [o["start_logits"] for o in outs], [o["end_logits"] for o in outs],
                                 contexts, top_k=top_k, max_answer_len=int(max_answer_len or self.max_answer_len),
                                 handle_impossible_answer=(self.handle_impossible_answer if handle_impossible_answer
                                                           is None else handle_impossible_answer))
        results = [a[0] if top_k == 1 else a for a in answers]
        return results if batched else results[0]


class FeatureExtractionPipeline(Pipeline):
    """Per text the last hidden state ``[L, H]`` (float32, special tokens included), or ``[H]`` of ``[CLS]``
    with ``pooling="cls"`` (``"mean"``: mean over the tokens)."""

    def __init__(self, *args, pooling: str = "none", **kwargs):
        super().__init__(*args, **kwargs)
        _check_pooling(pooling)
        self.pooling = pooling

    _OPTIONS = {"pooling": lambda v: v is None or _check_pooling(v)}

    def postprocess(self, text, enc, out, pooling: Optional[str] = None):
        pooling = _check_pooling(pooling or self.pooling)
        h = out["last_hidden_state"]
        if pooling == "cls":
            return h[0]
        if pooling == "mean":
            return h.mean(axis=0)
        return h


def _check_aggregation(aggregation: str) -> str:
    if aggregation not in ("simple", "none"):
        raise ValueError(f"aggregation must be 'simple' or 'none', got {aggregation!r}")
    return aggregation


def _check_pooling(pooling: str) -> str:
    if pooling not in ("none", "cls", "mean"):
        raise ValueError(f"pooling must be 'none', 'cls' or 'mean', got {pooling!r}")
    return pooling


_PIPELINES = {
    "fill-mask": FillMaskPipeline,
    "replaced-token-detection": ReplacedTokenDetectionPipeline,
    "text-classification": TextClassificationPipeline,
    "token-classification": TokenClassificationPipeline,
    "question-answering": QuestionAnsweringPipeline,
    "feature-extraction": FeatureExtractionPipeline,
}

__all__ = ["pipeline", "Pipeline", "TASKS", "TASK_ALIASES", "DEFAULT_MODELS", "TASK_CLASSES", "TASK_OUTPUTS",
           "DygraphRunner", "PredictorRunner", "is_export_dir", "canonical_task"] + [cls.__name__ for cls in _PIPELINES.values()]
