"""ERNIE-Health: discriminator heads, candidate sampling, the three losses, training."""

import numpy as np
import paddle
import pytest

from paddle_electra import ElectraConfig
from paddle_electra.model.ernie_health import (
    ErnieHealthDiscriminator,
    ErnieHealthForTotalPretraining,
    ErnieHealthPretrainingCriterion,
    csp_loss,
    sample_candidates,
)

CFG = dict(vocab_size=50, embedding_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
           intermediate_size=48, max_position_embeddings=32, num_labels=8, hidden_dropout_prob=0.0,
           attention_probs_dropout_prob=0.0)


def _batch(seed=0, sentences=3, seq=10):
    """Two corrupted views of each sentence: rows i and i + sentences."""
    rng = np.random.RandomState(seed)
    raw = rng.randint(5, CFG["vocab_size"], (sentences, seq)).astype("int64")
    raw = np.concatenate([raw, raw])
    pick = rng.rand(*raw.shape) < 0.3
    pick[:, 0] = False
    labels = np.where(pick, raw, -100)
    inputs = np.where(pick, 4, raw)
    return [paddle.to_tensor(x) for x in (inputs, raw, labels)]


@pytest.mark.parametrize("batch", [2, 1])
def test_discriminator_shapes(batch):
    paddle.seed(0)
    model = ErnieHealthDiscriminator(ElectraConfig(**CFG)).eval()
    ids = paddle.randint(1, 50, [batch, 7])
    cands = paddle.randint(1, 50, [batch, 7, 6])
    rtd, mts, csp = model(ids, cands)
    assert rtd.shape == [batch, 7] and mts.shape == [batch, 7, 6] and csp.shape == [batch, 8]
    out = model(ids, cands, return_dict=True)
    np.testing.assert_array_equal(out.logits_mts.numpy(), mts.numpy())
    # MTS score = gelu(W h) . emb(candidate) + bias(candidate)
    h = model.electra(ids)
    q = paddle.nn.functional.gelu(model.discriminator_mts(h))
    emb = model.electra.embeddings.word_embeddings(cands)
    ref = (q.unsqueeze(2) * emb).sum(-1) + model.bias_mts(cands).squeeze(-1)
    np.testing.assert_allclose(mts.numpy(), ref.numpy(), atol=1e-5)


def test_needs_embedding_equal_hidden():
    with pytest.raises(ValueError, match="embedding_size .16. must equal hidden_size .32."):
        ErnieHealthDiscriminator(ElectraConfig(**dict(CFG, embedding_size=16)))


def test_candidates_start_with_the_original_and_are_distinct():
    paddle.seed(1)
    logits = paddle.randn([2, 9, 20])
    raw = paddle.randint(0, 20, [2, 9])
    cands = sample_candidates(logits, raw, num_negatives=5).numpy()
    assert cands.shape == (2, 9, 6)
    np.testing.assert_array_equal(cands[..., 0], raw.numpy())
    assert all(len(set(row)) == 6 for row in cands.reshape(-1, 6).tolist())
    with pytest.raises(ValueError, match="num_negatives"):
        sample_candidates(logits, raw, num_negatives=20)


def _np_nt_xent(z, temperature):
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T / temperature
    np.fill_diagonal(sim, -np.inf)
    n = len(z) // 2
    total = 0.0
    for i in range(len(z)):
        j = (i + n) % len(z)
        total += -(sim[i, j] - np.log(np.exp(sim[i][np.isfinite(sim[i])]).sum()))
    return total / len(z)


def test_csp_loss_is_nt_xent():
    z = np.random.RandomState(0).randn(6, 4).astype("float32")
    np.testing.assert_allclose(float(csp_loss(paddle.to_tensor(z), 0.07)), _np_nt_xent(z, 0.07), rtol=1e-4)
    with pytest.raises(ValueError, match="odd"):
        csp_loss(paddle.to_tensor(z[:5]))


def test_embedding_shared_and_losses_train():
    paddle.seed(2)
    model = ErnieHealthForTotalPretraining(ElectraConfig(**CFG))
    gen_emb = model.generator.electra.embeddings.word_embeddings.weight
    assert model.discriminator.electra.embeddings.word_embeddings.weight is gen_emb
    assert sum(1 for p in model.parameters() if p is gen_emb) == 1
    crit = ErnieHealthPretrainingCriterion(CFG["vocab_size"])
    opt = paddle.optimizer.AdamW(learning_rate=2e-3, parameters=model.parameters())
    inputs, raw, labels = _batch()
    model.train()
    totals = []
    for step in range(30):
        out = model(inputs, raw_input_ids=raw, generator_labels=labels, return_dict=True)
        total, gen, rtd, mts, csp = crit(out.generator_logits, labels, out.logits_rtd, out.logits_mts,
                                         out.logits_csp, out.discriminator_labels, out.attention_mask)
        if step == 0:
            # MTS counts only replaced positions; its targets are candidate 0
            replaced = out.discriminator_labels.numpy() == 1
            lm = out.logits_mts.numpy()[replaced]
            ref = np.mean([-(r[0] - np.log(np.exp(r).sum())) for r in lm]) if replaced.any() else 0.0
            np.testing.assert_allclose(float(mts), ref, rtol=1e-4)
            np.testing.assert_allclose(float(total), float(gen + 50 * rtd + 20 * mts + csp), rtol=1e-5)
        total.backward()
        opt.step()
        opt.clear_grad()
        totals.append(float(total))
    assert np.mean(totals[-5:]) < 0.85 * np.mean(totals[:5]), totals
