"""One small downloader for plain HTTP(S) files (PaddleNLP's bcebos buckets).

:func:`fetch` is the only place the package opens a plain URL. It is built on
``httpx`` (a widely used HTTP client with transport-level retries), ``filelock`` and
``tqdm``, all three already installed with huggingface_hub:

* the transfer goes to ``<dest>.incomplete`` and is renamed onto ``dest`` only
  after its size and sha256 (when the name table knows them) check out, so a
  corrupt or truncated file never appears under the final name;
* a partial ``<dest>.incomplete`` left by an interrupted transfer is resumed with
  an HTTP ``Range`` request; an answer other than ``206`` from the right offset
  restarts the file from byte 0;
* a cross-process ``filelock.FileLock`` on ``<dest>.lock`` makes concurrent
  processes download a file once; the others wait and reuse it;
* connection attempts are retried once by httpx's transport
  (``CONNECT_RETRIES``) under a ``CONNECT_TIMEOUT`` of 10 s, and a failed
  connection is final, so a machine without network fails at once (refused,
  no DNS) or within ~20 s (silently dropped packets); a server that accepts but
  never answers fails after the stall timeout (``READ_TIMEOUT`` by default);
* a transfer that breaks off, or a 408/429/5xx answer, gets up to
  ``MAX_ATTEMPTS`` requests in all, each resuming where the last one stopped;
* a byte-count progress bar (tqdm) goes to stderr.

Every transfer is bounded (see :func:`limits`): a size cap (the name table's size
when known, else ``PADDLE_ELECTRA_MAX_DOWNLOAD_BYTES``, default 4 GiB), a stall
timeout (``PADDLE_ELECTRA_STALL_TIMEOUT``: seconds without a byte, default
``READ_TIMEOUT``) and an overall deadline per file
(``PADDLE_ELECTRA_DOWNLOAD_DEADLINE``, default 3600 s). The transfer runs in a
worker thread, so the deadline holds even against a server that drips its
headers; the worker stops writing as soon as it is given up on.

Before the rename, :func:`validate_download` checks what arrived against what its
name says (size, sha256, format magic; an HTML page served with status 200 is
refused by its ``Content-Type`` and by its content). The same function checks
files that huggingface_hub downloads (see :mod:`paddle_electra.loading.hub`).

Every failure is a :class:`DownloadError` (an ``OSError``) naming the URL.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import math
import os
import re
import sys
import threading
import zipfile
from typing import Callable, Iterator, NamedTuple, Optional, Tuple, TypeVar
from urllib.parse import urlsplit

import filelock
import httpx
from tqdm.auto import tqdm

CONNECT_TIMEOUT = 10.0  # seconds to open a TCP/TLS connection (each attempt)
READ_TIMEOUT = 30.0  # default stall timeout: seconds without a byte before the attempt fails
CONNECT_RETRIES = 1  # extra connection attempts, made by httpx's transport
MAX_ATTEMPTS = 4  # requests per file when a transfer breaks off or the server answers 408/429/5xx
BACKOFF = 0.5  # seconds before a retry that follows no progress; doubled each time
CHUNK_SIZE = 1 << 20
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})

DEFAULT_MAX_DOWNLOAD_BYTES = 4 << 30  # cap of a file the name table gives no size for
DEFAULT_DEADLINE = 3600.0  # seconds for one file, all attempts together
MAX_SAFETENSORS_HEADER = 100 << 20  # the safetensors format's own limit on its JSON header

INCOMPLETE_SUFFIX = ".incomplete"
LOCK_SUFFIX = ".lock"

# <bucket>.<region>.bcebos.com: Baidu BOS virtual-hosted style; the same object is
# https://<region>.bcebos.com/<bucket>/<key> in path style.
_BOS_BUCKET_HOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9-]*)\.(?P<region>[a-z0-9-]+)\.bcebos\.com$")


class DownloadError(OSError):
    """A file could not be downloaded (network, HTTP status, integrity, offline)."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the size or sha256 the name table lists."""


class OfflineError(DownloadError):
    """Offline mode is on and a needed file is not in the cache."""


class _Abandoned(Exception):
    """Raised in a transfer thread whose caller has given up on it (deadline passed)."""


def progress_disabled() -> bool:
    """True when ``PADDLE_ELECTRA_DISABLE_PROGRESS_BARS`` is set to a true value."""
    return _truthy(os.environ.get("PADDLE_ELECTRA_DISABLE_PROGRESS_BARS"))


def _truthy(value: Optional[str]) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def mirror_url(url: str, mirror: Optional[str] = None) -> str:
    """``url`` rewritten onto the mirror base URL ``mirror`` (no mirror: unchanged).

    The rule: the URL is put in BOS path style first (a bucket host
    ``<bucket>.<region>.bcebos.com/<key>`` becomes ``<region>.bcebos.com/<bucket>/<key>``),
    then its scheme and host are replaced by the mirror base. Both spellings of a
    PaddleNLP file therefore land in one tree::

        https://bj.bcebos.com/paddlenlp/models/transformers/electra/electra-small.pdparams
        https://paddlenlp.bj.bcebos.com/models/transformers/ernie-health-chinese/vocab.txt
          -> <mirror>/paddlenlp/models/transformers/electra/electra-small.pdparams
          -> <mirror>/paddlenlp/models/transformers/ernie-health-chinese/vocab.txt

    The mirror may carry a path prefix (``http://host:8000/cache`` ->
    ``http://host:8000/cache/paddlenlp/...``). Query strings are kept.
    """
    if not mirror:
        return url
    parts = urlsplit(url)
    path = parts.path
    m = _BOS_BUCKET_HOST.match((parts.hostname or "").lower())
    if m:
        path = "/" + m.group("bucket") + path
    out = mirror.rstrip("/") + path
    return out + ("?" + parts.query if parts.query else "")


@contextlib.contextmanager
def file_lock(path: str, what: str = "") -> Iterator[None]:
    """Hold the cross-process lock ``<path>.lock``; say so on stderr if another process has it."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    lock = filelock.FileLock(path + LOCK_SUFFIX)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        print(f"paddle_electra: waiting for another process to finish {what or path}", file=sys.stderr)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


# ---------------------------------------------------------------- limits
class Limits(NamedTuple):
    """The bounds of one file's transfer."""

    max_bytes: int  # the file may not be larger
    max_bytes_from: str  # what set max_bytes, for messages
    stall: float  # seconds without a byte before an attempt fails
    deadline: float  # seconds for the whole file


def _env_number(var: str, default: float) -> float:
    raw = os.environ.get(var)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{var}={raw!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{var} must be a positive finite number, got {raw!r}")
    return value


def limits(size: Optional[int] = None, *, max_bytes: Optional[int] = None, stall_timeout: Optional[float] = None,
           deadline: Optional[float] = None) -> Limits:
    """The bounds for one file: arguments first, then the environment, then the defaults.

    Args:
        size: the exact size the name table lists; it is the cap when given.
        max_bytes: cap for a file of unknown size (default ``PADDLE_ELECTRA_MAX_DOWNLOAD_BYTES``, 4 GiB).
        stall_timeout: seconds without a byte (default ``PADDLE_ELECTRA_STALL_TIMEOUT``, ``READ_TIMEOUT``).
        deadline: seconds for the whole file (default ``PADDLE_ELECTRA_DOWNLOAD_DEADLINE``, 3600).

    Raises:
        ValueError: an environment variable or argument that is not a positive number.
    """
    for name, value in (("max_bytes", max_bytes), ("stall_timeout", stall_timeout), ("deadline", deadline)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    if size is not None:
        cap, cap_from = size, "the size the name table lists"
    elif max_bytes is not None:
        cap, cap_from = int(max_bytes), "the max_bytes limit"
    else:
        cap = int(_env_number("PADDLE_ELECTRA_MAX_DOWNLOAD_BYTES", DEFAULT_MAX_DOWNLOAD_BYTES))
        cap_from = "the limit PADDLE_ELECTRA_MAX_DOWNLOAD_BYTES"
    stall = stall_timeout if stall_timeout is not None else _env_number("PADDLE_ELECTRA_STALL_TIMEOUT", READ_TIMEOUT)
    total = deadline if deadline is not None else _env_number("PADDLE_ELECTRA_DOWNLOAD_DEADLINE", DEFAULT_DEADLINE)
    return Limits(cap, cap_from, float(stall), float(total))


_T = TypeVar("_T")


def run_with_deadline(work: Callable[[threading.Event], _T], seconds: float) -> Tuple[bool, Optional[_T]]:
    """Run ``work(cancel)`` in a worker thread for at most ``seconds``; ``(finished, result)``.

    A worker still running at the deadline is left behind with ``cancel`` set; ``work``
    must check it before each write and stop (its own locks then make any later
    attempt wait until it has). Exceptions from ``work`` are raised here.
    """
    cancel = threading.Event()
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = work(cancel)
        except _Abandoned:
            pass
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="paddle_electra download", daemon=True)
    worker.start()
    try:
        worker.join(seconds)
    finally:  # also on KeyboardInterrupt: the worker must not write on after we leave
        if worker.is_alive():
            cancel.set()
    if worker.is_alive():
        return False, None
    if "error" in box:
        raise box["error"]
    return True, box.get("result")


# ---------------------------------------------------------------- validation
_PICKLE_START, _PICKLE_STOP = b"\x80", b"."  # protocol 2+ opens with PROTO, every pickle ends with STOP
_ZIP_START = b"PK\x03\x04"
_HDF5_START = b"\x89HDF\r\n\x1a\n"
_HTML_START = (b"<!doctype html", b"<html", b"<head", b"<body")
_FORMATS = (  # name suffix -> format; each format has a check below
    ((".pdparams", ".pdopt"), "pickle"),
    ((".bin", ".pt", ".pth"), "torch"),
    ((".safetensors",), "safetensors"),
    ((".h5",), "h5"),
    ((".json",), "json"),
    ((".txt",), "text"),
)


def file_format(filename: str) -> Optional[str]:
    """The format :func:`validate_download` checks a file of this name against (None: not checked)."""
    name = filename.lower()
    return next((fmt for suffixes, fmt in _FORMATS if name.endswith(suffixes)), None)


def validate_download(path: str, filename: Optional[str] = None, *, size: Optional[int] = None,
                      sha256: Optional[str] = None, size_confirmed: bool = True) -> None:
    """Check that a downloaded file is a complete ``filename`` before it gets its final name.

    Checks, in order: ``size`` and ``sha256`` when known; that it is no HTML page;
    the format its name implies (:func:`file_format`): a pickle (``.pdparams``,
    ``.pdopt``) starts with PROTO and ends with STOP; ``pytorch_model.bin`` is a
    complete zip archive or a pickle; ``.safetensors`` has a sane header length, a
    JSON header and tensor data that ends exactly at the end of the file; ``.h5``
    starts with the HDF5 signature; ``.txt`` is UTF-8; ``.json`` parses.

    Args:
        path: the downloaded file.
        filename: the name it is published under (default: ``path``'s own name).
        size: the exact size the name table lists.
        sha256: the digest the name table lists.
        size_confirmed: False when neither the name table nor the server stated the
            length, so a connection dropped early cannot be told from the end of the
            file; then a format that does not show its own end (text, h5, a legacy
            torch pickle) is refused.

    Raises:
        ChecksumError: wrong size or sha256.
        DownloadError: anything else; the message names the file and the problem.
    """
    name = filename or os.path.basename(path)
    got = os.path.getsize(path)
    if size is not None and got != size:
        raise ChecksumError(f"{name}: got {got} bytes, expected {size}")
    if sha256:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(CHUNK_SIZE), b""):
                digest.update(block)
        if digest.hexdigest() != sha256.lower():
            raise ChecksumError(f"{name}: sha256 mismatch (got {digest.hexdigest()}, expected {sha256.lower()})")
    fmt = file_format(name)
    if fmt is None:
        return
    if got == 0:
        raise DownloadError(f"{name} is empty")
    with open(path, "rb") as f:
        head = f.read(1024)
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(_HTML_START):
        raise DownloadError(f"{name} is an HTML page (an error page served as the file?), not a {fmt} file")
    problem, shows_end = _FORMAT_CHECKS[fmt](path, head, last, got)
    if problem:
        raise DownloadError(f"{name} is not a valid {fmt} file: {problem}")
    if not size_confirmed and not shows_end:
        raise DownloadError(f"{name}: the server did not say how long the file is (no Content-Length) and a {fmt} "
                            "file does not show where it ends, so a dropped connection cannot be told from a "
                            "complete file")


def _check_pickle(path, head, last, got):
    if not head.startswith(_PICKLE_START):
        return f"it does not start with the pickle PROTO opcode (first bytes {head[:8]!r})", True
    return (None if last == _PICKLE_STOP else "it does not end with the pickle STOP opcode (cut off?)"), True


def _check_torch(path, head, last, got):
    if head.startswith(_ZIP_START):  # torch.save's zip format: the central directory at the end proves it whole
        return (None if zipfile.is_zipfile(path) else "the zip archive has no central directory (cut off?)"), True
    if head.startswith(_PICKLE_START):  # the legacy format: pickles followed by raw storages
        return None, False
    return f"it is neither a zip archive nor a pickle (first bytes {head[:8]!r})", True


def _check_safetensors(path, head, last, got):
    n = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
    if not 2 <= n <= min(got - 8, MAX_SAFETENSORS_HEADER):
        return f"header length {n} does not fit a file of {got} bytes", True
    with open(path, "rb") as f:
        f.seek(8)
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return f"its header is not JSON ({exc})", True
    if not isinstance(header, dict):
        return "its header is not a JSON object", True
    try:
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        return "its header lists a tensor without data_offsets", True
    if end != got - 8 - n:  # the data ends exactly at the end of a whole file
        return f"the header describes {end} bytes of tensor data, the file holds {got - 8 - n} (cut off?)", True
    return None, True


def _check_h5(path, head, last, got):
    if not head.startswith(_HDF5_START):
        return f"it does not start with the HDF5 signature (first bytes {head[:8]!r})", False
    return None, False


def _check_text(path, head, last, got, parse_json=False):
    decoder = codecs.getincrementaldecoder("utf-8")()
    parts = []
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(CHUNK_SIZE), b""):
                text = decoder.decode(block)
                if parse_json:  # plain text is only decoded, never held
                    parts.append(text)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return f"it is not UTF-8 text ({exc.reason})", True
    if parse_json:
        try:
            json.loads("".join(parts))
        except (ValueError, RecursionError) as exc:  # json recurses once per level of nesting
            return f"it does not parse as JSON ({exc})", True
    return None, parse_json


_FORMAT_CHECKS = {
    "pickle": _check_pickle,
    "torch": _check_torch,
    "safetensors": _check_safetensors,
    "h5": _check_h5,
    "text": _check_text,
    "json": lambda *args: _check_text(*args, parse_json=True),
}


# ---------------------------------------------------------------- fetch
def fetch(url: str, dest: str, *, sha256: Optional[str] = None, size: Optional[int] = None,
          desc: Optional[str] = None, hint: str = "", max_bytes: Optional[int] = None,
          stall_timeout: Optional[float] = None, deadline: Optional[float] = None) -> str:
    """Download ``url`` to ``dest`` (resumable, verified, bounded, locked); return ``dest``.

    An existing ``dest`` is returned without any request. ``sha256`` / ``size``
    are checked when given, and the file is checked by :func:`validate_download`
    under ``dest``'s name before it is renamed onto ``dest``. ``max_bytes``,
    ``stall_timeout`` and ``deadline`` override the environment (see :func:`limits`).

    Raises:
        DownloadError: the server cannot be reached, answers an error or an HTML
            page, sends more than the cap, stalls, misses the deadline, the
            transfer keeps breaking off, or the file is not what its name says
            (then it is deleted); ``hint`` is appended to the message.
        ChecksumError: the complete file has the wrong size or sha256 (the
            partial file is deleted, so the next call starts over).
        ValueError: a limit (argument or environment variable) that is not a positive number.
    """
    if os.path.isfile(dest):
        return dest
    bounds = limits(size, max_bytes=max_bytes, stall_timeout=stall_timeout, deadline=deadline)
    desc = desc or os.path.basename(dest)

    def work(cancel: threading.Event) -> str:
        # the worker holds the lock, so an abandoned worker keeps others off the partial file until it stops
        with file_lock(dest, f"downloading {desc}"):
            if os.path.isfile(dest):  # another process finished it while we waited
                return dest
            part = dest + INCOMPLETE_SUFFIX
            confirmed = _transfer(url, part, size=size, bounds=bounds, name=os.path.basename(dest), desc=desc,
                                  hint=hint, cancel=cancel)
            try:
                validate_download(part, os.path.basename(dest), size=size, sha256=sha256, size_confirmed=confirmed)
            except DownloadError as exc:
                os.remove(part)
                raise _error(url, f"{exc}; the partial file was deleted, retry to download it again", hint,
                             type(exc)) from None
            if cancel.is_set():
                raise _Abandoned()
            os.replace(part, dest)
        return dest

    finished, result = run_with_deadline(work, bounds.deadline)
    if not finished:
        raise _error(url, f"not finished within {bounds.deadline:g} s (PADDLE_ELECTRA_DOWNLOAD_DEADLINE); the bytes "
                          f"received so far stay in {dest + INCOMPLETE_SUFFIX} for the next call", hint)
    return result


def _client(stall: float) -> httpx.Client:
    return httpx.Client(
        transport=httpx.HTTPTransport(retries=CONNECT_RETRIES),
        timeout=httpx.Timeout(stall, connect=CONNECT_TIMEOUT),
        follow_redirects=True,
        headers={"Accept-Encoding": "identity", "User-Agent": "paddle_electra"},
    )


def _error(url: str, reason: str, hint: str, cls=DownloadError) -> DownloadError:
    return cls(f"could not download {url}: {reason}" + (f"\n{hint}" if hint else ""))


def _transfer(url: str, part: str, *, size: Optional[int], bounds: Limits, name: str, desc: str, hint: str,
              cancel: threading.Event) -> bool:
    """Bring ``part`` to the complete file, resuming it when it exists.

    Returns whether its length was confirmed (by the name table, a Content-Length,
    a Content-Range or chunked framing) rather than just ended by a closed connection.
    """
    wait = BACKOFF
    last = "no attempt made"
    with _client(bounds.stall) as client:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            offset = os.path.getsize(part) if os.path.exists(part) else 0
            if size is not None and offset > size:
                offset = _restart(part)
            if size is not None and offset == size:
                return True  # complete already (an earlier run died before the rename)
            try:
                done, last, confirmed = _one_request(client, url, part, offset, bounds, name, desc, hint, cancel)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc or 'no answer'}"
                got = os.path.getsize(part) if os.path.exists(part) else 0
                no_connection = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout,
                                                 httpx.UnsupportedProtocol, httpx.ProxyError))
                silent_server = isinstance(exc, httpx.TimeoutException) and got <= offset
                if no_connection or silent_server:
                    # the transport has retried the connection already, and a server that says
                    # nothing for the stall timeout will not start now: fail fast
                    raise _error(url, reason, hint) from exc
                done, last, confirmed = False, reason, False
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # a redirect loop, a bad Location, ...: final
                raise _error(url, f"{type(exc).__name__}: {exc}", hint) from None
            if done:
                return confirmed or size is not None
            progressed = (os.path.getsize(part) if os.path.exists(part) else 0) > offset
            if attempt < MAX_ATTEMPTS and not progressed:
                if cancel.wait(wait):
                    raise _Abandoned()
                wait *= 2
    got = os.path.getsize(part) if os.path.exists(part) else 0
    raise _error(url, f"gave up after {MAX_ATTEMPTS} attempts ({last}); {got} bytes kept in {part}, "
                      "the next call resumes from there", hint)


def _restart(part: str) -> int:
    if os.path.exists(part):
        os.remove(part)
    return 0


def _one_request(client: httpx.Client, url: str, part: str, offset: int, bounds: Limits, name: str, desc: str,
                 hint: str, cancel: threading.Event):
    """One GET; returns ``(complete, reason_if_not, length_confirmed)``. Raises DownloadError on a final error."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", url, headers=headers) as response:
        if cancel.is_set():
            raise _Abandoned()
        status = response.status_code
        if status in RETRY_STATUS:
            return False, f"HTTP {status}", False
        if status == 416 and offset:  # nothing left from `offset`: complete already, or a longer partial
            if response.headers.get("Content-Range", "") == f"bytes */{offset}":
                return True, "", True
            _restart(part)
            return False, "HTTP 416 for the resumed range; restarting", False
        if status >= 400:
            raise _error(url, f"HTTP {status} {response.reason_phrase}", hint)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type == "text/html" and file_format(name):
            raise _error(url, f"the server answered with an HTML page (Content-Type: text/html), not {name}", hint)
        if offset and status == 206 and _range_start(response) != offset:
            _restart(part)  # a range we did not ask for: start over
            return False, "the server answered a different range; restarting", False
        if offset and status == 200:
            offset = _restart(part)  # the server ignored the Range: take the whole file from byte 0
        if status != (206 if offset else 200):
            raise _error(url, f"unexpected HTTP {status} {response.reason_phrase}", hint)
        total = _total_length(response, offset)
        if total is not None and total > bounds.max_bytes:
            raise _error(url, f"the server announces {total} bytes, more than {bounds.max_bytes} "
                              f"({bounds.max_bytes_from})", hint)
        # h11 enforces Content-Length and chunked framing, so only a close-delimited body can end early unnoticed
        framed = "content-length" in response.headers or \
            "chunked" in response.headers.get("Transfer-Encoding", "").lower()
        too_large = False
        with open(part, "ab" if offset else "wb") as f, tqdm(
            total=total, initial=offset, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
            file=sys.stderr, disable=progress_disabled(), leave=False,
        ) as bar:
            for chunk in response.iter_bytes():  # as received: a break-off loses nothing
                if cancel.is_set():
                    raise _Abandoned()
                if f.tell() + len(chunk) > bounds.max_bytes:
                    too_large = True
                    break
                f.write(chunk)
                bar.update(len(chunk))
        if too_large:
            _restart(part)
            raise _error(url, f"the file is larger than {bounds.max_bytes} bytes ({bounds.max_bytes_from}); "
                              "the partial file was deleted", hint)
        got = os.path.getsize(part)
        if total is not None and got < total:
            return False, f"transfer ended at {got} of {total} bytes", False
        return True, "", framed


def _range_start(response: httpx.Response) -> Optional[int]:
    m = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def _total_length(response: httpx.Response, offset: int) -> Optional[int]:
    """Full size of the remote file, when the headers tell it."""
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    m = re.match(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
    if m:
        return int(m.group(1))
    length = response.headers.get("Content-Length")
    return offset + int(length) if length is not None and length.isdigit() else None
