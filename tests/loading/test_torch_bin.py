"""Tests for paddle_electra.loading.convert.torch_bin (torch is only used to make fixtures)."""

import collections
import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

import paddle_electra
from paddle_electra.loading.convert.torch_bin import UnsafeCheckpointError, load_torch_bin

FORMATS = ["zip", "legacy"]


def _save(obj, path, fmt):
    torch.save(obj, path, _use_new_zipfile_serialization=(fmt == "zip"))
    return path


def _state_dict():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 5, generator=g)
    return collections.OrderedDict(
        [
            ("w", w),
            ("w_t", w.t()),  # non-contiguous view
            ("w_slice", w[2:, 1:]),  # storage offset + non-contiguous
            ("tied", w),  # second key on the same storage
            ("half", torch.randn(3, 2, generator=g).half()),
            ("bf16", torch.tensor([1.0, -2.5, 3.14159, 1e30, float("inf"), 1e-38]).bfloat16()),
            ("position_ids", torch.arange(7).expand((1, -1))),  # int64, stride 0 (HF buffer)
            ("mask", torch.tensor([True, False, True])),
            ("scalar", torch.tensor(3.5)),
            ("param", torch.nn.Parameter(torch.randn(3, generator=g))),
            ("empty", torch.zeros(0, 4)),
            ("int8", torch.tensor([-128, 0, 127], dtype=torch.int8)),
            ("double", torch.randn(2, generator=g, dtype=torch.float64)),
        ]
    )


def _expected(t):
    t = t.detach()
    return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()


def _assert_matches_torch(path, got):
    ref = torch.load(path, weights_only=True)
    assert list(got) == list(ref)
    for key, tensor in ref.items():
        want = _expected(tensor)
        assert got[key].dtype == want.dtype, key
        assert got[key].shape == want.shape, key
        assert np.array_equal(got[key], want), key
        assert got[key].flags["C_CONTIGUOUS"] and got[key].flags["OWNDATA"], key


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_matches_torch_load(tmp_path, fmt):
    path = _save(_state_dict(), tmp_path / "pytorch_model.bin", fmt)
    got = load_torch_bin(path)
    _assert_matches_torch(path, got)
    assert got["bf16"].dtype == np.float32 and got["half"].dtype == np.float16
    assert got["scalar"].shape == () and got["empty"].shape == (0, 4)
    # Tied keys must not alias each other once loaded.
    got["tied"][0, 0] += 1
    assert got["w"][0, 0] != got["tied"][0, 0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_module_state_dict_with_metadata(tmp_path, fmt):
    # nn.Module.state_dict() carries a `_metadata` attribute (pickled via BUILD).
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    path = _save(module.state_dict(), tmp_path / "m.bin", fmt)
    _assert_matches_torch(path, load_torch_bin(path))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("nest", ["state_dict", "model"])
def test_nested_state_dict(tmp_path, fmt, nest):
    sd = {"a": torch.ones(2), "b": torch.arange(3)}
    path = _save({nest: sd, "epoch": 3, "optimizer": {}}, tmp_path / "ckpt.bin", fmt)
    got = load_torch_bin(path)
    assert sorted(got) == ["a", "b"] and np.array_equal(got["b"], np.arange(3))


@pytest.mark.parametrize("fmt", FORMATS)
def test_non_tensor_value_names_key(tmp_path, fmt):
    path = _save({"a": torch.ones(2), "global_step": 3}, tmp_path / "x.bin", fmt)
    with pytest.raises(ValueError, match="global_step"):
        load_torch_bin(path)


def _rewrite_zip(src, dst, rename=None, edit=None):
    """Copy a torch zip, renaming the archive prefix and/or editing records."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            rel = name.split("/", 1)[1]
            if edit is not None:
                data = edit(rel, data)
            zout.writestr(f"{rename or name.split('/')[0]}/{rel}", data)
    return dst


def test_any_archive_prefix(tmp_path):
    src = _save(_state_dict(), tmp_path / "a.bin", "zip")
    dst = _rewrite_zip(src, tmp_path / "b.bin", rename="some_other_name")
    _assert_matches_torch(dst, load_torch_bin(dst))


def test_big_endian_byteorder_record(tmp_path):
    w = torch.randn(3, 4)
    src = _save({"w": w}, tmp_path / "a.bin", "zip")

    def to_big(rel, data):
        if rel == "byteorder":
            return b"big"
        if rel.startswith("data/"):
            return np.frombuffer(data, "<f4").astype(">f4").tobytes()
        return data

    got = load_torch_bin(_rewrite_zip(src, tmp_path / "b.bin", edit=to_big))
    assert got["w"].dtype == np.float32 and np.array_equal(got["w"], w.numpy())


def test_never_imports_torch(tmp_path):
    path = _save(_state_dict(), tmp_path / "p.bin", "legacy")
    root = os.path.dirname(os.path.dirname(os.path.abspath(paddle_electra.__path__[0])))
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any `import torch` now fails
        "from paddle_electra.loading.convert.torch_bin import load_torch_bin\n"
        f"sd = load_torch_bin({str(path)!r}); assert sd['w'].shape == (4, 5)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# --- malicious pickles -------------------------------------------------------


class _Evil:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def _payloads(sentinel):
    """(pickle bytes, name of the global the loader must refuse)."""
    s = str(sentinel)
    return {
        "os.system": (f"cos\nsystem\n(S'touch {s}'\ntR.".encode(), "os.system"),
        "builtins.exec": (f"cbuiltins\nexec\n(S'open({s!r}, \"w\").close()'\ntR.".encode(), "builtins.exec"),
        "__builtin__.eval": (f"c__builtin__\neval\n(S'open({s!r}, \"w\").close()'\ntR.".encode(), "__builtin__.eval"),
        # Real __reduce__: os.system pickles as posix.system on Linux.
        "reduce-proto2": (pickle.dumps({"w": _Evil(s)}, protocol=2), os.system.__module__ + ".system"),
        "reduce-proto4": (pickle.dumps({"w": _Evil(s)}, protocol=4), os.system.__module__ + ".system"),
    }


def _write_zip_ckpt(path, data_pkl):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")


def _write_legacy_ckpt(path, main_pickle):
    buf = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(header, buf, protocol=2)
    buf.write(main_pickle)
    pickle.dump([], buf, protocol=2)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["os.system", "builtins.exec", "__builtin__.eval", "reduce-proto2", "reduce-proto4"])
def test_malicious_pickle_refused(tmp_path, fmt, kind):
    sentinel = tmp_path / "pwned"
    payload, global_name = _payloads(sentinel)[kind]
    path = tmp_path / "pytorch_model.bin"
    (_write_zip_ckpt if fmt == "zip" else _write_legacy_ckpt)(path, payload)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_torch_bin(path)
    assert repr(global_name) in str(info.value) and str(path) in str(info.value)
    assert not sentinel.exists()


def test_malicious_global_after_real_tensor(tmp_path):
    # A genuine checkpoint whose pickle gains an extra os.system entry.
    sentinel = tmp_path / "pwned"
    src = _save({"w": torch.ones(2), "v": torch.zeros(2)}, tmp_path / "a.bin", "zip")
    evil = pickle.dumps(_Evil(sentinel), protocol=2)[2:-1]  # strip PROTO and STOP

    def inject(rel, data):
        # data.pkl ends with "... SETITEMS(u) STOP(.)": insert one more key/value.
        return data[:-2] + b"X\x01\x00\x00\x00x" + evil + data[-2:] if rel == "data.pkl" else data

    dst = _rewrite_zip(src, tmp_path / "b.bin", edit=inject)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load_torch_bin(dst)
    assert not sentinel.exists()


class _FakeStorage:
    pass


def test_out_of_bounds_geometry_refused(tmp_path):
    # A tensor claiming 100 elements of a 4-element storage must not read
    # past the buffer (as_strided does no bounds checks of its own).
    class Tensorish:
        def __reduce__(self):
            args = (_FakeStorage(), 0, (100,), (1,), False, collections.OrderedDict())
            return (torch._utils._rebuild_tensor_v2, args)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                return ("storage", torch.FloatStorage, "0", "cpu", 4)
            return None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"w": Tensorish()})
    path = tmp_path / "oob.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/data/0", np.ones(4, np.float32).tobytes())
    with pytest.raises(ValueError, match="element 99"):
        load_torch_bin(path)


# --- corrupt / wrong files ---------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.95])
def test_truncated_file(tmp_path, fmt, fraction):
    data = _save(_state_dict(), tmp_path / "full.bin", fmt).read_bytes()
    path = tmp_path / "cut.bin"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match="cut.bin"):
        load_torch_bin(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage", b"\x80\x02K\x01."])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "junk.bin"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="junk.bin"):
        load_torch_bin(path)


def test_corrupted_storage_crc(tmp_path):
    data = bytearray(_save({"w": torch.randn(64)}, tmp_path / "a.bin", "zip").read_bytes())
    with zipfile.ZipFile(tmp_path / "a.bin") as zf:
        info = zf.getinfo("a/data/0")
    # Local header: 30 fixed bytes, then name and extra field (lengths at 26..30).
    name_len, extra_len = np.frombuffer(bytes(data[info.header_offset + 26 : info.header_offset + 30]), "<u2")
    data[info.header_offset + 30 + int(name_len) + int(extra_len) + 8] ^= 0xFF  # flip a data byte
    path = tmp_path / "crc.bin"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="crc.bin"):
        load_torch_bin(path)


@pytest.mark.parametrize("which", ["missing", "directory"])
def test_not_a_file(tmp_path, which):
    path = tmp_path / "nope.bin" if which == "missing" else tmp_path
    with pytest.raises(ValueError, match="not a file"):
        load_torch_bin(path)
