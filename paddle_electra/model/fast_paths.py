"""Dygraph speed paths of the encoder; each gives the plain layers' numbers.

* :func:`dense` / :func:`affine`: a Linear as one ``addmm`` when no gradient is recorded, and in CPU
  training through the compiled Linear (MKL's or oneDNN's sgemm), or else with the bias added by a K = 1 GEMM (so its
  gradient is a GEMM);
* :func:`gelu`, :func:`softmax`, :class:`LayerNorm`, :class:`Dropout`: in CPU training, the fused kernels of
  ``paddle_electra._cpu_ops`` (built once per machine); where those are unavailable, Paddle's
  kernels, for LayerNorm row statistics by GEMM instead of Paddle's one-thread kernel, for dropout
  a mask from numpy's generator;
* :func:`attention`: in CPU training, the attention core as one fused kernel, heads read in place;
* :func:`expand_bias`: the attention-mask bias broadcast once per forward, not in every layer;
* :func:`_head_rows` / :func:`_use_row_gather`: attention heads reordered by gathering rows
  instead of through strided views.

Measured in docs/dygraph-cpu-speed.md and docs/performance.md; tests/model/test_modeling_speed.py and
tests/model/test_fused_kernels.py prove the outputs equal.
Static graphs (export) always take the plain path.
"""

from __future__ import annotations

import functools
import os
from typing import Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.autograd import PyLayer

from .._cpu import num_threads, use_contiguous_kernels

use_contiguous_kernels()  # once, when the layers are first imported

Tensor = paddle.Tensor


def cpu_training(x) -> bool:
    """True in dygraph with gradients recorded, for a CPU tensor: where the training paths below apply."""
    return paddle.in_dynamic_mode() and paddle.is_grad_enabled() and x.place.is_cpu_place()


def _fused_kernels(x):
    """The compiled CPU kernels when ``x`` (float32, contiguous) is being trained on the CPU, else None."""
    if not (cpu_training(x) and x.dtype == paddle.float32 and x.is_contiguous()):
        return None
    from .. import _cpu_ops  # built or loaded on first use; None if that failed or is turned off

    return _cpu_ops.kernels()


def gelu(x, approximate: bool = False):
    """``F.gelu``; exact GELU in CPU training through the fused kernel (one pass, all threads).

    Paddle 3.3's CPU GELU gradient computes ``erf`` and ``exp`` element by element
    on one thread: measured, [4096, 1024] forward + backward 14.8 ms against 3.8 ms
    fused (values within 1e-6). See paddle_electra/_cpu_ops.
    """
    kernels = None if approximate else _fused_kernels(x)
    if kernels is None:
        return F.gelu(x, approximate=approximate)
    return kernels.gelu(x, num_threads())


def softmax(x):
    """``F.softmax(x, axis=-1)``; in CPU training through the fused kernel (one pass per row, all threads).

    Paddle 3.3's CPU softmax takes 1.3 ms for [16, 4, 64, 64] attention scores on one
    thread in a training step (torch: 0.1 ms). See paddle_electra/_cpu_ops.
    """
    kernels = _fused_kernels(x)
    if kernels is None:
        return F.softmax(x, axis=-1)
    return kernels.softmax(x, num_threads())


def dense(layer: nn.Linear, x):
    """``layer(x)``; in dygraph on the 2-D view, as one ``addmm`` when no gradient is recorded.

    Paddle's CPU ``F.linear`` adds the bias in a separate pass that costs up to
    a third of the GEMM (docs/dygraph-cpu-speed.md); static graphs keep the
    plain Linear so export and inference fuse passes see the usual pattern.
    """
    if not paddle.in_dynamic_mode():
        return layer(x)
    if cpu_training(x):
        return affine(x, layer.weight, layer.bias)  # N-D as is: Paddle's reshape gradient copies
    shape = x.shape
    out = affine(x.reshape([-1, shape[-1]]), layer.weight, layer.bias)
    return out.reshape(shape[:-1] + [out.shape[-1]])


def affine(x2d, weight, bias):
    """``x2d @ weight + bias`` for a 2-D input, in as few passes as Paddle's CPU kernels allow.

    No gradient recorded: one ``addmm``. Training on CPU: ``x @ weight`` plus a
    K = 1 GEMM of a column of ones by the bias row, added same-shape, so the bias
    gradient is a GEMM too instead of Paddle's broadcast-add gradient, which costs
    as much as the GEMM itself (measured: a [1024, 256] x [256, 1024] Linear,
    forward + backward, 33 ms plain vs 18 ms). It replaced one GEMM of ``[x, 1]``
    by ``[weight; bias]``: copying the weight into that block every step cost
    0.13-0.5 ms per Linear in a training step (cold in cache), and the ``[x, 1]``
    copy and their gradients' splits more; a whole fine-tuning step at 16 x 64 is
    ~4 % faster (docs/performance.md). ``addmm``'s own backward is not used:
    Paddle 3.3's CPU kernel for it crashes the process under
    ``paddle.grad(..., retain_graph=True)`` (reproduced in tests/model/test_pretraining.py),
    nor a PyLayer: Paddle requires its backward to know which inputs
    ``paddle.grad`` asked for, which it cannot. Where the compiled kernels load
    (``paddle_electra._cpu_ops``), CPU training uses their Linear instead: the
    same three GEMMs in oneDNN's sgemm (AMD; a training step 1.43-1.52x faster
    on an AVX-512 EPYC) or MKL's (Intel), see docs/performance.md. Elsewhere
    (GPU): ``matmul + bias``.
    """
    if not paddle.is_grad_enabled():
        return paddle.addmm(bias, x2d, weight)
    kernels = _fused_kernels(x2d)
    gemm = kernels.training_gemm() if kernels is not None else None
    if gemm is not None and weight.dtype == paddle.float32 and bias is not None and bias.dtype == paddle.float32:
        # MKL's or oneDNN's sgemm, or oneDNN's bf16 matmul under set_matmul_precision: _cpu_ops/ops.cc
        return kernels.linear(x2d, weight, bias, num_threads(), gemm)
    if cpu_training(x2d):  # (any leading axes: [..., K])
        ones = paddle.ones(x2d.shape[:-1] + [1], x2d.dtype)
        return paddle.matmul(x2d, weight) + paddle.matmul(ones, bias.astype(weight.dtype).unsqueeze(0))
    return paddle.matmul(x2d, weight) + bias


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU training mask is drawn faster than Paddle's.

    Paddle 3.3's CPU dropout draws its mask ~2.5x slower than numpy's PCG64
    (measured: a [32, 4, 128, 128] tensor, forward + backward, 28 ms vs 11 ms;
    15 dropouts per fine-tuning step of a 4-layer model). Where the compiled
    kernels load (``paddle_electra._cpu_ops``), one pass on every thread hashes
    an element counter into the random bits, applies the mask and keeps it as
    one byte per element for the gradient: a fine-tuning step at 16 x 64 spends
    ~4 ms on its 15 dropouts instead of ~21 (docs/performance.md). Elsewhere the
    mask comes from numpy's generator. Either way the drop test compares 16
    random bits per unit with ``p * 65536``, so the drop rate is ``p`` rounded to
    1/65536; the seed is drawn from Paddle's generator, so ``paddle.seed`` still
    fixes every mask; the scaling is Paddle's default ``upscale_in_train``. Other
    modes, devices, static graphs and ``p == 0`` take ``nn.Dropout``'s own path.
    """

    def forward(self, x):
        p = float(self.p) if isinstance(self.p, (int, float)) else None
        if not (self.training and p and 0 < p < 1 and self.mode == "upscale_in_train" and self.axis is None
                and paddle.in_dynamic_mode() and x.place.is_cpu_place() and x.dtype == paddle.float32):
            return super().forward(x)
        seed = int(paddle.randint(0, 2**31 - 1, [1]).item())
        from .. import _cpu_ops  # built or loaded on first use; None if that failed or is turned off

        kernels = _cpu_ops.kernels() if x.is_contiguous() else None
        if kernels is not None:
            return kernels.dropout(x, p, seed, num_threads())
        shape = x.shape
        bits = np.frombuffer(np.random.default_rng(seed).bytes(2 * int(np.prod(shape))), dtype=np.uint16)
        mask = np.multiply(bits.reshape(shape) >= min(round(p * 65536), 65535), np.float32(1.0 / (1.0 - p)),
                           dtype=np.float32)
        return x * paddle.to_tensor(mask)


def attention_kernels(x, bias, dropout: nn.Dropout):
    """The compiled kernels when the attention over ``x`` ([B, L, H], the layer's input) can run as
    :func:`attention` (CPU training of float32, MKL found, a 4-D bias without a gradient or none, a
    ``dropout`` that is Paddle's default ``upscale_in_train``), else None."""
    kernels = _fused_kernels(x)
    if kernels is None or not kernels.has_attention or x.ndim != 3 or x.shape[0] == 0 or x.shape[1] == 0:
        return None
    if bias is not None and (not bias.stop_gradient or bias.dtype != paddle.float32 or bias.ndim != 4
                             or not bias.is_contiguous()):
        return None
    p = dropout.p
    if dropout.training and not (dropout.mode == "upscale_in_train" and dropout.axis is None
                                 and isinstance(p, (int, float)) and 0 <= p < 1):
        return None
    return kernels


def attention(kernels, q, k, v, bias, heads: int, dropout: nn.Dropout):
    """The attention core in CPU training as one fused op: ``dropout(softmax(q k^T + bias)) v`` per head,
    q (already scaled), k, v and the context in token order ``[B, L, H]``.

    Paddle's path copies q, k, v into ``[B, heads, L, d]`` and the context back, with a
    batched matmul, a bias add, a softmax and a dropout in between, each a pass over memory and an
    op dispatch, forward and backward. The kernel (``_cpu_ops/attention.cc``) reads each head's
    slices in place: a layer's attention core, forward + backward, 3.8 -> 2.0 ms at 16 x 64 and
    20.5 -> 11.3 ms at 32 x 128 (docs/performance.md). Its mask is the one :class:`Dropout` would
    draw for the probabilities with the same seed, drawn from Paddle's generator as there.
    """
    p = float(dropout.p) if dropout.training else 0.0
    seed = int(paddle.randint(0, 2**31 - 1, [1]).item()) if p > 0 else 0
    if bias is None:
        bias = paddle.zeros([1, 1, 1, q.shape[1]], q.dtype)
    return kernels.attention(q, k, v, bias, heads, p, seed, num_threads())


class _Normalize(PyLayer):
    """``(x - mean) * rsqrt(var + eps)`` over the last axis of a 2-D ``x``, with its analytic gradient.

    Row means are GEMMs with a ``[H, 1]`` column of ``1 / H`` (MKL, all threads) and are
    expanded to ``[N, H]`` before the elementwise ops, which Paddle's CPU kernels run
    several times faster without broadcasting. One tensor input: a PyLayer must return
    ``None`` for every input ``paddle.grad`` did not ask for, and it cannot know which
    (see :func:`affine`); the affine part is left to autograd in :func:`layer_norm`.
    """

    @staticmethod
    def forward(ctx, x2d, eps):
        n, h = x2d.shape
        avg = paddle.full([h, 1], 1.0 / h, dtype=x2d.dtype)
        centred = x2d - paddle.matmul(x2d, avg).expand([n, h])
        rstd = paddle.rsqrt(paddle.matmul(centred * centred, avg) + eps).expand([n, h])
        xhat = centred * rstd
        ctx.save_for_backward(xhat, rstd, avg)
        return xhat

    @staticmethod
    def backward(ctx, grad):
        xhat, rstd, avg = ctx.saved_tensor()
        n, h = xhat.shape
        mean_grad = paddle.matmul(grad, avg).expand([n, h])
        mean_grad_xhat = paddle.matmul(grad * xhat, avg).expand([n, h])
        return (grad - mean_grad - xhat * mean_grad_xhat) * rstd


def layer_norm(x, weight, bias, epsilon: float):
    """LayerNorm over the last axis, for training on CPU: equal to Paddle's kernel within float32 rounding.

    Paddle 3.3's CPU LayerNorm runs its forward and gradient on one thread
    (measured: [32, 128, 256], forward + backward, ~8-9 ms against torch's ~1 ms
    on two threads). Here the statistics are GEMMs and every elementwise op is
    same-shape; ``weight`` and ``bias`` are spread over the rows by a K=1 GEMM, so
    their gradients come back as GEMMs too instead of Paddle's slow broadcast
    reductions. Measured in docs/performance.md.
    """
    shape = x.shape
    h = shape[-1]
    x2d = x.reshape([-1, h])
    ones = paddle.ones([x2d.shape[0], 1], x.dtype)
    out = _Normalize.apply(x2d, epsilon) * paddle.matmul(ones, weight.unsqueeze(0)) + \
        paddle.matmul(ones, bias.unsqueeze(0))
    return out.reshape(shape)


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` (same parameters, same state-dict names) whose CPU training pass is the fused
    kernel (``paddle_electra._cpu_ops``), or :func:`layer_norm` where that is unavailable.

    Only while training with gradients on, in dygraph, on CPU, in float32, with a
    weight and a bias over one axis; everything else (inference, export, GPU,
    other dtypes) runs Paddle's kernel, so inference numbers do not move.
    ``PADDLE_ELECTRA_PADDLE_LAYERNORM=1`` keeps Paddle's kernel for training too.
    """

    def forward(self, x):
        if (self.training and cpu_training(x) and x.dtype == paddle.float32 and self.weight is not None
                and self.bias is not None and len(self._normalized_shape) == 1
                and os.environ.get("PADDLE_ELECTRA_PADDLE_LAYERNORM") != "1"):
            kernels = _fused_kernels(x) if self.weight.dtype == paddle.float32 else None
            if kernels is not None:
                return kernels.layer_norm(x, self.weight, self.bias, self._epsilon, num_threads())
            return layer_norm(x, self.weight, self.bias, self._epsilon)
        return super().forward(x)


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
