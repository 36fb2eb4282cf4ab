"""Checks and conversions of what a forward is given, before any layer runs.

Every model's ``forward`` passes its inputs through :func:`prepare_inputs`
(numpy arrays and lists become tensors; float or bool ids are refused) and the
encoder through :func:`check_inputs` (shapes, id ranges, mask values), so bad
input is a ``ValueError`` that names it rather than a Paddle kernel error.
"""

from __future__ import annotations

import warnings

import numpy as np
import paddle

from .configuration import ElectraConfig

_INT_DTYPES = (paddle.int8, paddle.int16, paddle.int32, paddle.int64, paddle.uint8)
_FLOAT_DTYPES = (paddle.float16, paddle.bfloat16, paddle.float32, paddle.float64)
# what each kind of input may hold: ids are integers; masks also bool or float; embeddings float
_KIND_DTYPES = {
    "ids": _INT_DTYPES,
    "mask": _INT_DTYPES + _FLOAT_DTYPES + (paddle.bool,),
    "embeds": _FLOAT_DTYPES,
    "labels": _INT_DTYPES + _FLOAT_DTYPES,
}
_KIND_WORDS = {"ids": "integer ids", "mask": "0/1 values (int, bool or float)", "embeds": "floats",
               "labels": "integer or float labels"}


def to_input_tensor(name: str, value, kind: str = "ids"):
    """``value`` as a Paddle tensor a forward can use, or a ValueError naming ``name``.

    numpy arrays and (nested) Python lists are converted (float64 becomes
    float32, NumPy's default float being nobody's intent); ids of an integer
    dtype other than int32 / int64 are cast to int64, the dtypes the embedding
    lookup takes; float or bool ids are refused, not silently truncated. Does
    nothing in static mode (a graph being traced for export has typed
    placeholders, fixed by its InputSpecs) or for ``None``.

    Args:
        name: the argument's name, for the message.
        value: a ``paddle.Tensor``, ``numpy.ndarray``, list / tuple, or None.
        kind: ``"ids"``, ``"mask"``, ``"embeds"`` or ``"labels"``.
    """
    if value is None or not paddle.in_dynamic_mode():
        return value
    if not isinstance(value, paddle.Tensor):
        if not isinstance(value, (np.ndarray, np.generic, list, tuple)):
            raise ValueError(f"{name} must be a paddle.Tensor, a numpy array or a nested list, "
                             f"got {type(value).__name__}")
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as exc:  # ragged nesting: "inhomogeneous shape"
            raise ValueError(f"{name} must be a rectangular array (every row the same length): {exc}") from None
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold {_KIND_WORDS[kind]}, got numpy dtype {array.dtype} "
                             "(ragged rows or non-numbers)")
        if kind == "ids" and (array.dtype.kind in "iu" or array.size == 0):
            array = array.astype(np.int64)  # also uint32/uint64 (no Paddle dtype) and [] (numpy says float64)
        elif array.dtype == np.float64:
            array = array.astype(np.float32)
        value = paddle.to_tensor(array)
    dtype = value.dtype
    if dtype not in _KIND_DTYPES[kind]:
        hint = "; cast with .astype('int64')" if kind == "ids" else ""
        raise ValueError(f"{name} must hold {_KIND_WORDS[kind]}, got dtype {str(dtype).replace('paddle.', '')}{hint}")
    if kind == "ids" and dtype not in (paddle.int32, paddle.int64):
        value = value.astype("int64")
    return value


def prepare_inputs(input_ids=None, token_type_ids=None, position_ids=None, attention_mask=None, inputs_embeds=None,
                   ids_win: bool = True):
    """:func:`to_input_tensor` on the five inputs every forward takes, in this order.

    With ``ids_win`` (the PaddleNLP-named classes) ``inputs_embeds`` given
    together with ``input_ids`` is dropped with a warning, unchecked, as
    PaddleNLP's embeddings use ``input_ids`` then; otherwise both are kept and
    :func:`check_inputs` refuses the pair (HF's rule).
    """
    if ids_win and input_ids is not None and inputs_embeds is not None:
        warnings.warn("both input_ids and inputs_embeds were given: input_ids is used and inputs_embeds ignored "
                      "(PaddleNLP's rule); pass only one of them", UserWarning, stacklevel=3)
        inputs_embeds = None
    return (
        to_input_tensor("input_ids", input_ids),
        to_input_tensor("token_type_ids", token_type_ids),
        to_input_tensor("position_ids", position_ids),
        to_input_tensor("attention_mask", attention_mask, "mask"),
        to_input_tensor("inputs_embeds", inputs_embeds, "embeds"),
    )


def check_inputs(config: ElectraConfig, input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds,
                 past_length: int = 0):
    """Reject malformed inputs with a ValueError that names the problem.

    ``past_length`` positions are cached (see :mod:`paddle_electra.model.kv_cache`):
    a 2-D / 3-D mask then covers ``past_length + L`` keys, and the positions go
    up to ``past_length + L``. The checks run in dygraph only: a static graph
    being traced for export has symbolic shapes and no values (and its shapes
    are fixed by the InputSpecs).
    """
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids or inputs_embeds")
    if not paddle.in_dynamic_mode():
        return
    shape = list(input_ids.shape if input_ids is not None else inputs_embeds.shape[:-1])
    if len(shape) != 2:
        raise ValueError(f"input_ids must be 2-D [batch, seq_len], got shape {shape}")
    if inputs_embeds is not None and inputs_embeds.shape[-1] != config.embedding_size:
        raise ValueError(
            f"inputs_embeds last axis is {inputs_embeds.shape[-1]}, expected embedding_size={config.embedding_size}"
        )
    for name, tensor in (("token_type_ids", token_type_ids), ("position_ids", position_ids)):
        if tensor is not None and list(tensor.shape) != shape and not (name == "position_ids" and tensor.ndim == 1):
            raise ValueError(f"{name} has shape {list(tensor.shape)} but input_ids has shape {shape}")
    keys = [shape[0], past_length + shape[1]]  # the positions attended to: cached + new
    cached = f" ({past_length} cached + {shape[1]} new positions)" if past_length else ""
    if attention_mask is not None and attention_mask.ndim == 2 and list(attention_mask.shape) != keys:
        raise ValueError(f"attention_mask has shape {list(attention_mask.shape)} but input_ids has shape {shape}"
                         + (f"; with a cache it must be {keys}{cached}" if past_length else ""))
    if attention_mask is not None and attention_mask.ndim == 3 and list(attention_mask.shape) != shape + keys[1:]:
        axes = "[batch, seq_len, cached + seq_len]" if past_length else "[batch, seq_len, seq_len]"
        raise ValueError(f"a 3-D attention_mask must be {axes} = {shape + keys[1:]}{cached}, "
                         f"got {list(attention_mask.shape)}")
    if (attention_mask is not None and attention_mask.ndim in (2, 3) and attention_mask.dtype in _INT_DTYPES
            and attention_mask.numel() > 0):
        # an int keep-mask holds 0/1; a 2 would become a +1e4 bias (attend MORE), so it is refused
        bad = (attention_mask != 0) & (attention_mask != 1)
        if bool(paddle.any(bad)):
            values = sorted(set(paddle.masked_select(attention_mask, bad).numpy().tolist()))
            raise ValueError(
                f"attention_mask holds {values[:5]}{' ...' if len(values) > 5 else ''}; an int [B, L] or "
                "[B, L, L] mask must hold only 1 (attend) and 0 (padding)"
            )
    seq_len = past_length + shape[1]
    if seq_len > config.max_position_embeddings:
        raise ValueError(
            f"sequence length {seq_len}{cached} exceeds max_position_embeddings={config.max_position_embeddings}; "
            "truncate the input"
        )
    if input_ids is not None and input_ids.numel() > 0:
        lo, hi = int(input_ids.min()), int(input_ids.max())
        if lo < 0 or hi >= config.vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"input_ids contains id {bad} outside [0, vocab_size={config.vocab_size}); "
                f"the largest valid id is {config.vocab_size - 1}"
            )
    if token_type_ids is not None and token_type_ids.numel() > 0:
        lo, hi = int(token_type_ids.min()), int(token_type_ids.max())
        if lo < 0 or hi >= config.type_vocab_size:
            raise ValueError(
                f"token_type_ids contains {hi if hi >= config.type_vocab_size else lo}, "
                f"outside [0, type_vocab_size={config.type_vocab_size})"
            )
    if position_ids is not None and position_ids.numel() > 0:
        if int(position_ids.min()) < 0 or int(position_ids.max()) >= config.max_position_embeddings:
            raise ValueError(f"position_ids must lie in [0, max_position_embeddings={config.max_position_embeddings})")
