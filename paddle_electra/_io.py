"""Atomic writes: a reader never sees a half-written file or a half-replaced folder.

Single files go through :func:`atomic_path`: the content is written to a
unique temporary name in the destination folder, then renamed over the
destination, which is atomic on POSIX and Windows within one file system.

Whole folders (a saved model, an export, a hub module, a checkpoint) go
through :func:`atomic_folder`: the caller writes the complete new folder into
a fresh temporary folder beside the target, which then replaces the target in
one step. A process killed at any moment leaves either the old folder or the
new one, never a mix of the two; the temporary folders and files it leaves
behind are removed by the next save into the same target.

Temporary names carry the writer's process id (``.<name>.tmp-<pid>-<hex>``,
``.<name>.old-<pid>-<hex>`` and ``<file>.<pid>-<random>.tmp``), so a later save
removes only leftovers of processes that are gone and never the folder of a
save still running in another process.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from typing import Iterable, Iterator, Optional, Set

logger = logging.getLogger("paddle_electra")

# Leftovers without a process id (written by earlier versions of the package) are
# stale when they are older than this module's import: no running save of this
# version can have made them.
_STARTED = time.time()
# Temporary folders this process is writing right now (real paths). A leftover with
# our own pid that is not in here is stale; a save into one of these writes in place.
_ACTIVE: Set[str] = set()
_ACTIVE_LOCK = threading.Lock()

# .<name>.tmp-<pid>-<8 hex> / .<name>.old-<pid>-<8 hex>: atomic_folder's own names.
_FOLDER_RE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}$")
# Earlier versions: tempfile.mkdtemp names (.<name>.tmp-XXXXXXXX, .best.old.XXXXXXXX).
_LEGACY_FOLDER_RE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)[.-][a-z0-9_]{8}$")
# atomic_path's temporary files: <file>.<pid>-XXXXXXXX.tmp (earlier: <file>.XXXXXXXX.tmp).
_FILE_RE = re.compile(r"^.+\.(?P<pid>\d+)-[a-z0-9_]{8}\.tmp$")
_LEGACY_FILE_RE = re.compile(r"^.+\.[a-z0-9_]{8}\.tmp$")


@contextlib.contextmanager
def atomic_path(dest: str) -> Iterator[str]:
    """Yield a temporary path next to ``dest``; on success rename it to ``dest``.

    On any exception the temporary file is removed and ``dest`` is untouched.
    The temporary name is unique and carries the process id, so concurrent
    writers of one ``dest`` do not interfere (the last rename wins, whole) and a
    folder save can tell a dead writer's leftover from a live one.
    """
    folder = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(prefix=f"{os.path.basename(dest)}.{os.getpid()}-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the result is an ordinary file
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ------------------------------------------------------------------ folders
@contextlib.contextmanager
def atomic_folder(target: str, drop: Iterable[str] = (), carry_over: bool = True) -> Iterator[str]:
    """Build a folder beside ``target`` and swap it in whole on success.

    Yields a fresh, empty temporary folder next to ``target``; the caller writes
    the complete new folder into it. When the block ends without an exception:

    1. with ``carry_over``, every file of the existing ``target`` that the new
       folder does not have (and whose name is not in ``drop``) is added to it,
       as a hard link (a copy where links are not possible), recursively into
       subfolders, so a model save keeps the tokenizer files and the reverse;
    2. the new folder replaces ``target`` in one step (Linux:
       ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, which the next
       save on ``target`` completes or undoes if the process dies between them),
       and the old folder is deleted.

    On an exception the temporary folder is removed and ``target`` is untouched.
    Before anything else, leftovers of killed saves into ``target`` are removed
    (see :func:`remove_leftovers`). A save into a folder that is itself inside a
    temporary folder of a running :func:`atomic_folder` of this process writes in
    place: the outer save already makes the whole atomic.

    Args:
        target: the folder to write (created with its parents if needed).
        drop: top-level names of ``target`` not to carry over (e.g. a weights
            file of another format that would shadow the new one).
        carry_over: ``False`` replaces ``target`` with exactly the new folder.

    Raises:
        ValueError: ``target`` is a file, or the current working directory or
            a folder above it (the swap would pull it from under the process).
    """
    target = os.path.abspath(os.fspath(target))
    real = os.path.realpath(target)  # swap the folder a symlink points to, keep the link
    drop = set(drop)
    if _inside_active(real):
        os.makedirs(real, exist_ok=True)
        yield real
        for name in drop:
            _remove(os.path.join(real, name))
        return
    _check_target(target, real)
    parent, name = os.path.split(real)
    os.makedirs(parent, exist_ok=True)
    remove_leftovers(parent, name)
    tmp = _make_unique(parent, name, "tmp")
    try:
        yield tmp
        if carry_over and os.path.isdir(real):
            shutil.copymode(real, tmp)
            _carry_over(real, tmp, drop)
        _swap_in(tmp, real)
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(tmp)
        if os.path.lexists(tmp):  # failed save, or (after an exchange) the old folder
            _remove(tmp)


def remove_leftovers(parent: str, name: Optional[str] = None) -> None:
    """Finish or clean up after saves into ``parent/name`` that were killed.

    A missing ``name`` with an old copy beside it (a save killed between its
    two renames) is restored first. Then temporary folders of ``name`` (every
    name when ``name`` is None) are removed when their writer is gone: its
    process id is dead (or was reused by a later process), or, for names
    without a process id (earlier versions), they predate this process.
    Another running process's temporary folder is left alone.
    """
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    found = []
    for entry in entries:
        m = _FOLDER_RE.match(entry) or _LEGACY_FOLDER_RE.match(entry)
        if m and (name is None or m.group("name") == name):
            found.append((m, os.path.join(parent, entry)))
    # newest first: the folder an interrupted swap moved away (renaming sets its ctime)
    for m, path in sorted(found, key=lambda f: _ctime(f[1]), reverse=True):
        dest = os.path.join(parent, m.group("name"))
        if m.group("kind") != "old" or os.path.lexists(dest) or not _is_stale(path):
            continue
        src = path
        inner = os.path.join(path, m.group("name"))  # earlier fine-tuning layout: .best.old.XXXXXXXX/best
        try:
            if m.re is _LEGACY_FOLDER_RE and os.path.isdir(inner) and os.listdir(path) == [m.group("name")]:
                src = inner
            os.rename(src, dest)
        except OSError:  # another process restored it first
            continue
        logger.warning("restored %s from %s, left behind by an interrupted save", dest, path)
    for _, path in found:
        if os.path.lexists(path) and _is_stale(path):
            _remove(path)


# ------------------------------------------------------------------ helpers
def _check_target(target: str, real: str) -> None:
    if os.path.exists(real) and not os.path.isdir(real):
        raise ValueError(f"cannot save into {target}: it is a file, not a folder")
    try:
        cwd = os.path.realpath(os.getcwd())
    except OSError:  # the working directory was deleted: nothing to protect
        return
    if cwd == real or cwd.startswith(real.rstrip(os.sep) + os.sep):
        where = "the current working directory" if cwd == real else "a folder above the current working directory"
        raise ValueError(f"cannot save into {target}: it is {where}, and a save replaces the whole folder at once; "
                         f"save into a subfolder instead, e.g. {os.path.join(target, 'model')}")


def _inside_active(real: str) -> bool:
    with _ACTIVE_LOCK:
        return any(real == a or real.startswith(a + os.sep) for a in _ACTIVE)


def _make_unique(parent: str, name: str, kind: str) -> str:
    """Create (tmp) or reserve (old) ``parent/.name.kind-<pid>-<hex>``, marked as in use by this process."""
    while True:
        path = os.path.join(parent, f".{name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")
        with _ACTIVE_LOCK:
            try:
                if kind == "tmp":
                    os.mkdir(path)  # 0777 minus the umask: the result is an ordinary folder
                elif os.path.lexists(path):
                    continue
            except FileExistsError:
                continue
            _ACTIVE.add(path)
        return path


def _mtime(path: str) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def _ctime(path: str) -> float:
    """Last inode change: set by mkdir, by every entry added, and by the rename that made an old copy."""
    try:
        return os.lstat(path).st_ctime
    except OSError:
        return 0.0


def _is_stale(path: str) -> bool:
    """Whether the temporary ``path`` (folder or file) belongs to no running save."""
    base = os.path.basename(path)
    m = _FOLDER_RE.match(base) or _FILE_RE.match(base)
    if m is None:  # no process id: an earlier version's leftover
        return _mtime(path) < _STARTED
    pid = int(m.group("pid"))
    if pid == os.getpid():
        with _ACTIVE_LOCK:
            return path not in _ACTIVE and not base.endswith(".tmp")  # our own atomic_path files may be live
    return not _pid_running_since(pid, _ctime(path))


def _pid_running_since(pid: int, when: float) -> bool:
    """Whether process ``pid`` is alive and started before ``when`` (else the pid was reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    except (OSError, OverflowError):
        return False
    if not sys.platform.startswith("linux"):
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        if fields[0] in (b"Z", b"X"):  # a zombie has exited; only its exit status remains
            return False
        with open("/proc/stat", "rb") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith(b"btime"))
        started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return True  # cannot tell: keep it
    return started <= when + 2.0  # btime has whole-second resolution


def _is_leftover(path: str) -> bool:
    """A dead writer's temporary folder or file (not carried into a new save)."""
    base = os.path.basename(path)
    if not any(r.match(base) for r in (_FOLDER_RE, _LEGACY_FOLDER_RE, _FILE_RE, _LEGACY_FILE_RE)):
        return False
    return _is_stale(path)


def _carry_over(old: str, new: str, drop: Set[str]) -> None:
    """Add to ``new`` what ``old`` has and ``new`` lacks: hard links, else copies."""
    for entry in os.scandir(old):
        if entry.name in drop or _is_leftover(entry.path):
            continue
        dst = os.path.join(new, entry.name)
        if entry.is_symlink():
            if not os.path.lexists(dst):
                os.symlink(os.readlink(entry.path), dst)
        elif entry.is_dir():
            if not os.path.lexists(dst):
                os.mkdir(dst)
                shutil.copymode(entry.path, dst)
            if os.path.isdir(dst) and not os.path.islink(dst):
                _carry_over(entry.path, dst, set())
        elif not os.path.lexists(dst):
            try:
                os.link(entry.path, dst)
            except OSError:  # a file system without hard links, or a link count limit
                shutil.copy2(entry.path, dst)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2 = None


def _exchange(a: str, b: str) -> bool:
    """Swap the two paths in one step (Linux ``renameat2``); ``False`` where unsupported."""
    global _renameat2
    if not sys.platform.startswith("linux"):
        return False
    if _renameat2 is None:
        try:
            fn = ctypes.CDLL(None, use_errno=True).renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
        except (OSError, AttributeError):  # not glibc >= 2.28
            fn = False
        _renameat2 = fn
    if not _renameat2:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):  # old kernel or file system
        return False
    raise OSError(err, f"cannot swap {a} into {b}: {os.strerror(err)}")


def _swap_in(new: str, target: str) -> None:
    """Put folder ``new`` at ``target``; afterwards ``new`` holds the old folder or nothing."""
    if not os.path.lexists(target):
        try:
            os.rename(new, target)
            return
        except OSError as e:  # created meanwhile by another writer: replace it below
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not os.path.isdir(target):
                raise
    if _exchange(new, target):
        return
    # Two renames. A process killed between them leaves no target and .<name>.old-<pid>-*
    # beside it, which the next save restores before it does anything else.
    parent, name = os.path.split(target)
    old = _make_unique(parent, name, "old")
    try:
        os.rename(target, old)
        try:
            os.rename(new, target)
        except BaseException:
            if not os.path.lexists(target):
                os.rename(old, target)
            raise
        _remove(old)
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(old)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


# ------------------------------------------------------------------ small files
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


def read_json(path: str):
    """The JSON value in ``path`` (UTF-8); every way the file can fail to parse is a ``ValueError`` naming it.

    Files in model, export and checkpoint folders may come from strangers.
    Besides bad syntax (``JSONDecodeError``), ``json`` raises
    ``UnicodeDecodeError`` for bytes that are not UTF-8 and ``ValueError`` for
    integers past Python's digit limit, neither naming the file, and
    ``RecursionError`` (not a ``ValueError`` at all) for nesting ~1,000 levels deep.
    """
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except RecursionError:
        raise ValueError(f"{path} is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def numpy_json_default(obj):
    """``json.dumps(default=...)`` for NumPy values: arrays as lists, scalars as Python numbers."""
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
