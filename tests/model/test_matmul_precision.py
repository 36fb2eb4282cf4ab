"""The Linear layers' training GEMMs in bf16 arithmetic (``_cpu_ops.set_matmul_precision("bfloat16")``): the
products are exactly those of the bf16-rounded operands summed in float32, in the forward and both gradients;
the setting is checked, refused with its reason where the CPU or the kernels cannot give it, scoped by the
context manager, and a pre-training step under it learns like a float32 one."""

import numpy as np
import paddle
import pytest

from paddle_electra import ElectraConfig, _cpu_ops
from paddle_electra.model import fast_paths
from paddle_electra.model.pretraining import ElectraForTotalPretraining, ElectraPretrainingCriterion

BF16_HERE = _cpu_ops.bf16_unsupported() is None


@pytest.fixture(scope="module")
def kernels():
    k = _cpu_ops.kernels()
    assert k is not None, _cpu_ops.status()  # a C++ compiler is part of the test set-up (CI has one)
    return k


@pytest.fixture
def bf16(kernels):
    """Train under bfloat16 GEMMs where the CPU has them; on a CPU without, the refusal is what is tested."""
    if not BF16_HERE:
        with pytest.raises(RuntimeError, match="native bf16"):
            _cpu_ops.set_matmul_precision("bfloat16")
        assert _cpu_ops.matmul_precision() == "float32"
        pytest.skip("this CPU has no bf16 matrix path: its refusal was checked instead")
    with _cpu_ops.matmul_precision_set("bfloat16"):
        yield kernels


def test_bf16_follows_the_cpu_flags_and_auto_follows_bf16(kernels):
    """bf16 is given exactly where the CPU has AMX or AVX512-BF16, and "auto" takes it there and float32
    elsewhere, leaving the precision in force as it was. CI's machines are of both kinds (an AMX Xeon and
    AVX512-BF16 EPYCs run the bf16 tests below; an AVX2-only EPYC checks the refusal in their place)."""
    flags = (_cpu_ops.cpuinfo_field("flags") or "").split()
    assert BF16_HERE == bool(set(flags) & {"amx_bf16", "avx512_bf16"})
    precision, why = _cpu_ops.resolve_matmul_precision("auto")
    if BF16_HERE:
        assert (precision, why) == ("bfloat16", None)
    else:
        assert precision == "float32" and "native bf16" in why and _cpu_ops.bf16_unsupported() in why
    assert _cpu_ops.matmul_precision() == "float32"
    assert _cpu_ops.resolve_matmul_precision("float32") == ("float32", None)
    assert _cpu_ops.resolve_matmul_precision("bfloat16") == ("bfloat16", None)  # by name: set_matmul_precision checks
    with pytest.raises(ValueError, match="float32, bfloat16, auto"):
        _cpu_ops.resolve_matmul_precision("bf16")


def test_auto_is_float32_on_a_cpu_without_bf16_and_says_why(monkeypatch, caplog):
    monkeypatch.setattr(_cpu_ops, "cpuinfo_field",
                        lambda name: "fpu avx2" if name == "flags" else "Some CPU" if name == "model name" else "")
    with caplog.at_level("INFO", logger="paddle_electra.cpu_ops"):
        precision, why = _cpu_ops.resolve_matmul_precision("auto")
    assert precision == "float32" and "Some CPU" in why
    assert "matmul_precision='auto': float32, because" in caplog.text and "Some CPU" in caplog.text
    assert _cpu_ops.matmul_precision() == "float32"
    with pytest.raises(ValueError, match="one of float32, bfloat16; got 'auto'"):  # resolved first, never set
        _cpu_ops.set_matmul_precision("auto")


def _round(a):
    return _cpu_ops.bf16_round(a)


@pytest.mark.parametrize("m,k,n", [(256, 128, 512), (512, 512, 128), (130, 96, 200)])
def test_bf16_linear_is_the_bf16_rounded_product_in_all_three_gemms(bf16, m, k, n):
    rng = np.random.default_rng(m + k + n)
    x, w, b, g = (rng.standard_normal(s).astype("float32") for s in ((m, k), (k, n), (n,), (m, n)))
    xt, wt, bt = (paddle.to_tensor(v, stop_gradient=False) for v in (x, w, b))
    out = bf16.linear(xt, wt, bt, 2, "bf16")
    dx, dw, db = paddle.grad((out * paddle.to_tensor(g)).sum(), [xt, wt, bt])
    for got, want in ((out, _round(x) @ _round(w) + b), (dx, _round(g) @ _round(w).T), (dw, _round(x).T @ _round(g)),
                      (db, g.sum(0))):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    # and not float32's: the rounding is visible at this size
    assert np.abs(out.numpy() - (x @ w + b)).max() > 1e-3


def test_dense_layers_train_through_the_bf16_gemm_and_infer_in_float32(bf16):
    paddle.seed(0)
    layer = paddle.nn.Linear(128, 256)
    x = paddle.randn([4, 64, 128])
    x.stop_gradient = False
    w, bias = layer.weight.numpy(), layer.bias.numpy()
    x2d = x.numpy().reshape(-1, 128)
    trained = fast_paths.dense(layer, x).numpy().reshape(-1, 256)  # gradients recorded: the training path
    np.testing.assert_allclose(trained, _round(x2d) @ _round(w) + bias, rtol=1e-4, atol=1e-4)
    with paddle.no_grad():  # inference never takes the training kernels: float32 as always
        inferred = fast_paths.dense(layer, x).numpy().reshape(-1, 256)
    np.testing.assert_allclose(inferred, x2d @ w + bias, rtol=1e-4, atol=1e-4)
    assert np.abs(trained - inferred).max() > 1e-4


def test_precision_values_are_checked_and_scoped(kernels):
    with pytest.raises(ValueError, match="float32, bfloat16"):
        _cpu_ops.set_matmul_precision("bf16")
    assert _cpu_ops.matmul_precision() == "float32"
    if BF16_HERE:
        with pytest.raises(KeyError):  # an error inside the block still restores the precision before it
            with _cpu_ops.matmul_precision_set("bfloat16"):
                assert _cpu_ops.matmul_precision() == "bfloat16"
                assert kernels.training_gemm() == "bf16" and _cpu_ops.status()["matmul_precision"] == "bfloat16"
                raise KeyError("inside")
    assert _cpu_ops.matmul_precision() == "float32" and kernels.training_gemm() == kernels.gemm


def test_a_cpu_without_bf16_is_refused_naming_the_flags(monkeypatch):
    monkeypatch.setattr(_cpu_ops, "cpuinfo_field",
                        lambda name: "fpu avx2 avx512f" if name == "flags" else "Some CPU" if name == "model name" else "")
    reason = _cpu_ops.bf16_unsupported()
    assert "Some CPU" in reason and "amx_bf16" in reason and "avx512_bf16" in reason
    with pytest.raises(RuntimeError, match="native bf16 matrix path.*amx_bf16"):
        _cpu_ops.set_matmul_precision("bfloat16")
    assert _cpu_ops.matmul_precision() == "float32"
    _cpu_ops.set_matmul_precision("float32")  # float32 needs nothing


def test_kernels_turned_off_are_refused_naming_the_switch(monkeypatch):
    monkeypatch.setattr(_cpu_ops, "bf16_unsupported", lambda: None)  # past the CPU check on any CPU
    monkeypatch.setenv(_cpu_ops.ENV_SWITCH, "0")
    with pytest.raises(RuntimeError, match="fused CPU kernels.*PADDLE_ELECTRA_CPU_OPS"):
        _cpu_ops.set_matmul_precision("bfloat16")
    assert _cpu_ops.matmul_precision() == "float32"


def test_a_bf16_linear_that_fails_its_check_is_refused(kernels, monkeypatch):
    monkeypatch.setattr(_cpu_ops, "bf16_unsupported", lambda: None)  # past the CPU check on any CPU
    monkeypatch.setattr(kernels, "bf16_checked", False)
    # a "bf16" GEMM that kept float32 arithmetic: the check compares with the bf16-rounded products
    monkeypatch.setitem(_cpu_ops.GEMM_KINDS, "bf16", _cpu_ops.GEMM_KINDS["onednn"])
    with pytest.raises(RuntimeError, match="bf16 Linear failed its check"):
        _cpu_ops.set_matmul_precision("bfloat16")
    assert _cpu_ops.matmul_precision() == "float32" and not kernels.bf16_checked


CFG = dict(vocab_size=300, embedding_size=64, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
           intermediate_size=512, max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _batch(seed=1, batch=8, seq=64):
    rng = np.random.default_rng(seed)
    raw = rng.integers(5, CFG["vocab_size"], (batch, seq))
    masked = rng.random((batch, seq)) < 0.25
    inputs = np.where(masked, 4, raw)
    labels = np.where(masked, raw, -100)
    return [paddle.to_tensor(a.astype("int64")) for a in (inputs, raw, labels)]


def _train(steps):
    paddle.seed(3)
    model = ElectraForTotalPretraining(ElectraConfig(**CFG))
    model.train()
    crit = ElectraPretrainingCriterion(CFG["vocab_size"])
    opt = paddle.optimizer.AdamW(learning_rate=1e-3, parameters=model.parameters())
    inputs, raw, labels = _batch()
    losses = []
    for step in range(steps):
        paddle.seed(100 + step)  # the same Gumbel draws in both precisions
        outs = model(inputs, raw_input_ids=raw, generator_labels=labels)
        loss = crit(outs[0], outs[1], labels, outs[2], outs[3])
        loss.backward()
        opt.step()
        opt.clear_grad()
        losses.append(float(loss))
    return losses


def test_a_pretraining_run_under_bf16_learns_like_float32(bf16):
    with _cpu_ops.matmul_precision_set("float32"):
        reference = _train(25)
    losses = _train(25)
    assert losses[0] != reference[0]  # the bf16 GEMMs are in use ...
    assert losses[0] == pytest.approx(reference[0], rel=1e-2)  # ... and change the first loss by well under 1 %
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:5]), losses  # it learns
    assert np.mean(losses[-5:]) == pytest.approx(np.mean(reference[-5:]), rel=0.1), (losses, reference)
