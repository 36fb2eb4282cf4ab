"""Dygraph speed paths of the encoder; each gives the plain layers' numbers.

* :func:`dense` / :func:`affine`: a Linear as one ``addmm`` when no gradient is recorded;
* :func:`expand_bias`: the attention-mask bias broadcast once per forward, not in every layer;
* :func:`_head_rows` / :func:`_use_row_gather`: attention heads reordered by gathering rows
  instead of through strided views.

Measured in docs/dygraph-cpu-speed.md; tests/test_modeling_speed.py proves the outputs equal.
Static graphs (export) always take the plain path.
"""

from __future__ import annotations

import functools
import os
from typing import Tuple

import numpy as np
import paddle
import paddle.nn as nn

Tensor = paddle.Tensor


def dense(layer: nn.Linear, x):
    """``layer(x)``; in dygraph on the 2-D view, as one ``addmm`` when no gradient is recorded.

    Paddle's CPU ``F.linear`` adds the bias in a separate pass that costs up to
    a third of the GEMM (docs/dygraph-cpu-speed.md); static graphs keep the
    plain Linear so export and inference fuse passes see the usual pattern.
    """
    if not paddle.in_dynamic_mode():
        return layer(x)
    shape = x.shape
    out = affine(x.reshape([-1, shape[-1]]), layer.weight, layer.bias)
    return out.reshape(shape[:-1] + [out.shape[-1]])


def affine(x2d, weight, bias):
    """``x2d @ weight + bias`` for a 2-D input, fused into one ``addmm`` when no gradient is recorded.

    Paddle 3.3's CPU ``addmm`` backward crashes the process (segfault) under
    ``paddle.grad(..., retain_graph=True)`` (reproduced in
    tests/test_pretraining.py), so with autograd on the plain form is used.
    """
    if paddle.is_grad_enabled():
        return paddle.matmul(x2d, weight) + bias
    return paddle.addmm(bias, x2d, weight)


def expand_bias(bias, num_heads: int, max_elements: int = 1 << 25):
    """Broadcast a [B, 1, 1|L, L] mask bias to [B, heads, L, L] once per forward (dygraph).

    Paddle's CPU kernel for a broadcasting add is ~15x slower than a same-shape
    add (measured), and the bias is added in every layer. Expanding once costs
    one tensor of B*heads*L*L floats, so it is skipped above ``max_elements``.
    """
    if bias is None or not paddle.in_dynamic_mode():
        return bias
    batch, _, rows, seq = bias.shape
    shape = [batch if batch > 0 else 1, num_heads, seq, seq]
    if shape[0] * num_heads * seq * seq > max_elements or list(bias.shape) == shape:
        return bias
    return paddle.expand(bias, shape).clone()


@functools.lru_cache(maxsize=8)
def _head_rows(batch: int, seq: int, heads: int) -> Tuple[Tuple[Tensor, ...], Tensor]:
    """Row indices that reorder attention tensors by gathering rows of ``head_dim`` floats.

    Returns ``((q, k, v), back)``: row ``i`` of ``[B, heads, L, d]`` q (k, v) is row
    ``q[i]`` of the fused projection viewed as ``[B*L*3*heads, d]``; row ``i`` of
    ``[B*L*heads, d]`` (the context back in token order) is row ``back[i]`` of
    ``[B*heads*L, d]``. CPU tensors, cached per shape: the layers of a forward share them.
    """
    b, h, t = np.meshgrid(np.arange(batch), np.arange(heads), np.arange(seq), indexing="ij")
    base = ((b * seq + t) * 3 * heads + h).reshape(-1)  # (b, h, t) -> row of token t, part q, head h
    parts = tuple(paddle.to_tensor(base + part * heads, dtype="int64", place=paddle.CPUPlace()) for part in range(3))
    b, t, h = np.meshgrid(np.arange(batch), np.arange(seq), np.arange(heads), indexing="ij")
    back = paddle.to_tensor(((b * heads + h) * seq + t).reshape(-1), dtype="int64", place=paddle.CPUPlace())
    return parts, back


def _use_row_gather(x) -> bool:
    """Reorder heads by gathering rows (dygraph, CPU, inference) instead of through strided views.

    A transposed view is a strided tensor in Paddle 3; the elementwise op or
    matmul that consumes it first copies it with the generic strided-copy
    kernel, ~7.5 ms per [8, 12, 128, 64] tensor on this CPU, four times per
    layer (q scaled, k, v, the context). Gathering whole ``head_dim`` rows moves
    the same floats (bit-identical results) in ~2 ms (docs/dygraph-cpu-speed.md).
    Kept to inference (no autograd), where it was measured.
    """
    return (paddle.in_dynamic_mode() and not paddle.is_grad_enabled() and x.place.is_cpu_place()
            and os.environ.get("PADDLE_ELECTRA_STRIDED_HEADS") != "1")
