"""ElectraForTotalPretraining + ElectraPretrainingCriterion."""

import numpy as np
import paddle
import pytest

from paddle_electra import ElectraConfig
from paddle_electra.model.pretraining import (
    ElectraForTotalPretraining,
    ElectraPretrainingCriterion,
    generator_config_for,
    gumbel_sample,
)

CFG = dict(vocab_size=60, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
           intermediate_size=64, max_position_embeddings=32)
MASK_ID = 4


def _masked_batch(seed=0, batch=4, seq=12):
    rng = np.random.RandomState(seed)
    raw = rng.randint(5, CFG["vocab_size"], (batch, seq)).astype("int64")
    raw[:, 0] = 2  # [CLS]-like
    attn = np.ones_like(raw)
    raw[-1, 8:] = 0  # padding in the last row
    attn[-1, 8:] = 0
    pick = (rng.rand(batch, seq) < 0.3) & (attn == 1)
    pick[:, 0] = False
    inputs = np.where(pick, MASK_ID, raw)
    labels = np.where(pick, raw, -100)
    return [paddle.to_tensor(x) for x in (inputs, raw, labels, attn)]


def test_generator_config_matches_published_ratios():
    small = generator_config_for(ElectraConfig(hidden_size=256, num_attention_heads=4, intermediate_size=1024))
    assert (small.hidden_size, small.num_attention_heads, small.intermediate_size) == (64, 1, 256)
    base = generator_config_for(ElectraConfig(embedding_size=768, hidden_size=768, num_attention_heads=12,
                                              intermediate_size=3072))
    assert (base.hidden_size, base.num_attention_heads, base.intermediate_size) == (192, 3, 768)


def test_word_embedding_is_one_shared_parameter():
    paddle.seed(0)
    model = ElectraForTotalPretraining(ElectraConfig(**CFG))
    gen_emb = model.generator.electra.embeddings.word_embeddings
    disc_emb = model.discriminator.electra.embeddings.word_embeddings
    assert gen_emb is disc_emb and gen_emb.weight is disc_emb.weight
    names = [p.name for p in model.parameters()]
    assert len(names) == len(set(names))
    assert sum(1 for p in model.parameters() if p is gen_emb.weight) == 1
    # positions and token types are NOT shared (only word embeddings are, as in HF / PaddleNLP)
    assert model.generator.electra.embeddings.position_embeddings is not \
        model.discriminator.electra.embeddings.position_embeddings
    inputs, raw, labels, attn = _masked_batch()
    gen_logits, disc_logits, disc_labels, keep = model(inputs, attention_mask=attn, raw_input_ids=raw,
                                                       generator_labels=labels)
    crit = ElectraPretrainingCriterion(CFG["vocab_size"])
    total, gen_loss, disc_loss = crit(gen_logits, disc_logits, labels, disc_labels, keep, return_parts=True)
    # one gradient, fed by both losses: the sum of each loss's own gradient
    g_gen = paddle.grad(gen_loss, gen_emb.weight, retain_graph=True)[0]
    g_disc = paddle.grad(disc_loss, gen_emb.weight, retain_graph=True)[0]
    total.backward()
    assert float(g_disc.abs().sum()) > 0 and float(g_gen.abs().sum()) > 0
    np.testing.assert_allclose(gen_emb.weight.grad.numpy(), (g_gen + 50.0 * g_disc).numpy(), rtol=1e-4, atol=1e-6)


def test_sampling_replaces_only_masked_positions_and_identical_is_original():
    paddle.seed(1)
    model = ElectraForTotalPretraining(ElectraConfig(**CFG))
    inputs, raw, labels, attn = _masked_batch(seed=3)
    out = model(inputs, attention_mask=attn, raw_input_ids=raw, generator_labels=labels, return_dict=True)
    masked = labels.numpy() != -100
    seen = out.sampled_input_ids.numpy()
    np.testing.assert_array_equal(seen[~masked], inputs.numpy()[~masked])
    np.testing.assert_array_equal(out.discriminator_labels.numpy(), (seen != raw.numpy()).astype("int64"))
    assert not out.discriminator_labels.numpy()[~masked].any()
    # force the generator to predict the original token: every sample equals it -> all labels 0
    with paddle.no_grad():
        bias = model.generator.generator_lm_head_bias
        big = paddle.full_like(bias, -1e4)
        for tok in np.unique(raw.numpy()):
            big[int(tok)] = 0.0
        bias.set_value(big)
    single = paddle.to_tensor(np.full((1, 6), 7, "int64"))
    lab = paddle.to_tensor(np.array([[-100, 7, 7, -100, 7, -100]], "int64"))
    one_vocab = paddle.full_like(bias, -1e4)
    one_vocab[7] = 1e4
    bias.set_value(one_vocab)
    out = model(paddle.where(lab != -100, paddle.full_like(single, MASK_ID), single), raw_input_ids=single,
                generator_labels=lab, return_dict=True)
    np.testing.assert_array_equal(out.sampled_input_ids.numpy(), single.numpy())
    assert int(out.discriminator_labels.sum()) == 0


def test_gumbel_sampling_follows_the_softmax():
    paddle.seed(2)
    logits = paddle.to_tensor(np.log(np.array([[0.7, 0.2, 0.1]] * 20000, "float32")))
    freq = np.bincount(gumbel_sample(logits).numpy(), minlength=3) / 20000
    np.testing.assert_allclose(freq, [0.7, 0.2, 0.1], atol=0.02)


def test_thirty_steps_on_a_fixed_batch_make_the_loss_fall():
    paddle.seed(3)
    model = ElectraForTotalPretraining(ElectraConfig(**CFG, hidden_dropout_prob=0.0,
                                                     attention_probs_dropout_prob=0.0))
    model.train()
    crit = ElectraPretrainingCriterion(CFG["vocab_size"])
    opt = paddle.optimizer.AdamW(learning_rate=1e-3, parameters=model.parameters())
    inputs, raw, labels, attn = _masked_batch(seed=4)
    losses = []
    for _ in range(30):
        outs = model(inputs, attention_mask=attn, raw_input_ids=raw, generator_labels=labels)
        loss = crit(outs[0], outs[1], labels, outs[2], outs[3])
        loss.backward()
        opt.step()
        opt.clear_grad()
        losses.append(float(loss))
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:5]), losses


def test_mismatched_generator_embedding_is_an_error():
    disc = ElectraConfig(**CFG)
    with pytest.raises(ValueError, match="embedding_size"):
        ElectraForTotalPretraining(disc, disc.copy(embedding_size=8))
    with pytest.raises(ValueError, match="raw_input_ids"):
        ElectraForTotalPretraining(disc)(paddle.ones([1, 4], "int64"))


def test_masked_only_scores_give_the_full_losses():
    """masked_only=True: the same generator / discriminator losses and samples as the [B, L, V] form."""
    inputs, raw, labels, attn = _masked_batch(seed=4)
    paddle.seed(0)
    model = ElectraForTotalPretraining(ElectraConfig(**CFG))
    crit = ElectraPretrainingCriterion(CFG["vocab_size"])
    paddle.seed(9)
    full = model(inputs, attention_mask=attn, raw_input_ids=raw, generator_labels=labels, return_dict=True)
    paddle.seed(9)
    part = model(inputs, attention_mask=attn, raw_input_ids=raw, generator_labels=labels, return_dict=True,
                 masked_only=True)
    pick = labels.numpy() != -100
    assert part.generator_logits.shape == [int(pick.sum()), CFG["vocab_size"]]
    np.testing.assert_allclose(part.generator_logits.numpy(), full.generator_logits.numpy()[pick], atol=1e-5)
    _, g_full, d_full = crit(full.generator_logits, full.discriminator_logits, labels,
                             full.discriminator_labels, full.attention_mask, return_parts=True)
    _, g_part, d_part = crit(part.generator_logits, part.discriminator_logits, labels[labels != -100],
                             part.discriminator_labels, part.attention_mask, return_parts=True)
    np.testing.assert_allclose(float(g_part), float(g_full), rtol=1e-5)
    # the samples only exist at masked positions; elsewhere the discriminator reads the input unchanged
    d_in = part.sampled_input_ids.numpy()
    assert np.array_equal(d_in[~pick], inputs.numpy()[~pick])
    assert np.array_equal(part.discriminator_labels.numpy(), ((d_in != raw.numpy()) & pick).astype("int64"))
    assert np.isfinite(float(d_part))
