"""The shared part of every task pipeline: input checks, tokenizing, length-bucketed batching.

:class:`Pipeline` tokenizes (refusing or cutting over-long inputs), sorts the
inputs by token length, pads per batch, runs a *runner*
``runner(input_ids, token_type_ids, attention_mask) -> {output name: np.ndarray}``
and hands each input's outputs, padding removed, to the task's ``postprocess``
in input order. The task pipelines and the ``pipeline()`` factory are in
:mod:`paddle_electra.inference.pipelines`, which builds on this module.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..tokenizer import ElectraTokenizer

Runner = Callable[[np.ndarray, np.ndarray, np.ndarray], Dict[str, np.ndarray]]


# ------------------------------------------------------------------ checks
def check_top_k(top_k, allow_none: bool = False):
    """Return ``top_k`` if it is an int >= 1 (or None where allowed), else raise a ValueError.

    Refused rather than coerced: ``top_k=-3`` used to slice the candidate list
    from the end, and ``2.5`` or ``True`` mean a caller's mistake.
    """
    if top_k is None and allow_none:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        also = " or None (every label)" if allow_none else ""
        raise ValueError(f"top_k must be an int >= 1{also}, got {top_k!r}")
    return int(top_k)


def check_batch_size(batch_size) -> int:
    """Return ``batch_size`` if it is an int >= 1, else raise a ValueError."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def check_max_length(max_length, max_positions: int) -> int:
    """``max_length`` checked against the model's limit; ``None`` means that limit."""
    if max_length is None:
        return max_positions
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 3:
        raise ValueError(f"max_length must be an int >= 3, got {max_length!r}")
    if max_length > max_positions:
        raise ValueError(f"max_length={max_length} is more than the model's max_position_embeddings={max_positions}")
    return max_length


# ------------------------------------------------------------------ helpers
def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype="float64")
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype="float64")))


class Encoded(dict):
    """One encoded input: ``input_ids``, ``token_type_ids``, ``offset_mapping``, ``special_tokens_mask`` (lists)."""


# ---------------------------------------------------------------- pipelines
class Pipeline:
    """Tokenize (checking length), batch by length with dynamic padding, run, post-process in input order."""

    truncation_strategy = "longest_first"

    def __init__(self, runner: Runner, tokenizer: ElectraTokenizer, task: str, id2label=None, batch_size: int = 32,
                 max_length: int = 512, truncation: bool = False):
        self.runner, self.tokenizer, self.task = runner, tokenizer, task
        self.id2label = id2label
        self.batch_size, self.max_length, self.truncation = batch_size, max_length, bool(truncation)
        self.max_positions = max_length  # the model's limit; pipeline() sets it
        self.model_name: Optional[str] = None  # the name or folder it was built from (pipeline() sets it)

    def _settings(self, batch_size=None, max_length=None, truncation=None) -> Dict[str, Any]:
        """The pipeline's ``batch_size`` / ``max_length`` / ``truncation``, with a call's values (checked) on top."""
        return {"batch_size": self.batch_size if batch_size is None else check_batch_size(batch_size),
                "max_length": self.max_length if max_length is None else check_max_length(max_length,
                                                                                             self.max_positions),
                "truncation": self.truncation if truncation is None else bool(truncation)}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(task={self.task!r}, runner={type(self.runner).__name__}, "
                f"batch_size={self.batch_size}, max_length={self.max_length}, truncation={self.truncation})")

    # ---- input handling
    @staticmethod
    def _as_list(inputs) -> tuple:
        if isinstance(inputs, str):
            return [inputs], False
        if isinstance(inputs, (list, tuple)):
            return list(inputs), True
        raise TypeError(f"expected a str or a list of str, got {type(inputs).__name__}")

    def _check_texts(self, texts: Sequence, what: str = "text") -> None:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"{what} {i} must be a str, got {type(t).__name__}")
            if not t.strip():
                raise ValueError(f"{what} {i} is empty; every input needs some text")

    def encode(self, texts: List[str], pairs: Optional[List[str]] = None, max_length: Optional[int] = None,
               truncation: Optional[bool] = None) -> List[Encoded]:
        """Tokenize; over-long inputs are cut (``truncation=True``) or a ``ValueError``.

        ``max_length`` / ``truncation`` default to the pipeline's.
        """
        max_length = self.max_length if max_length is None else max_length
        truncation = self.truncation if truncation is None else truncation
        tok = self.tokenizer
        kw = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
        enc = tok(texts, pairs, **kw)
        lengths = [len(ids) for ids in enc["input_ids"]]
        too_long = [i for i, n in enumerate(lengths) if n > max_length]
        if too_long:
            i = too_long[0]
            if not truncation:
                more = f" (and {len(too_long) - 1} more)" if len(too_long) > 1 else ""
                raise ValueError(f"input {i} is {lengths[i]} tokens long (special tokens included){more}, more "
                                 f"than max_length={max_length} (the model's max_position_embeddings unless "
                                 "max_length is given); pass truncation=True to cut it")
            enc = tok(texts, pairs, max_length=max_length, truncation=self.truncation_strategy, **kw)
        keys = ("input_ids", "token_type_ids", "offset_mapping", "special_tokens_mask")
        for i, ids in enumerate(enc["input_ids"]):
            if len(ids) <= (2 if pairs is None else 3):
                raise ValueError(f"input {i} has no tokens (nothing but whitespace or characters the vocabulary "
                                 "drops); every input needs some text")
        return [Encoded({k: enc[k][i] for k in keys}) for i in range(len(texts))]

    def run(self, encoded: List[Encoded], batch_size: Optional[int] = None) -> List[Dict[str, np.ndarray]]:
        """Model outputs per input (padding removed: first axis = that input's tokens), in input order."""
        batch_size = batch_size or self.batch_size
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]["input_ids"]), reverse=True)
        results: List[Optional[Dict[str, np.ndarray]]] = [None] * len(encoded)
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            width = max(len(encoded[i]["input_ids"]) for i in chunk)
            ids = np.full((len(chunk), width), pad, dtype="int64")
            types = np.zeros((len(chunk), width), dtype="int64")
            mask = np.zeros((len(chunk), width), dtype="int64")
            for row, i in enumerate(chunk):
                n = len(encoded[i]["input_ids"])
                ids[row, :n] = encoded[i]["input_ids"]
                types[row, :n] = encoded[i]["token_type_ids"]
                mask[row, :n] = 1
            out = self.runner(ids, types, mask)
            for row, i in enumerate(chunk):
                n = len(encoded[i]["input_ids"])
                results[i] = {k: (v[row, :n] if v.ndim >= 2 else v[row]) for k, v in out.items()}
        return results  # type: ignore[return-value]

    def __call__(self, inputs, batch_size: Optional[int] = None, max_length: Optional[int] = None,
                 truncation: Optional[bool] = None, **kwargs):
        """Run on one text (one result) or a list (a list of results, in input order).

        ``batch_size``, ``max_length``, ``truncation`` and the task's options
        (``top_k``, ``aggregation``, ``pooling``) apply to this call only.
        """
        run = self._settings(batch_size, max_length, truncation)
        self._check_options(**kwargs)  # before any tokenizing or model run
        texts, batched = self._as_list(inputs)
        self._check_texts(texts)
        encoded = self.encode(texts, max_length=run["max_length"], truncation=run["truncation"])
        self._validate(encoded, texts)
        outs = self.run(encoded, run["batch_size"]) if texts else []
        results = [self.postprocess(texts[i], encoded[i], outs[i], **kwargs) for i in range(len(texts))]
        return results if batched else results[0]

    def _validate(self, encoded: List[Encoded], texts: List[str]) -> None:
        """Task-specific input checks before anything runs."""

    _OPTIONS: Dict[str, Callable] = {}  # the task options a call may pass -> their check

    def _check_options(self, **kwargs) -> None:
        """Refuse options this task does not take (instead of a TypeError deep inside), then check the values."""
        unknown = sorted(set(kwargs) - set(self._OPTIONS))
        if unknown:
            takes = ", ".join(["batch_size", "max_length", "truncation", *self._OPTIONS])
            raise TypeError(f"{self.task} pipeline got unexpected option(s) {', '.join(unknown)}; it takes {takes}")
        for name, value in kwargs.items():
            self._OPTIONS[name](value)

    def postprocess(self, text: str, enc: Encoded, out: Dict[str, np.ndarray], **kwargs):
        raise NotImplementedError
