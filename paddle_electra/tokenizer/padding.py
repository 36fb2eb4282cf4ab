"""Padding (either side, to the longest / ``max_length`` / a multiple), tensors, and ``pad()`` for collators.

``pad()`` follows PaddleNLP 2.8.1's (which HF's agrees with): it takes one
encoding, a dict of lists of rows, or a list of encodings (what a collator
gets), pads ``input_ids``, ``token_type_ids``, ``attention_mask`` (made when
missing and asked for), ``special_tokens_mask``, ``offset_mapping``,
``position_ids`` and list-valued ``start_positions`` / ``end_positions``,
and leaves other keys (labels ...) as they are. So
``paddlenlp.data.DataCollatorWithPadding(tokenizer)`` and HF-style collators
(``return_tensors="np"``) work with it.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any, Dict, List, Optional

from .options import LARGE_INTEGER, PADDING, BatchEncoding, Request, enum_value, tensor_kind, to_tensor

# keys the tokenizer pads, in output order; values come from _pad_values
PADDED_KEYS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping",
               "position_ids")
_EXTRA_KEYS = ("length", "seq_len", "overflowing_tokens", "num_truncated_tokens", "overflow_to_sample")


class PaddingMixin:
    """Padding and tensor conversion; the host provides the special tokens and ``padding_side``."""

    def _pad_values(self) -> Dict[str, Any]:
        return {"input_ids": self.pad_token_id, "token_type_ids": self.pad_token_type_id, "attention_mask": 0,
                "special_tokens_mask": 1, "offset_mapping": (0, 0), "position_ids": 0, "start_positions": 0,
                "end_positions": 0}

    def _target_length(self, lengths: List[int], padding: Optional[str], max_length: Optional[int],
                       multiple: Optional[int]) -> Optional[int]:
        """The padded length (``None``: no padding), rounded up to ``multiple``."""
        target = max(lengths, default=0) if padding == "longest" else max_length if padding == "max_length" else None
        if target is not None and multiple and target % multiple:
            target = (target // multiple + 1) * multiple
        return target

    def _finish(self, rows: Dict[str, list], batched: bool, req: Request):
        """Add the attention mask, lengths and padding; lists (one input unwrapped) or tensors."""
        lengths = [len(r) for r in rows["input_ids"]]
        target = self._target_length(lengths, req.padding, req.max_length, req.pad_multiple)
        if req.length:  # PaddleNLP: a batch reports lengths before padding, one input after
            padded = lengths if batched or target is None else [max(n, target) for n in lengths]
            rows["length"], rows["seq_len"] = padded, list(padded)
        if req.tensors is not None:
            out = self._to_tensors(rows, lengths, target, req)
            if not batched and not req.prepend:
                for key in out:
                    out[key] = out[key][0]
            return out
        if req.mask:
            rows["attention_mask"] = [[1] * n for n in lengths]
        if target is not None:
            fills, left = self._pad_values(), self.padding_side == "left"
            for key in PADDED_KEYS:
                if key in rows:
                    fill = fills[key]
                    rows[key] = [_pad_row(r, fill, target - len(r), left) for r in rows[key]]
        out = BatchEncoding((k, rows[k]) for k in PADDED_KEYS + _EXTRA_KEYS if k in rows)
        if not batched:
            for k in out:
                out[k] = out[k][0]
        elif not req.return_dict:  # PaddleNLP: one dict per row
            return [{k: v[i] for k, v in out.items()} for i in range(len(lengths))]
        return out

    def _to_tensors(self, rows: Dict[str, list], lengths: List[int], target: Optional[int], req: Request
                    ) -> BatchEncoding:
        """``[B, L]`` int64 arrays (``[B, L, 2]`` offsets), filled row by row without padded Python lists."""
        import numpy as np

        kind = req.tensors
        if not req.return_dict:
            raise ValueError("return_tensors needs return_dict=True (a list of dicts holds no tensors)")
        longest = max(lengths, default=0)
        if target is None or target < longest:
            if len(set(lengths)) > 1:
                raise ValueError(f"the batch has sequences of different lengths, which cannot form one {kind!r} "
                                 "tensor; pass padding=True (or padding='max_length' with a max_length no input "
                                 "exceeds, or truncation=True)")
            target = longest
        count = np.asarray(lengths, dtype=np.int64)[:, None]
        positions = np.arange(target)
        valid = positions >= target - count if self.padding_side == "left" else positions < count  # [B, L]
        total = sum(lengths)
        fills = self._pad_values()
        out = BatchEncoding()
        for key in PADDED_KEYS:
            if key == "attention_mask" and req.mask:
                arr = valid.astype(np.int64)
            elif key == "offset_mapping" and key in rows:
                arr = np.zeros((len(lengths), target, 2), dtype=np.int64)
                flat = itertools.chain.from_iterable(itertools.chain.from_iterable(rows[key]))
                arr[valid] = np.fromiter(flat, dtype=np.int64, count=2 * total).reshape(total, 2)
            elif key in rows:
                arr = np.full((len(lengths), target), fills[key], dtype=np.int64)
                arr[valid] = np.fromiter(itertools.chain.from_iterable(rows[key]), dtype=np.int64, count=total)
            else:
                continue
            if kind == "pd":
                import paddle

                arr = paddle.to_tensor(arr, dtype="int64")
            out[key] = arr
        for key in _EXTRA_KEYS:
            if key in rows:
                out[key] = to_tensor(rows[key], kind, key)
        return out

    # ------------------------------------------------------------ pad()
    def pad(self, encoded_inputs, padding=True, max_length: Optional[int] = None,
            pad_to_multiple_of: Optional[int] = None, return_attention_mask: Optional[bool] = None,
            return_tensors=None, verbose: bool = True) -> BatchEncoding:
        """Pad one encoding or a batch of them (lists, numpy arrays or paddle tensors) as PaddleNLP does.

        Args:
            encoded_inputs: a dict with ``input_ids`` (one row, or a list of
                rows), or a list of such dicts (e.g. a collator's features).
            padding: ``True`` / ``"longest"`` (default), ``"max_length"``
                (``max_length``, else ``model_max_length``) or ``False``.
            max_length: the length for ``padding="max_length"``.
            pad_to_multiple_of: round the padded length up to a multiple of this.
            return_attention_mask: add / pad ``attention_mask``; ``None``: when
                ``model_input_names`` lists it or the inputs have one.
            return_tensors: ``None``, ``"np"`` or ``"pd"``; left at ``None``,
                paddle tensors in give ``"pd"`` and numpy arrays ``"np"``.
            verbose: warn when ``padding="max_length"`` has no length to pad to.

        Returns:
            BatchEncoding: every key of the inputs, the padded ones padded.

        Raises:
            ValueError: no ``input_ids``, rows of different batch sizes, an
                unknown padding, or values of an unknown type.
        """
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], dict):
            missing = [i for i, ex in enumerate(encoded_inputs) if set(ex) != set(encoded_inputs[0])]
            if missing:
                raise ValueError(f"pad(): encoding {missing[0]} has keys {sorted(encoded_inputs[missing[0]])}, "
                                 f"the first has {sorted(encoded_inputs[0])}; every encoding needs the same keys")
            encoded_inputs = {k: [ex[k] for ex in encoded_inputs] for k in encoded_inputs[0]}
        if not isinstance(encoded_inputs, dict) or "input_ids" not in encoded_inputs:
            keys = list(encoded_inputs) if isinstance(encoded_inputs, dict) else type(encoded_inputs).__name__
            raise ValueError(f"pad() needs an encoding (or a list of encodings) with input_ids; got {keys}")
        inputs = dict(encoded_inputs)
        kind = tensor_kind(return_tensors)
        inputs, inferred = _as_python(inputs)
        kind = kind or inferred
        padding = enum_value(padding)
        if not isinstance(padding, (bool, str, type(None))) or padding not in PADDING:
            raise ValueError(f"unknown padding={padding!r}; use True, 'longest', 'max_length' or False")
        strategy = PADDING[padding]
        for name, value, low in (("max_length", max_length, 0), ("pad_to_multiple_of", pad_to_multiple_of, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise ValueError(f"{name} must be an int >= {low} (or None), got {value!r}")
        if strategy == "max_length" and max_length is None:
            if self.model_max_length > LARGE_INTEGER:
                if verbose and self.verbose:
                    warnings.warn(f"padding='max_length' without max_length, and model_max_length="
                                  f"{self.model_max_length} means no limit: not padding", stacklevel=2)
                strategy = None
            else:
                max_length = self.model_max_length
        if strategy and (self.pad_token is None or self.pad_token_id is None):
            raise ValueError("padding needs a pad token and this tokenizer has none; set one, e.g. "
                             "tokenizer.add_special_tokens({'pad_token': '[PAD]'})")
        want_mask = return_attention_mask
        if want_mask is None:
            want_mask = "attention_mask" in self.model_input_names or "attention_mask" in inputs
        rows = inputs["input_ids"]
        single = not rows or not isinstance(rows[0], (list, tuple))
        if single:
            inputs = {k: [v] for k, v in inputs.items()}
        batch = len(inputs["input_ids"])
        wrong = [k for k, v in inputs.items() if not isinstance(v, (list, tuple)) or len(v) != batch]
        if wrong:
            raise ValueError(f"pad(): {wrong[0]!r} does not hold one value per input ({batch} inputs)")
        lengths = [len(r) for r in inputs["input_ids"]]
        target = self._target_length(lengths, strategy, max_length, pad_to_multiple_of)
        if want_mask and "attention_mask" not in inputs:
            inputs["attention_mask"] = [[1] * n for n in lengths]
        if target is not None:
            fills, left = self._pad_values(), self.padding_side == "left"
            for key, fill in fills.items():
                if key in inputs and (key in PADDED_KEYS or all(isinstance(r, list) for r in inputs[key])):
                    inputs[key] = [_pad_row(list(r), fill, target - n, left) for r, n in zip(inputs[key], lengths)]
        out = BatchEncoding((k, v[0] if single else v) for k, v in inputs.items())
        return out.convert_to_tensors(kind) if kind else out


def _pad_row(row: list, fill: Any, extra: int, left: bool) -> list:
    if extra <= 0:
        return row
    return [fill] * extra + row if left else row + [fill] * extra


def _as_python(inputs: Dict[str, Any]):
    """Tensors / arrays as Python lists when ``input_ids`` holds them, and the ``return_tensors`` that implies.

    As PaddleNLP and HF decide it: by ``input_ids`` alone (paddle tensors:
    ``"pd"``, numpy arrays: ``"np"``); otherwise everything stays as given.
    """
    import numpy as np

    first = inputs["input_ids"]
    if isinstance(first, (list, tuple)):
        first = next((row for row in first if not isinstance(row, (list, tuple)) or row), None)
        if isinstance(first, (list, tuple)):
            first = first[0]
    if type(first).__module__.startswith("paddle") and hasattr(first, "numpy"):
        inferred = "pd"
    elif isinstance(first, (np.ndarray, np.generic)):
        inferred = "np"
    else:
        return inputs, None
    return {key: _to_python(value) for key, value in inputs.items()}, inferred


def _to_python(value: Any) -> Any:
    if hasattr(value, "numpy") and type(value).__module__.startswith("paddle"):
        return value.numpy().tolist()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_to_python(v) for v in value]
    return value
