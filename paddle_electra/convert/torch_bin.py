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

import collections
import os
import pickle
import struct
import zipfile

import numpy as np

__all__ = ["UnsafeCheckpointError", "load_torch_bin"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class UnsafeCheckpointError(ValueError):
    """The checkpoint's pickle references a global outside the allow-list."""


class _StorageType:
    """Stand-in for a ``torch.<Dtype>Storage`` class: just the element layout."""

    def __init__(self, name, dtype, bf16=False):
        self.name = name
        self.dtype = np.dtype(dtype)  # little-endian raw element type
        self.bf16 = bf16  # raw uint16 that must be widened to float32

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


_ALLOWED_GLOBALS = {
    "collections.OrderedDict": collections.OrderedDict,
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    **{f"torch.{name}": stype for name, stype in _STORAGE_TYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals to inert stand-ins.

    ``find_class`` runs when the GLOBAL/STACK_GLOBAL/INST opcode is read, i.e.
    before any REDUCE could call the result, so a refused global is never
    invoked. Allowed globals only build metadata records; no storage bytes
    are read until the whole pickle has been accepted.
    """

    def __init__(self, file, path, persistent_load):
        super().__init__(file, encoding="utf-8")
        self._path = path
        self._persistent_load = persistent_load

    def find_class(self, module, name):
        qualname = f"{module}.{name}"
        if qualname in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[qualname]
        raise UnsafeCheckpointError(
            f"refusing to load {self._path}: it references the global {qualname!r}, which is not a "
            "tensor-rebuild function; the file may try to run code"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise ValueError(f"unsupported persistent id {pid!r:.80}; only storages are supported")
        if not isinstance(pid[1], _StorageType):
            raise ValueError(f"persistent id names {pid[1]!r:.80}, not a storage type")
        return self._persistent_load(pid)


def _load_zip(path, zf):
    names = zf.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise ValueError(f"expected one '<prefix>/data.pkl' record in the zip, found {len(pickles)}")
    prefix = pickles[0][: -len("data.pkl")]
    # Files predating the byteorder record were all written little-endian.
    byteorder = "little"
    if prefix + "byteorder" in names:
        byteorder = zf.read(prefix + "byteorder").decode("ascii").strip()
        if byteorder not in ("little", "big"):
            raise ValueError(f"unknown byteorder record {byteorder!r}")
    refs = {}

    def persistent_load(pid):  # ('storage', type, key, location, numel)
        ref = _StorageRef(pid[2], pid[1])
        refs[ref.key] = ref.stype
        return ref

    with zf.open(pickles[0]) as fh:
        obj = _RestrictedUnpickler(fh, path, persistent_load).load()
    storages = {key: st.decode(zf.read(f"{prefix}data/{key}"), byteorder) for key, st in refs.items()}
    return obj, storages


def _load_legacy(path, fh):
    def no_storages(pid):
        raise ValueError("storage reference outside the main pickle")

    def strict_load():
        return _RestrictedUnpickler(fh, path, no_storages).load()

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

    obj = _RestrictedUnpickler(fh, path, persistent_load).load()
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
        if count != numel:
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
                obj, storages = _load_zip(path, zf)
        elif head.startswith(b"PK"):
            raise ValueError("zip archive is truncated or corrupt (no central directory)")
        elif head.startswith(b"\x80"):  # pickle PROTO opcode of the magic number
            with open(path, "rb") as fh:
                obj, storages = _load_legacy(path, fh)
        else:
            raise ValueError("neither a zip nor a legacy PyTorch checkpoint")
        state = _select_state_dict(obj)
        return {key: tensor.materialize(storages) for key, tensor in state.items()}
    except UnsafeCheckpointError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError, OverflowError,
            UnicodeDecodeError, struct.error, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot load {path}: {exc}") from exc
