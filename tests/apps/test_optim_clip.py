"""build_optimizer's clipping skips the multiply by 1 below the limit and changes no value: AdamW steps with it
equal, bit for bit, the steps with Paddle's always-multiply clipping, below and above the limit."""

import numpy as np
import paddle
import pytest

import paddle_electra as pe
from paddle_electra.apps.train import optim


def _model():
    paddle.seed(4)
    cfg = pe.ElectraConfig(vocab_size=120, hidden_size=32, embedding_size=16, num_attention_heads=2,
                           num_hidden_layers=1, intermediate_size=48, max_position_embeddings=24, num_labels=2,
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = pe.ElectraForSequenceClassification(cfg)
    model.train()
    return model


def _train(monkeypatch, max_grad_norm, always_multiply):
    if always_multiply:  # Paddle's default: scale every gradient by limit / max(norm, limit), even when that is 1
        real = paddle.nn.ClipGradByGlobalNorm
        monkeypatch.setattr(paddle.nn, "ClipGradByGlobalNorm",
                            lambda clip_norm, auto_skip_clip: real(clip_norm, auto_skip_clip=False))
    model = _model()
    opt, sched = optim.build_optimizer(model, 1e-2, 10, 0, max_grad_norm=max_grad_norm)
    monkeypatch.undo()
    assert opt._grad_clip.auto_skip_clip is not always_multiply
    rng = np.random.RandomState(0)
    for _ in range(3):
        ids = paddle.to_tensor(rng.randint(5, 120, (4, 9)).astype("int64"))
        loss = model(ids, labels=paddle.to_tensor([0, 1, 1, 0]))[0]
        loss.backward()
        opt.step()
        sched.step()
        opt.clear_grad(set_to_zero=False)
    return {n: p.numpy() for n, p in model.named_parameters()}


@pytest.mark.parametrize("max_grad_norm", [1e4, 1e-3])  # never clipped / always clipped
def test_skipping_the_unit_scale_changes_no_value(monkeypatch, max_grad_norm):
    skipped = _train(monkeypatch, max_grad_norm, always_multiply=False)
    always = _train(monkeypatch, max_grad_norm, always_multiply=True)
    assert skipped.keys() == always.keys()
    for name in skipped:
        np.testing.assert_array_equal(skipped[name], always[name], err_msg=name)
    # and the clipping does something when the limit is low: the two limits train differently
    if max_grad_norm < 1:
        loose = _train(monkeypatch, 1e4, always_multiply=False)
        assert any(not np.array_equal(skipped[n], loose[n]) for n in skipped)
