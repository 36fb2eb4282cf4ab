"""The attention layers' key/value cache, and the additive attention biases that go with it.

A cache holds, per layer, the keys and values of every position seen so far
(``[batch, heads, past_length, head_dim]`` each). Given back to the next
forward as ``past_key_values``, the new positions attend to them without
recomputing them: incremental decoding for :class:`~paddle_electra.ElectraForCausalLM`
(causal, ``config.is_decoder=True``), and PaddleNLP's ``use_cache`` on the
bidirectional :class:`~paddle_electra.ElectraModel`.

:class:`KVCache` is a tuple of ``(key, value)`` pairs, so it is also the
"legacy" form PaddleNLP and older HF code index (``past_key_values[0][0].shape[2]``),
and it answers HF's ``get_seq_length()``. It is immutable: each forward returns
a new one with the new positions appended.
"""

from __future__ import annotations

from typing import Optional

import paddle

Tensor = paddle.Tensor

# Additive bias for masked attention scores. -1e4 (not -inf or finfo.min) keeps
# fully padded rows finite and survives a cast to float16.
MASK_BIAS = -1e4


class KVCache(tuple):
    """Per layer ``(key, value)``, each ``[batch, heads, length, head_dim]``."""

    def __new__(cls, layers=()):
        return super().__new__(cls, (tuple(pair) for pair in layers))

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Number of cached positions (HF's name)."""
        return int(self[layer_idx][0].shape[2]) if len(self) else 0

    def to_legacy_cache(self) -> tuple:
        """A plain tuple of ``(key, value)`` tuples (HF's name)."""
        return tuple(self)

    @classmethod
    def from_legacy_cache(cls, past) -> "KVCache":
        """From any sequence of ``(key, value)`` pairs (HF's name)."""
        return cls(past)


def as_cache(past_key_values, num_layers: int, num_heads: int, head_dim: int, batch: Optional[int]):
    """``past_key_values`` as a checked :class:`KVCache`, or None.

    Raises:
        ValueError: not one ``(key, value)`` pair per layer, or tensors whose
            shapes do not fit the model or the batch.
    """
    if past_key_values is None:
        return None
    if isinstance(past_key_values, (str, bytes)) or not hasattr(past_key_values, "__len__"):
        raise ValueError("past_key_values must be the cache a previous forward returned (one (key, value) pair "
                         f"per layer), got {type(past_key_values).__name__}")
    if len(past_key_values) != num_layers:
        raise ValueError(f"past_key_values has {len(past_key_values)} layers but the model has {num_layers}")
    cache = KVCache(past_key_values)
    if not paddle.in_dynamic_mode():
        return cache
    want = None
    for i, pair in enumerate(cache):
        if len(pair) != 2 or not all(isinstance(t, paddle.Tensor) for t in pair):
            raise ValueError(f"past_key_values[{i}] must be a (key, value) pair of tensors")
        for name, t in zip(("key", "value"), pair):
            shape = list(t.shape)
            if len(shape) != 4 or shape[1] != num_heads or shape[3] != head_dim:
                raise ValueError(f"past_key_values[{i}] {name} has shape {shape}; expected "
                                 f"[batch, {num_heads}, past_length, {head_dim}]")
            if want is None:
                want = shape
            elif shape[0] != want[0] or shape[2] != want[2]:
                raise ValueError(f"past_key_values[{i}] {name} has shape {shape}, unlike layer 0's {want}")
    if batch is not None and want is not None and want[0] != batch:
        raise ValueError(f"past_key_values holds a batch of {want[0]} but the input has {batch} rows")
    return cache


def attention_bias(attention_mask: Optional[Tensor], input_ids: Optional[Tensor], pad_token_id: int, dtype,
                   past_length: int = 0, causal: bool = False, query_length: Optional[int] = None):
    """Turn any accepted mask form into an additive bias broadcastable to [B, heads, L, K].

    ``L`` is the number of new positions and ``K = past_length + L`` the number
    of positions attended to.

    * ``None``: positions whose id equals ``pad_token_id`` are masked (Paddle's
      convention; cached positions are kept, as in PaddleNLP); with
      ``inputs_embeds`` or ``causal`` (HF decoders infer nothing) no padding is masked.
    * [B, K] keep-mask, int / bool / float: 1 (True) keeps, 0 (False) masks;
      all three dtypes mean the same thing.
    * [B, L, K] keep-mask (per query row), same dtypes.
    * 4-D: bool is a keep-mask; int or float is already additive (0 keeps,
      large negative masks) and is used as it is.

    With ``causal`` a query at position ``past_length + i`` also cannot see keys
    after it (HF's decoder mask), added to the padding bias; ``query_length``
    (``L``) is then needed unless ``input_ids`` gives it.
    """
    if attention_mask is None:
        if input_ids is None or causal:
            bias = None
        else:
            keep = (input_ids != pad_token_id).astype(dtype)
            bias = ((1.0 - keep) * MASK_BIAS).unsqueeze([1, 2])
            if past_length:
                bias = paddle.concat([paddle.zeros([bias.shape[0], 1, 1, past_length], dtype=dtype), bias], axis=-1)
    elif attention_mask.ndim == 4:
        if attention_mask.dtype == paddle.bool:
            bias = (1.0 - attention_mask.astype(dtype)) * MASK_BIAS
        else:
            bias = attention_mask.astype(dtype)
    elif attention_mask.ndim in (2, 3):
        keep = attention_mask.astype(dtype).unsqueeze([1, 2] if attention_mask.ndim == 2 else 1)
        bias = (1.0 - keep) * MASK_BIAS
    else:
        raise ValueError(f"attention_mask must be 2-D, 3-D or 4-D, got {attention_mask.ndim}-D")
    if not causal:
        return bias
    length = query_length if query_length is not None else input_ids.shape[1]
    query = paddle.arange(past_length, past_length + length, dtype="int64").unsqueeze(-1)  # [L, 1]
    key = paddle.arange(past_length + length, dtype="int64").unsqueeze(0)  # [1, K]
    causal = ((key > query).astype(dtype) * MASK_BIAS).unsqueeze([0, 1])
    return causal if bias is None else bias + causal
