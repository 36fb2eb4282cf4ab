"""Read Paddle pickles (``.pdparams``, ``.pdopt``, checkpoints) without running code.

``paddle.load`` is plain ``pickle.load``: a crafted ``model_state.pdparams`` can
call ``os.system``. :func:`load_paddle_pickle` accepts only what ``paddle.save``
writes for a state dict (see the table at the bottom):

* numpy arrays (``_reconstruct`` + ``ndarray`` + ``dtype`` + BUILD, or
  ``_frombuffer`` from protocol 5) of plain numeric and bool dtypes;
* numpy scalars; protocol 2's ``_codecs.encode(text, "latin1")`` for bytes;
* Paddle's two tensor reductions: ``tuple((name, array))`` (eager tensors) and
  ``eval("data", {"data": array})`` (DenseTensor), each accepted in exactly
  that shape and never evaluated;
* dicts, OrderedDicts, lists, tuples, strings, numbers, None, bools.

Arrays are checked against the bytes that carry them before anything is
allocated, every array gets its own writable memory, and the total is bounded
by the file size, so a small file cannot make the process allocate gigabytes.
"""

from __future__ import annotations

import collections
import os
from typing import Any, Dict

import numpy as np

from .pickle_guard import ORDERED_DICT, CheckpointTooLargeError, Inert, UnsafeCheckpointError, safe_loads

__all__ = ["load_paddle_pickle", "PADDLE_PICKLE_MAGIC"]

PADDLE_PICKLE_MAGIC = b"\x80"  # PROTO opcode: every pickle of protocol >= 2 starts with it

# dtype strings paddle.save can produce (bfloat16 is stored as uint16)
_DTYPES = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1", "c8", "c16"}
_BYTEORDERS = {"<", ">", "|", "="}
_MAX_DEPTH = 64  # containers nested deeper than this are not a state dict


class _DTypeSpec:
    """What ``numpy.dtype(...)`` stands for while unpickling: a name and a byte order."""

    __slots__ = ("name", "byteorder")

    def __init__(self, name, align=False, copy=True):
        if not isinstance(name, str) or name not in _DTYPES:
            raise UnsafeCheckpointError(f"array dtype {name!r:.40} is not a plain numeric dtype")
        self.name, self.byteorder = name, "="

    def __setstate__(self, state):
        # numpy pickles (version, byteorder, subarray, names, fields, elsize, alignment, flags);
        # for a plain numeric dtype everything after the byte order is empty.
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
                and state[1] in _BYTEORDERS and state[2:5] == (None, None, None)):
            raise UnsafeCheckpointError(f"unexpected dtype state {state!r:.120}")
        self.byteorder = state[1]

    def resolve(self) -> np.dtype:
        dtype = np.dtype(self.name)
        return dtype.newbyteorder(self.byteorder) if self.byteorder in "<>" and dtype.itemsize > 1 else dtype


class _ArraySpec:
    """What ``_reconstruct(ndarray, (0,), b"b")`` returns; BUILD fills it in."""

    __slots__ = ("array",)

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise UnsafeCheckpointError(f"unexpected ndarray state of type {type(state).__name__}")
        _version, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DTypeSpec) or not isinstance(fortran, bool):
            raise UnsafeCheckpointError("ndarray state without a plain dtype")
        if isinstance(raw, str):  # protocol 2 without _codecs: latin-1 text
            raw = raw.encode("latin1")
        self.array = _array_from_bytes(raw, dtype.resolve(), shape, "F" if fortran else "C")


def _check_shape(shape) -> tuple:
    if not (isinstance(shape, tuple) and len(shape) <= 32
            and all(type(n) is int and 0 <= n for n in shape)):
        raise UnsafeCheckpointError(f"invalid array shape {shape!r:.80}")
    return shape


def _array_from_bytes(raw, dtype: np.dtype, shape, order: str) -> np.ndarray:
    """A read-only view of ``raw`` as an array, after checking the sizes agree."""
    if not isinstance(raw, (bytes, bytearray)):
        raise UnsafeCheckpointError(f"array data of type {type(raw).__name__}, not bytes")
    shape = _check_shape(shape)
    count = 1
    for n in shape:
        count *= n  # Python ints: no overflow, and nothing allocated yet
    if count * dtype.itemsize != len(raw):
        raise CheckpointTooLargeError(
            f"an array declares shape {shape} of {dtype} ({count * dtype.itemsize} bytes) but carries "
            f"{len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order)


def _reconstruct(cls, shape, typecode):
    if cls is not _NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
        raise UnsafeCheckpointError("numpy _reconstruct called with unexpected arguments")
    return _ArraySpec()


def _frombuffer(buf, dtype, shape, order):
    if not isinstance(dtype, _DTypeSpec) or order not in ("C", "F"):
        raise UnsafeCheckpointError("numpy _frombuffer called with unexpected arguments")
    spec = _ArraySpec()
    spec.array = _array_from_bytes(buf, dtype.resolve(), shape, order)
    return spec


def _scalar(dtype, raw):
    if not isinstance(dtype, _DTypeSpec):
        raise UnsafeCheckpointError("numpy scalar without a plain dtype")
    if isinstance(raw, str):
        raw = raw.encode("latin1")
    return _array_from_bytes(raw, dtype.resolve(), (), "C")[()]


def _codecs_encode(text, encoding):
    # protocol 2 writes bytes as _codecs.encode(<latin-1 text>, "latin1")
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError("_codecs.encode called with unexpected arguments")
    return text.encode("latin1")


def _tensor_tuple(pair):
    # an eager Tensor is reduced to tuple((name, array)): REDUCE calls tuple with that one pair
    if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
            and isinstance(pair[1], _ArraySpec)):
        raise UnsafeCheckpointError("builtins.tuple called with something other than a (name, tensor) pair")
    return pair


def _dense_tensor_eval(source, namespace, *rest):
    # a DenseTensor is reduced to eval("data", {"data": array}): accept exactly that, evaluate nothing
    if (rest or source != "data" or not isinstance(namespace, dict) or set(namespace) != {"data"}
            or not isinstance(namespace["data"], _ArraySpec)):
        raise UnsafeCheckpointError("the pickle calls eval with something other than Paddle's tensor form")
    return namespace["data"]


def _ndarray_called(*args):
    # the ndarray class only ever appears as _reconstruct's first argument
    raise UnsafeCheckpointError("the pickle calls numpy.ndarray directly")


_NDARRAY = Inert("numpy.ndarray", _ndarray_called)

_ALLOWED = {
    "numpy.ndarray": _NDARRAY,
    "numpy.dtype": Inert("numpy.dtype", _DTypeSpec),
    "_codecs.encode": Inert("_codecs.encode", _codecs_encode),
    "builtins.tuple": Inert("builtins.tuple", _tensor_tuple),
    "builtins.eval": Inert("builtins.eval", _dense_tensor_eval),
    "collections.OrderedDict": ORDERED_DICT,
}
# protocol 2 keeps Python 2's module name for builtins (the unpickler's fix_imports maps it only
# inside the default find_class, which a restricted unpickler replaces)
_ALLOWED["__builtin__.tuple"] = _ALLOWED["builtins.tuple"]
_ALLOWED["__builtin__.eval"] = _ALLOWED["builtins.eval"]
for _core in ("numpy.core", "numpy._core"):  # numpy 1.x and 2.x module names
    _ALLOWED[f"{_core}.multiarray._reconstruct"] = Inert(f"{_core}.multiarray._reconstruct", _reconstruct)
    _ALLOWED[f"{_core}.multiarray.scalar"] = Inert(f"{_core}.multiarray.scalar", _scalar)
    _ALLOWED[f"{_core}.numeric._frombuffer"] = Inert(f"{_core}.numeric._frombuffer", _frombuffer)


class _Materializer:
    """Turn the unpickled tree into plain Python containers and owned numpy arrays."""

    def __init__(self, path: str, budget: int):
        self.path, self.budget = path, budget

    def __call__(self, obj, depth: int = 0):
        if depth > _MAX_DEPTH:
            raise ValueError(f"cannot load {self.path}: containers nested more than {_MAX_DEPTH} deep")
        if isinstance(obj, _ArraySpec):
            if obj.array is None:
                raise UnsafeCheckpointError(f"cannot load {self.path}: an array without data")
            self.budget -= obj.array.nbytes
            if self.budget < 0:  # one array referenced many times through the memo
                raise CheckpointTooLargeError(
                    f"refusing to load {self.path}: it expands to more array data than the file holds"
                )
            native = obj.array.dtype.newbyteorder("=")
            return obj.array.astype(native, copy=True)  # own, writable, native-endian memory
        if isinstance(obj, (dict, collections.OrderedDict)):
            out = collections.OrderedDict() if isinstance(obj, collections.OrderedDict) else {}
            for key, value in obj.items():
                if type(key) not in (str, int):
                    raise UnsafeCheckpointError(f"cannot load {self.path}: a dict key of type {type(key).__name__}")
                out[key] = self(value, depth + 1)
            return out
        if isinstance(obj, list):
            return [self(v, depth + 1) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self(v, depth + 1) for v in obj)
        if obj is None or isinstance(obj, (str, bytes, bool, int, float, complex, np.generic)):
            return obj
        raise UnsafeCheckpointError(f"cannot load {self.path}: it holds a {type(obj).__name__}")


def _unpack_big_params(state: Dict[str, Any], path: str) -> Dict[str, Any]:
    """Join the slices protocol-2/3 saves split arrays over 1 GiB into (Paddle's own scheme)."""
    info = state.pop("UnpackBigParamInfor@@", None)
    if info is None:
        return state
    if not isinstance(info, dict):
        raise ValueError(f"cannot load {path}: malformed UnpackBigParamInfor@@ entry")
    for key, spec in info.items():
        try:
            parts = [state.pop(part) for part in spec["slices"]]
            state[key] = np.concatenate(parts).reshape(spec["OriginShape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"cannot load {path}: the split parameter {key!r} does not reassemble ({exc})") from exc
    return state


def _drop_tensor_names(obj):
    """(name, array) pairs (eager tensors as paddle 2.1+ writes them) become the arrays."""
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], str) and isinstance(obj[1], np.ndarray):
        return obj[1]
    if isinstance(obj, dict):
        for key in list(obj):
            obj[key] = _drop_tensor_names(obj[key])
        return obj
    if isinstance(obj, list):
        return [_drop_tensor_names(v) for v in obj]
    return obj


def load_paddle_pickle(path: str) -> Any:
    """Load a file written by ``paddle.save``, running no code from it.

    Args:
        path: a ``.pdparams`` / ``.pdopt`` / checkpoint file.

    Returns:
        What ``paddle.load(path, return_numpy=True)`` returns for a state
        dict: nested dicts / lists with numpy arrays (each owning its memory)
        in place of tensors.

    Raises:
        UnsafeCheckpointError: the pickle names a global or opcode a saved
            state dict never uses (it may try to run code); nothing it names
            has been called.
        CheckpointTooLargeError: declared sizes that the file cannot hold.
        ValueError: not a Paddle pickle, truncated or malformed.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path} is not a file")
    with open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(PADDLE_PICKLE_MAGIC):
        kind = "a zip archive" if data.startswith(b"PK") else "not a pickle"
        raise ValueError(f"cannot load {path}: it is {kind}, not a file written by paddle.save")
    try:
        tree = safe_loads(data, path, _ALLOWED, encoding="latin1")  # as paddle.load reads them
    except (UnsafeCheckpointError, CheckpointTooLargeError):
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError, OverflowError,
            UnicodeDecodeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"cannot load {path}: malformed Paddle pickle ({type(exc).__name__}: {exc})") from exc
    # every array's bytes are in the file; a few memo re-uses are legitimate, many are an attack
    state = _drop_tensor_names(_Materializer(path, 2 * len(data) + (1 << 20))(tree))
    if isinstance(state, dict):
        state.pop("StructuredToParameterName@@", None)  # paddle.save's name table, dropped as paddle.load does
        state = _unpack_big_params(state, path)
    return state
