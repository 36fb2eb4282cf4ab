"""Dygraph speed paths of the encoder (backbone.py, fast_paths.py) change no number: row-gathered attention heads equal strided views bit for bit."""

import contextlib
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

import paddle_electra as pe
from paddle_electra.model import backbone, fast_paths


def _model(hidden, heads, embedding):
    paddle.seed(11)
    m = pe.ElectraModel(pe.ElectraConfig(vocab_size=300, hidden_size=hidden, embedding_size=embedding,
                                         num_attention_heads=heads, num_hidden_layers=2, intermediate_size=37,
                                         max_position_embeddings=80))
    m.eval()
    return m


@pytest.mark.parametrize("hidden,heads,embedding,batch,seq", [
    (64, 4, 32, 3, 17), (64, 4, 64, 1, 1), (48, 3, 16, 2, 64), (32, 1, 32, 5, 9)])
def test_row_gathered_heads_equal_strided_views_bitwise(monkeypatch, hidden, heads, embedding, batch, seq):
    m = _model(hidden, heads, embedding)
    rs = np.random.RandomState(batch * 100 + seq)
    ids = paddle.to_tensor(rs.randint(5, 300, (batch, seq)).astype("int64"))
    mask = np.ones((batch, seq), dtype="int64")
    mask[0, seq // 2 + 1:] = 0
    mask = paddle.to_tensor(mask)
    calls = []
    real_gather = paddle.gather
    monkeypatch.setattr(paddle, "gather", lambda *a, **k: calls.append(1) or real_gather(*a, **k))
    with paddle.no_grad():
        fast = m(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True, return_dict=True)
        assert len(calls) == 4 * 2  # q, k, v and the context, in each of the 2 layers
        monkeypatch.setenv("PADDLE_ELECTRA_STRIDED_HEADS", "1")
        plain = m(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True, return_dict=True)
        assert len(calls) == 8  # the switch turns the gathers off
    for a, b in zip([fast.last_hidden_state, *fast.hidden_states, *fast.attentions],
                    [plain.last_hidden_state, *plain.hidden_states, *plain.attentions]):
        assert np.array_equal(a.numpy(), b.numpy())


def test_training_keeps_strided_views(monkeypatch):
    """With autograd on (training), the measured-for-inference gather path is not taken."""
    m = _model(64, 4, 32)
    calls = []
    real_gather = paddle.gather
    monkeypatch.setattr(paddle, "gather", lambda *a, **k: calls.append(1) or real_gather(*a, **k))
    out = m(paddle.to_tensor([[5, 6, 7, 8]]))
    out.sum().backward()
    assert calls == [] and m.encoder.layers[0].self_attn.q_proj.weight.grad is not None


def test_head_rows_are_the_transposes():
    (q, k, v), back = fast_paths._head_rows(2, 3, 4)
    b, t, h = np.meshgrid(np.arange(2), np.arange(3), np.arange(4), indexing="ij")
    # fused projection rows: token (b, t), part p, head h is row ((b*3 + t)*3 + p)*4 + h
    for part, rows in enumerate((q, k, v)):
        want = np.transpose(((b * 3 + t) * 3 + part) * 4 + h, (0, 2, 1)).reshape(-1)  # [B, heads, L] order
        assert rows.numpy().tolist() == want.tolist()
    # back: row (b, t, h) of [B*L*heads] comes from row (b*4 + h)*3 + t of [B*heads*L]
    assert back.numpy().tolist() == ((b * 4 + h) * 3 + t).reshape(-1).tolist()


def _train_model(hidden=64, heads=4, embedding=32, dropout=0.0):
    paddle.seed(3)
    return pe.ElectraModel(pe.ElectraConfig(vocab_size=300, hidden_size=hidden, embedding_size=embedding,
                                            num_attention_heads=heads, num_hidden_layers=2, intermediate_size=37,
                                            max_position_embeddings=80, hidden_dropout_prob=dropout,
                                            attention_probs_dropout_prob=dropout))


def _grads(model, ids, mask):
    model.clear_gradients()
    out = model(ids, attention_mask=mask)
    (out * paddle.linspace(-1, 1, out.shape[-1])).sum().backward()
    return out.numpy(), {n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None}


def test_training_paths_give_the_plain_layers_values_and_gradients(monkeypatch):
    """Training's fused-bias GEMM, folded q scale and split heads: same outputs and gradients as nn.Linear."""
    m = _train_model()
    ids = paddle.to_tensor(np.random.RandomState(0).randint(5, 300, (3, 11)).astype("int64"))
    mask = np.ones((3, 11), dtype="int64")
    mask[1, 7:] = 0
    mask = paddle.to_tensor(mask)
    fast_out, fast = _grads(m, ids, mask)
    monkeypatch.setattr(backbone, "dense", lambda layer, x: layer(x))
    monkeypatch.setattr(backbone.ElectraSelfAttention, "_qkv", lambda self, h: [
        self._split_heads(p(h)) * (self.head_dim ** -0.5 if p is self.q_proj else 1.0)
        for p in (self.q_proj, self.k_proj, self.v_proj)])
    plain_out, plain = _grads(m, ids, mask)
    np.testing.assert_allclose(fast_out, plain_out, atol=2e-6)
    assert fast.keys() == plain.keys() and len(fast) == len(list(m.parameters()))
    for name in fast:
        np.testing.assert_allclose(fast[name], plain[name], atol=5e-5, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("with_segments", [True, False])
def test_training_embeddings_look_up_one_row_per_token(monkeypatch, with_segments):
    """CPU training looks positions (and absent segment ids) up per token: same values and table gradients."""
    m = _train_model()
    ids = paddle.to_tensor(np.random.RandomState(1).randint(5, 300, (4, 9)).astype("int64"))
    segments = paddle.to_tensor(np.random.RandomState(2).randint(0, 2, (4, 9)).astype("int64")) if with_segments else None
    seen = []
    real = backbone.cpu_training
    monkeypatch.setattr(backbone, "cpu_training", lambda x: seen.append(real(x)) or real(x))
    emb = m.embeddings

    def run():
        emb.clear_gradients()
        out = emb(ids, segments)
        (out * paddle.linspace(-1, 1, out.shape[-1])).sum().backward()
        return out.numpy(), emb.position_embeddings.weight.grad.numpy().copy(), \
            emb.token_type_embeddings.weight.grad.numpy().copy()

    fast = run()
    assert seen == [True]
    monkeypatch.setattr(backbone, "cpu_training", lambda x: False)  # the broadcast [1, L] path
    plain = run()
    for a, b in zip(fast, plain):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.abs(fast[1][9:]).max() == 0 and np.abs(fast[1][:9]).sum(1).min() > 0  # the 9 used positions
    with paddle.no_grad():
        seen.clear()
        monkeypatch.setattr(backbone, "cpu_training", lambda x: seen.append(real(x)) or real(x))
        emb(ids, segments)
    assert seen == [False]  # inference keeps the broadcast


def test_affine_gradient_flows_only_where_asked():
    """paddle.grad on a subset (retain_graph) works through the fused-bias GEMM; frozen inputs get none."""
    x = paddle.randn([5, 4])
    w, b = paddle.randn([4, 3]), paddle.randn([3])
    w.stop_gradient = b.stop_gradient = False
    y = fast_paths.affine(x, w, b)
    np.testing.assert_allclose(y.numpy(), x.numpy() @ w.numpy() + b.numpy(), atol=1e-5)
    (gw,) = paddle.grad((y ** 2).sum(), [w], retain_graph=True)
    np.testing.assert_allclose(gw.numpy(), x.numpy().T @ (2 * y.numpy()), rtol=1e-4, atol=1e-4)
    (y ** 2).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), (2 * y.numpy()).sum(0), rtol=1e-4, atol=1e-4)
    assert x.grad is None


def _layer_norm_pair(width=24):
    paddle.seed(5)
    fast, plain = fast_paths.LayerNorm(width, epsilon=1e-12), paddle.nn.LayerNorm(width, epsilon=1e-12)
    fast.weight.set_value(paddle.rand([width]) + 0.5)
    fast.bias.set_value(paddle.rand([width]))
    plain.set_state_dict(fast.state_dict())
    return fast, plain


def test_training_layer_norm_equals_paddles_kernel_with_gradients(monkeypatch):
    """The GEMM-statistics path (used where the fused kernels are not built; test_fused_kernels covers them)."""
    monkeypatch.setenv("PADDLE_ELECTRA_CPU_OPS", "0")
    fast, plain = _layer_norm_pair()
    x = paddle.randn([3, 7, 24]) * 3 + 1
    dy = paddle.randn([3, 7, 24])
    got = {}
    for name, layer in (("fast", fast), ("plain", plain)):
        xi = x.clone()
        xi.stop_gradient = False
        y = layer(xi)
        (y * dy).sum().backward()
        got[name] = [y.numpy(), xi.grad.numpy(), layer.weight.grad.numpy(), layer.bias.grad.numpy()]
    for a, b in zip(got["fast"], got["plain"]):
        np.testing.assert_allclose(a, b, atol=2e-5, rtol=1e-5)
    seen = []
    monkeypatch.setattr(fast_paths, "layer_norm", lambda *a: seen.append(a) or paddle.zeros([1]))
    fast(x)
    assert len(seen) == 1  # the training path ran above, not the kernel


@pytest.mark.parametrize("how", ["eval", "no_grad", "opt_out"])
def test_layer_norm_keeps_paddles_kernel_outside_cpu_training(monkeypatch, how):
    fast, plain = _layer_norm_pair()
    monkeypatch.setattr(fast_paths, "layer_norm", lambda *a: pytest.fail("the training path ran"))
    x = paddle.randn([2, 5, 24])
    if how == "eval":
        fast.eval()
    if how == "opt_out":
        monkeypatch.setenv("PADDLE_ELECTRA_PADDLE_LAYERNORM", "1")
    with paddle.no_grad() if how == "no_grad" else contextlib.nullcontext():
        assert np.array_equal(fast(x).numpy(), plain(x).numpy())  # bit for bit: the same kernel


@pytest.mark.parametrize("fused", ["1", "0"])
def test_layer_norm_gradient_flows_only_where_asked(monkeypatch, fused):
    """paddle.grad on a subset, frozen weights, inputs without gradient: the one-input PyLayer (and the
    fused kernel) serve them all."""
    monkeypatch.setenv("PADDLE_ELECTRA_CPU_OPS", fused)
    fast, _ = _layer_norm_pair(8)
    x = paddle.randn([4, 8])
    x.stop_gradient = False
    (gx,) = paddle.grad((fast(x) ** 2).sum(), [x])
    (gw,) = paddle.grad((fast(x) ** 2).sum(), [fast.weight])
    assert gx.shape == [4, 8] and gw.shape == [8]
    upstream = paddle.create_parameter([4, 8], "float32")
    loss = (fast(x * upstream) ** 2).sum()
    (gu,) = paddle.grad(loss, [upstream], retain_graph=True)
    loss.backward()
    assert gu.shape == [4, 8] and fast.bias.grad is not None
    fast.weight.stop_gradient = fast.bias.stop_gradient = True
    frozen = paddle.randn([4, 8])
    frozen.stop_gradient = False
    (fast(frozen) ** 2).sum().backward()
    assert frozen.grad is not None
    still = paddle.randn([4, 8])  # no gradient anywhere: runs, records nothing
    assert fast(still).stop_gradient


def test_cpu_dropout_is_seeded_by_paddle_and_scales():
    drop = fast_paths.Dropout(0.25)
    drop.train()
    x = paddle.ones([64, 256])
    paddle.seed(5)
    a = drop(x).numpy()
    paddle.seed(5)
    b = drop(x).numpy()
    c = drop(x).numpy()
    assert np.array_equal(a, b) and not np.array_equal(b, c)  # paddle.seed fixes the mask; the next draw differs
    assert set(np.unique(a).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert abs((a == 0).mean() - 0.25) < 0.01
    x.stop_gradient = False
    out = drop(x)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.numpy())  # d(x * mask)/dx = mask
    drop.eval()
    assert np.array_equal(drop(x).numpy(), x.numpy())


def test_contiguous_kernels_setting_respects_the_user(monkeypatch):
    from paddle_electra import _cpu

    assert paddle.get_flags(["FLAGS_use_stride_kernel"])["FLAGS_use_stride_kernel"] is False  # set at import
    monkeypatch.setenv("PADDLE_ELECTRA_KEEP_STRIDE_KERNELS", "1")
    assert _cpu.use_contiguous_kernels() is False
    monkeypatch.delenv("PADDLE_ELECTRA_KEEP_STRIDE_KERNELS")
    monkeypatch.setenv("FLAGS_use_stride_kernel", "1")
    assert _cpu.use_contiguous_kernels() is False


_RSS_AFTER_FREE = """
import os, numpy as np
import paddle_electra
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
before = rss()
block = np.ones(16 << 20, dtype=np.uint8)  # 16 MB, touched
del block
print(paddle_electra.KEPT_FREED_MEMORY, rss() - before)
"""


def test_freed_memory_is_kept_for_reuse_unless_the_user_opts_out():
    """With the setting a freed 16 MB block stays mapped for the next tensor; without it glibc unmaps it."""
    def run(**env):
        out = subprocess.run([sys.executable, "-c", _RSS_AFTER_FREE], capture_output=True, text=True, check=True,
                             env={**os.environ, **env}).stdout.split()
        return out[0] == "True", int(out[1])

    kept, grown = run()
    assert kept and grown >= 15 << 20, grown
    for opt_out in ({"PADDLE_ELECTRA_KEEP_MALLOC_DEFAULTS": "1"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}):
        kept, grown = run(**opt_out)
        assert not kept and grown < 4 << 20, (opt_out, grown)
