"""HF ``tf_model.h5`` files, read without TensorFlow.

The tests write Keras-layout files from HF torch models with h5py, and read
genuine files written by transformers 4.57.6's TF classes
(``tests/tf_helpers/hf4_h5``, made by ``tests/tf_helpers/write_hf4_tf_h5.py``).
"""

from collections import OrderedDict
from pathlib import Path

import h5py
import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_electra as pe
from paddle_electra.loading.convert.tf_h5 import read_tf_h5, tf_weight_name_to_hf
from conftest import make_batch

GENUINE_H5 = Path(__file__).resolve().parents[2] / "tests" / "tf_helpers" / "hf4_h5"
ATOL = 1e-5
# a small discriminator-shaped config for every class (biases and LayerNorms perturbed below)
SIZES = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=37, max_position_embeddings=64, type_vocab_size=2)


def _keras_name(model_name, hf_key):
    """The Keras weight name transformers 4.x gives an HF torch parameter, and whether it is transposed."""
    out, parts, i = [], hf_key.split("."), 0
    while i < len(parts):
        if parts[i] == "layer" and i + 1 < len(parts) and parts[i + 1].isdigit():
            out.append(f"layer_._{parts[i + 1]}")
            i += 2
        else:
            out.append(parts[i])
            i += 1
    owner, leaf = out[-2], out[-1]
    transpose = False
    if owner == "LayerNorm":
        out[-1] = {"weight": "gamma", "bias": "beta"}[leaf]
    elif owner in ("position_embeddings", "token_type_embeddings"):
        out[-1] = "embeddings"
    elif owner != "word_embeddings" and leaf == "weight":
        out[-1], transpose = "kernel", True
    return f"{model_name}/{'/'.join(out)}:0", transpose


def _hf_weights(hf_model):
    skip = ("position_ids", "token_type_ids", "generator_lm_head.weight")
    return {k: v.detach().numpy() for k, v in hf_model.state_dict().items() if not k.endswith(skip)}


def _write_keras_h5(path, hf_model, model_name, layout="keras", chunks=1):
    """Write HF torch weights the way transformers 4.x's TF save_pretrained does (see tf_h5's docstring)."""
    weights = _hf_weights(hf_model)
    layers = OrderedDict()
    for key, value in weights.items():
        if model_name == "tf_electra_model":
            key = "electra." + key  # TF's base model keeps its main layer's level; torch's has none
        name, transpose = _keras_name(model_name, key)
        layers.setdefault(key.split(".")[0], []).append((name, value.T if transpose else value))
    if "generator_lm_head" in layers:  # the LM head also lists the embeddings it is tied to
        layers["generator_lm_head"] += [item for item in layers["electra"] if "/embeddings/" in item[0]]
    with h5py.File(path, "w") as f:
        if layout == "sharded":
            names = []
            for items in layers.values():
                for name, value in items:
                    bare = name.split("/", 1)[1]
                    if bare not in f:
                        f.create_dataset(bare, data=value)
                        names.append(bare)
            f.attrs["layer_names"] = np.array([n.encode() for n in names])
            return weights
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.21.0"
        names = np.array([n.encode() for n in layers])
        if chunks == 1:
            f.attrs["layer_names"] = names
        else:
            for i, part in enumerate(np.array_split(names, chunks)):
                f.attrs[f"layer_names{i}"] = part
        for layer, items in layers.items():
            group = f.create_group(layer)
            group.attrs["weight_names"] = np.array([n.encode() for n, _ in items])
            for name, value in items:
                group.create_dataset(name, data=value)
    return weights


H5_CASES = [
    ("ElectraForPreTraining", "tf_electra_for_pre_training", pe.ElectraDiscriminator),
    ("ElectraForMaskedLM", "tf_electra_for_masked_lm", pe.ElectraGenerator),
    ("ElectraModel", "tf_electra_model", pe.ElectraModel),
]


def _hf_model(hf_name, seed=0):
    torch.manual_seed(seed)
    model = getattr(transformers, hf_name)(transformers.ElectraConfig(**SIZES)).eval()
    with torch.no_grad():  # non-trivial biases and LayerNorms, so weight/bias mix-ups show
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(torch.randn(p.shape) * 0.1)
    return model


def _compare(pd_model, hf_model):
    ids, types, mask = make_batch(vocab=SIZES["vocab_size"])
    with torch.no_grad():
        out = hf_model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                       attention_mask=torch.tensor(mask))
    want = out.logits if hasattr(out, "logits") else out.last_hidden_state
    got = pd_model(paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types), attention_mask=paddle.to_tensor(mask))
    return float(np.abs(got.numpy() - want.numpy()).max())


@pytest.mark.parametrize("layout", ["keras", "keras-chunked-attrs", "sharded"])
@pytest.mark.parametrize("hf_name,model_name,cls", H5_CASES)
def test_tf_h5_loads_and_matches_hf(tmp_path, hf_name, model_name, cls, layout):
    hf_model = _hf_model(hf_name)
    path = tmp_path / "tf_model.h5"
    weights = _write_keras_h5(path, hf_model, model_name, layout="sharded" if layout == "sharded" else "keras",
                              chunks=2 if layout == "keras-chunked-attrs" else 1)
    got = read_tf_h5(str(path))
    prefix = "electra." if hf_name == "ElectraModel" else ""  # TF's base model has the main layer's level
    assert set(got) == {prefix + k for k in weights}
    for key, value in weights.items():
        assert got[prefix + key].shape == value.shape and np.array_equal(got[prefix + key], value), key
    model = cls(pe.ElectraConfig(**SIZES))
    report = model.load_weights(got, source=str(path))
    assert report.converted_from == "hf" and not (report.missing or report.unexpected or report.mismatched)
    model.eval()
    assert _compare(model, hf_model) <= ATOL


@pytest.mark.parametrize("tf_class", ["TFElectraForPreTraining", "TFElectraForMaskedLM"])
def test_genuine_transformers4_tf_h5(tf_class):
    """Files written by transformers 4.57.6's TF models load and reproduce TF's own outputs."""
    folder = GENUINE_H5 / tf_class
    with np.load(folder / "reference.npz", allow_pickle=False) as data:
        ref = {k: data[k] for k in data.files}
    state = read_tf_h5(str(folder / "tf_model.h5"))
    cls = pe.ElectraDiscriminator if tf_class == "TFElectraForPreTraining" else pe.ElectraGenerator
    model = cls(pe.ElectraConfig.from_pretrained(str(folder)))
    report = model.load_weights(state, source=tf_class)
    assert not (report.missing or report.unexpected or report.mismatched)
    model.eval()
    got = model(paddle.to_tensor(ref["input_ids"].astype("int64")),
                token_type_ids=paddle.to_tensor(ref["token_type_ids"].astype("int64")),
                attention_mask=paddle.to_tensor(ref["attention_mask"].astype("int64"))).numpy()
    assert np.abs(got - ref["output"]).max() <= ATOL
    # the layout the synthetic writer above produces is the genuine one
    hf_name = "ElectraForPreTraining" if tf_class == "TFElectraForPreTraining" else "ElectraForMaskedLM"
    model_name = "tf_electra_for_pre_training" if hf_name == "ElectraForPreTraining" else "tf_electra_for_masked_lm"
    fresh = getattr(transformers, hf_name)(transformers.ElectraConfig(**SIZES))
    ours = {_keras_name(model_name, k)[0] for k in _hf_weights(fresh)}
    assert ours == {str(n) for n in ref["weight_names"]}
    with h5py.File(folder / "tf_model.h5", "r") as f:
        genuine = {str(n) for layer in f.attrs["layer_names"] for n in f[layer].attrs["weight_names"]}
    assert ours == genuine
    assert tf_weight_name_to_hf(f"{model_name}/electra/encoder/layer_._1/attention/self/query/kernel:0") == (
        "electra.encoder.layer.1.attention.self.query.weight", True)


def test_from_pretrained_on_a_tf_model_h5_folder(tmp_path):
    """Needs paddle_electra.loading.convert.readers to know tf_model.h5 (see the h5 section of the README)."""
    for hf_name, model_name, cls in H5_CASES[:2]:
        hf_model = _hf_model(hf_name, seed=3)
        folder = tmp_path / hf_name
        folder.mkdir()
        hf_model.config.save_pretrained(str(folder))
        _write_keras_h5(folder / "tf_model.h5", hf_model, model_name)
        model = cls.from_pretrained(str(folder))
        assert _compare(model, hf_model) <= ATOL


def test_h5_files_that_are_not_keras_weights(tmp_path):
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ValueError, match=r"plain\.h5: no 'layer_names' attribute"):
        read_tf_h5(str(plain))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ValueError, match=r"could not read .*junk\.h5"):
        read_tf_h5(str(junk))
    with pytest.raises(ValueError, match="does not exist"):
        read_tf_h5(str(tmp_path / "missing.h5"))


WEIGHT = "tf_electra_model/electra/embeddings/word_embeddings/weight:0"


def _one_weight_h5(path, **dataset_kwargs):
    """A Keras-layout file listing one weight, made by ``create_dataset(**dataset_kwargs)``."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"electra"])
        group = f.create_group("electra")
        group.attrs["weight_names"] = np.array([WEIGHT.encode()])
        group.create_dataset(WEIGHT, **dataset_kwargs)
    return str(path)


def test_a_declared_but_unstored_weight_is_refused_before_allocating(tmp_path):
    # HDF5 keeps no bytes for a dataset never written: reading it would allocate 3.6 GB from a 10 kB file
    import tracemalloc

    from paddle_electra.loading.safety import CheckpointTooLargeError

    path = _one_weight_h5(tmp_path / "tf_model.h5", shape=(30000, 30000), dtype="f4")
    assert Path(path).stat().st_size < 64 << 10
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointTooLargeError, match=r"declares shape \(30000, 30000\) \(3600000000 bytes\) "
                                                          r"but stores only 0 bytes"):
            read_tf_h5(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak


def test_weights_stored_elsewhere_or_not_numbers_are_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(16, dtype="f4").tobytes())  # a file outside the checkpoint, read as a weight
    path = _one_weight_h5(tmp_path / "ext.h5", shape=(4, 4), dtype="f4", external=[(str(secret), 0, 64)])
    with pytest.raises(ValueError, match="reads its data from another file"):
        read_tf_h5(path)
    path = _one_weight_h5(tmp_path / "str.h5", data=np.array([b"a", b"b"]))
    with pytest.raises(ValueError, match="not a number type"):
        read_tf_h5(path)
    path = _one_weight_h5(tmp_path / "null.h5", data=h5py.Empty("f4"))
    with pytest.raises(ValueError, match="empty HDF5 dataset"):
        read_tf_h5(path)
    with h5py.File(tmp_path / "name.h5", "w") as f:  # a UnicodeDecodeError, re-raised as a ValueError naming the file
        f.attrs["layer_names"] = np.array([b"electra\xff"])
    with pytest.raises(ValueError, match=r"name\.h5: 'utf-8' codec can't decode"):
        read_tf_h5(str(tmp_path / "name.h5"))


def test_compressed_weights_still_load(tmp_path):
    # Keras writes weights uncompressed, but a gzip-compressed (even all-zero) weight is honest data
    value = np.zeros((64, 32), dtype="f4")
    value[3] = np.arange(32)
    path = _one_weight_h5(tmp_path / "gz.h5", data=value, compression="gzip")
    np.testing.assert_array_equal(read_tf_h5(path)["electra.embeddings.word_embeddings.weight"], value)
