"""The shared core of the package's restricted unpicklers.

A pickle is a small program: its GLOBAL opcodes name callables and REDUCE calls
them, so ``pickle.load`` on a stranger's file runs whatever the file asks for.
Every pickle the package reads (Paddle ``.pdparams`` / ``.pdopt`` and training
checkpoints, PyTorch ``pytorch_model.bin``) goes through :class:`GuardedUnpickler`:

1. :func:`prescan` walks the opcodes first, without executing anything, and
   refuses declared lengths that exceed the file, memo indices beyond what the
   pickle could have stored (CPython's C unpickler sizes its memo array by the
   largest index: a 363-byte pickle can ask for gigabytes), and opcodes that
   state-dict pickles never contain.
2. :class:`GuardedUnpickler` then resolves each global through an allow table of
   inert stand-ins (:class:`Inert`). A refused global raises
   :class:`UnsafeCheckpointError` when it is read, before anything could call it.
   Stand-ins are immutable, so a BUILD opcode aimed at one cannot change how
   later files load.
"""

from __future__ import annotations

import collections
import io
import pickle
import pickletools
from typing import Callable, Dict, Optional

__all__ = ["UnsafeCheckpointError", "CheckpointTooLargeError", "Inert", "ORDERED_DICT", "GuardedUnpickler", "prescan",
           "safe_loads"]


class UnsafeCheckpointError(ValueError):
    """A checkpoint's pickle references a global outside the allow-list (it may try to run code)."""


class CheckpointTooLargeError(ValueError):
    """A checkpoint declares more data than the file holds or than the limits allow."""


# Weights barely compress, and torch zips and Keras h5 files store them uncompressed: a record or dataset
# that reads as more than this many times its stored bytes is a decompression bomb.
MAX_INFLATION = 16


def max_inflated_bytes(stored: int) -> int:
    """The most bytes ``stored`` bytes of a record may read as: :data:`MAX_INFLATION` times, and 1 MB more at least."""
    return max(MAX_INFLATION * stored, stored + (1 << 20))


# Opcodes a state-dict pickle never needs: object instantiation by class
# (INST/OBJ/NEWOBJ build arbitrary classes), extension registries (EXT*) and
# out-of-band buffers. Everything allowed is either data or goes through find_class.
_FORBIDDEN_OPCODES = {
    "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "READONLY_BUFFER",
    "PERSID",  # text persistent ids: nothing we read uses them (torch uses BINPERSID)
}
_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GETS = {"GET", "BINGET", "LONG_BINGET"}


class Inert:
    """An immutable stand-in for an allow-listed global.

    Calling it calls ``fn`` (a validating constructor of ours). It has no
    ``__dict__`` and refuses attribute writes, so a pickle's BUILD opcode
    cannot attach state to it, and one file cannot poison the next.
    """

    __slots__ = ("_qualname", "_fn")

    def __init__(self, qualname: str, fn: Callable):
        object.__setattr__(self, "_qualname", qualname)
        object.__setattr__(self, "_fn", fn)

    def __call__(self, *args, **kwargs):
        return self._fn(*args, **kwargs)

    def __setattr__(self, name, value):
        raise UnsafeCheckpointError(f"the pickle tries to set {name!r} on {self._qualname}")

    def __reduce__(self):  # never pickled back out
        raise TypeError(f"{self._qualname} stand-in cannot be pickled")

    def __repr__(self):
        return f"<allowed {self._qualname}>"


def _empty_ordered_dict(*args):
    # picklers write OrderedDict() with no arguments and add the items with SETITEMS; the
    # stand-in hands out a fresh one per call and refuses arguments (no O(n) work per opcode)
    if args:
        raise UnsafeCheckpointError("collections.OrderedDict called with arguments")
    return collections.OrderedDict()


ORDERED_DICT = Inert("collections.OrderedDict", _empty_ordered_dict)


class _ViewStream:
    """A read-only in-memory stream whose long reads are views, not copies.

    ``pickletools.genops`` reads every tensor payload to skip it; on a
    400 MB checkpoint copying them would double the prescan's cost. Short
    reads stay ``bytes`` (genops decodes opcodes and text from them).
    """

    def __init__(self, data):
        self._data = data if isinstance(data, (bytes, bytearray)) else bytes(data)
        self._view, self._pos = memoryview(self._data), 0

    def read(self, n: int = -1):
        end = len(self._view) if n is None or n < 0 else min(len(self._view), self._pos + n)
        chunk = self._view[self._pos:end]
        self._pos = end
        return chunk if len(chunk) > 256 else chunk.tobytes()

    def readline(self) -> bytes:
        newline = self._data.find(b"\n", self._pos)
        end = len(self._data) if newline < 0 else newline + 1
        line, self._pos = self._data[self._pos:end], end
        return bytes(line)

    def tell(self) -> int:
        return self._pos


def prescan(data, path: str, allow_persistent_ids: bool = False) -> None:
    """Check a pickle's opcodes without running it.

    Args:
        data: the pickle as bytes, or an in-memory stream (``io.BytesIO``)
            positioned at it, which is left just after its STOP opcode (several
            pickles may follow each other in one stream).
        path: the file name, for messages.
        allow_persistent_ids: accept BINPERSID (PyTorch's storage references).

    Raises:
        UnsafeCheckpointError: an opcode that state dicts never use.
        CheckpointTooLargeError: a memo index or a declared length that does not
            fit the file.
        ValueError: the pickle is malformed or truncated.
    """
    puts = 0
    try:
        # genops over an in-memory stream never reads past the end, so a huge
        # declared length costs nothing and is reported as truncation.
        stream = _ViewStream(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
        for op, arg, pos in pickletools.genops(stream):
            name = op.name
            if name == "INST":  # name the global it instantiates: the clearest statement of intent
                raise UnsafeCheckpointError(
                    f"refusing to load {path}: it references the global {str(arg).replace(' ', '.')!r} (INST "
                    "opcode), which a saved state dict never needs; the file may try to run code"
                )
            if name in _FORBIDDEN_OPCODES or (name == "BINPERSID" and not allow_persistent_ids):
                raise UnsafeCheckpointError(
                    f"refusing to load {path}: its pickle uses the {name} opcode (byte {pos}), which a "
                    "saved state dict never contains; the file may try to run code"
                )
            if name in _MEMO_PUTS or name == "MEMOIZE":
                index = puts if name == "MEMOIZE" else int(arg)
                # Picklers number memo entries 0, 1, 2, ...: a larger index only
                # serves to make the C unpickler allocate a huge memo array.
                if index > puts:
                    raise CheckpointTooLargeError(
                        f"refusing to load {path}: its pickle stores memo entry {index} after only {puts} "
                        "entries (a memory-exhaustion pattern, not something a pickler writes)"
                    )
                puts += index == puts
            elif name in _MEMO_GETS and int(arg) >= puts:
                raise ValueError(f"cannot load {path}: its pickle reads memo entry {arg} that was never stored")
    except (UnsafeCheckpointError, CheckpointTooLargeError):
        raise
    except ValueError as exc:  # pickletools reports truncation and over-long declared lengths so
        raise ValueError(f"cannot load {path}: malformed or truncated pickle ({exc})") from exc


class GuardedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves globals only through an allow table.

    Args:
        file: a binary file object positioned at the pickle.
        path: the file name, for messages.
        allowed: ``{"module.name": Inert}``; anything else is refused.
        persistent_load: handler for BINPERSID, or None to refuse them.
        encoding: how Python 2 ``str`` objects are decoded.
    """

    def __init__(self, file, path: str, allowed: Dict[str, Inert],
                 persistent_load: Optional[Callable] = None, encoding: str = "utf-8"):
        super().__init__(file, encoding=encoding)
        self._path = path
        self._allowed = allowed
        self._persistent = persistent_load

    def find_class(self, module, name):
        qualname = f"{module}.{name}"
        found = self._allowed.get(qualname)
        if found is None:
            raise UnsafeCheckpointError(
                f"refusing to load {self._path}: it references the global {qualname!r}, which a saved "
                "state dict never needs; the file may try to run code"
            )
        return found

    def persistent_load(self, pid):
        if self._persistent is None:
            raise UnsafeCheckpointError(f"refusing to load {self._path}: unexpected persistent id {pid!r:.80}")
        return self._persistent(pid)


def safe_loads(data: bytes, path: str, allowed: Dict[str, Inert], persistent_load: Optional[Callable] = None,
               encoding: str = "utf-8"):
    """Prescan and then unpickle ``data`` with only ``allowed`` globals."""
    prescan(data, path, allow_persistent_ids=persistent_load is not None)
    return GuardedUnpickler(io.BytesIO(data), path, allowed, persistent_load, encoding).load()
