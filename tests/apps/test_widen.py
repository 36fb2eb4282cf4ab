"""A discriminator grown twice as wide (widen_discriminator): same function, a width that trains, in a run."""

from __future__ import annotations

import os

import numpy as np
import paddle
import pytest

from paddle_electra import ElectraDiscriminator
from paddle_electra.apps.train.checkpoint import latest_checkpoint, read_state
from paddle_electra.apps.train.pretrain import PretrainConfig
from paddle_electra.apps.train.widen import widen_discriminator, widen_state
from paddle_electra.model.configuration import ElectraConfig

from conftest import continue_pair


def _narrow(embedding_size):
    paddle.seed(3)
    config = ElectraConfig(vocab_size=60, embedding_size=embedding_size, hidden_size=16, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=32, max_position_embeddings=32,
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = ElectraDiscriminator(config)
    for name, param in model.named_parameters():  # initialiser-scale weights give logits near 0: nothing to compare
        if not name.endswith("norm.weight") and not name.endswith("layer_norm.weight"):
            param.set_value(param * 10 + (0.1 if param.ndim == 1 else 0.0))
    model.eval()
    return model


def _inputs():
    rng = np.random.default_rng(5)
    ids = rng.integers(1, 60, (3, 12))
    mask = np.ones((3, 12), "int64")
    mask[1, 8:] = 0  # padding: the masked scores must stay masked in the new heads too
    return paddle.to_tensor(ids), paddle.to_tensor(mask)


def _logits(model, ids, mask):
    out = model(ids, attention_mask=mask)
    return (out[0] if isinstance(out, (tuple, list)) else out).numpy()


@pytest.mark.parametrize("embedding_size", [16, 8])  # as wide as the encoder (a new projection) / narrower
def test_the_wide_discriminator_computes_what_the_narrow_one_did(embedding_size):
    narrow = _narrow(embedding_size)
    wide = widen_discriminator(narrow, seed=1)
    wide.eval()
    c = wide.config
    assert (c.hidden_size, c.num_attention_heads, c.intermediate_size, c.embedding_size) == (32, 4, 64, embedding_size)
    ids, mask = _inputs()
    a, b = _logits(narrow, ids, mask), _logits(wide, ids, mask)
    assert a.std() > 0.5  # logits that differ from token to token
    np.testing.assert_allclose(b, a, atol=1e-5 * np.abs(a).max())


def test_the_copies_differ_so_that_the_new_width_gets_its_own_gradients():
    wide = widen_discriminator(_narrow(16), seed=1)
    w = wide.electra.encoder.layers[0].linear1.weight.numpy()  # (32, 64): reads [x, x], writes [h, h]
    assert not np.allclose(w[:16, :32], w[16:, :32])  # the two reads of x are split unevenly
    ids, mask = _inputs()
    out = wide(ids, attention_mask=mask)
    logits = out[0] if isinstance(out, (tuple, list)) else out
    logits.sum().backward()
    g = wide.electra.encoder.layers[0].linear1.weight.grad.numpy()
    # an even split (w/2, w/2) would give the two copies of every unit the same gradient for ever
    assert np.abs(g[:, :32] - g[:, 32:]).max() > 1e-4 * np.abs(g).max()


def test_shapes_that_do_not_double_are_refused_naming_the_weight():
    narrow = {"electra.encoder.layers.0.linear1.weight": np.zeros((16, 32), np.float32)}
    with pytest.raises(ValueError, match=r"linear1.weight: \[16, 32\] does not widen to \[24, 64\]"):
        widen_state(narrow, {"electra.encoder.layers.0.linear1.weight": (24, 64)})
    with pytest.raises(ValueError, match="discriminator_predictions.dense.weight .* nothing to start from"):
        widen_state(narrow, {"discriminator_predictions.dense.weight": (32, 32)})


def test_a_run_widens_init_discriminator_and_resumes_with_the_wide_shape(tmp_path, trained_pair):
    text, run = trained_pair
    gen, disc = os.path.join(run, "generator"), os.path.join(run, "discriminator")
    wide_run = dict(widen_discriminator=True, freeze_generator=True, max_steps=2, save_every=1)
    continue_pair(tmp_path / "wide", text, gen, disc, stop_after=1, **wide_run)
    state = read_state(latest_checkpoint(str(tmp_path / "wide" / "checkpoints")))
    assert state["discriminator_config"]["hidden_size"] == 64 and state["step"] == 1
    continue_pair(tmp_path / "wide", text, gen, disc, resume="auto", **wide_run)  # the checkpoint's wide shapes
    narrow = ElectraDiscriminator.from_pretrained(disc)
    wide = ElectraDiscriminator.from_pretrained(str(tmp_path / "wide" / "discriminator"))
    assert (wide.config.hidden_size, wide.config.num_attention_heads, wide.config.intermediate_size) == (64, 4, 128)
    narrow.eval()
    wide.eval()
    ids, mask = _inputs()
    np.testing.assert_allclose(_logits(wide, ids, mask), _logits(narrow, ids, mask), atol=1e-4)


@pytest.mark.parametrize("kw, message", [
    (dict(), "widens init_discriminator"),
    (dict(init_generator="g", init_discriminator="d", hidden_size=64), "leave model_config, hidden_size"),
    (dict(init_generator="g", init_discriminator="d", model_config="c"), "sets the discriminator's shape"),
])
def test_widen_discriminator_is_refused_without_a_discriminator_or_with_sizes_of_its_own(tmp_path, kw, message):
    cfg = PretrainConfig(out_dir=str(tmp_path / "o"), corpus="peoples-daily", widen_discriminator=True, **kw)
    with pytest.raises(ValueError, match=message):
        cfg.validate()
    assert not os.path.exists(tmp_path / "o")


def test_stage_9_widens_stage_8s_discriminator_with_its_corpus_split_and_settings():
    from paddle_electra.apps.train.pretrain_cli import configs_from_json, describe

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    (stage_9,) = configs_from_json(os.path.join(repo, "recipes", "pretrain-peoples-daily-wide.json"))
    stage_9.validate()
    (stage_8,) = configs_from_json(os.path.join(repo, "recipes", "pretrain-peoples-daily-discriminator.json"))
    assert stage_9.widen_discriminator and stage_9.freeze_generator and not stage_8.widen_discriminator
    assert (stage_9.init_generator, stage_9.init_discriminator) == (
        os.path.join(stage_8.out_dir, "generator"), os.path.join(stage_8.out_dir, "discriminator"))
    same = ("corpus", "holdout_every", "seed", "max_length", "batch_size", "mask_prob", "mask_token_prob",
            "random_token_prob", "disc_weight", "weight_decay", "dropout", "learning_rate", "warmup_steps")
    assert {k: getattr(stage_9, k) for k in same} == {k: getattr(stage_8, k) for k in same}
    assert describe(stage_9).endswith(f"from {stage_9.init_generator} + {stage_9.init_discriminator} widened twice")
