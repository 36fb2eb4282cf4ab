"""The fused CPU training kernels (paddle_electra/_cpu_ops): same numbers as Paddle's kernels, used only in
CPU training, built once, and never a failure: without them training runs on Paddle's kernels."""

import logging
import subprocess

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

import paddle_electra as pe
from paddle_electra import _cpu, _cpu_ops
from paddle_electra.model import fast_paths


@pytest.fixture(scope="module")
def kernels():
    k = _cpu_ops.kernels()
    assert k is not None, _cpu_ops.status()  # a C++ compiler is part of the test set-up (CI has one)
    return k


def _grads(fn, x, params, dy):
    x = x.clone()
    x.stop_gradient = False
    y = fn(x)
    grads = paddle.grad([y], [x] + params, [dy])
    return [y.numpy()] + [g.numpy() for g in grads]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [[7], [3, 5, 33], [64, 1024]])
def test_gelu_equals_paddles_exact_gelu(kernels, threads, shape):
    x = paddle.to_tensor(np.random.RandomState(0).uniform(-9, 9, shape).astype("float32"))
    dy = paddle.randn(shape)
    got = _grads(lambda t: kernels.gelu(t, threads), x, [], dy)
    want = _grads(F.gelu, x, [], dy)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("shape", [[2, 4, 9, 9], [16, 4, 64, 64]])
def test_softmax_equals_paddles_softmax(kernels, shape):
    x = paddle.randn(shape) * 4
    dy = paddle.randn(shape)
    got = _grads(lambda t: kernels.softmax(t, 2), x, [], dy)
    want = _grads(lambda t: F.softmax(t, -1), x, [], dy)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)


def test_softmax_of_masked_scores(kernels):
    """-inf and the -1e4 mask bias give (near) zero weight; Paddle clips at exp(-64), the kernel does not."""
    x = paddle.to_tensor([[0.0, -np.inf, 1.0, 2.0, -1e4]])
    got, want = kernels.softmax(x, 2).numpy(), F.softmax(x, -1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-27)
    assert got[0, 1] == 0 and got[0, 4] == 0 and abs(got.sum() - 1) < 1e-6


def _layer_norm(width=48):
    paddle.seed(5)
    layer = paddle.nn.LayerNorm(width, epsilon=1e-12)
    layer.weight.set_value(paddle.rand([width]) + 0.5)
    layer.bias.set_value(paddle.rand([width]))
    return layer


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [[1, 48], [3, 7, 48], [1000, 48]])
def test_layer_norm_equals_paddles_kernel_with_all_gradients(kernels, threads, shape):
    layer = _layer_norm()
    x = paddle.randn(shape) * 3 + 2  # a mean well away from 0
    dy = paddle.randn(shape)
    params = [layer.weight, layer.bias]
    got = _grads(lambda t: kernels.layer_norm(t, layer.weight, layer.bias, 1e-12, threads), x, params, dy)
    want = _grads(layer, x, params, dy)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-5)


def test_layer_norm_gradients_on_any_subset(kernels):
    """Unlike a PyLayer, a compiled operator serves paddle.grad on a subset and frozen weights."""
    layer = _layer_norm(8)
    x = paddle.randn([4, 8])
    x.stop_gradient = False
    run = lambda t: kernels.layer_norm(t, layer.weight, layer.bias, 1e-12, 2)  # noqa: E731
    (gx,) = paddle.grad((run(x) ** 2).sum(), [x])
    (gw,) = paddle.grad((run(x) ** 2).sum(), [layer.weight])
    gb, gx2 = paddle.grad((run(x) ** 2).sum(), [layer.bias, x])
    np.testing.assert_allclose(gx.numpy(), gx2.numpy(), rtol=1e-6)
    assert gw.shape == [8] and gb.shape == [8]
    layer.weight.stop_gradient = True
    (gx3,) = paddle.grad((run(x) ** 2).sum(), [x])
    np.testing.assert_allclose(gx.numpy(), gx3.numpy(), rtol=1e-6)


def _layer_norm_input_gradient_float64(x, weight, dy, eps):
    mu = x.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(x.var(-1, keepdims=True) + eps)
    xhat, gw = (x - mu) * rstd, dy * weight
    return rstd * (gw - gw.mean(-1, keepdims=True) - xhat * (gw * xhat).mean(-1, keepdims=True))


def test_layer_norm_input_gradient_is_right_with_a_frozen_weight(kernels):
    """Paddle 3.3's CPU LayerNorm gives a wrong gradient for x when the weight's gradient is not asked
    for (a frozen LayerNorm, or paddle.grad on x alone); the fused kernel's is right in every case."""
    rng = np.random.RandomState(0)
    xn, wn, dyn = rng.randn(3, 16), np.linspace(0.5, 1.5, 16), rng.randn(3, 16)
    want = _layer_norm_input_gradient_float64(xn, wn, dyn, 1e-5)
    x = paddle.to_tensor(xn.astype("float32"), stop_gradient=False)
    dy = paddle.to_tensor(dyn.astype("float32"))
    for frozen in (True, False):
        w = paddle.to_tensor(wn.astype("float32"), stop_gradient=frozen)
        b = paddle.zeros([16])
        (ours,) = paddle.grad([kernels.layer_norm(x, w, b, 1e-5, 2)], [x], [dy])
        np.testing.assert_allclose(ours.numpy(), want, rtol=1e-4, atol=1e-5)
        (paddles,) = paddle.grad([F.layer_norm(x, [16], w, b, 1e-5)], [x], [dy])
        assert np.abs(paddles.numpy() - want).max() > 0.1  # the Paddle defect this guards against
        w.stop_gradient = False
        paddles_all = paddle.grad([F.layer_norm(x, [16], w, b, 1e-5)], [x, w], [dy])[0]
        np.testing.assert_allclose(paddles_all.numpy(), want, rtol=1e-4, atol=1e-5)  # right when all are asked


def _train_model():
    paddle.seed(3)
    cfg = pe.ElectraConfig(vocab_size=300, hidden_size=64, embedding_size=32, num_attention_heads=4,
                           num_hidden_layers=2, intermediate_size=96, max_position_embeddings=40, num_labels=2,
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    m = pe.ElectraForSequenceClassification(cfg)
    m.train()
    return m


def _step(model):
    model.clear_gradients()
    ids = paddle.to_tensor(np.random.RandomState(0).randint(5, 300, (3, 11)).astype("int64"))
    loss = model(ids, labels=paddle.to_tensor([0, 1, 1]))[0]
    loss.backward()
    return float(loss), {n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None}


def test_training_uses_the_kernels_and_gives_the_same_loss_and_gradients(kernels, monkeypatch):
    m = _train_model()
    calls = []
    for name in ("gelu", "layer_norm", "softmax", "linear", "attention"):
        real = getattr(kernels, name)  # bound or static: called with the same arguments
        monkeypatch.setattr(_cpu_ops.Kernels, name, staticmethod(
            lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a)))
    fused_loss, fused = _step(m)
    # per layer two LayerNorms, a GELU and the attention (its softmax inside); the embeddings' LayerNorm;
    # the head's GELU
    assert (calls.count("layer_norm"), calls.count("gelu"), calls.count("attention"), calls.count("softmax")) == \
        (2 * 2 + 1, 2 + 1, 2, 0)
    assert kernels.has_attention and _cpu_ops.status()["attention"]
    assert kernels.has_linear  # MKL and oneDNN ship in Paddle's CPU wheel, which the tests run on
    assert _cpu_ops.status()["linear_gemm"] == kernels.gemm == _cpu_ops.gemm_choice()[0]
    # per layer q, k and v (three GEMMs in CPU training), the attention output and the two FFN Linears;
    # the classification head's two nn.Linear layers keep Paddle's
    assert calls.count("linear") == 2 * 6
    monkeypatch.setenv("PADDLE_ELECTRA_CPU_OPS", "0")
    calls.clear()
    plain_loss, plain = _step(m)
    assert calls == []
    assert abs(fused_loss - plain_loss) < 1e-6
    assert fused.keys() == plain.keys() and len(fused) == len(list(m.parameters()))
    for name in fused:
        np.testing.assert_allclose(fused[name], plain[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_inference_never_uses_the_kernels(kernels, monkeypatch):
    """Without recorded gradients (pipelines, serving, export) Paddle's kernels run, bit for bit."""
    for name in ("gelu", "layer_norm", "softmax", "linear", "attention", "dropout"):
        monkeypatch.setattr(_cpu_ops.Kernels, name, staticmethod(lambda *a, _n=name: pytest.fail(f"{_n} kernel")))
    m = _train_model()
    ids = paddle.to_tensor([[5, 6, 7]])
    with paddle.no_grad():
        m(ids)
        m.eval()
        m(ids)


def test_threads_follow_set_num_threads(monkeypatch):
    monkeypatch.setattr(_cpu, "_threads", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _cpu.num_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    assert _cpu.num_threads() == 1
    pe.set_num_threads(2)
    assert _cpu.num_threads() == 2


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process state that has not tried to load, and an empty build folder."""
    monkeypatch.setattr(_cpu_ops, "_state", {"tried": False, "module": None, "error": None, "precision": "float32"})
    monkeypatch.setenv("PADDLE_ELECTRA_CPU_OPS_DIR", str(tmp_path / "ops"))
    return tmp_path / "ops"


def test_a_misspelt_switch_is_an_error_not_on(fresh, monkeypatch):
    monkeypatch.setenv("PADDLE_ELECTRA_CPU_OPS", "disable")
    with pytest.raises(ValueError, match="PADDLE_ELECTRA_CPU_OPS='disable'"):
        _cpu_ops.kernels()
    monkeypatch.setenv("PADDLE_ELECTRA_CPU_OPS", " Yes ")
    assert _cpu_ops.enabled()


def test_turned_off_means_no_build(fresh, monkeypatch):
    monkeypatch.setenv("PADDLE_ELECTRA_CPU_OPS", "off")
    monkeypatch.setattr(_cpu_ops, "_load", lambda: pytest.fail("built although turned off"))
    assert _cpu_ops.kernels() is None and not fresh.exists()
    assert _cpu_ops.status() == {"enabled": False, "loaded": False, "error": None, "linear_gemm": None,
                                 "attention": False, "matmul_precision": "float32"}


def test_a_failed_build_leaves_no_folder_warns_once_and_training_still_runs(fresh, monkeypatch, caplog):
    failed = subprocess.CompletedProcess([], 1, stdout="", stderr="g++: fatal error: no input files")
    monkeypatch.setattr(_cpu_ops.subprocess, "run", lambda *a, **k: failed)
    with caplog.at_level(logging.WARNING, logger="paddle_electra.cpu_ops"):
        assert _cpu_ops.kernels() is None
        assert _cpu_ops.kernels() is None  # tried once per process
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no input files" in warnings[0] and "Paddle's are used" in warnings[0]
    assert "build failed" in _cpu_ops.status()["error"]
    # only the lock file is left: no half-built folder that a later process could load
    assert [p.name for p in fresh.iterdir()] == [f"{_cpu_ops.build_name()}.lock"]
    loss, grads = _step(_train_model())  # Paddle's kernels (and the GEMM LayerNorm) instead
    assert np.isfinite(loss) and grads


_REUSE = """
from paddle_electra import _cpu_ops
def fail(*a):
    raise AssertionError("compiled again")
_cpu_ops._build = fail
k = _cpu_ops.kernels()
assert k is not None, _cpu_ops.status()
print(k.library)
"""


def test_a_finished_build_is_reused_without_compiling(tmp_path, kernels):
    """A folder with the built library is loaded as is (the session's build, copied; in a fresh process,
    since Paddle aborts on registering one operator twice)."""
    import os
    import shutil
    import sys

    name = _cpu_ops.build_name()
    shutil.copytree(kernels.library.parent.parent, tmp_path / name)
    env = dict(os.environ, PADDLE_ELECTRA_CPU_OPS_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", _REUSE], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(tmp_path / name / name / f"{name}.so")


def test_fused_layer_norm_layer_matches_the_gemm_path(kernels, monkeypatch):
    """fast_paths.LayerNorm: fused kernel when built, GEMM statistics when not; same numbers."""
    layer = fast_paths.LayerNorm(24, epsilon=1e-12)
    layer.weight.set_value(paddle.rand([24]) + 0.5)
    x = paddle.randn([3, 7, 24]) * 3 + 1
    dy = paddle.randn([3, 7, 24])
    params = [layer.weight, layer.bias]
    fused = _grads(layer, x, params, dy)
    monkeypatch.setenv("PADDLE_ELECTRA_CPU_OPS", "0")
    gemm = _grads(layer, x, params, dy)
    for a, b in zip(fused, gemm):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-5)


def test_kernels_that_disagree_with_paddle_are_refused(kernels):
    """The load-time self-check compares each kernel (values and gradients) with Paddle's."""
    class Broken(_cpu_ops.Kernels):
        @staticmethod
        def softmax(x, threads):
            return kernels.softmax(x * 1.01, threads)

    _cpu_ops._self_check(kernels)  # the real build passes
    with pytest.raises(RuntimeError, match="softmax kernel disagrees"):
        _cpu_ops._self_check(Broken(kernels.library))


@pytest.mark.parametrize("gemm", _cpu_ops.GEMMS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shapes", [([3, 5, 16], [16, 24]), ([64, 256], [256, 1024]), ([2, 7, 33], [33, 130])])
def test_linear_equals_paddles_matmul_plus_bias(kernels, threads, shapes, gemm):
    """MKL's or oneDNN's sgemm behind the Linear: output and all three gradients equal Paddle's matmul + bias."""
    assert kernels.has_linear
    xs, ws = shapes
    rng = np.random.RandomState(1)
    x = paddle.to_tensor(rng.randn(*xs).astype("float32"))
    w = paddle.to_tensor(rng.randn(*ws).astype("float32") * 0.1, stop_gradient=False)
    b = paddle.to_tensor(rng.randn(ws[1]).astype("float32"), stop_gradient=False)
    dy = paddle.to_tensor(rng.randn(*(xs[:-1] + [ws[1]])).astype("float32"))
    got = _grads(lambda t: kernels.linear(t, w, b, threads, gemm), x, [w, b], dy)
    want = _grads(lambda t: paddle.matmul(t, w) + b, x, [w, b], dy)
    assert [a.shape for a in got] == [a.shape for a in want]
    for a, c in zip(got, want):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-4)


def test_linear_gradients_on_any_subset_and_frozen_weights(kernels):
    """paddle.grad on one input at a time, and a frozen weight and bias, as the generator's in a discriminator stage."""
    rng = np.random.RandomState(2)
    x = paddle.to_tensor(rng.randn(4, 6, 8).astype("float32"), stop_gradient=False)
    w = paddle.to_tensor(rng.randn(8, 5).astype("float32"), stop_gradient=False)
    b = paddle.to_tensor(rng.randn(5).astype("float32"), stop_gradient=False)
    run = lambda: (kernels.linear(x, w, b, 2) ** 2).sum()  # noqa: E731
    plain = lambda: ((paddle.matmul(x, w) + b) ** 2).sum()  # noqa: E731
    for wanted in ([x], [w], [b], [b, x]):
        for a, c in zip(paddle.grad(run(), wanted), paddle.grad(plain(), wanted)):
            np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=1e-4, atol=1e-4)
    w.stop_gradient = b.stop_gradient = True
    out = run()
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), paddle.grad(plain(), [x])[0].numpy(), rtol=1e-4, atol=1e-4)
    assert w.grad is None and b.grad is None


def test_a_linear_kernel_that_disagrees_is_refused(kernels):
    class Broken(_cpu_ops.Kernels):
        def linear(self, x, weight, bias, threads, gemm=None):
            return kernels.linear(x, weight, bias * 1.01, threads, gemm)

    for gemm in _cpu_ops.GEMMS:
        _cpu_ops._check_linear(kernels, gemm)  # the real build passes with either sgemm
        with pytest.raises(RuntimeError, match="Linear kernel's output disagrees"):
            _cpu_ops._check_linear(Broken(kernels.library), gemm)


@pytest.mark.parametrize("gemm", _cpu_ops.GEMMS)
@pytest.mark.parametrize("xs, ws", [([0, 8], [8, 4]), ([2, 0, 8], [8, 4]), ([3, 0], [0, 4])])
def test_linear_on_empty_inputs_equals_paddles(kernels, xs, ws, gemm):
    """No rows, or an empty inner axis: zeros where Paddle gives zeros (oneDNN itself rejects zero sizes)."""
    x = paddle.ones(xs)
    w = paddle.ones(ws)
    b = paddle.to_tensor(np.arange(ws[1], dtype="float32"), stop_gradient=False)
    dy = paddle.ones(xs[:-1] + [ws[1]])
    w.stop_gradient = False
    got = _grads(lambda t: kernels.linear(t, w, b, 2, gemm), x, [w, b], dy)
    want = _grads(lambda t: paddle.matmul(t, w) + b, x, [w, b], dy)
    for a, c in zip(got, want):
        assert a.shape == c.shape
        np.testing.assert_array_equal(a, c)


def test_linear_rejects_mismatched_shapes(kernels):
    with pytest.raises(Exception, match="do not match"):
        kernels.linear(paddle.randn([3, 4]), paddle.randn([5, 6]), paddle.randn([6]), 1)


_BUILD = """
from paddle_electra import _cpu_ops
k = _cpu_ops.kernels()
assert k is not None, _cpu_ops.status()
print(k.library)
"""


def test_two_processes_building_at_once_share_one_complete_build(tmp_path):
    """On a machine without a build, two processes that start together: one compiles (under the file
    lock), the other waits and loads the same library; no temporary folder is left behind."""
    import os
    import sys

    env = dict(os.environ, PADDLE_ELECTRA_CPU_OPS_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", _BUILD], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-1500:] for _, err in outs]
    libraries = {out.strip().splitlines()[-1] for out, _ in outs}
    assert len(libraries) == 1
    name = _cpu_ops.build_name()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name, f"{name}.lock"]
