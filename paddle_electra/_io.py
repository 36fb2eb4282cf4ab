"""Atomic file writes: a reader never sees a half-written file, a failure leaves the old one.

Every file the package writes (weights, configs, vocabularies, downloads'
final copies) goes through :func:`atomic_path`: the content is written to a
unique temporary name in the destination folder, then renamed over the
destination, which is atomic on POSIX and Windows within one file system.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Iterator


@contextlib.contextmanager
def atomic_path(dest: str) -> Iterator[str]:
    """Yield a temporary path next to ``dest``; on success rename it to ``dest``.

    On any exception the temporary file is removed and ``dest`` is untouched.
    The temporary name is unique, so concurrent writers of one ``dest`` do not
    interfere (the last rename wins, whole).
    """
    folder = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(dest) + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the result is an ordinary file
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(dest: str, text: str, skip_if_same: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``dest`` atomically.

    Args:
        skip_if_same: leave ``dest`` alone when it already holds ``text``
            (no rewrite, unchanged mtime).
    """
    if skip_if_same:
        try:
            with open(dest, encoding="utf-8", newline="") as f:
                if f.read() == text:
                    return
        except OSError:
            pass
    with atomic_path(dest) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def copy_file(src: str, dest: str) -> None:
    """Copy ``src`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def numpy_json_default(obj):
    """``json.dumps(default=...)`` for NumPy values: arrays as lists, scalars as Python numbers."""
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
