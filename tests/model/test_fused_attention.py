"""The fused attention kernel of CPU training (paddle_electra/_cpu_ops/attention.cc): the same context and
q / k / v gradients as Paddle's ops for every bias shape the model passes, the dropout kernel's mask, any
thread count; the layers use it only where it applies."""

import numpy as np
import paddle
import pytest

import paddle_electra as pe
from paddle_electra import _cpu_ops
from paddle_electra.model import fast_paths


@pytest.fixture(scope="module")
def kernels():
    k = _cpu_ops.kernels()
    assert k is not None and k.has_attention, _cpu_ops.status()  # MKL ships in Paddle's CPU wheel
    return k


def _inputs(batch, seq, hidden, seed=0):
    rng = np.random.default_rng(seed)
    return [paddle.to_tensor(rng.standard_normal((batch, seq, hidden)).astype("float32"), stop_gradient=False)
            for _ in range(3)], paddle.to_tensor(rng.standard_normal((batch, seq, hidden)).astype("float32"))


def _run(fn, qkv, dy):
    out = fn(*qkv)
    return [out.numpy()] + [g.numpy() for g in paddle.grad([out], qkv, [dy])]


def _padding_bias(batch, seq, heads, rows):
    keep = np.ones((batch, seq), "float32")
    keep[0, seq // 2:] = 0  # the first row is padded from the middle on
    bias = ((1 - keep) * -1e4)[:, None, None, :]
    return paddle.to_tensor(np.broadcast_to(bias, (batch, heads, rows, seq)).copy())


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch, seq, hidden, heads, bias_shape", [
    (2, 7, 12, 3, "b11l"), (3, 16, 32, 4, "bhll"), (2, 5, 8, 1, "none"), (2, 9, 24, 2, "11ll"), (4, 33, 40, 5, "b1ll")])
def test_attention_equals_paddles_ops(kernels, threads, batch, seq, hidden, heads, bias_shape):
    qkv, dy = _inputs(batch, seq, hidden)
    if bias_shape == "none":
        bias = None
    elif bias_shape == "11ll":
        bias = paddle.to_tensor(np.triu(np.full((seq, seq), -1e4, "float32"), 1)[None, None])  # causal
    else:
        bias = _padding_bias(batch, seq, heads if bias_shape[1] == "h" else 1, seq if bias_shape[2] == "l" else 1)
    ref_bias = paddle.zeros([1, 1, 1, seq]) if bias is None else bias
    got = _run(lambda q, k, v: kernels.attention(q, k, v, ref_bias, heads, 0.0, 0, threads), qkv, dy)
    want = _run(lambda q, k, v: _cpu_ops.attention_reference(q, k, v, ref_bias, heads), qkv, dy)
    for name, a, b in zip(("context", "dq", "dk", "dv"), got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5, err_msg=name)


def test_attention_dropout_is_the_dropout_kernels_mask(kernels):
    """With dropout, the kernel equals softmax -> the dropout kernel (same seed) -> matmul, gradients included;
    the mask does not depend on the thread count."""
    batch, seq, hidden, heads, p, seed = 3, 10, 16, 2, 0.3, 77
    qkv, dy = _inputs(batch, seq, hidden, seed=1)
    bias = _padding_bias(batch, seq, 1, 1)

    def reference(q, k, v):
        split = lambda t: t.reshape([batch, seq, heads, -1]).transpose([0, 2, 1, 3])  # noqa: E731
        probs = paddle.nn.functional.softmax(paddle.matmul(split(q), split(k), transpose_y=True) + bias, axis=-1)
        context = paddle.matmul(kernels.dropout(probs, p, seed, 2), split(v))
        return context.transpose([0, 2, 1, 3]).reshape([batch, seq, hidden])

    want = _run(reference, qkv, dy)
    for threads in (1, 2, 3):
        got = _run(lambda q, k, v, t=threads: kernels.attention(q, k, v, bias, heads, p, seed, t), qkv, dy)
        for name, a, b in zip(("context", "dq", "dk", "dv"), got, want):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5, err_msg=f"{name}, {threads} threads")
    _, probs, mask = kernels.attention_outputs(*qkv, bias, heads, p, seed, 2)
    assert mask.shape == [batch, heads, seq, seq] and 0.2 < 1 - mask.numpy().mean() < 0.4
    np.testing.assert_allclose(probs.numpy().sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("bias_shape, message", [([2, 1, 1, 6], "bias must be"), ([3, 1, 1, 5], "bias must be"),
                                                 ([2, 3, 5, 5], "bias must be"), ([2, 5], "bias must be")])
def test_attention_rejects_a_bias_that_does_not_broadcast(kernels, bias_shape, message):
    (q, k, v), _ = _inputs(2, 5, 8)
    with pytest.raises(Exception, match=message):
        kernels.attention(q, k, v, paddle.zeros(bias_shape), 2, 0.0, 0, 1)


def test_attention_rejects_mismatched_inputs(kernels):
    (q, k, v), _ = _inputs(2, 5, 8)
    bias = paddle.zeros([1, 1, 1, 5])
    with pytest.raises(Exception, match="multiple of heads"):
        kernels.attention(q, k, v, bias, 3, 0.0, 0, 1)
    with pytest.raises(Exception, match="must all be"):
        kernels.attention(q, k[:, :4], v, bias, 2, 0.0, 0, 1)


def test_an_attention_kernel_that_disagrees_is_refused(kernels):
    class Broken(_cpu_ops.Kernels):
        @classmethod
        def attention(cls, q, k, v, bias, heads, p, seed, threads):
            return kernels.attention(q, k * 1.01, v, bias, heads, p, seed, threads)

    _cpu_ops._check_attention(kernels)  # the real build passes
    with pytest.raises(RuntimeError, match="attention kernel's output disagrees"):
        _cpu_ops._check_attention(Broken(kernels.library))


def _layer(dropout=0.0):
    paddle.seed(2)
    cfg = pe.ElectraConfig(vocab_size=50, hidden_size=16, embedding_size=16, num_attention_heads=2,
                           num_hidden_layers=1, intermediate_size=32, max_position_embeddings=16,
                           attention_probs_dropout_prob=dropout)
    from paddle_electra.model.backbone import ElectraSelfAttention

    layer = ElectraSelfAttention(cfg)
    layer.train()
    return layer


def test_the_layer_uses_the_kernel_only_where_it_applies(kernels, monkeypatch):
    calls = []
    real = kernels.attention
    monkeypatch.setattr(_cpu_ops.Kernels, "attention", staticmethod(lambda *a: calls.append(a[5]) or real(*a)))
    layer = _layer(dropout=0.1)
    x = paddle.randn([2, 6, 16])
    bias = _padding_bias(2, 6, 1, 1)
    out, probs, present = layer(x, bias)
    assert calls == [0.1] and probs is None and present is None and out.shape == [2, 6, 16]
    layer.eval()
    layer(x, bias)
    assert calls == [0.1, 0.0]  # training mode off, gradients still recorded: no dropout
    _, probs, _ = layer(x, bias, output_attentions=True)  # the probabilities are asked for: Paddle's ops
    _, _, present = layer(x, bias, use_cache=True)
    assert len(calls) == 2 and probs.shape == [2, 2, 6, 6] and present is not None
    learnt = paddle.zeros([2, 1, 1, 6])
    learnt.stop_gradient = False  # a bias with a gradient: Paddle's ops, which give it one
    layer(x, learnt)
    with paddle.no_grad():  # inference: Paddle's ops
        layer(x, bias)
    assert len(calls) == 2


def test_the_layer_gives_the_same_output_and_gradients_with_and_without_the_kernel(kernels, monkeypatch):
    layer = _layer()
    x = paddle.randn([3, 7, 16])
    bias = _padding_bias(3, 7, 1, 1)
    dy = paddle.randn([3, 7, 16])
    params = [p for p in layer.parameters()]

    def run():
        inp = x.clone()
        inp.stop_gradient = False
        out = layer(inp, bias)[0]
        return [out.numpy()] + [g.numpy() for g in paddle.grad([out], [inp] + params, [dy])]

    fused = run()
    monkeypatch.setattr(kernels, "has_attention", False)
    plain = run()
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)
    assert fast_paths.attention_kernels(x, bias, layer.dropout) is None  # and the switch was seen
