"""Property-based fuzzing of the weight readers and the config parser (hypothesis, bounded in time).

For any mutation of a genuine file (truncation, flipped bytes, inserted or
overwritten runs), a reader either loads it correctly or raises a
``ValueError``-family error: never another exception, never a write outside
the file's folder, never more than a bounded allocation.
"""

import collections
import io
import json
import os
import tracemalloc

import numpy as np
import paddle
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import paddle_electra as pe
from paddle_electra.loading.convert.readers import read_state_dict

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])
ALLOC_LIMIT = 64 << 20  # seeds are a few kB: any load of a mutation stays far below this


def _seed_state():
    rng = np.random.RandomState(0)
    return collections.OrderedDict(
        [("electra.embeddings.word_embeddings.weight", rng.randn(12, 4).astype("float32")),
         ("electra.encoder.layers.0.linear1.bias", rng.randn(6).astype("float32")),
         ("step", np.array([3], dtype="int64"))])


def _seeds():
    """Genuine files in every pickle / container format the readers accept."""
    state = _seed_state()
    out = {}
    for proto in (2, 4):
        buf = io.BytesIO()
        paddle.save({k: paddle.to_tensor(v) for k, v in state.items()}, buf, protocol=proto)
        out[f"p{proto}.pdparams"] = buf.getvalue()
    for fmt in ("zip", "legacy"):
        buf = io.BytesIO()
        torch.save({k: torch.from_numpy(v) for k, v in state.items()}, buf,
                   _use_new_zipfile_serialization=(fmt == "zip"))
        out[f"{fmt}.bin"] = buf.getvalue()
    from safetensors.numpy import save

    out["w.safetensors"] = save(dict(state), metadata={"format": "np"})
    import h5py  # a Keras-layout tf_model.h5 as transformers 4.x's TF classes write it

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["layer_names"] = np.array([b"electra"])
        group = f.create_group("electra")
        names = [f"tf_electra_model/{k.replace('.', '/')}:0" for k in state]  # read back as the same keys
        group.attrs["weight_names"] = np.array([n.encode() for n in names])
        for name, value in zip(names, state.values()):
            group.create_dataset(name, data=value)
    out["tf_model.h5"] = buf.getvalue()
    return out


SEEDS = _seeds()


@st.composite
def mutated(draw, seed):
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "overwrite"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "truncate":
            del data[pos:]
        elif kind == "flip":
            if data:
                data[pos] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[pos:pos + len(chunk)] = chunk
    return bytes(data)


def _check_one_load(folder, name, data):
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(data)
    before = sorted(os.listdir(folder))
    tracemalloc.start()
    try:
        state = read_state_dict(path)
    except ValueError:  # the one allowed failure (UnsafeCheckpointError etc. are ValueErrors)
        state = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < ALLOC_LIMIT, f"{name}: a {len(data)}-byte file made the reader allocate {peak} bytes"
    assert sorted(os.listdir(folder)) == before, "the reader wrote into the folder"
    if state is not None:
        assert isinstance(state, dict) and all(isinstance(v, np.ndarray) for v in state.values())


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_mutated_weight_files_load_or_fail_cleanly(name, tmp_path):
    @SETTINGS
    @given(data=mutated(SEEDS[name]))
    def run(data):
        _check_one_load(str(tmp_path), name, data)

    run()


def test_seed_files_themselves_load_correctly(tmp_path):
    for name, data in SEEDS.items():
        (tmp_path / name).write_bytes(data)
        got = read_state_dict(str(tmp_path / name))
        for key, want in _seed_state().items():
            np.testing.assert_array_equal(got[key], want)


# ---------------------------------------------------------------- config parser
_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
_JSON = st.recursive(_JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                     max_leaves=12)
_FIELDS = ["vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
           "intermediate_size", "hidden_act", "hidden_dropout_prob", "max_position_embeddings",
           "type_vocab_size", "layer_norm_eps", "initializer_range", "num_labels", "id2label", "label2id",
           "architectures", "pad_token_id", "classifier_dropout", "problem_type", "init_args", "init_class"]


@SETTINGS
@given(overrides=st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=5))
def test_config_dicts_parse_or_fail_cleanly(overrides):
    base = json.loads(pe.ElectraConfig().to_json_string())
    base.update(overrides)
    try:
        config = pe.ElectraConfig.from_dict(base)
    except ValueError:
        return
    # what parsed is a sane, re-serialisable config
    assert config.vocab_size > 0 and config.hidden_size % config.num_attention_heads == 0
    assert np.isfinite(config.layer_norm_eps) and np.isfinite(config.initializer_range)
    pe.ElectraConfig.from_dict(json.loads(config.to_json_string()))


@SETTINGS
@given(text=st.one_of(st.text(max_size=200), st.builds(lambda d: "[" * d + "]" * d, st.integers(1, 100000))))
def test_config_files_parse_or_fail_cleanly(text, tmp_path):
    (tmp_path / "config.json").write_text(text, encoding="utf-8")
    try:
        pe.ElectraConfig.from_pretrained(str(tmp_path))
    except ValueError as exc:
        assert "config.json" in str(exc)
