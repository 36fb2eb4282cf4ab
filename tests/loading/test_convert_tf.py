"""TF1 checkpoints, read without TensorFlow (HF tf_model.h5 files: ``test_convert_h5.py``).

The TF1 checkpoints are written by real TensorFlow (tf.compat.v1.train.Saver) in
a separate venv, because TensorFlow's dependencies conflict with Paddle's and
torch's. The test finds its python through PADDLE_ELECTRA_TF_PYTHON, default
``<repo>/.venv-tf/bin/python``; without it the tests fail (they do not skip).
"""

import json
import os
import shutil
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_electra as pe
from paddle_electra.loading.convert.hf import paddle_to_hf
from paddle_electra.loading.convert.tf1 import (
    TF1_KEY_TABLE,
    convert_tf_checkpoint,
    list_tf1_checkpoint,
    read_tf1_checkpoint,
    resolve_tf1_prefix,
    tf1_to_paddle,
)
from conftest import make_batch

REPO = Path(__file__).resolve().parents[2]
HELPER = REPO / "tests" / "tf_helpers" / "write_tf1_checkpoint.py"
CLI = REPO / "tools" / "convert_tf_checkpoint.py"
TF_VENV_RECIPE = "python3 -m venv .venv-tf && .venv-tf/bin/pip install tensorflow-cpu==2.21.0"
STEP = 1000
ATOL = 1e-5

DISC = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=64, type_vocab_size=2)
GEN = dict(DISC, hidden_size=8, num_attention_heads=1, intermediate_size=16)


# ---------------------------------------------------------------- fixtures
def _tf_python():
    path = os.environ.get("PADDLE_ELECTRA_TF_PYTHON") or str(REPO / ".venv-tf" / "bin" / "python")
    if not os.path.isfile(path):
        pytest.fail(
            f"no TensorFlow python at {path}: the TF1-checkpoint tests write their checkpoints with real "
            f"TensorFlow in a separate venv. Create it in the repo root with `{TF_VENV_RECIPE}` "
            "(or point PADDLE_ELECTRA_TF_PYTHON at a python that has tensorflow)."
        )
    return path


def _electra_variables(rng, untied=False):
    """A tiny ELECTRA pre-training checkpoint's variables, named as google-research/electra names them."""
    v = OrderedDict()

    def add(name, *shape):
        # trained-model magnitudes: small weights, LayerNorm scales near 1
        v[name] = ((1.0 if name.endswith("gamma") else 0.0) + 0.1 * rng.standard_normal(shape)).astype("float32")

    def embeddings(scope, c):
        add(f"{scope}/embeddings/word_embeddings", c["vocab_size"], c["embedding_size"])
        add(f"{scope}/embeddings/token_type_embeddings", c["type_vocab_size"], c["embedding_size"])
        add(f"{scope}/embeddings/position_embeddings", c["max_position_embeddings"], c["embedding_size"])
        add(f"{scope}/embeddings/LayerNorm/gamma", c["embedding_size"])
        add(f"{scope}/embeddings/LayerNorm/beta", c["embedding_size"])

    def encoder(scope, c):
        h, f = c["hidden_size"], c["intermediate_size"]
        if c["embedding_size"] != h:
            add(f"{scope}/embeddings_project/kernel", c["embedding_size"], h)
            add(f"{scope}/embeddings_project/bias", h)
        for n in range(c["num_hidden_layers"]):
            p = f"{scope}/encoder/layer_{n}"
            for proj in ("query", "key", "value"):
                add(f"{p}/attention/self/{proj}/kernel", h, h)
                add(f"{p}/attention/self/{proj}/bias", h)
            add(f"{p}/attention/output/dense/kernel", h, h)
            add(f"{p}/attention/output/dense/bias", h)
            add(f"{p}/attention/output/LayerNorm/gamma", h)
            add(f"{p}/attention/output/LayerNorm/beta", h)
            add(f"{p}/intermediate/dense/kernel", h, f)
            add(f"{p}/intermediate/dense/bias", f)
            add(f"{p}/output/dense/kernel", f, h)
            add(f"{p}/output/dense/bias", h)
            add(f"{p}/output/LayerNorm/gamma", h)
            add(f"{p}/output/LayerNorm/beta", h)

    embeddings("electra", DISC)
    encoder("electra", DISC)
    if untied:
        embeddings("generator", GEN)
    encoder("generator", GEN)
    add("discriminator_predictions/dense/kernel", DISC["hidden_size"], DISC["hidden_size"])
    add("discriminator_predictions/dense/bias", DISC["hidden_size"])
    add("discriminator_predictions/dense_1/kernel", DISC["hidden_size"], 1)
    add("discriminator_predictions/dense_1/bias", 1)
    add("generator_predictions/dense/kernel", GEN["hidden_size"], GEN["embedding_size"])
    add("generator_predictions/dense/bias", GEN["embedding_size"])
    add("generator_predictions/LayerNorm/gamma", GEN["embedding_size"])
    add("generator_predictions/LayerNorm/beta", GEN["embedding_size"])
    add("generator_predictions/output_bias", GEN["vocab_size"])
    weights = list(v)
    for name in weights:  # AdamWeightDecayOptimizer's slots
        v[name + "/adam_m"] = rng.standard_normal(v[name].shape).astype("float32")
        v[name + "/adam_v"] = rng.random(v[name].shape).astype("float32")
    v["global_step"] = np.array(STEP, dtype="int64")
    return v, weights


def _dtype_variables(rng):
    """Every supported dtype, spread over two shards by the helper."""
    bf16 = (rng.standard_normal(7).astype("float32").view("uint32") & 0xFFFF0000).view("float32")
    values = OrderedDict(
        f32=rng.standard_normal((3, 4)).astype("float32"),
        f16=rng.standard_normal((5,)).astype("float16"),
        bf16=bf16,
        i32=np.arange(-3, 9, dtype="int32").reshape(3, 4),
        i64=np.array([-(2 ** 40), 0, 2 ** 40], dtype="int64"),
        flags=np.array([True, False, True]),
        scalar=np.array(2.5, dtype="float32"),
        empty=np.zeros((0, 4), dtype="float32"),
        words=np.array(["electra", "tf1"]),
    )
    values["nested/scope/value"] = rng.standard_normal((2, 3)).astype("float32")
    return values, {"bf16": "bfloat16", "words": "string"}


def _save_npz(path, values, dtypes=None):
    arrays = dict(values)
    if dtypes:
        arrays["__dtypes__"] = np.array(json.dumps(dtypes))
    np.savez(path, **arrays)


@pytest.fixture(scope="module")
def tf_checkpoints(tmp_path_factory):
    """Write the checkpoints with TensorFlow once; return their paths and the source values."""
    python = _tf_python()
    root = tmp_path_factory.mktemp("tf1")
    rng = np.random.default_rng(0)
    electra, weights = _electra_variables(rng)
    untied, _ = _electra_variables(np.random.default_rng(1), untied=True)
    dtypes, dtype_map = _dtype_variables(rng)
    _save_npz(root / "electra.npz", electra)
    _save_npz(root / "untied.npz", untied)
    _save_npz(root / "dtypes.npz", dtypes, dtype_map)
    disc_only = {k: v for k, v in electra.items() if k.startswith(("electra/", "discriminator_predictions/"))}
    _save_npz(root / "disc_only.npz", disc_only)
    for sub in ("electra", "untied", "dtypes", "disc_only"):
        (root / sub).mkdir()
    (root / "electra" / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    jobs = [
        ["write", str(root / "electra.npz"), str(root / "electra" / "model.ckpt"), "--step", str(STEP)],
        ["write", str(root / "untied.npz"), str(root / "untied" / "model.ckpt"), "--step", "5"],
        ["write", str(root / "dtypes.npz"), str(root / "dtypes" / "model.ckpt"), "--step", "3", "--shards", "2"],
        ["write", str(root / "disc_only.npz"), str(root / "disc_only" / "electra_small"), "--step", "-1"],
        ["dump", str(root / "electra" / f"model.ckpt-{STEP}"), str(root / "electra_tf.npz")],
        ["dump", str(root / "dtypes" / "model.ckpt-3"), str(root / "dtypes_tf.npz")],
    ]
    (root / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([python, str(HELPER), "batch", str(root / "jobs.json")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, f"TF helper failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return dict(
        root=root,
        electra=root / "electra" / f"model.ckpt-{STEP}",
        untied=root / "untied" / "model.ckpt-5",
        dtypes=root / "dtypes" / "model.ckpt-3",
        disc_only=root / "disc_only" / "electra_small",
        electra_values=electra,
        weights=weights,
        untied_values=untied,
        dtype_values=dtypes,
    )


def _npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _copy_checkpoint(prefix, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for f in Path(prefix).parent.glob(Path(prefix).name + ".*"):
        shutil.copy(f, folder / f.name)
    return folder / Path(prefix).name


def _configs(tmp_path):
    gen, disc = tmp_path / "generator.json", tmp_path / "discriminator.json"
    gen.write_text(json.dumps(GEN), encoding="utf-8")
    disc.write_text(json.dumps(DISC), encoding="utf-8")
    return gen, disc


# ---------------------------------------------------------------- the reader
def test_reader_returns_every_variable_exactly(tf_checkpoints):
    got = read_tf1_checkpoint(str(tf_checkpoints["electra"]), verify_crc=True)
    want = tf_checkpoints["electra_values"]
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name].dtype == value.dtype, name
        assert got[name].shape == value.shape, name
        assert np.array_equal(got[name], value), name


def test_reader_agrees_with_tensorflow(tf_checkpoints):
    for ckpt, dump in (("electra", "electra_tf.npz"), ("dtypes", "dtypes_tf.npz")):
        tf_read = _npz(tf_checkpoints["root"] / dump)
        tf_dtypes = json.loads(str(tf_read.pop("__dtypes__")))
        ours = read_tf1_checkpoint(str(tf_checkpoints[ckpt]))
        assert set(ours) == set(tf_read), ckpt
        for name, value in tf_read.items():
            assert ours[name].shape == value.shape and np.array_equal(ours[name], value), name
        listed = {name: entry.dtype_name for name, entry in list_tf1_checkpoint(str(tf_checkpoints[ckpt])).items()}
        assert listed == tf_dtypes


def test_dtypes_shards_and_non_numeric_entries(tf_checkpoints):
    prefix = str(tf_checkpoints["dtypes"])
    assert sorted(os.listdir(Path(prefix).parent)) == sorted(
        ["checkpoint", "model.ckpt-3.index", "model.ckpt-3.meta",
         "model.ckpt-3.data-00000-of-00002", "model.ckpt-3.data-00001-of-00002"]
    )
    got = read_tf1_checkpoint(prefix, verify_crc=True)
    want = tf_checkpoints["dtype_values"]
    assert "words" not in got  # strings are left out
    assert list_tf1_checkpoint(prefix)["words"].dtype_name == "string"
    expected_dtypes = dict(f32="float32", f16="float16", bf16="float32", i32="int32", i64="int64", flags="bool",
                           scalar="float32", empty="float32")
    expected_dtypes["nested/scope/value"] = "float32"
    assert {k: str(v.dtype) for k, v in got.items()} == expected_dtypes
    for name in expected_dtypes:
        assert got[name].shape == want[name].shape and np.array_equal(got[name], want[name]), name
    assert read_tf1_checkpoint(prefix, names=["f16"]).keys() == {"f16"}
    with pytest.raises(ValueError, match="no variable"):
        read_tf1_checkpoint(prefix, names=["nope"])


def test_the_checkpoint_can_be_named_many_ways(tf_checkpoints, tmp_path):
    prefix = str(tf_checkpoints["electra"])
    folder = str(Path(prefix).parent)
    for way in (prefix, prefix + ".index", prefix + ".meta", prefix + ".data-00000-of-00001", folder):
        assert resolve_tf1_prefix(way) == prefix, way
    # a moved checkpoint whose `checkpoint` file still names the old absolute path
    moved = _copy_checkpoint(prefix, tmp_path / "moved")
    (tmp_path / "moved" / "checkpoint").write_text(
        f'model_checkpoint_path: "/gone/away/model.ckpt-{STEP}"\n', encoding="utf-8")
    assert resolve_tf1_prefix(str(tmp_path / "moved")) == str(moved)
    # no `checkpoint` file: the single *.index is used
    single = _copy_checkpoint(prefix, tmp_path / "single")
    assert resolve_tf1_prefix(str(tmp_path / "single")) == str(single)
    # two checkpoints and no state file: ambiguous
    shutil.copy(str(single) + ".index", tmp_path / "single" / "model.ckpt-2.index")
    with pytest.raises(ValueError, match="several TF checkpoints"):
        resolve_tf1_prefix(str(tmp_path / "single"))
    with pytest.raises(ValueError, match="no TF checkpoint"):
        resolve_tf1_prefix(str(tmp_path / "missing" / "model.ckpt-1"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no TF checkpoint in"):
        read_tf1_checkpoint(str(tmp_path / "empty"))


def test_corrupt_and_truncated_files_are_clear_errors(tf_checkpoints, tmp_path):
    src = str(tf_checkpoints["electra"])
    index = src + ".index"
    data = src + ".data-00000-of-00001"
    raw_index = Path(index).read_bytes()
    raw_data = Path(data).read_bytes()

    def variant(name, index_bytes=raw_index, data_bytes=raw_data):
        prefix = tmp_path / name / "model.ckpt"
        prefix.parent.mkdir()
        Path(str(prefix) + ".index").write_bytes(index_bytes)
        if data_bytes is not None:
            Path(str(prefix) + ".data-00000-of-00001").write_bytes(data_bytes)
        return str(prefix)

    flipped = bytearray(raw_index)
    flipped[40] ^= 0xFF  # inside the first data block: its checksum no longer matches
    with pytest.raises(ValueError, match=r"model\.ckpt\.index is not a valid TF checkpoint index: checksum"):
        read_tf1_checkpoint(variant("flipped_index", bytes(flipped)))
    with pytest.raises(ValueError, match="bad magic number"):
        read_tf1_checkpoint(variant("cut_index", raw_index[:-3]))
    with pytest.raises(ValueError, match="too short"):
        read_tf1_checkpoint(variant("tiny_index", b"\0" * 10))
    with pytest.raises(ValueError, match=r"is truncated: .* needs bytes"):
        read_tf1_checkpoint(variant("cut_data", data_bytes=raw_data[: len(raw_data) // 2]))
    with pytest.raises(ValueError, match=r"missing its data shard .*data-00000-of-00001"):
        read_tf1_checkpoint(variant("no_data", data_bytes=None))
    bad = bytearray(raw_data)
    bad[len(bad) // 3] ^= 0x01
    prefix = variant("bad_data", data_bytes=bytes(bad))
    with pytest.raises(ValueError, match=r"data-00000-of-00001: checksum mismatch for "):
        read_tf1_checkpoint(prefix, verify_crc=True)
    read_tf1_checkpoint(prefix, verify_crc=False)  # only the checksum could tell


def test_format_primitives():
    from paddle_electra.loading.convert import tf1_bundle as tf1

    assert tf1._crc32c_python(b"123456789") == 0xE3069283  # the CRC-32C check value
    fast = tf1._fast_crc32c()
    if fast is not None:
        data = np.random.default_rng(0).bytes(4099)
        assert fast(data) == tf1._crc32c_python(data)
    # snappy: a 3-byte literal, then a 1-byte-offset copy and a 2-byte-offset copy that overlap their output
    assert tf1._snappy_decompress(b"\x0f\x08abc\x15\x03\x0a\x03\x00") == b"abc" * 5
    with pytest.raises(tf1._Corrupt):
        tf1._snappy_decompress(b"\x0f\x08abc\x15\x09")
    # a big-endian bundle's tensors are byte-swapped to native order
    entry = tf1.TF1Entry("x", 1, (2, 2), 0, 0, 16, None, False)
    raw = np.frombuffer(np.arange(4, dtype=">f4").tobytes(), np.uint8)
    got = tf1._decode(raw, np.dtype(np.float32), entry, big_endian=True)
    assert got.dtype == np.float32 and got.dtype.isnative and np.array_equal(got, [[0, 1], [2, 3]])
    bf16 = tf1.TF1Entry("b", 14, (2,), 0, 0, 4, None, False)
    raw = np.frombuffer(np.array([1.5, -2.0], "<f4").view("<u4").astype("<u4") >> 16, np.uint32).astype("<u2")
    assert np.array_equal(tf1._decode(raw.view(np.uint8), np.dtype(np.uint16), bf16, False), [1.5, -2.0])


# ---------------------------------------------------------------- the key table
_LAYER_PARTS = {
    "self_attn.q_proj": "attention/self/query", "self_attn.k_proj": "attention/self/key",
    "self_attn.v_proj": "attention/self/value", "self_attn.out_proj": "attention/output/dense",
    "norm1": "attention/output/LayerNorm", "linear1": "intermediate/dense", "linear2": "output/dense",
    "norm2": "output/LayerNorm",
}


def _tf_name_of(paddle_key, part, untied=False):
    """The TF1 variable a Paddle parameter comes from, spelled out independently of the converter's table."""
    scope = "electra" if part == "discriminator" else "generator"
    emb = "generator" if part == "generator" and untied else "electra"
    if paddle_key == "generator_lm_head_bias":
        return "generator_predictions/output_bias"
    path, leaf = paddle_key.rsplit(".", 1)
    dense_leaf = {"weight": "kernel", "bias": "bias"}[leaf]
    norm_leaf = {"weight": "gamma", "bias": "beta"}[leaf]
    if path == "electra.embeddings.layer_norm":
        return f"{emb}/embeddings/LayerNorm/{norm_leaf}"
    if path.startswith("electra.embeddings."):
        return f"{emb}/embeddings/{path.split('.')[-1]}"
    if path == "electra.embeddings_project":
        return f"{scope}/embeddings_project/{dense_leaf}"
    if path.startswith("electra.encoder.layers."):
        n, sub = path[len("electra.encoder.layers."):].split(".", 1)
        tf_leaf = norm_leaf if sub.startswith("norm") else dense_leaf
        return f"{scope}/encoder/layer_{n}/{_LAYER_PARTS[sub]}/{tf_leaf}"
    return {
        "discriminator_predictions.dense": f"discriminator_predictions/dense/{dense_leaf}",
        "discriminator_predictions.dense_prediction": f"discriminator_predictions/dense_1/{dense_leaf}",
        "generator_predictions.dense": f"generator_predictions/dense/{dense_leaf}",
        "generator_predictions.layer_norm": f"generator_predictions/LayerNorm/{norm_leaf}",
    }[path]


@pytest.mark.parametrize("part", ["discriminator", "generator"])
def test_tf1_to_paddle_maps_every_parameter(tf_checkpoints, part):
    values = tf_checkpoints["electra_values"]
    cls = pe.ElectraDiscriminator if part == "discriminator" else pe.ElectraGenerator
    model = cls(pe.ElectraConfig(**(DISC if part == "discriminator" else GEN)))
    own = model.state_dict()
    out, summary = tf1_to_paddle(values, part)
    assert set(out) == set(own)
    for key, param in own.items():
        assert tuple(out[key].shape) == tuple(param.shape), key
        assert out[key] is values[_tf_name_of(key, part)] or np.array_equal(out[key], values[_tf_name_of(key, part)])
    n = len(tf_checkpoints["weights"])
    other = "generator" if part == "discriminator" else "discriminator"
    n_other = n - len(own)  # the generator's shared electra/embeddings/* are its own, not "discriminator-only"
    assert summary == (f"skipped {2 * n + 1 + n_other} entries: {n} adam_m, {n} adam_v, 1 global_step, "
                       f"{n_other} {other}-only")
    assert "\n" not in summary


def test_untied_generator_embeddings_are_used_when_present(tf_checkpoints):
    values = read_tf1_checkpoint(str(tf_checkpoints["untied"]))
    gen, summary = tf1_to_paddle(values, "generator")
    for key in gen:
        assert np.array_equal(gen[key], values[_tf_name_of(key, "generator", untied=True)]), key
    assert not np.array_equal(gen["electra.embeddings.word_embeddings.weight"],
                              values["electra/embeddings/word_embeddings"])
    disc, disc_summary = tf1_to_paddle(values, "discriminator")
    assert np.array_equal(disc["electra.embeddings.word_embeddings.weight"],
                          values["electra/embeddings/word_embeddings"])
    assert "generator-only" in disc_summary and "discriminator-only" in summary


def test_key_table_is_documented():
    tf_names = [tf for tf, _ in TF1_KEY_TABLE]
    assert "{emb}/embeddings/LayerNorm/{ln}" in tf_names
    assert ("discriminator_predictions/dense_1/{dense}",
            "discriminator_predictions.dense_prediction.{dense}") in TF1_KEY_TABLE
    assert ("generator_predictions/output_bias", "generator_lm_head_bias") in TF1_KEY_TABLE


def test_tf1_to_paddle_refuses_what_is_not_electra(tf_checkpoints):
    with pytest.raises(ValueError, match="neither electra/ nor generator/"):
        tf1_to_paddle({"bert/embeddings/word_embeddings": np.zeros((2, 2)), "global_step": np.array(1)})
    only_disc = {k: v for k, v in tf_checkpoints["electra_values"].items() if not k.startswith("generator")}
    with pytest.raises(ValueError, match="no generator"):
        tf1_to_paddle(only_disc, "generator")
    with pytest.raises(ValueError, match="part must be"):
        tf1_to_paddle(tf_checkpoints["electra_values"], "both")
    # unrelated variables are summarised, unknown ones of the network are kept for the loader to report
    extra = dict(only_disc, temperature=np.array(1.0, "float32"))
    extra["electra/encoder/layer_0/new_thing"] = np.zeros(3, "float32")
    out, summary = tf1_to_paddle(extra, "discriminator")
    assert "electra/encoder/layer_0/new_thing" in out
    assert summary.endswith("1 unrelated (temperature)")


# ---------------------------------------------------------------- conversion
def _hf(kwargs):
    return transformers.ElectraConfig(**kwargs)


def _check_against_hf(model, part, cfg):
    """The converted model computes what HF's torch model computes with the same weights."""
    hf_cls = transformers.ElectraForPreTraining if part == "discriminator" else transformers.ElectraForMaskedLM
    hf_model = hf_cls(_hf(cfg)).eval()
    state = paddle_to_hf({k: v.numpy() for k, v in model.state_dict().items()})
    missing, unexpected = hf_model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    assert not [k for k in missing if "position_ids" not in k and "token_type_ids" not in k] and not unexpected
    ids, types, mask = make_batch(vocab=cfg["vocab_size"])
    with torch.no_grad():
        want = hf_model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                        attention_mask=torch.tensor(mask)).logits.numpy()
    got = model(paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types),
                attention_mask=paddle.to_tensor(mask)).numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= ATOL


def test_convert_writes_loadable_folders(tf_checkpoints, tmp_path):
    gen_cfg, disc_cfg = _configs(tmp_path)
    out = tmp_path / "out"
    lines = []
    written = convert_tf_checkpoint(str(tf_checkpoints["electra"]), str(out), str(gen_cfg), str(disc_cfg),
                                    progress=lines.append)
    assert written == {"generator": str(out / "generator"), "discriminator": str(out / "discriminator")}
    assert sorted(os.listdir(tmp_path)) == ["discriminator.json", "generator.json", "out"]  # no temp folders left
    assert any(line.startswith("generator: skipped ") for line in lines)
    values = tf_checkpoints["electra_values"]
    for part, cls, cfg in (("generator", pe.ElectraGenerator, GEN), ("discriminator", pe.ElectraDiscriminator, DISC)):
        folder = out / part
        assert sorted(os.listdir(folder)) == ["config.json", "model_state.pdparams", "vocab.txt"]
        model, report = cls.from_pretrained(str(folder), output_loading_info=True)
        assert not (report.missing or report.unexpected or report.mismatched)
        assert model.config.hidden_size == cfg["hidden_size"]
        for key, param in model.state_dict().items():
            assert np.array_equal(param.numpy(), values[_tf_name_of(key, part)]), key
        _check_against_hf(model, part, cfg)


def test_convert_one_part_and_config_objects(tf_checkpoints, tmp_path):
    out = tmp_path / "disc_only"
    convert_tf_checkpoint(str(tf_checkpoints["electra"]), str(out), discriminator_config=pe.ElectraConfig(**DISC),
                          parts=["discriminator"], safe_serialization=True, progress=lambda _: None)
    assert sorted(os.listdir(out)) == ["discriminator"]
    assert "model.safetensors" in os.listdir(out / "discriminator")
    pe.ElectraDiscriminator.from_pretrained(str(out / "discriminator"))


def test_convert_configs_next_to_the_checkpoint(tf_checkpoints, tmp_path):
    prefix = _copy_checkpoint(str(tf_checkpoints["untied"]), tmp_path / "release")
    (tmp_path / "release" / "generator.json").write_text(json.dumps(GEN), encoding="utf-8")
    (tmp_path / "release" / "discriminator.json").write_text(json.dumps(DISC), encoding="utf-8")
    convert_tf_checkpoint(str(tmp_path / "release"), str(tmp_path / "out"), progress=lambda _: None)
    gen = pe.ElectraGenerator.from_pretrained(str(tmp_path / "out" / "generator"))
    values = tf_checkpoints["untied_values"]
    assert np.array_equal(gen.electra.embeddings.word_embeddings.weight.numpy(),
                          values["generator/embeddings/word_embeddings"])
    assert (prefix.parent / "generator.json").exists()


def test_discriminator_only_release(tf_checkpoints, tmp_path):
    """HFL-style: no step suffix, only the discriminator, a config with a prefixed name beside it."""
    release = tmp_path / "release"
    _copy_checkpoint(str(tf_checkpoints["disc_only"]), release)
    (release / "small_discriminator_config.json").write_text(json.dumps(DISC), encoding="utf-8")
    written = convert_tf_checkpoint(str(release), str(tmp_path / "out"), progress=lambda _: None)
    assert list(written) == ["discriminator"]
    model = pe.ElectraDiscriminator.from_pretrained(written["discriminator"])
    _check_against_hf(model, "discriminator", DISC)
    with pytest.raises(ValueError, match=r"no generator \(no generator/ variables\)"):
        convert_tf_checkpoint(str(release), str(tmp_path / "out2"), parts=["generator"],
                              generator_config=pe.ElectraConfig(**GEN), progress=lambda _: None)
    assert not (tmp_path / "out2").exists()


def test_convert_failures_leave_nothing_behind(tf_checkpoints, tmp_path):
    gen_cfg, disc_cfg = _configs(tmp_path)
    before = sorted(os.listdir(tmp_path))
    # generator and discriminator configs swapped: shapes do not fit
    with pytest.raises(ValueError, match="does not fit"):
        convert_tf_checkpoint(str(tf_checkpoints["electra"]), str(tmp_path / "out"), str(disc_cfg), str(gen_cfg),
                              progress=lambda _: None)
    # a config with fewer layers than the checkpoint: unused weights
    fewer = tmp_path / "one_layer.json"
    fewer.write_text(json.dumps(dict(DISC, num_hidden_layers=1)), encoding="utf-8")
    with pytest.raises(ValueError, match=r"(?s)config does not fit .*unused checkpoint weights"):
        convert_tf_checkpoint(str(tf_checkpoints["electra"]), str(tmp_path / "out"), str(gen_cfg), str(fewer),
                              progress=lambda _: None)
    with pytest.raises(ValueError, match="no generator config"):
        convert_tf_checkpoint(str(tf_checkpoints["electra"]), str(tmp_path / "out"), None, str(disc_cfg))
    assert sorted(os.listdir(tmp_path)) == sorted(before + ["one_layer.json"])


def test_convert_refuses_a_non_empty_out_dir_unless_overwrite(tf_checkpoints, tmp_path):
    gen_cfg, disc_cfg = _configs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        convert_tf_checkpoint(str(tf_checkpoints["electra"]), str(out), str(gen_cfg), str(disc_cfg))
    assert os.listdir(out) == ["keep.txt"]
    convert_tf_checkpoint(str(tf_checkpoints["electra"]), str(out), str(gen_cfg), str(disc_cfg), overwrite=True,
                          progress=lambda _: None)
    assert sorted(os.listdir(out)) == ["discriminator", "generator"]
    assert sorted(os.listdir(tmp_path)) == ["discriminator.json", "generator.json", "out"]


def test_cli(tf_checkpoints, tmp_path):
    gen_cfg, disc_cfg = _configs(tmp_path)
    out = tmp_path / "cli_out"
    cmd = [sys.executable, str(CLI), "--tf-checkpoint", str(Path(tf_checkpoints["electra"]).parent), "--out", str(out),
           "--generator-config", str(gen_cfg), "--discriminator-config", str(disc_cfg)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == ["discriminator", "generator"]
    assert "discriminator: skipped" in proc.stdout and "ElectraGenerator.from_pretrained" in proc.stdout
    pe.ElectraGenerator.from_pretrained(str(out / "generator"))

    bad = subprocess.run([sys.executable, str(CLI), "--tf-checkpoint", str(tmp_path / "nope" / "model.ckpt-1"),
                          "--out", str(tmp_path / "x"), "--generator-config", str(gen_cfg),
                          "--discriminator-config", str(disc_cfg)], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert "error: no TF checkpoint at" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()

    listing = subprocess.run([sys.executable, str(CLI), "--tf-checkpoint", str(tf_checkpoints["electra"]), "--list"],
                             capture_output=True, text=True, timeout=300)
    assert listing.returncode == 0
    assert "electra/embeddings/word_embeddings\tfloat32\t[99, 16]" in listing.stdout
