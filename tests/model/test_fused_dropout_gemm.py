"""The fused dropout kernel and the choice of the Linear's sgemm (paddle_electra/_cpu_ops): dropout drops at
the asked rate, scales, is fixed by the seed whatever the thread count, and its gradient is its mask; the
sgemm follows the CPU vendor or PADDLE_ELECTRA_CPU_GEMM, and a failing one gives way to the other."""

import logging

import numpy as np
import paddle
import pytest

from paddle_electra import _cpu_ops
from paddle_electra.model import fast_paths


@pytest.fixture(scope="module")
def kernels():
    k = _cpu_ops.kernels()
    assert k is not None, _cpu_ops.status()  # a C++ compiler is part of the test set-up (CI has one)
    return k


# ----------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("shape", [[7], [3, 5, 33], [16, 4, 64, 64]])
def test_dropout_drops_at_the_rate_and_scales_the_rest(kernels, p, shape):
    x = paddle.rand(shape) + 0.5  # no zeros of its own
    out = kernels.dropout(x, p, 11, 2).numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], x.numpy()[kept] / np.float32(1 - p), rtol=1e-6)
    if x.size >= 10_000:  # the rate, where the sample is large enough to check it to +-0.01
        assert abs((~kept).mean() - p) < 0.01


def test_dropout_mask_is_fixed_by_the_seed_not_the_threads(kernels):
    x = paddle.ones([8, 64, 256])
    a = kernels.dropout(x, 0.1, 123, 1).numpy()
    assert np.array_equal(a, kernels.dropout(x, 0.1, 123, 2).numpy())
    assert np.array_equal(a, kernels.dropout(x, 0.1, 123, 3).numpy())
    assert not np.array_equal(a, kernels.dropout(x, 0.1, 124, 2).numpy())
    # a tensor of another shape but the same size draws the same mask (the counter is the flat index)
    assert np.array_equal(a.reshape(-1), kernels.dropout(x.reshape([-1]), 0.1, 123, 2).numpy())


def test_dropout_draws_are_not_correlated_between_neighbours(kernels):
    """The four 16-bit draws of one hash, and neighbouring hashes, drop independently: the rate of
    both-dropped pairs at distance 1..8 is p^2."""
    p = 0.5
    dropped = kernels.dropout(paddle.ones([1 << 20]), p, 5, 2).numpy() == 0
    for lag in range(1, 9):
        both = (dropped[:-lag] & dropped[lag:]).mean()
        assert abs(both - p * p) < 0.005, lag


def test_dropout_gradient_is_the_mask_times_the_scale(kernels):
    x = paddle.rand([4, 9, 33]) + 0.5
    x.stop_gradient = False
    out = kernels.dropout(x, 0.3, 2, 2)
    dy = paddle.randn([4, 9, 33])
    (dx,) = paddle.grad([out], [x], [dy])
    keep = out.numpy() != 0
    np.testing.assert_allclose(dx.numpy(), np.where(keep, dy.numpy() / np.float32(0.7), 0), rtol=1e-6)


def test_dropout_layer_uses_the_kernel_and_paddle_seed_fixes_it(kernels, monkeypatch):
    drop = fast_paths.Dropout(0.25)
    drop.train()
    calls = []
    real = kernels.dropout
    monkeypatch.setattr(_cpu_ops.Kernels, "dropout", staticmethod(lambda *a: calls.append(a[1:]) or real(*a)))
    x = paddle.ones([64, 256])
    paddle.seed(9)
    a = drop(x).numpy()
    paddle.seed(9)
    assert np.array_equal(a, drop(x).numpy()) and len(calls) == 2 and calls[0][0] == 0.25
    # a strided input, or the kernels turned off: numpy's mask, same rate and scale
    monkeypatch.setenv("PADDLE_ELECTRA_CPU_OPS", "0")
    b = drop(x).numpy()
    assert len(calls) == 2 and set(np.unique(b).tolist()) == {0.0, np.float32(1 / 0.75)}
    with paddle.no_grad():  # inference-time use of a training-mode layer: the kernel too
        monkeypatch.setenv("PADDLE_ELECTRA_CPU_OPS", "1")
        drop(x)
    assert len(calls) == 3


def test_a_dropout_kernel_that_does_not_drop_is_refused(kernels):
    class Broken(_cpu_ops.Kernels):
        @staticmethod
        def dropout(x, p, seed, threads):
            return kernels.dropout(x, p / 2, seed, threads)  # half the rate

    _cpu_ops._check_dropout(kernels)  # the real build passes
    with pytest.raises(RuntimeError, match="dropout kernel does not drop and scale"):
        _cpu_ops._check_dropout(Broken(kernels.library))


def test_dropout_rejects_other_dtypes(kernels):
    with pytest.raises(Exception, match="must be float32"):
        kernels.dropout(paddle.ones([4], dtype="float64"), 0.1, 1, 1)


# ----------------------------------------------------------------------------- the Linear's sgemm
@pytest.mark.parametrize("vendor, first", [("GenuineIntel", "mkl"), ("AuthenticAMD", "onednn"), ("", "onednn")])
def test_gemm_follows_the_vendor_unless_set(monkeypatch, vendor, first):
    monkeypatch.delenv(_cpu_ops.ENV_GEMM, raising=False)
    monkeypatch.setattr(_cpu_ops, "cpuinfo_field", lambda name: vendor if name == "vendor_id" else "")
    assert _cpu_ops.gemm_choice()[0] == first and set(_cpu_ops.gemm_choice()) == set(_cpu_ops.GEMMS)
    for value, want in (("onednn", ("onednn",)), (" MKL ", ("mkl",)), ("auto", _cpu_ops.gemm_choice())):
        monkeypatch.setenv(_cpu_ops.ENV_GEMM, value)
        assert _cpu_ops.gemm_choice() == want


def test_a_misspelt_gemm_is_an_error(monkeypatch):
    monkeypatch.setenv(_cpu_ops.ENV_GEMM, "openblas")
    with pytest.raises(ValueError, match="PADDLE_ELECTRA_CPU_GEMM='openblas'"):
        _cpu_ops.gemm_choice()


def test_a_failing_sgemm_gives_way_to_the_other_and_then_to_paddles(kernels, monkeypatch, caplog):
    """The load tries the sgemms in gemm_choice's order; one that fails its check is skipped (one
    warning only when none is left, and then Linear layers keep Paddle's matmul)."""
    loaded = {}
    monkeypatch.setattr(_cpu_ops, "_state", {"tried": False, "module": None, "error": None, "precision": "float32"})
    monkeypatch.setattr(_cpu_ops, "_self_check", lambda k: None)
    monkeypatch.setattr(_cpu_ops, "_check_dropout", lambda k: None)

    def check(k, gemm, bad):
        if gemm in bad:
            raise RuntimeError(f"{gemm} is broken here")
        loaded[gemm] = True

    monkeypatch.setattr(_cpu_ops, "gemm_choice", lambda: ("mkl", "onednn"))
    monkeypatch.setattr(_cpu_ops, "_check_attention", lambda k: None)
    registered = set(_cpu_ops.OPS)
    import paddle.utils.cpp_extension.extension_utils as eu

    monkeypatch.setattr(eu, "load_op_meta_info_and_register_op", lambda path: registered)
    for bad, want in (({"mkl"}, "onednn"), (set(), "mkl"), ({"mkl", "onednn"}, None)):
        monkeypatch.setattr(_cpu_ops, "_check_linear", lambda k, g, _bad=bad: check(k, g, _bad))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="paddle_electra.cpu_ops"):
            k = _cpu_ops._load()
        assert k.gemm == want and k.has_linear == (want is not None)
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        if want is None:
            assert len(warned) == 1 and "mkl is broken" in warned[0] and "onednn is broken" in warned[0]
        else:
            assert warned == []
