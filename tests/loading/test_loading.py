"""save_pretrained / from_pretrained: round trips, the loading report, and every failure mode."""

import json
import logging
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_electra as pe
from paddle_electra.loading.convert.torch_bin import UnsafeCheckpointError
from paddle_electra.model.ernie_health import ErnieHealthDiscriminator, ErnieHealthForTotalPretraining
from paddle_electra.model.pretraining import ElectraForTotalPretraining
from conftest import TINY, TINY_EQUAL, make_batch

HEADS = ["ElectraModel", "ElectraGenerator", "ElectraDiscriminator", "ElectraForSequenceClassification",
         "ElectraForTokenClassification", "ElectraForQuestionAnswering", "ElectraForMultipleChoice"]
REF_KEYS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "paddlenlp_reference", "paddlenlp_electra_keys.json")


def _ids(name):
    ids, types, mask = make_batch()
    if name == "ElectraForMultipleChoice":
        ids, types, mask = (np.stack([x, x], 1) for x in (ids, types, mask))
    return paddle.to_tensor(ids), paddle.to_tensor(mask)


def _first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("safe", [False, True])
@pytest.mark.parametrize("name", HEADS)
def test_save_load_round_trip_is_identical(tmp_path, name, safe):
    paddle.seed(0)
    model = getattr(pe, name)(pe.ElectraConfig(**TINY)).eval()
    model.save_pretrained(str(tmp_path), safe_serialization=safe)
    files = sorted(os.listdir(tmp_path))
    assert files == ["config.json", "model.safetensors" if safe else "model_state.pdparams"]
    back, report = getattr(pe, name).from_pretrained(str(tmp_path), output_loading_info=True)
    assert report.converted_from is None and not (report.missing or report.unexpected or report.mismatched)
    assert back.config.architectures == [name]
    ids, mask = _ids(name)
    np.testing.assert_array_equal(_first(model(ids, attention_mask=mask)).numpy(),
                                  _first(back(ids, attention_mask=mask)).numpy())


def test_saving_the_other_format_replaces_the_stale_file(tmp_path, caplog):
    model = pe.ElectraModel(pe.ElectraConfig(**TINY))
    model.save_pretrained(str(tmp_path))
    model.save_pretrained(str(tmp_path), safe_serialization=True)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]
    assert "removed the stale" in caplog.text


def test_interrupted_save_keeps_the_previous_weights(tmp_path, monkeypatch):
    paddle.seed(0)
    model = pe.ElectraDiscriminator(pe.ElectraConfig(**TINY))
    model.save_pretrained(str(tmp_path))
    before = (tmp_path / "model_state.pdparams").read_bytes()

    def broken_save(obj, path, *a, **k):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(paddle, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        pe.ElectraDiscriminator(pe.ElectraConfig(**TINY)).save_pretrained(str(tmp_path))
    assert (tmp_path / "model_state.pdparams").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model_state.pdparams"]


def test_save_into_a_file_path_is_an_error(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        pe.ElectraModel(pe.ElectraConfig(**TINY)).save_pretrained(str(target))


def test_new_head_on_a_discriminator_checkpoint_is_reported(tmp_path, caplog):
    pe.ElectraDiscriminator(pe.ElectraConfig(**TINY)).save_pretrained(str(tmp_path))
    caplog.clear()
    model, report = pe.ElectraForSequenceClassification.from_pretrained(str(tmp_path), output_loading_info=True)
    assert report.newly_initialized == ["classifier"]
    assert sorted(report.missing) == ["classifier.dense.bias", "classifier.dense.weight", "classifier.out_proj.bias",
                                      "classifier.out_proj.weight"]
    assert len(report.unexpected) == 4 and all(k.startswith("discriminator_predictions") for k in report.unexpected)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one summary, not one line per key
    assert "newly initialised, train before use: classifier" in warnings[0].getMessage()
    assert "unused checkpoint weights (4)" in warnings[0].getMessage()


def test_backbone_prefix_is_added_or_stripped(tmp_path):
    paddle.seed(0)
    gen = pe.ElectraGenerator(pe.ElectraConfig(**TINY)).eval()
    gen.save_pretrained(str(tmp_path / "gen"))
    bare = pe.ElectraModel.from_pretrained(str(tmp_path / "gen"))
    ids, mask = _ids("ElectraModel")
    np.testing.assert_array_equal(bare(ids).numpy(), gen.electra(ids).numpy())
    bare.save_pretrained(str(tmp_path / "bare"))
    disc, report = pe.ElectraDiscriminator.from_pretrained(str(tmp_path / "bare"), output_loading_info=True)
    assert report.newly_initialized == ["discriminator_predictions"] and report.unexpected == []
    np.testing.assert_array_equal(disc.electra(ids).numpy(), gen.electra(ids).numpy())


def test_generator_checkpoint_in_discriminator_class_is_an_error(tmp_path):
    pe.ElectraGenerator(pe.ElectraConfig(**TINY)).save_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match=r"holds an ElectraGenerator head .* use ElectraGenerator.from_pretrained"):
        pe.ElectraDiscriminator.from_pretrained(str(tmp_path))
    pe.ElectraDiscriminator(pe.ElectraConfig(**TINY)).save_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match="use ElectraDiscriminator.from_pretrained"):
        pe.ElectraGenerator.from_pretrained(str(tmp_path))


def test_checkpoint_whose_backbone_does_not_load_is_an_error(tmp_path):
    pe.ElectraConfig(**TINY).save_pretrained(str(tmp_path))
    paddle.save({"bert.embeddings.word_embeddings.weight": paddle.zeros([99, 16])},
                str(tmp_path / "model_state.pdparams"))
    with pytest.raises(ValueError, match="none of ElectraDiscriminator's backbone weights could be loaded"):
        pe.ElectraDiscriminator.from_pretrained(str(tmp_path))


def test_shape_mismatch_is_an_error_unless_ignored(tmp_path):
    pe.ElectraForSequenceClassification(pe.ElectraConfig(**TINY)).save_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match=r"classifier.out_proj.weight: checkpoint \[32, 3\] vs model \[32, 5\]"):
        pe.ElectraForSequenceClassification.from_pretrained(str(tmp_path), num_labels=5)
    model, report = pe.ElectraForSequenceClassification.from_pretrained(
        str(tmp_path), num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    assert model.config.num_labels == 5 and report.newly_initialized == ["classifier"]


def test_optimizer_slots_are_skipped_in_one_summary_line(tmp_path, caplog):
    model = pe.ElectraDiscriminator(pe.ElectraConfig(**TINY))
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    for k in list(state)[:10]:
        state[k + "_moment1_0"] = state[k]
        state[k + "/adam_m"] = state[k]
        state[k + "/adam_v"] = state[k]
    state["global_step"] = np.array(7)
    pe.ElectraConfig(**TINY).save_pretrained(str(tmp_path))
    paddle.save(state, str(tmp_path / "model_state.pdparams"))
    caplog.clear()
    _, report = pe.ElectraDiscriminator.from_pretrained(str(tmp_path), output_loading_info=True)
    assert report.skipped == ["skipped 31 optimizer-state entries (10 adam_m, 10 adam_v, 1 global_step, "
                              "10 moment1_0)"]
    assert report.unexpected == [] and report.missing == []
    assert sum("optimizer" in r.getMessage() for r in caplog.records) == 1


def test_hf_half_precision_weights_load_as_float32(tmp_path):
    torch.manual_seed(0)
    hf = transformers.ElectraForPreTraining(transformers.ElectraConfig(
        **{k: v for k, v in TINY.items() if k != "num_choices"})).eval()
    hf.half().save_pretrained(str(tmp_path))
    model = pe.ElectraDiscriminator.from_pretrained(str(tmp_path))
    assert all(p.dtype == paddle.float32 for p in model.parameters())
    ref = hf.float().electra.embeddings.word_embeddings.weight.detach().numpy()
    np.testing.assert_array_equal(model.electra.embeddings.word_embeddings.weight.numpy(), ref)


class _Payload:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_malicious_pytorch_model_bin_never_runs(tmp_path):
    sentinel = tmp_path / "pwned"
    pe.ElectraConfig(**TINY).save_pretrained(str(tmp_path))
    with zipfile.ZipFile(tmp_path / "pytorch_model.bin", "w") as zf:
        zf.writestr("pytorch_model/data.pkl", pickle.dumps({"electra.embeddings.word_embeddings.weight":
                                                           _Payload(sentinel)}, protocol=2))
    with pytest.raises(UnsafeCheckpointError, match=r"global 'posix.system'.*may try to run code"):
        pe.ElectraDiscriminator.from_pretrained(str(tmp_path))
    assert not sentinel.exists()


def test_hf_bin_folder_loads_without_torch_installed(tmp_path):
    torch.manual_seed(0)
    hf = transformers.ElectraForPreTraining(transformers.ElectraConfig(
        **{k: v for k, v in TINY.items() if k != "num_choices"})).eval()
    hf.config.save_pretrained(str(tmp_path))
    torch.save(hf.state_dict(), str(tmp_path / "pytorch_model.bin"))
    ids, _, mask = make_batch()
    with torch.no_grad():
        expected = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits.numpy()
    np.save(tmp_path / "ids.npy", ids)
    np.save(tmp_path / "mask.npy", mask)
    script = f"""
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, _Block())
import numpy as np, paddle
import paddle_electra as pe
m = pe.ElectraDiscriminator.from_pretrained({str(tmp_path)!r})
out = m(paddle.to_tensor(np.load({str(tmp_path / 'ids.npy')!r})),
        attention_mask=paddle.to_tensor(np.load({str(tmp_path / 'mask.npy')!r})))
np.save({str(tmp_path / 'out.npy')!r}, out.numpy())
assert "torch" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)


def test_missing_or_unreadable_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown model name"):
        pe.ElectraModel.from_pretrained(str(tmp_path / "nope"))
    pe.ElectraConfig(**TINY).save_pretrained(str(tmp_path))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no weights file in .*expected one of model.safetensors, "
                                         r"model_state.pdparams, pytorch_model.bin, tf_model.h5; the folder has config.json, notes"):
        pe.ElectraModel.from_pretrained(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(ValueError, match="could not read weights file .*model.safetensors"):
        pe.ElectraModel.from_pretrained(str(tmp_path))


def test_config_overrides_and_explicit_config(tmp_path):
    pe.ElectraModel(pe.ElectraConfig(**TINY)).save_pretrained(str(tmp_path))
    model = pe.ElectraModel.from_pretrained(str(tmp_path), hidden_dropout_prob=0.0)
    assert model.config.hidden_dropout_prob == 0.0
    model = pe.ElectraModel.from_pretrained(str(tmp_path), config=pe.ElectraConfig(**TINY, layer_norm_eps=1e-6))
    assert model.config.layer_norm_eps == 1e-6


@pytest.mark.parametrize("variant", ["E16_H32", "E32_H32"])
def test_parameter_names_and_shapes_equal_paddlenlp(variant):
    """Names and shapes equal those PaddleNLP 2.8.1 itself produced (tools/dump_paddlenlp_reference.py)."""
    with open(REF_KEYS) as f:
        ref = json.load(f)
    kwargs = TINY if variant == "E16_H32" else TINY_EQUAL
    classes = {name: getattr(pe, name) for name in HEADS[:1] + HEADS[1:]}
    classes["ErnieHealthDiscriminator"] = ErnieHealthDiscriminator
    for name, cls in classes.items():
        if name.startswith("ErnieHealth") and variant == "E16_H32":
            continue  # ERNIE-Health needs embedding_size == hidden_size
        ours = {k: list(v.shape) for k, v in cls(pe.ElectraConfig(**kwargs)).state_dict().items()}
        theirs = {k: shape for k, shape, _ in ref[name][variant]}
        assert ours == theirs, name


def test_total_pretraining_round_trip_keeps_both_configs_and_the_tie(tmp_path):
    paddle.seed(0)
    disc = pe.ElectraConfig(**TINY)
    gen = disc.copy(hidden_size=16, num_attention_heads=2, intermediate_size=20)
    model = ElectraForTotalPretraining(disc, gen)
    model.save_pretrained(str(tmp_path))
    back = ElectraForTotalPretraining.from_pretrained(str(tmp_path))
    assert back.generator.config.hidden_size == model.generator.config.hidden_size == 16
    assert back.generator.config.intermediate_size == 20
    assert back.discriminator.electra.embeddings.word_embeddings.weight is \
        back.generator.electra.embeddings.word_embeddings.weight
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    eh_cfg = pe.ElectraConfig(**TINY_EQUAL)
    eh = ErnieHealthForTotalPretraining(eh_cfg, eh_cfg.copy(hidden_size=16, num_attention_heads=2))
    eh.save_pretrained(str(tmp_path / "eh"))
    eh_back = ErnieHealthForTotalPretraining.from_pretrained(str(tmp_path / "eh"))
    assert eh_back.generator.config.hidden_size == 16
    assert eh_back.discriminator.electra.embeddings.word_embeddings.weight is \
        eh_back.generator.electra.embeddings.word_embeddings.weight


def test_newly_initialised_head_is_drawn_not_left_constant(tmp_path):
    pe.ElectraDiscriminator(pe.ElectraConfig(**TINY)).save_pretrained(str(tmp_path))
    model = pe.ElectraForSequenceClassification.from_pretrained(str(tmp_path))
    w = model.classifier.out_proj.weight.numpy()
    assert abs(w.std() - 0.02) < 0.01
    assert np.all(model.classifier.out_proj.bias.numpy() == 0)
