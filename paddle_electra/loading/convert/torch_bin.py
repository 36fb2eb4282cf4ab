"""Read PyTorch ``pytorch_model.bin`` checkpoints into numpy, without torch.

``torch.save`` writes a pickle whose globals point into torch, so a plain
``pickle.load`` needs torch installed and will happily run any callable the
file names. This module instead unpickles with an allow-list of the handful
of globals ``torch.save`` emits for dense tensors, maps each to an inert
stand-in, and rebuilds the tensors with numpy afterwards.

Both on-disk formats are supported:

* zip (torch >= 1.6 default): ``<prefix>/data.pkl`` plus one raw record per
  storage at ``<prefix>/data/<key>`` and an optional ``<prefix>/byteorder``.
* legacy (``_use_new_zipfile_serialization=False``): five consecutive pickles
  (magic number, protocol version, sys_info, the object, storage-key list)
  followed by each storage as an int64 element count and its raw bytes.
"""

import io
import os
import pickle
import struct
import zipfile

import numpy as np

from ..safety.pickle_guard import (
    MAX_INFLATION,
    ORDERED_DICT,
    CheckpointTooLargeError,
    Inert,
    UnsafeCheckpointError,
    prescan,
    max_inflated_bytes,
    safe_loads,
)

__all__ = ["UnsafeCheckpointError", "load_torch_bin"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_MAX_PICKLE_BYTES = 256 << 20  # data.pkl of a state dict is kilobytes


class _StorageType:
    """Stand-in for a ``torch.<Dtype>Storage`` class: just the element layout.

    Immutable: one instance serves every file, so a pickle's BUILD opcode must
    not be able to change it (it would change how later files load).
    """

    __slots__ = ("name", "dtype", "bf16")

    def __init__(self, name, dtype, bf16=False):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", np.dtype(dtype))  # little-endian raw element type
        object.__setattr__(self, "bf16", bf16)  # raw uint16 that must be widened to float32

    def __setattr__(self, name, value):
        raise UnsafeCheckpointError(f"the pickle tries to set {name!r} on torch.{self.name}")

    def decode(self, raw, byteorder):
        """Turn raw storage bytes into a 1-D native-endian numpy array."""
        if len(raw) % self.dtype.itemsize:
            raise ValueError(f"{self.name} record of {len(raw)} bytes is not a whole number of elements")
        arr = np.frombuffer(raw, dtype=self.dtype.newbyteorder("<" if byteorder == "little" else ">"))
        if self.bf16:
            # bfloat16 is the top half of a float32, so widening is exact.
            return (arr.astype(np.uint32) << 16).view(np.float32)
        return arr.astype(self.dtype.newbyteorder("="), copy=False)


_STORAGE_TYPES = {
    name: _StorageType(name, dtype, bf16=name == "BFloat16Storage")
    for name, dtype in [
        ("FloatStorage", "<f4"), ("HalfStorage", "<f2"), ("BFloat16Storage", "<u2"),
        ("DoubleStorage", "<f8"), ("LongStorage", "<i8"), ("IntStorage", "<i4"),
        ("ShortStorage", "<i2"), ("CharStorage", "i1"), ("ByteStorage", "u1"),
        ("BoolStorage", "?"),
    ]
}


class _StorageRef:
    """A persistent-id reference to (a window of) a storage, resolved later."""

    def __init__(self, key, stype, offset=0, length=None):
        if not (type(offset) is int and offset >= 0 and (length is None or (type(length) is int and length >= 0))):
            raise ValueError(f"invalid storage window offset={offset!r:.40} length={length!r:.40}")
        self.key, self.stype, self.offset, self.length = str(key), stype, offset, length


class _LazyTensor:
    """What the rebuild stand-ins return: metadata only, no data touched yet."""

    def __init__(self, storage, storage_offset, size, stride):
        if not isinstance(storage, _StorageRef):
            raise ValueError(f"tensor rebuilt from {type(storage).__name__}, not a storage")
        self.storage, self.offset = storage, storage_offset
        self.size, self.stride = tuple(size), tuple(stride)

    def materialize(self, storages):
        """Copy this tensor's elements out of its decoded storage.

        Args:
            storages: Mapping of storage key to 1-D decoded numpy array.

        Returns:
            A C-contiguous numpy array that owns its memory.
        """
        ref = self.storage
        flat = storages[ref.key]
        end = len(flat) if ref.length is None else ref.offset + ref.length
        base = flat[ref.offset:end]
        ints = (self.offset,) + self.size + self.stride
        if not all(isinstance(v, int) and v >= 0 for v in ints) or len(self.size) != len(self.stride):
            raise ValueError(f"invalid tensor geometry offset={self.offset} size={self.size} stride={self.stride}")
        if 0 in self.size:
            return np.zeros(self.size, dtype=base.dtype)
        # as_strided does no bounds checking, so a hostile size/stride could
        # read arbitrary process memory: check the furthest element first.
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if last >= len(base):
            raise ValueError(f"tensor reaches element {last} of a storage with {len(base)} elements")
        numel = 1
        for n in self.size:
            numel *= n
        # A state-dict tensor never has more elements than its storage; a
        # stride-0 "expanded" one would turn a few bytes into gigabytes on copy.
        if numel > len(base):
            raise CheckpointTooLargeError(
                f"a tensor of shape {self.size} ({numel} elements) views a storage of only {len(base)} elements"
            )
        # Torch tensors are (offset, size, stride) views onto a flat storage;
        # as_strided expresses exactly that (transposes, slices, stride-0
        # expands, shared storages) and .copy() then gives every result its
        # own contiguous buffer, detached from the shared storage.
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.size, strides=[s * item for s in self.stride], writeable=False
        )
        return view.copy()


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    # requires_grad, backward hooks and metadata are autograd concerns only.
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    # A Parameter is pickled as its data tensor plus autograd flags.
    if not isinstance(data, _LazyTensor):
        raise ValueError(f"parameter rebuilt from {type(data).__name__}, not a tensor")
    return data


# Every global is an immutable stand-in (see safety.pickle_guard.Inert): allowed
# globals only build metadata records; no storage bytes are read until the
# whole pickle has been accepted.
_ALLOWED_GLOBALS = {
    "collections.OrderedDict": ORDERED_DICT,
    "torch._utils._rebuild_tensor": Inert("torch._utils._rebuild_tensor", _rebuild_tensor),
    "torch._utils._rebuild_tensor_v2": Inert("torch._utils._rebuild_tensor_v2", _rebuild_tensor_v2),
    "torch._utils._rebuild_parameter": Inert("torch._utils._rebuild_parameter", _rebuild_parameter),
    "torch._utils._rebuild_parameter_with_state": Inert("torch._utils._rebuild_parameter_with_state",
                                                        _rebuild_parameter),
    **{f"torch.{name}": stype for name, stype in _STORAGE_TYPES.items()},
}


def _checked_pid(persistent_load):
    def check(pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise ValueError(f"unsupported persistent id {pid!r:.80}; only storages are supported")
        if not isinstance(pid[1], _StorageType):
            raise ValueError(f"persistent id names {pid[1]!r:.80}, not a storage type")
        return persistent_load(pid)

    return check


def _unpickle(data, path, persistent_load):
    return safe_loads(data, path, _ALLOWED_GLOBALS, _checked_pid(persistent_load))


def _read_record(zf, name, archive_size):
    """A zip record's bytes, refusing sizes a checkpoint cannot have before inflating anything."""
    info = zf.getinfo(name)
    # zipfile asks the file for compress_size bytes in one read, and Python allocates what is asked
    # for before it sees how much is there: a forged size in a 2 kB file would cost gigabytes
    if info.compress_size > archive_size - info.header_offset:
        raise ValueError(f"zip record {name} claims {info.compress_size} stored bytes, more than the "
                         f"{archive_size}-byte file holds after its start at {info.header_offset} (corrupt)")
    if info.file_size > max_inflated_bytes(info.compress_size):
        raise CheckpointTooLargeError(
            f"zip record {name} inflates from {info.compress_size} to {info.file_size} bytes (a zip bomb; "
            "torch stores records uncompressed)"
        )
    if name.endswith("data.pkl") and info.file_size > min(_MAX_PICKLE_BYTES, archive_size * MAX_INFLATION):
        raise CheckpointTooLargeError(f"zip record {name} declares a {info.file_size}-byte pickle")
    return zf.read(name)


def _load_zip(path, zf, archive_size):
    names = zf.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise ValueError(f"expected one '<prefix>/data.pkl' record in the zip, found {len(pickles)}")
    prefix = pickles[0][: -len("data.pkl")]
    # Files predating the byteorder record were all written little-endian.
    byteorder = "little"
    if prefix + "byteorder" in names:
        byteorder = _read_record(zf, prefix + "byteorder", archive_size).decode("ascii").strip()
        if byteorder not in ("little", "big"):
            raise ValueError(f"unknown byteorder record {byteorder!r}")
    refs = {}

    def persistent_load(pid):  # ('storage', type, key, location, numel)
        ref = _StorageRef(pid[2], pid[1])
        refs[ref.key] = ref.stype
        return ref

    obj = _unpickle(_read_record(zf, pickles[0], archive_size), path, persistent_load)
    storages = {key: st.decode(_read_record(zf, f"{prefix}data/{key}", archive_size), byteorder)
                for key, st in refs.items()}
    return obj, storages


def _load_legacy(path, fh):
    """``fh``: the whole file in memory (io.BytesIO), so a declared length never over-allocates."""

    def no_storages(pid):
        raise ValueError("storage reference outside the main pickle")

    def next_pickle(persistent_load):
        start = fh.tell()
        prescan(fh, path, allow_persistent_ids=True)  # leaves fh just past this pickle's STOP
        end = fh.tell()
        return _unpickle(fh.getbuffer()[start:end].tobytes(), path, persistent_load)

    def strict_load():
        return next_pickle(no_storages)

    if strict_load() != _LEGACY_MAGIC or strict_load() != _LEGACY_PROTOCOL:
        raise ValueError("not a PyTorch checkpoint (bad magic number or protocol version)")
    strict_load()  # sys_info: endianness and C type sizes of the writer
    roots = {}

    def persistent_load(pid):  # ('storage', type, root_key, location, numel, view_metadata)
        _, stype, key, _, numel, view = pid
        roots[str(key)] = (stype, numel)
        if view is None:
            return _StorageRef(key, stype)
        _, offset, length = view  # pre-1.0 torch pickled storage slices this way
        return _StorageRef(key, stype, offset, length)

    obj = next_pickle(persistent_load)
    keys = strict_load()
    storages = {}
    for key in map(str, keys):
        stype, numel = roots[key]
        # Each record starts with its element count (not byte count): torch
        # writes it so a reader can size the storage before reading data.
        # Count and data are little-endian whatever the writer's host was.
        header = fh.read(8)
        if len(header) != 8:
            raise ValueError(f"file is truncated before storage {key}")
        (count,) = struct.unpack("<q", header)
        if count < 0 or count != numel:
            raise ValueError(f"storage {key} holds {count} elements, pickle expected {numel}")
        nbytes = count * stype.dtype.itemsize
        raw = fh.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError(f"file is truncated inside storage {key}")
        storages[key] = stype.decode(raw, "little")
    return obj, storages


def _select_state_dict(obj):
    if not isinstance(obj, dict):
        raise ValueError(f"top-level object is a {type(obj).__name__}, expected a dict of tensors")
    for nested in ("state_dict", "model"):
        inner = obj.get(nested)
        if isinstance(inner, dict) and inner and all(isinstance(v, _LazyTensor) for v in inner.values()):
            return inner
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, _LazyTensor):
            raise ValueError(f"key {key!r} holds a value of type {type(value).__name__}, not a tensor")
    return obj


def load_torch_bin(path):
    """Load a PyTorch ``pytorch_model.bin`` state dict as numpy arrays.

    Never imports torch and never calls anything the file names beyond an
    allow-list of tensor-rebuild helpers (see ``_ALLOWED_GLOBALS``).

    Args:
        path: Path to a file written by ``torch.save`` (zip or legacy format)
            holding a dict of tensors, or a dict with such a dict under
            ``"state_dict"`` or ``"model"``.

    Returns:
        Mapping of parameter name to a contiguous numpy array that owns its
        memory. float16 stays float16; bfloat16 is widened exactly to float32.

    Raises:
        UnsafeCheckpointError: The pickle references a non-allow-listed global.
        ValueError: The path is not a file, is corrupt or truncated, is not a
            torch checkpoint, or holds something other than tensors.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path} is not a file")
    with open(path, "rb") as fh:
        head = fh.read(4)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                obj, storages = _load_zip(path, zf, os.path.getsize(path))
        elif head.startswith(b"PK"):
            raise ValueError("zip archive is truncated or corrupt (no central directory)")
        elif head.startswith(b"\x80"):  # pickle PROTO opcode of the magic number
            with open(path, "rb") as fh:
                obj, storages = _load_legacy(path, io.BytesIO(fh.read()))
        else:
            raise ValueError("neither a zip nor a legacy PyTorch checkpoint")
        state = _select_state_dict(obj)
        # Tied weights view one storage twice; far more than the storages hold is an attack.
        budget = 2 * sum(a.nbytes for a in storages.values()) + (1 << 20)
        out = {}
        for key, tensor in state.items():
            out[key] = tensor.materialize(storages)
            budget -= out[key].nbytes
            if budget < 0:
                raise CheckpointTooLargeError("its tensors expand to far more data than its storages hold")
        return out
    except UnsafeCheckpointError:
        raise
    except CheckpointTooLargeError as exc:
        raise CheckpointTooLargeError(f"refusing to load {path}: {exc}") from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError, OverflowError,
            UnicodeDecodeError, struct.error, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot load {path}: {exc}") from exc
