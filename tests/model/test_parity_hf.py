"""Number-for-number parity with HF transformers (the reference the hfl checkpoints come from).

Each test builds an HF model with random weights, saves it with HF's own
save_pretrained (or torch.save for pytorch_model.bin), loads the folder with
paddle_electra's from_pretrained, and compares outputs in eval mode.
"""

import os

import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_electra as pe
from conftest import TINY, TINY_EQUAL, make_batch

ATOL = 1e-5

# (HF class, paddle_electra class, names of the outputs to compare)
HEADS = [
    ("ElectraModel", "ElectraModel", ["last_hidden_state"]),
    ("ElectraForMaskedLM", "ElectraGenerator", ["logits"]),
    ("ElectraForPreTraining", "ElectraDiscriminator", ["logits"]),
    ("ElectraForSequenceClassification", "ElectraForSequenceClassification", ["logits"]),
    ("ElectraForTokenClassification", "ElectraForTokenClassification", ["logits"]),
    ("ElectraForQuestionAnswering", "ElectraForQuestionAnswering", ["start_logits", "end_logits"]),
    ("ElectraForMultipleChoice", "ElectraForMultipleChoice", ["logits"]),
]


def _hf_config(kwargs, hf_name):
    kwargs = dict(kwargs)
    kwargs.pop("num_choices")
    if hf_name == "ElectraForQuestionAnswering":
        kwargs["num_labels"] = 2  # HF sizes qa_outputs by num_labels; span heads have 2
    return transformers.ElectraConfig(**kwargs)


def _save_hf(hf_model, folder, fmt):
    if fmt == "safetensors":
        hf_model.save_pretrained(folder)
        assert os.path.exists(os.path.join(folder, "model.safetensors"))
    else:
        os.makedirs(folder, exist_ok=True)
        hf_model.config.save_pretrained(folder)
        torch.save(hf_model.state_dict(), os.path.join(folder, "pytorch_model.bin"))


def _inputs(hf_name, batch):
    ids, types, mask = make_batch(batch=batch, seq=10, vocab=TINY["vocab_size"])
    if hf_name == "ElectraForMultipleChoice":  # [B, C, L]: two choices per example
        ids2, types2, mask2 = make_batch(batch=batch, seq=10, vocab=TINY["vocab_size"], seed=1, pad_from=4)
        ids, types, mask = (np.stack([a, b], 1) for a, b in ((ids, ids2), (types, types2), (mask, mask2)))
    return ids, types, mask


def _run_both(hf_model, pd_model, hf_name, batch, with_mask=True):
    ids, types, mask = _inputs(hf_name, batch)
    kw_hf = dict(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types), output_hidden_states=True)
    kw_pd = dict(input_ids=paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types), output_hidden_states=True,
                 return_dict=True)
    if with_mask:
        kw_hf["attention_mask"] = torch.tensor(mask)
        kw_pd["attention_mask"] = paddle.to_tensor(mask)
    with torch.no_grad():
        hf_out = hf_model(**kw_hf)
    pd_out = pd_model(**kw_pd)
    return hf_out, pd_out


def _max_diffs(hf_out, pd_out, names):
    diffs = {n: float(np.abs(getattr(hf_out, n).numpy() - getattr(pd_out, n).numpy()).max()) for n in names}
    assert len(hf_out.hidden_states) == len(pd_out.hidden_states)
    for i, (a, b) in enumerate(zip(hf_out.hidden_states, pd_out.hidden_states)):
        diffs[f"hidden_states[{i}]"] = float(np.abs(a.numpy() - b.numpy()).max())
    return diffs


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
@pytest.mark.parametrize("batch", [3, 1])
@pytest.mark.parametrize("variant", ["E!=H", "E==H"])
@pytest.mark.parametrize("hf_name,pd_name,names", HEADS, ids=[h[1] for h in HEADS])
def test_head_matches_hf(tmp_path, hf_name, pd_name, names, variant, batch, fmt):
    kwargs = TINY if variant == "E!=H" else TINY_EQUAL
    torch.manual_seed(0)
    hf_model = getattr(transformers, hf_name)(_hf_config(kwargs, hf_name)).eval()
    _save_hf(hf_model, str(tmp_path), fmt)
    pd_model, report = getattr(pe, pd_name).from_pretrained(str(tmp_path), output_loading_info=True)
    assert report.converted_from == "hf"
    assert report.missing == [] and report.unexpected == [] and report.mismatched == []
    assert not pd_model.training
    hf_out, pd_out = _run_both(hf_model, pd_model, hf_name, batch)
    diffs = _max_diffs(hf_out, pd_out, names)
    assert max(diffs.values()) <= ATOL, diffs
    for name in names:
        assert list(getattr(pd_out, name).shape) == list(getattr(hf_out, name).shape)


@pytest.mark.parametrize("hf_name,pd_name,names", HEADS[:3], ids=[h[1] for h in HEADS[:3]])
def test_padding_inferred_from_pad_token_matches_hf_mask(tmp_path, hf_name, pd_name, names):
    """With no mask, Paddle's convention masks pad ids: equal to HF given the explicit mask."""
    torch.manual_seed(1)
    hf_model = getattr(transformers, hf_name)(_hf_config(TINY, hf_name)).eval()
    _save_hf(hf_model, str(tmp_path), "safetensors")
    pd_model = getattr(pe, pd_name).from_pretrained(str(tmp_path))
    ids, types, mask = make_batch()
    with torch.no_grad():
        hf_out = hf_model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                          token_type_ids=torch.tensor(types))
    pd_out = pd_model(paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types), return_dict=True)
    for n in names:
        keep = mask.astype(bool)  # padded positions' outputs are not meaningful
        a, b = getattr(hf_out, n).numpy(), getattr(pd_out, n).numpy()
        assert np.abs(a[keep] - b[keep]).max() <= ATOL


def test_hf_losses_match(tmp_path):
    """Loss values with labels equal HF's for the heads whose loss HF defines."""
    torch.manual_seed(2)
    ids, types, mask = make_batch()
    cases = [
        ("ElectraForMaskedLM", "ElectraGenerator", np.where(mask == 1, ids, -100)),
        ("ElectraForPreTraining", "ElectraDiscriminator", (ids % 2).astype("int64")),
        ("ElectraForSequenceClassification", "ElectraForSequenceClassification", np.array([0, 2, 1])),
        ("ElectraForTokenClassification", "ElectraForTokenClassification", np.where(mask == 1, ids % 3, -100)),
    ]
    for hf_name, pd_name, labels in cases:
        hf_model = getattr(transformers, hf_name)(_hf_config(TINY, hf_name)).eval()
        folder = str(tmp_path / hf_name)
        _save_hf(hf_model, folder, "safetensors")
        pd_model = getattr(pe, pd_name).from_pretrained(folder)
        with torch.no_grad():
            hf_loss = hf_model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                               token_type_ids=torch.tensor(types), labels=torch.tensor(labels)).loss
        loss, _ = pd_model(paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types),
                           attention_mask=paddle.to_tensor(mask), labels=paddle.to_tensor(labels))
        assert abs(float(hf_loss) - float(loss)) <= 1e-5, hf_name


def test_attentions_match_hf(tmp_path):
    torch.manual_seed(3)
    cfg = _hf_config(TINY, "ElectraModel")
    cfg._attn_implementation = "eager"  # sdpa returns no attention weights
    hf_model = transformers.ElectraModel(cfg).eval()
    _save_hf(hf_model, str(tmp_path), "safetensors")
    pd_model = pe.ElectraModel.from_pretrained(str(tmp_path))
    ids, types, mask = make_batch()
    with torch.no_grad():
        hf_out = hf_model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), output_attentions=True)
    pd_out = pd_model(paddle.to_tensor(ids), attention_mask=paddle.to_tensor(mask), output_attentions=True,
                      return_dict=True)
    assert len(pd_out.attentions) == TINY["num_hidden_layers"]
    for a, b in zip(hf_out.attentions, pd_out.attentions):
        assert np.abs(a.numpy() - b.numpy()).max() <= ATOL


@pytest.mark.parametrize("hf_name,pd_name", [("ElectraForPreTraining", "ElectraDiscriminator"),
                                             ("ElectraForMaskedLM", "ElectraGenerator")])
def test_full_size_small_models_match_hf(tmp_path, hf_name, pd_name):
    """hfl small shapes (12 layers, vocab 21128, seq 128): errors stay small through depth."""
    shape = dict(vocab_size=21128, embedding_size=128, num_hidden_layers=12, max_position_embeddings=512)
    shape.update(hidden_size=256, num_attention_heads=4, intermediate_size=1024) if pd_name == "ElectraDiscriminator" \
        else shape.update(hidden_size=64, num_attention_heads=1, intermediate_size=256)
    torch.manual_seed(0)
    hf_model = getattr(transformers, hf_name)(transformers.ElectraConfig(**shape)).eval()
    _save_hf(hf_model, str(tmp_path), "bin")
    pd_model = getattr(pe, pd_name).from_pretrained(str(tmp_path))
    rng = np.random.RandomState(0)
    ids = rng.randint(106, 21128, (2, 128)).astype("int64")
    mask = np.ones_like(ids)
    ids[1, 70:], mask[1, 70:] = 0, 0
    with torch.no_grad():
        a = hf_model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits.numpy()
    b = pd_model(paddle.to_tensor(ids), attention_mask=paddle.to_tensor(mask)).numpy()
    assert np.abs(a - b).max() <= ATOL


@pytest.mark.parametrize("hf_name,pd_name,names", HEADS, ids=[h[1] for h in HEADS])
def test_hf_to_paddle_to_hf_round_trip_is_exact(tmp_path, hf_name, pd_name, names):
    """HF -> paddle_electra -> save_pretrained(format="hf") -> HF: same tensors bit for bit, same outputs."""
    from safetensors.numpy import load_file

    torch.manual_seed(5)
    hf_model = getattr(transformers, hf_name)(_hf_config(TINY, hf_name)).eval()
    _save_hf(hf_model, str(tmp_path / "hf"), "safetensors")
    pd_model = getattr(pe, pd_name).from_pretrained(str(tmp_path / "hf"))
    pd_model.save_pretrained(str(tmp_path / "back"), format="hf")
    assert sorted(os.listdir(tmp_path / "back")) == ["config.json", "model.safetensors"]
    original = {k: v.detach().numpy() for k, v in hf_model.state_dict().items() if not k.endswith("position_ids")
                and not k.endswith("token_type_ids")}
    exported = load_file(str(tmp_path / "back" / "model.safetensors"))
    assert set(exported) == set(original)
    for key, value in original.items():
        assert exported[key].shape == value.shape and np.array_equal(exported[key], value), key
    reloaded = getattr(transformers, hf_name).from_pretrained(str(tmp_path / "back")).eval()
    ids, types, mask = _inputs(hf_name, 2)
    with torch.no_grad():
        a = hf_model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types))
        b = reloaded(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types))
    for n in names:
        assert torch.equal(getattr(a, n), getattr(b, n))


def test_hf_export_refuses_classes_without_hf_counterpart(tmp_path):
    from paddle_electra.model.pretraining import ElectraForTotalPretraining
    with pytest.raises(ValueError, match="no HF transformers counterpart"):
        ElectraForTotalPretraining(pe.ElectraConfig(**TINY)).save_pretrained(str(tmp_path), format="hf")
    with pytest.raises(ValueError, match="format must be"):
        pe.ElectraModel(pe.ElectraConfig(**TINY)).save_pretrained(str(tmp_path), format="onnx")
