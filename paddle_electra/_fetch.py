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
  never answers fails after ``READ_TIMEOUT``;
* a transfer that breaks off, or a 408/429/5xx answer, gets up to
  ``MAX_ATTEMPTS`` requests in all, each resuming where the last one stopped;
* a byte-count progress bar (tqdm) goes to stderr.

Every failure is a :class:`DownloadError` (an ``OSError``) naming the URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import time
from typing import Iterator, Optional
from urllib.parse import urlsplit

import filelock
import httpx
from tqdm.auto import tqdm

CONNECT_TIMEOUT = 10.0  # seconds to open a TCP/TLS connection (each attempt)
READ_TIMEOUT = 30.0  # seconds without a byte from the server before the attempt fails
CONNECT_RETRIES = 1  # extra connection attempts, made by httpx's transport
MAX_ATTEMPTS = 4  # requests per file when a transfer breaks off or the server answers 408/429/5xx
BACKOFF = 0.5  # seconds before a retry that follows no progress; doubled each time
CHUNK_SIZE = 1 << 20
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})

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


def fetch(url: str, dest: str, *, sha256: Optional[str] = None, size: Optional[int] = None,
          desc: Optional[str] = None, hint: str = "") -> str:
    """Download ``url`` to ``dest`` (resumable, verified, locked); return ``dest``.

    An existing ``dest`` is returned without any request. ``sha256`` / ``size``
    are checked when given.

    Raises:
        DownloadError: the server cannot be reached, answers an error, or the
            transfer keeps breaking off; ``hint`` is appended to the message.
        ChecksumError: the complete file has the wrong size or sha256 (the
            partial file is deleted, so the next call starts over).
    """
    if os.path.isfile(dest):
        return dest
    desc = desc or os.path.basename(dest)
    with file_lock(dest, f"downloading {desc}"):
        if os.path.isfile(dest):  # another process finished it while we waited
            return dest
        part = dest + INCOMPLETE_SUFFIX
        _transfer(url, part, size=size, desc=desc, hint=hint)
        _verify(url, part, sha256=sha256, size=size, hint=hint)
        os.replace(part, dest)
    return dest


def _client() -> httpx.Client:
    return httpx.Client(
        transport=httpx.HTTPTransport(retries=CONNECT_RETRIES),
        timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
        follow_redirects=True,
        headers={"Accept-Encoding": "identity", "User-Agent": "paddle_electra"},
    )


def _error(url: str, reason: str, hint: str, cls=DownloadError) -> DownloadError:
    return cls(f"could not download {url}: {reason}" + (f"\n{hint}" if hint else ""))


def _transfer(url: str, part: str, *, size: Optional[int], desc: str, hint: str) -> None:
    """Bring ``part`` to the complete file, resuming it when it exists."""
    wait = BACKOFF
    last = "no attempt made"
    with _client() as client:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            offset = os.path.getsize(part) if os.path.exists(part) else 0
            if size is not None and offset > size:
                offset = _restart(part)
            if size is not None and offset == size:
                return  # complete already (an earlier run died before the rename)
            try:
                done, last = _one_request(client, url, part, offset, desc, hint)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc or 'no answer'}"
                got = os.path.getsize(part) if os.path.exists(part) else 0
                no_connection = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout,
                                                 httpx.UnsupportedProtocol, httpx.ProxyError))
                silent_server = isinstance(exc, httpx.TimeoutException) and got <= offset
                if no_connection or silent_server:
                    # the transport has retried the connection already, and a server that says
                    # nothing for READ_TIMEOUT will not start now: fail fast
                    raise _error(url, reason, hint) from exc
                done, last = False, reason
            if done:
                return
            progressed = (os.path.getsize(part) if os.path.exists(part) else 0) > offset
            if attempt < MAX_ATTEMPTS and not progressed:
                time.sleep(wait)
                wait *= 2
    got = os.path.getsize(part) if os.path.exists(part) else 0
    raise _error(url, f"gave up after {MAX_ATTEMPTS} attempts ({last}); {got} bytes kept in {part}, "
                      "the next call resumes from there", hint)


def _restart(part: str) -> int:
    if os.path.exists(part):
        os.remove(part)
    return 0


def _one_request(client: httpx.Client, url: str, part: str, offset: int, desc: str, hint: str):
    """One GET; returns ``(complete, reason_if_not)``. Raises DownloadError on a final HTTP error."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", url, headers=headers) as response:
        status = response.status_code
        if status in RETRY_STATUS:
            return False, f"HTTP {status}"
        if status == 416 and offset:  # nothing left from `offset`: complete already, or a longer partial
            if response.headers.get("Content-Range", "") == f"bytes */{offset}":
                return True, ""
            _restart(part)
            return False, "HTTP 416 for the resumed range; restarting"
        if status >= 400:
            raise _error(url, f"HTTP {status} {response.reason_phrase}", hint)
        if offset and status == 206 and _range_start(response) != offset:
            _restart(part)  # a range we did not ask for: start over
            return False, "the server answered a different range; restarting"
        if offset and status == 200:
            offset = _restart(part)  # the server ignored the Range: take the whole file from byte 0
        if status != (206 if offset else 200):
            raise _error(url, f"unexpected HTTP {status} {response.reason_phrase}", hint)
        total = _total_length(response, offset)
        with open(part, "ab" if offset else "wb") as f, tqdm(
            total=total, initial=offset, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
            file=sys.stderr, disable=progress_disabled(), leave=False,
        ) as bar:
            for chunk in response.iter_bytes():  # as received: a break-off loses nothing
                f.write(chunk)
                bar.update(len(chunk))
        got = os.path.getsize(part)
        if total is not None and got < total:
            return False, f"transfer ended at {got} of {total} bytes"
        return True, ""


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


def _verify(url: str, part: str, *, sha256: Optional[str], size: Optional[int], hint: str) -> None:
    got_size = os.path.getsize(part)
    if size is not None and got_size != size:
        os.remove(part)
        raise _error(url, f"got {got_size} bytes, expected {size}; the partial file was deleted", hint,
                     ChecksumError)
    if sha256:
        digest = hashlib.sha256()
        with open(part, "rb") as f:
            for block in iter(lambda: f.read(CHUNK_SIZE), b""):
                digest.update(block)
        if digest.hexdigest() != sha256.lower():
            os.remove(part)
            raise _error(url, f"sha256 mismatch (got {digest.hexdigest()}, expected {sha256.lower()}); the "
                              "corrupt file was deleted, retry to download it again", hint, ChecksumError)
