"""Loading files from strangers: no code runs, no shared state is poisoned, no small file allocates gigabytes.

Each test here is an attack that worked before paddle_electra.loading.safety existed
(issue 10): a ``.pdparams`` whose pickle calls ``os.system`` (through
``from_pretrained``, the CLI, ``--resume`` and a mirror download), a
``pytorch_model.bin`` that rewires a shared storage class, memo / stride-0 /
deflate bombs, and configs far larger than their weights.
"""

import io
import json
import os
import pickle
import pickletools
import struct
import subprocess
import sys
import time
import zipfile

import numpy as np
import paddle
import pytest
import torch

import paddle_electra as pe
from paddle_electra.loading import registry
from paddle_electra.model import limits
from paddle_electra.loading.convert.torch_bin import load_torch_bin
from paddle_electra.loading.safety import (
    CheckpointTooLargeError,
    ModelTooLargeError,
    UnsafeCheckpointError,
    estimate_num_parameters,
    load_paddle_pickle,
)
from paddle_electra.apps.train.checkpoint import load_checkpoint, save_checkpoint
from conftest import TINY, make_batch
from hub_server import HubServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Evil:
    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def _evil_pickle(sentinel, protocol=2):
    return pickle.dumps({"embeddings.word_embeddings.weight": _Evil(sentinel)}, protocol=protocol)


def _tiny_folder(path, safe=False):
    model = pe.ElectraModel(pe.ElectraConfig(**TINY))
    model.save_pretrained(str(path), safe_serialization=safe)
    return model


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "paddle_electra", *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT, **(env or {})), timeout=120)


# ---------------------------------------------------------------- code execution
@pytest.mark.parametrize("protocol", [2, 4])
def test_pdparams_that_calls_os_system_is_refused_by_from_pretrained(tmp_path, protocol):
    sentinel = tmp_path / "pwned"
    _tiny_folder(tmp_path / "m")
    (tmp_path / "m" / "model_state.pdparams").write_bytes(_evil_pickle(sentinel, protocol))
    with pytest.raises(UnsafeCheckpointError, match=r"global 'posix.system'.*may try to run code") as info:
        pe.ElectraModel.from_pretrained(str(tmp_path / "m"))
    assert "model_state.pdparams" in str(info.value)
    assert not sentinel.exists()


def test_pdparams_that_calls_os_system_is_refused_by_the_cli(tmp_path):
    sentinel = tmp_path / "pwned"
    _tiny_folder(tmp_path / "m")
    (tmp_path / "m" / "model_state.pdparams").write_bytes(_evil_pickle(sentinel))
    res = _cli("detect", "--model", str(tmp_path / "m"), "一二三")
    assert res.returncode == 2, res.stderr
    assert "posix.system" in res.stderr and "Traceback" not in res.stderr
    assert not sentinel.exists()


def test_resume_from_a_poisoned_checkpoint_runs_nothing(tmp_path):
    sentinel = tmp_path / "pwned"
    model = pe.ElectraModel(pe.ElectraConfig(**TINY))
    opt = paddle.optimizer.AdamW(parameters=model.parameters())
    folder = save_checkpoint(str(tmp_path / "ckpt"), 3, model, opt, {"seed": 0})
    for name in ("model.pdparams", "optimizer.pdopt"):
        good = open(os.path.join(folder, name), "rb").read()
        with open(os.path.join(folder, name), "wb") as f:
            f.write(_evil_pickle(sentinel))
        with pytest.raises(UnsafeCheckpointError, match="posix.system"):
            load_checkpoint(folder, model, opt)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(good)
    assert load_checkpoint(folder, model, opt)["step"] == 3  # the genuine files still load
    assert not sentinel.exists()


def test_name_from_a_mirror_serving_a_poisoned_pdparams(tmp_path, monkeypatch):
    sentinel = tmp_path / "pwned"
    cfg = {k: v for k, v in TINY.items() if k not in ("num_labels", "num_choices")}
    url_dir = "/paddlenlp/models/transformers/evil"
    entry = {"name": "evil-mirror-model", "architecture": "ElectraModel", "language": "en", "domain": "test",
             "source": "bcebos", "hf_repo": None, "config": cfg,
             "tokenizer": {"do_lower_case": True, "model_max_length": 64},
             "files": [{"role": "weights", "filename": "model_state.pdparams",
                        "url": f"https://bj.bcebos.com{url_dir}/evil.pdparams"}]}
    table = tmp_path / "table"
    table.mkdir()
    (table / "evil-mirror-model.json").write_text(json.dumps(entry))
    monkeypatch.setattr(registry, "_CANDIDATE_DIRS", (str(table),))
    registry._table.cache_clear()
    server = HubServer()
    server.add_file(f"{url_dir}/evil.pdparams", _evil_pickle(sentinel))
    monkeypatch.setenv("PADDLE_ELECTRA_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PADDLE_ELECTRA_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("PADDLE_ELECTRA_OFFLINE", raising=False)
    try:
        with server:
            monkeypatch.setenv("PADDLE_ELECTRA_MIRROR", server.url)
            with pytest.raises(UnsafeCheckpointError, match="posix.system"):
                pe.ElectraModel.from_pretrained("evil-mirror-model")
    finally:
        registry._table.cache_clear()
    assert not sentinel.exists()


def test_an_unsafe_pickle_never_shadows_safetensors(tmp_path):
    sentinel = tmp_path / "pwned"
    model = _tiny_folder(tmp_path / "m", safe=True)
    (tmp_path / "m" / "model_state.pdparams").write_bytes(_evil_pickle(sentinel))
    loaded = pe.ElectraModel.from_pretrained(str(tmp_path / "m"))
    ids = paddle.to_tensor(make_batch()[0])
    np.testing.assert_array_equal(loaded(ids).numpy(), model.eval()(ids).numpy())
    assert not sentinel.exists()


# ---------------------------------------------------------------- real files still load
@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_files_written_by_paddle_load_exactly_as_paddle_load_does(tmp_path, protocol):
    model = pe.ElectraDiscriminator(pe.ElectraConfig(**TINY))
    opt = paddle.optimizer.AdamW(parameters=model.parameters(),
                                 learning_rate=paddle.optimizer.lr.LinearWarmup(1e-3, 5, 0.0, 1e-3))
    model(paddle.to_tensor(make_batch()[0])).sum().backward()
    opt.step()
    objects = {"model.pdparams": model.state_dict(), "opt.pdopt": opt.state_dict(),
               "bf16.pdparams": {"w": paddle.ones([2, 3], dtype="bfloat16")},
               "list.pd": [paddle.ones([2]), {"x": paddle.zeros([1], dtype="int64"), "n": 3, "s": "t"}]}
    for name, obj in objects.items():
        path = str(tmp_path / name)
        paddle.save(obj, path, protocol=protocol)
        ours, theirs = load_paddle_pickle(path), paddle.load(path, return_numpy=True)
        _assert_same_tree(ours, theirs)


def _assert_same_tree(ours, theirs):
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for key in theirs:
            _assert_same_tree(ours[key], theirs[key])
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _assert_same_tree(a, b)
    elif isinstance(theirs, np.ndarray):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape and ours.flags.writeable
        np.testing.assert_array_equal(ours, theirs)
    else:
        assert ours == theirs


def test_bfloat16_pdparams_load_into_a_float32_model(tmp_path):
    model = _tiny_folder(tmp_path / "m")
    state = {k: paddle.cast(v, "bfloat16") for k, v in model.state_dict().items()}
    paddle.save(state, str(tmp_path / "m" / "model_state.pdparams"))
    loaded = pe.ElectraModel.from_pretrained(str(tmp_path / "m"))
    for key, value in state.items():
        np.testing.assert_array_equal(loaded.state_dict()[key].numpy(), paddle.cast(value, "float32").numpy())


# ---------------------------------------------------------------- poisoning shared state
def _legit_bin(path):
    torch.save({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, path)
    return path


@pytest.mark.parametrize("target", ["torch\nFloatStorage", "torch._utils\n_rebuild_tensor_v2",
                                    "collections\nOrderedDict"])
@pytest.mark.parametrize("form", ["dict", "slots"])
def test_bin_build_onto_a_shared_global_cannot_change_later_loads(tmp_path, target, form):
    state = b"}X\x04\x00\x00\x00bf16\x88s" if form == "dict" else b"N}X\x04\x00\x00\x00bf16\x88s\x86"
    poison = b"\x80\x02c" + target.encode() + b"\n" + state + b"b."
    path = tmp_path / "poison.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", poison)
    with pytest.raises(ValueError):
        load_torch_bin(path)
    got = load_torch_bin(_legit_bin(tmp_path / "ok.bin"))
    np.testing.assert_array_equal(got["w"], np.arange(6, dtype=np.float32).reshape(2, 3))


@pytest.mark.parametrize("target", ["numpy\ndtype", "numpy._core.multiarray\n_reconstruct", "numpy\nndarray"])
def test_pdparams_build_onto_a_shared_global_is_refused(tmp_path, target):
    path = tmp_path / "poison.pdparams"
    path.write_bytes(b"\x80\x02c" + target.encode() + b"\nN}X\x01\x00\x00\x00x\x88s\x86b.")
    with pytest.raises(UnsafeCheckpointError):
        load_paddle_pickle(str(path))


def test_pdparams_object_arrays_and_size_lies_are_refused(tmp_path):
    good = pickle.dumps({"w": np.ones(4, np.float32)}, protocol=2)
    obj = pickle.dumps({"w": np.array([1, "x"], dtype=object)}, protocol=2)
    (tmp_path / "obj.pdparams").write_bytes(obj)
    with pytest.raises(UnsafeCheckpointError, match="dtype"):
        load_paddle_pickle(str(tmp_path / "obj.pdparams"))
    # the shape tuple (4,) rewritten to (4000000,): 16 MB declared, 16 bytes carried
    lie = good.replace(b"K\x04\x85", b"J\x00\x09\x3d\x00\x85", 1)
    assert lie != good
    (tmp_path / "lie.pdparams").write_bytes(lie)
    with pytest.raises(CheckpointTooLargeError, match="carries 16 bytes"):
        load_paddle_pickle(str(tmp_path / "lie.pdparams"))


def test_pdparams_one_array_referenced_a_thousand_times_is_refused(tmp_path):
    # 1 MB of array data, then a list of 1000 memo references to it: 1 GB if each became a copy
    head = pickle.dumps(np.zeros(1 << 18, np.float32), protocol=4)[:-1]  # the array stays on the stack
    index = sum(1 for op, _, _ in pickletools.genops(head + b".") if op.name == "MEMOIZE")
    refs = (b"j" + struct.pack("<I", index)) * 1000  # LONG_BINGET of the MEMOIZE below
    path = tmp_path / "amp.pdparams"
    path.write_bytes(head + b"\x94" + b"](" + refs + b"e.")
    assert path.stat().st_size < 1.1 * (1 << 20)
    with pytest.raises(CheckpointTooLargeError, match="more array data than the file holds"):
        load_paddle_pickle(str(path))


# ---------------------------------------------------------------- small files, huge allocations
@pytest.mark.parametrize("suffix", ["pdparams", "bin-legacy"])
def test_memo_bomb_is_refused_before_the_unpickler_allocates(tmp_path, suffix):
    bomb = b"\x80\x04N" + b"r" + struct.pack("<I", 0x7FFFFFF0) + b"."  # LONG_BINPUT 2**31 - 16
    path = tmp_path / ("model_state.pdparams" if suffix == "pdparams" else "pytorch_model.bin")
    path.write_bytes(bomb)
    start = time.perf_counter()
    with pytest.raises(CheckpointTooLargeError, match="memo entry"):
        (load_paddle_pickle if suffix == "pdparams" else load_torch_bin)(str(path))
    assert time.perf_counter() - start < 2


def _bin_with_tensor(path, size, stride, storage_bytes, compress=False):
    class Storage:
        pass

    class Tensorish:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, (Storage(), 0, size, stride, False, {}))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", torch.FloatStorage, "0", "cpu", len(storage_bytes) // 4)
            return None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"w": Tensorish()})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/data/0", storage_bytes,
                    compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
    return path


def test_stride0_tensor_of_gigabytes_is_refused(tmp_path):
    path = _bin_with_tensor(tmp_path / "s0.bin", (25000, 25000), (0, 0), np.ones(1, np.float32).tobytes())
    assert path.stat().st_size < 1000
    with pytest.raises(CheckpointTooLargeError, match="views a storage of only 1 elements"):
        load_torch_bin(path)


def test_deflate_bomb_is_refused_before_inflating(tmp_path):
    zeros = bytes(64 << 20)  # 64 MB that deflate to ~64 KB
    path = _bin_with_tensor(tmp_path / "bomb.bin", (len(zeros) // 4,), (1,), zeros, compress=True)
    assert path.stat().st_size < (1 << 20)
    with pytest.raises(CheckpointTooLargeError, match="zip bomb"):
        load_torch_bin(path)


def _forge_stored_size(data: bytes, record: str, size: int) -> bytes:
    """``data`` (a zip) with ``record``'s compressed size in the central directory set to ``size``."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", out, at + 28)[0]
        if out[at + 46:at + 46 + name_len].decode() == record:
            struct.pack_into("<I", out, at + 20, size)
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


@pytest.mark.parametrize("record", ["archive/data.pkl", "archive/byteorder", "archive/data/0"])
def test_a_forged_stored_size_is_refused_before_any_read(tmp_path, record):
    # zipfile reads a stored record with one read of its declared size, and Python allocates that
    # much first: a 2 kB file claiming 1 GB would cost 1 GB (found by the fuzz test at 64 MB)
    import tracemalloc

    buf = io.BytesIO()
    torch.save({"w": torch.ones(12, 4)}, buf)
    path = tmp_path / "forged.bin"
    path.write_bytes(_forge_stored_size(buf.getvalue(), record, 1 << 30))
    assert path.stat().st_size < 4096
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"{record} claims 1073741824 stored bytes, more than the"):
            load_torch_bin(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak
    (tmp_path / "ok.bin").write_bytes(buf.getvalue())  # the file as torch wrote it loads
    np.testing.assert_array_equal(load_torch_bin(tmp_path / "ok.bin")["w"], np.ones((12, 4)))


def test_legacy_storage_view_with_a_negative_offset_is_refused(tmp_path):
    class Storage:
        pass

    class Tensorish:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, (Storage(), 0, (2,), (1,), False, {}))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):  # a view starting 2 elements before its root storage
                return ("storage", torch.FloatStorage, "0", "cpu", 4, ("1", -2, 2))
            return None

    buf = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(header, buf, protocol=2)
    Pickler(buf, protocol=2).dump({"w": Tensorish()})
    pickle.dump(["0"], buf, protocol=2)
    buf.write(struct.pack("<q", 4) + np.arange(4, dtype=np.float32).tobytes())
    path = tmp_path / "neg.bin"
    path.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="invalid storage window offset=-2"):
        load_torch_bin(path)


def test_config_far_larger_than_its_weights_is_refused_before_allocating(tmp_path):
    _tiny_folder(tmp_path / "m", safe=True)
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg.update(vocab_size=1_000_000, embedding_size=1024)  # ~1e9 parameters: 4 GB of float32
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    assert estimate_num_parameters(pe.ElectraConfig.from_pretrained(str(tmp_path / "m"))) > 10 ** 9
    # in a fresh process, so its peak memory is this load's alone
    code = ("import resource, paddle_electra as pe\n"
            "try:\n"
            f"    pe.ElectraModel.from_pretrained({str(tmp_path / 'm')!r})\n"
            "except pe.safety.ModelTooLargeError as e:\n"
            "    print('REFUSED', e)\n"
            # VmHWM is this program's own peak; ru_maxrss also counts the pytest process it was forked
            # from (Linux keeps it across exec), which a long test session grows past the bound
            "try:\n"
            "    peak = [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')][0]\n"
            "except OSError:\n"
            "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "print('PEAK_MB', peak // 1024)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert "REFUSED" in res.stdout and "model.safetensors" in res.stdout, res.stdout + res.stderr
    peak = int(res.stdout.split("PEAK_MB")[1])
    assert peak < 1500, f"peak RSS {peak} MB: the embedding was allocated before the check"


def test_huge_model_from_config_alone_is_refused_at_once(monkeypatch):
    start = time.perf_counter()
    with pytest.raises(ValueError):
        pe.ElectraModel(pe.ElectraConfig(**dict(TINY, num_hidden_layers=1_000_000)))
    # under the config's own caps, but 16 GB of float32 on a machine said to have 8
    monkeypatch.setattr(limits, "_physical_memory", lambda: 8 << 30)
    with pytest.raises(ModelTooLargeError, match=r"more than this machine's 8.0 GiB of memory"):
        pe.ElectraModel(pe.ElectraConfig(**dict(TINY, vocab_size=1_000_000, embedding_size=4096)))
    assert time.perf_counter() - start < 5


def test_safetensors_int_weights_for_a_float_parameter_are_refused(tmp_path):
    from safetensors.numpy import load_file, save_file

    _tiny_folder(tmp_path / "m", safe=True)
    path = str(tmp_path / "m" / "model.safetensors")
    state = load_file(path)
    key = "embeddings.word_embeddings.weight"
    state[key] = state[key].view(np.int32)
    save_file(state, path, metadata={"format": "np"})
    with pytest.raises(ValueError, match=r"word_embeddings.weight is stored as int32.*float32"):
        pe.ElectraModel.from_pretrained(str(tmp_path / "m"))


# ---------------------------------------------------------------- JSON nested too deeply
DEEP = "[" * 100000  # json recurses once per level: a RecursionError (not a ValueError) naming no file


def _tokenizer_folder(tmp_path, name):
    import shutil

    from paddle_electra.loading import hub

    folder = tmp_path / "tok"
    shutil.copytree(os.path.join(hub.EMBEDDED_DIR, "electra-zh-peoples-daily-small-generator"), folder)
    (folder / name).write_text(DEEP, encoding="utf-8")
    return folder


@pytest.mark.parametrize("name", ["tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"])
def test_deeply_nested_tokenizer_files_are_clear_errors(tmp_path, name):
    folder = _tokenizer_folder(tmp_path, name)
    with pytest.raises(ValueError, match=rf"{name} is not valid JSON: nested too deeply"):
        pe.ElectraTokenizer.from_pretrained(str(folder))


def test_deeply_nested_checkpoint_recipe_manifest_and_download_are_clear_errors(tmp_path):
    from paddle_electra.apps.train.checkpoint import read_state
    from paddle_electra.apps.train.pretrain_cli import read_recipe
    from paddle_electra.inference.export.manifest import ExportError, read_manifest
    from paddle_electra.loading.fetch import validate_download

    ckpt = tmp_path / "step-00000010"
    ckpt.mkdir()
    (ckpt / "trainer_state.json").write_text(DEEP, encoding="utf-8")
    with pytest.raises(ValueError, match=r"trainer_state\.json is not valid JSON: nested too deeply"):
        read_state(str(ckpt))
    export = tmp_path / "export"
    export.mkdir()
    (export / "manifest.json").write_text(DEEP, encoding="utf-8")
    with pytest.raises(ExportError, match=r"manifest\.json is not valid JSON: nested too deeply"):
        read_manifest(str(export))
    recipe = tmp_path / "recipe.json"
    recipe.write_text(DEEP, encoding="utf-8")
    with pytest.raises(ValueError, match=r"recipe\.json is not valid JSON: nested too deeply"):
        read_recipe(str(recipe))
    config = tmp_path / "config.json"
    config.write_text(DEEP, encoding="utf-8")
    with pytest.raises(pe.DownloadError, match="does not parse as JSON"):
        validate_download(str(config), size=config.stat().st_size)
