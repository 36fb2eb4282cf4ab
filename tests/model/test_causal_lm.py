"""ElectraForCausalLM and the decoder KV cache, against HF transformers' ElectraForCausalLM on the same weights.

The HF model (is_decoder=True, every parameter moved off its init value) is saved by HF and
loaded by paddle_electra. Then, on a left-padded batch of 3: the full forward, the loss, five
greedy steps with the cache and five without it (each step's scores within 1e-5 of HF's), and
HF's own ``generate`` give the same tokens. Scores at padded positions are not compared: a
query that sees only padding has no defined output (HF and paddle_electra fill such rows
differently) and nothing downstream reads it.
"""

import inspect
import json
import logging

import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_electra as pe
from paddle_electra import ElectraForCausalLM, KVCache

TOL = 1e-5
STEPS = 5
HF_CONFIG = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=37, max_position_embeddings=64, hidden_dropout_prob=0.0,
                 attention_probs_dropout_prob=0.0)
# three prompts of 6, left-padded by 2, 1 and 0 (pad id 0)
IDS = np.array([[0, 0, 5, 6, 7, 8], [0, 9, 10, 11, 12, 13], [14, 15, 16, 17, 18, 19]], "int64")
MASK = (np.arange(6)[None] >= np.array([[2], [1], [0]])).astype("int64")
# HF 5 renamed past_key_values to cache (the old name still works, with a warning)
HF_CACHE_KW = "cache" if "cache" in inspect.signature(transformers.ElectraForCausalLM.forward).parameters \
    else "past_key_values"


def _hf_cache(out):
    return getattr(out, "cache", None) if HF_CACHE_KW == "cache" else out.past_key_values


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    torch.manual_seed(0)
    hf = transformers.ElectraForCausalLM(transformers.ElectraConfig(is_decoder=True, **HF_CONFIG)).eval()
    with torch.no_grad():
        for p in hf.parameters():  # biases and LayerNorms too: a weight not carried over shows
            p.add_(torch.randn_like(p) * 0.05)
    folder = tmp_path_factory.mktemp("hf_causal_lm")
    hf.save_pretrained(str(folder))
    ours = ElectraForCausalLM.from_pretrained(str(folder))
    return hf, ours, folder


def _positions(mask):
    return np.where(mask == 0, 0, np.cumsum(mask, -1) - 1)  # what HF's generate uses


def _ours(model, ids, mask, pos, past=None):
    return model(paddle.to_tensor(ids), attention_mask=paddle.to_tensor(mask), position_ids=paddle.to_tensor(pos),
                 past_key_values=past, use_cache=True)


def _hf(model, ids, mask, pos, past=None):
    kwargs = {HF_CACHE_KW: past} if past is not None else {}
    with torch.no_grad():
        return model(torch.tensor(ids), attention_mask=torch.tensor(mask), position_ids=torch.tensor(pos),
                     use_cache=True, **kwargs)


def test_loads_hf_weights_and_config(pair):
    _, ours, _ = pair
    assert ours.config.is_decoder is True
    assert ours.get_output_embeddings().weight is ours.electra.embeddings.word_embeddings.weight  # tied


def test_full_forward_and_loss_match_hf(pair):
    hf, ours, _ = pair
    labels = IDS.copy()
    labels[MASK == 0] = -100
    labels[:, 1:][MASK[:, :-1] == 0] = -100  # the first real token is scored at a padded position: no target
    with torch.no_grad():
        ref = hf(torch.tensor(IDS), attention_mask=torch.tensor(MASK), labels=torch.tensor(labels))
    out = ours(paddle.to_tensor(IDS), attention_mask=paddle.to_tensor(MASK), labels=paddle.to_tensor(labels))
    keep = MASK.astype(bool)
    assert np.abs(out.logits.numpy() - ref.logits.numpy())[keep].max() < TOL
    assert abs(float(out.loss) - float(ref.loss)) < TOL
    assert out.past_key_values is None  # labels turn the cache off, as in HF
    # the shift is inside: position t is scored against labels[:, t + 1]
    logits = out.logits.numpy()
    manual = [-(lg[t] - np.log(np.exp(lg[t]).sum()))[labels[b, t + 1]]
              for b, lg in enumerate(logits) for t in range(5) if labels[b, t + 1] != -100]
    np.testing.assert_allclose(float(out.loss), np.mean(manual), atol=TOL)


def test_greedy_steps_match_hf_with_and_without_the_cache(pair):
    hf, ours, _ = pair
    ids, mask = IDS.copy(), MASK.copy()
    pos = _positions(mask)
    ref = _hf(hf, ids, mask, pos)
    out = _ours(ours, ids, mask, pos)
    hf_past, our_past = _hf_cache(ref), out.past_key_values
    assert isinstance(our_past, KVCache) and our_past.get_seq_length() == 6
    assert our_past[0][0].shape == [3, 4, 6, 8]  # [batch, heads, positions, head_dim]
    for step in range(STEPS):
        ref_last = ref.logits.numpy()[:, -1]
        assert np.abs(out.logits.numpy()[:, -1] - ref_last).max() < TOL, f"step {step} (cached)"
        token = ref_last.argmax(-1)[:, None]
        ids = np.concatenate([ids, token], 1)
        mask = np.concatenate([mask, np.ones_like(token)], 1)
        pos = np.concatenate([pos, pos[:, -1:] + 1], 1)
        # without a cache: the whole sequence again
        full = ours(paddle.to_tensor(ids), attention_mask=paddle.to_tensor(mask), position_ids=paddle.to_tensor(pos),
                    use_cache=False)
        assert full.past_key_values is None
        ref = _hf(hf, token, mask, pos[:, -1:], hf_past)
        hf_past = _hf_cache(ref)
        assert np.abs(full.logits.numpy()[:, -1] - ref.logits.numpy()[:, -1]).max() < TOL, f"step {step} (no cache)"
        out = _ours(ours, token, mask, pos[:, -1:], our_past)
        our_past = out.past_key_values
        assert our_past.get_seq_length() == ids.shape[1]


def test_generate_gives_hfs_tokens(pair):
    hf, ours, _ = pair
    with torch.no_grad():
        ref = hf.generate(torch.tensor(IDS), attention_mask=torch.tensor(MASK), max_new_tokens=STEPS, do_sample=False)
    for use_cache in (True, False):
        got = ours.generate(paddle.to_tensor(IDS), attention_mask=paddle.to_tensor(MASK), max_new_tokens=STEPS,
                            use_cache=use_cache)
        assert got.numpy().tolist() == ref.numpy().tolist()
    # a row that produced eos continues with padding; all rows done -> stop early
    eos = int(ref.numpy()[0, 6])
    got = ours.generate(paddle.to_tensor(IDS), attention_mask=paddle.to_tensor(MASK), max_new_tokens=STEPS,
                        eos_token_id=eos, pad_token_id=0).numpy()
    assert got[0, 6] == eos and (got[0, 7:] == 0).all()


def test_cache_argument_names_and_output_forms(pair):
    _, ours, _ = pair
    ids, mask = paddle.to_tensor(IDS), paddle.to_tensor(MASK)
    first = ours(ids, attention_mask=mask)  # use_cache defaults to config.use_cache (True), HF's default
    assert first.cache is first.past_key_values and len(first.past_key_values) == 2
    nxt = paddle.to_tensor([[3], [4], [5]])
    longer = paddle.concat([mask, paddle.ones([3, 1], "int64")], 1)
    a = ours(nxt, attention_mask=longer, past_key_values=first.past_key_values).logits.numpy()
    b = ours(nxt, attention_mask=longer, cache=first.past_key_values).logits.numpy()  # HF 5's name
    legacy = tuple((k, v) for k, v in first.past_key_values)  # PaddleNLP / old HF tuple form
    c = ours(nxt, attention_mask=longer, past_key_values=legacy).logits.numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    plain = ours(ids, attention_mask=mask, return_dict=False)
    assert isinstance(plain, tuple) and len(plain) == 2 and isinstance(plain[1], KVCache)  # (logits, cache)
    assert ours(ids, attention_mask=mask, logits_to_keep=1).logits.shape == [3, 1, 99]


@pytest.mark.parametrize("kwargs,match", [
    (dict(inputs_embeds=paddle.ones([3, 6, 16])), "exactly one of input_ids or inputs_embeds"),
    (dict(encoder_hidden_states=paddle.ones([3, 6, 32])), "no cross-attention"),
    (dict(labels=paddle.to_tensor(IDS), logits_to_keep=1), "logits_to_keep"),
    (dict(past_key_values=(), cache=()), "not both"),
    (dict(past_key_values=((paddle.ones([3, 4, 2, 8]), paddle.ones([3, 4, 2, 8])),)), "has 1 layers but the model"),
    (dict(past_key_values=[(paddle.ones([3, 4, 2, 8]),) * 2] * 2), r"attention_mask has shape \[3, 6\]"),
])
def test_bad_calls_are_value_errors(pair, kwargs, match):
    _, ours, _ = pair
    with pytest.raises(ValueError, match=match):
        ours(paddle.to_tensor(IDS), attention_mask=paddle.to_tensor(MASK), **kwargs)


def test_saves_for_hf_and_hf_reads_it(pair, tmp_path):
    hf, ours, _ = pair
    ours.save_pretrained(str(tmp_path), format="hf")
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["ElectraForCausalLM"] and config["is_decoder"] is True
    back = transformers.ElectraForCausalLM.from_pretrained(str(tmp_path)).eval()
    with torch.no_grad():
        a = back(torch.tensor(IDS), attention_mask=torch.tensor(MASK)).logits.numpy()
        b = hf(torch.tensor(IDS), attention_mask=torch.tensor(MASK)).logits.numpy()
    assert np.abs(a - b)[MASK.astype(bool)].max() < TOL
    # and paddle_electra's own folder keeps is_decoder
    ours.save_pretrained(str(tmp_path / "paddle"))
    assert ElectraForCausalLM.from_pretrained(str(tmp_path / "paddle")).config.is_decoder is True


def test_encoder_config_builds_with_a_warning_and_stays_bidirectional(caplog):
    cfg = pe.ElectraConfig(**HF_CONFIG)
    with caplog.at_level(logging.WARNING, logger="paddle_electra"):
        model = ElectraForCausalLM(cfg).eval()
    assert "is_decoder is False" in caplog.text
    ids = paddle.to_tensor(IDS[2:])
    # bidirectional: changing the last token changes the first position's scores
    other = paddle.to_tensor(np.concatenate([IDS[2:, :-1], [[1]]], 1))
    assert not np.allclose(model(ids).logits.numpy()[0, 0], model(other).logits.numpy()[0, 0])
    decoder = ElectraForCausalLM(cfg.copy(is_decoder=True)).eval()
    np.testing.assert_allclose(decoder(ids).logits.numpy()[0, :-1], decoder(other).logits.numpy()[0, :-1], atol=1e-6)


def test_untied_head_and_generate_arguments_are_refused():
    with pytest.raises(ValueError, match="tie_word_embeddings=False is not supported"):
        ElectraForCausalLM(pe.ElectraConfig(is_decoder=True, tie_word_embeddings=False, **HF_CONFIG))
    model = ElectraForCausalLM(pe.ElectraConfig(is_decoder=True, **HF_CONFIG))
    with pytest.raises(ValueError, match="max_new_tokens must be an int >= 1"):
        model.generate(paddle.to_tensor(IDS), max_new_tokens=0)
    with pytest.raises(ValueError, match="exceed max_position_embeddings=64"):
        model.generate(paddle.to_tensor(IDS), max_new_tokens=60)
