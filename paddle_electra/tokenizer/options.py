"""The output container and the resolution of encoding options (padding, truncation, returned keys).

The rules are PaddleNLP 2.8.1's (``_get_padding_truncation_strategies``), which
HF's agree with except where noted:

* ``max_length`` without ``padding`` / ``truncation`` turns on ``longest_first``
  truncation (HF: only when ``truncation`` is not given at all; PaddleNLP
  cannot tell ``truncation=False`` from the default).
* ``truncation`` or ``padding="max_length"`` without ``max_length`` use
  ``model_max_length``.
* ``pad_to_max_seq_len=True`` (PaddleNLP 2.x) pads to ``max_length`` when one
  is given, else to the longest input.
* ``return_token_type_ids`` / ``return_attention_mask`` / ``return_position_ids``
  left at ``None`` follow ``model_input_names``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional, Union

from .vocab import TokenizerInputError

TRUNCATION = {True: "longest_first", "longest_first": "longest_first", "only_first": "only_first",
              "only_second": "only_second", False: None, None: None, "do_not_truncate": None}
PADDING = {True: "longest", "longest": "longest", "max_length": "max_length", False: None, None: None,
           "do_not_pad": None}
LARGE_INTEGER = int(1e20)  # a model_max_length above this means "no limit" (PaddleNLP / HF use 1e30)


class BatchEncoding(dict):
    """The model inputs: a ``dict`` whose keys can also be read as attributes (``enc.input_ids``).

    ``enc.data`` is the plain ``dict`` (PaddleNLP / HF), and
    :meth:`convert_to_tensors` turns the values into ``"np"`` / ``"pd"`` arrays.
    """

    is_fast = False  # no per-token `tokenizers` Encoding objects (word_ids, ...) are kept

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def data(self) -> dict:
        """The keys and values as a plain ``dict``."""
        return dict(self)

    def convert_to_tensors(self, tensor_type: Optional[str] = None, prepend_batch_axis: bool = False
                           ) -> "BatchEncoding":
        """Turn every value into a ``"np"`` array or ``"pd"`` tensor (in place); ``None`` leaves them.

        Raises:
            ValueError: an unknown ``tensor_type``, or rows of different lengths.
        """
        kind = tensor_kind(tensor_type)
        if kind is not None:
            for key in list(self):
                self[key] = to_tensor([self[key]] if prepend_batch_axis else self[key], kind, key)
        return self


def enum_value(value: Any) -> Any:
    """The ``.value`` of PaddleNLP's / HF's option enums (``PaddingStrategy.LONGEST`` ...), else ``value``."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    return getattr(value, "value", value)


def tensor_kind(return_tensors: Any) -> Optional[str]:
    """``None``, ``"np"`` or ``"pd"``.

    Raises:
        ValueError: any other value (``"pt"``, ``"tf"`` ...).
    """
    kind = enum_value(return_tensors)
    if kind not in (None, "np", "pd"):
        raise ValueError(f"return_tensors must be None, 'np' or 'pd', got {return_tensors!r}")
    return kind


def to_tensor(value: Any, kind: str, key: str = "value"):
    """``value`` (a list, nested lists, a number or an array) as an ``"np"`` array or a ``"pd"`` tensor.

    Python ints become int64 and floats float32 for ``"pd"`` (``paddle.to_tensor``'s
    defaults, as PaddleNLP's collators get them); ``"np"`` keeps numpy's.

    Raises:
        ValueError: rows of different lengths.
    """
    import numpy as np

    if kind == "pd":
        import paddle

        if isinstance(value, paddle.Tensor):
            return value
    try:
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
        if arr.dtype == object:
            raise ValueError("ragged")
    except ValueError:
        what = "overflowing tokens of different lengths" if key == "overflowing_tokens" else \
            f"{key!r} rows of different lengths"
        raise ValueError(f"cannot make one {kind!r} tensor from {what}; pass padding=True (or "
                         "padding='max_length'), or return_tensors=None") from None
    if kind == "np":
        return arr
    import paddle

    if arr.dtype.kind == "f" and not isinstance(value, np.ndarray):
        return paddle.to_tensor(arr, dtype=paddle.get_default_dtype())
    return paddle.to_tensor(arr)


@dataclass
class Request:
    """The resolved options of one encoding call."""

    add_special: bool = True
    max_length: Optional[int] = None
    truncation: Optional[str] = None
    padding: Optional[str] = None
    pad_multiple: Optional[int] = None
    stride: int = 0
    tensors: Optional[str] = None
    types: bool = True
    mask: bool = True
    offsets: bool = False
    special_mask: bool = False
    length: bool = False
    overflow: bool = False
    positions: bool = False
    split: Union[bool, str] = False
    verbose: bool = True
    return_dict: bool = True
    prepend: bool = True  # one input with return_tensors: a batch axis of 1


def _check_int(name: str, value: Any, minimum: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise ValueError(f"{name} must be an int >= {minimum} (or None), got {value!r}")


class OptionsMixin:
    """Turns the keyword arguments of ``__call__`` / ``encode`` / ``batch_encode`` into a :class:`Request`."""

    def _request(self, *, add_special_tokens=True, padding=False, truncation=False, max_length=None,
                 max_seq_len=None, pad_to_max_seq_len=False, stride=0, is_split_into_words=False,
                 pad_to_multiple_of=None, return_tensors=None, return_token_type_ids=None,
                 return_attention_mask=None, return_position_ids=None, return_overflowing_tokens=False,
                 return_special_tokens_mask=False, return_offsets_mapping=False, return_length=False,
                 return_dict=True, verbose=True) -> Request:
        """Validate and resolve the options (see the module docstring).

        Raises:
            ValueError: an unknown strategy or bad number, ``max_length`` and
                ``max_seq_len`` disagreeing, padding without a pad token,
                truncation to a length that ``pad_to_multiple_of`` does not divide.
        """
        if max_seq_len is not None:
            if max_length is not None and max_length != max_seq_len:
                raise ValueError(f"max_length={max_length} and max_seq_len={max_seq_len} disagree; pass one")
            max_length = max_seq_len
        _check_int("max_length", max_length, 0)
        _check_int("stride", stride, 0)
        _check_int("pad_to_multiple_of", pad_to_multiple_of, 1)
        padding, truncation = enum_value(padding), enum_value(truncation)
        if not isinstance(truncation, (bool, str, type(None))) or truncation not in TRUNCATION:
            raise ValueError(f"unknown truncation={truncation!r}; use False, True, 'longest_first', 'only_first' "
                             "or 'only_second'")
        if not isinstance(padding, (bool, str, type(None))) or padding not in PADDING:
            raise ValueError(f"unknown padding={padding!r}; use False, True, 'longest' or 'max_length'")
        if is_split_into_words not in (False, True, "token", None):
            raise ValueError(f"is_split_into_words must be False, True or 'token', got {is_split_into_words!r}")
        req = Request(add_special=bool(add_special_tokens), stride=int(stride or 0), pad_multiple=pad_to_multiple_of,
                      tensors=tensor_kind(return_tensors), offsets=bool(return_offsets_mapping),
                      special_mask=bool(return_special_tokens_mask), length=bool(return_length),
                      overflow=bool(return_overflowing_tokens), split=is_split_into_words or False,
                      verbose=bool(verbose) and self.verbose, return_dict=bool(return_dict))
        trunc, pad = TRUNCATION[truncation], PADDING[padding]
        if max_length is not None and padding in (False, None) and truncation in (False, None):
            trunc = "longest_first"  # PaddleNLP and HF: a bare max_length truncates
            if req.verbose and max_seq_len is None and not self.deprecation_warnings.get("implicit-truncation"):
                warnings.warn("max_length without truncation= truncates with 'longest_first'; pass truncation=True "
                              "(or a strategy) to say so", stacklevel=3)
                self.deprecation_warnings["implicit-truncation"] = True
        if pad is None and pad_to_max_seq_len:
            pad = "longest" if max_length is None else "max_length"
        if max_length is None and (pad == "max_length" or trunc):
            if self.model_max_length > LARGE_INTEGER:  # "no limit": nothing to pad or cut to
                if req.verbose:
                    warnings.warn(f"padding/truncation to max_length asked without max_length, and model_max_length="
                                  f"{self.model_max_length} means no limit: not padding/truncating", stacklevel=3)
                pad = None if pad == "max_length" else pad
                trunc = None
            else:
                max_length = self.model_max_length
        if pad and (self.pad_token is None or self.pad_token_id is None):
            raise ValueError("padding needs a pad token and this tokenizer has none; set one, e.g. "
                             "tokenizer.add_special_tokens({'pad_token': '[PAD]'})")
        if trunc and pad and pad_to_multiple_of and max_length is not None and max_length % pad_to_multiple_of:
            raise ValueError(f"truncation to max_length={max_length} and padding to a multiple of "
                             f"pad_to_multiple_of={pad_to_multiple_of} cannot both hold; pick a max_length that "
                             f"{pad_to_multiple_of} divides")
        names = self.model_input_names
        req.max_length, req.truncation, req.padding = max_length, trunc, pad
        req.types = "token_type_ids" in names if return_token_type_ids is None else bool(return_token_type_ids)
        req.mask = "attention_mask" in names if return_attention_mask is None else bool(return_attention_mask)
        req.positions = "position_ids" in names if return_position_ids is None else bool(return_position_ids)
        return req


def check_text(value: Any, where: str) -> None:
    """Raise unless ``value`` is a ``str``."""
    if not isinstance(value, str):
        raise TokenizerInputError(f"{where} must be a str, got {type(value).__name__}")
