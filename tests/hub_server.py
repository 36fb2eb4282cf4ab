"""A local HTTP server for the download tests: a hub-like tree and a bcebos-like tree.

* Hub tree: ``HEAD``/``GET /{owner}/{repo}/resolve/{revision}/{filename}`` with the
  headers huggingface_hub needs (``X-Repo-Commit``, ``ETag``, ``Content-Length``,
  ``Accept-Ranges``) and its ``X-Error-Code`` on 404s.
* Plain tree: any path added with :meth:`HubServer.add_file`.

Both honour ``Range: bytes=N-`` (206 + ``Content-Range``). Faults are queued per
path and used up one per GET: ``"corrupt"`` (same length, flipped bytes),
``"cut:N"`` (announce the full length, send N body bytes, close the
connection), ``"500"`` (an HTTP 500 answer), ``"norange"`` (ignore the Range
header, answer 200 with the whole file), ``"stall:S"`` (say nothing for S
seconds, then close). Every request is recorded.

Modes are set per path (``"*"``: every path) and hold for HEAD and every GET until
cleared, as a broken or hostile server does: ``"html"`` (200 with an HTML error
page, ``Content-Type: text/html``), ``"nolength:N"`` (no Content-Length, N body
bytes, then close), ``"endless"`` (no Content-Length, the file's bytes repeated
forever), ``"drip:S"`` (the real Content-Length, then one byte every S seconds),
``"loop"`` (a 302 redirect to the same path).
"""

from __future__ import annotations

import collections
import hashlib
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple

_HUB_PATH = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


@dataclass
class Request:
    method: str
    path: str
    range: Optional[str]


class HubServer:
    """Threaded server on 127.0.0.1 (a free port); use as a context manager or start()/stop()."""

    def __init__(self, chunk_delay: float = 0.0, chunk_size: int = 4096):
        self.plain: Dict[str, bytes] = {}
        self.hub: Dict[Tuple[str, str, str], bytes] = {}
        self.faults: Dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.modes: Dict[str, str] = {}
        self.requests: List[Request] = []
        self.chunk_delay = chunk_delay  # seconds between body chunks (to make transfers overlap)
        self.chunk_size = chunk_size
        self._lock = threading.Lock()
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------ content
    def add_file(self, path: str, data: bytes) -> None:
        self.plain[path] = data

    def add_hub_file(self, repo: str, filename: str, data: bytes, revision: str = "main") -> None:
        self.hub[(repo, revision, filename)] = data

    def add_faults(self, path: str, *faults: str) -> None:
        with self._lock:
            self.faults[path].extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def set_mode(self, path: str, mode: str) -> None:
        self.modes[path] = mode

    def clear_modes(self) -> None:
        self.modes.clear()

    # ------------------------------------------------------------ log
    def count(self, method: Optional[str] = None, path: Optional[str] = None) -> int:
        """Requests seen, optionally of one method and/or whose path contains ``path``."""
        with self._lock:
            return sum(1 for r in self.requests
                       if (method is None or r.method == method) and (path is None or path in r.path))

    def log(self, path: Optional[str] = None) -> List[Request]:
        with self._lock:
            return [r for r in self.requests if path is None or path in r.path]

    # ------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> "HubServer":
        self.stopped = False
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.app = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped = True  # ends endless and dripping answers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ internals
    def _record(self, method: str, path: str, range_header: Optional[str]) -> Optional[str]:
        with self._lock:
            self.requests.append(Request(method, path, range_header))
            queue = self.faults.get(path)
            if method == "GET" and queue:
                return queue.popleft()
        return None

    def _lookup(self, path: str):
        """(data, extra headers) or (None, 404 headers)."""
        m = _HUB_PATH.match(path)
        if m:
            key = (m.group("repo"), m.group("rev"), m.group("file"))
            commit = hashlib.sha1(f"{key[0]}@{key[1]}".encode()).hexdigest()
            if key in self.hub:
                data = self.hub[key]
                return data, {"X-Repo-Commit": commit, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
            known_repo = any(r == key[0] for r, _, _ in self.hub)
            code = "EntryNotFound" if known_repo else "RepoNotFound"
            return None, {"X-Error-Code": code, **({"X-Repo-Commit": commit} if known_repo else {})}
        if path in self.plain:
            data = self.plain[path]
            return data, {"ETag": f'"{hashlib.md5(data).hexdigest()}"'}
        return None, {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _plain_answer(self, status: int, headers: Dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        app: HubServer = self.server.app
        path = self.path.split("?", 1)[0]
        range_header = self.headers.get("Range")
        fault = app._record(self.command, path, range_header)
        if fault and fault.startswith("stall:"):
            time.sleep(float(fault.split(":", 1)[1]))
            self.close_connection = True
            return
        data, extra = app._lookup(path)
        if data is None:
            self._plain_answer(404, extra, b"not found")
            return
        mode = app.modes.get(path) or app.modes.get("*")
        if mode:
            try:
                self._broken_answer(app, mode, data, extra)
            except OSError:  # the client hung up (as it should on an endless body)
                self.close_connection = True
            return
        if fault == "500":
            self._plain_answer(500, {}, b"internal error")
            return
        if fault == "corrupt":
            data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
        start = 0
        m = re.match(r"bytes=(\d+)-$", range_header or "")
        if m and fault != "norange":
            start = int(m.group(1))
            if start >= len(data):
                self._plain_answer(416, {"Content-Range": f"bytes */{len(data)}", **extra})
                return
        body = data[start:]
        self.send_response(206 if start else 200)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if head:
            return
        limit = int(fault.split(":", 1)[1]) if fault and fault.startswith("cut:") else None
        to_send = body if limit is None else body[:limit]
        for i in range(0, len(to_send), app.chunk_size):
            self.wfile.write(to_send[i:i + app.chunk_size])
            self.wfile.flush()
            if app.chunk_delay:
                time.sleep(app.chunk_delay)
        if limit is not None:  # break the transfer off: fewer bytes than announced, then close
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _broken_answer(self, app: "HubServer", mode: str, data: bytes, extra: Dict[str, str]) -> None:
        kind, _, arg = mode.partition(":")
        if kind == "loop":
            self._plain_answer(302, {"Location": self.path})
            return
        if kind == "html":
            page = HTML_PAGE
            self._plain_answer(200, {**extra, "ETag": f'"{hashlib.md5(page).hexdigest()}"',
                                     "Content-Type": "text/html; charset=utf-8"}, page)
            return
        self.send_response(200)
        for k, v in extra.items():
            self.send_header(k, v)
        if kind == "drip":
            self.send_header("Content-Length", str(len(data)))
        else:  # no length: the body ends when the connection closes
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        if kind == "nolength":
            self.wfile.write(data[:int(arg)])
        elif kind == "endless":
            while not app.stopped:
                self.wfile.write(data)
        elif kind == "drip":
            for i in range(len(data)):
                if app.stopped:
                    break
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(float(arg))
        else:
            raise ValueError(f"unknown mode {mode!r}")


HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>try again later</body></html>\n"


def free_port() -> int:
    """A port nothing listens on (bound and released), for connection-refused tests."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The tiny ELECTRA every local-hub test publishes (its config and its vocabulary file).
TINY_HUB_CONFIG = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=37, hidden_act="gelu", hidden_dropout_prob=0.1,
                       attention_probs_dropout_prob=0.1, max_position_embeddings=64, type_vocab_size=2,
                       initializer_range=0.02, pad_token_id=0, layer_norm_eps=1e-12)
TINY_HUB_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(94)]
TINY_HUB_VOCAB = "".join(f"{t}\n" for t in TINY_HUB_TOKENS).encode()


def use_local_hub(monkeypatch, cache_root, url: str) -> None:
    """Point paddle_electra at ``url`` for both routes, with a fresh cache, online, quick retries.

    Clears every offline switch and transfer-bound variable the caller's environment may
    have, so a test sees the package's defaults.
    """
    import huggingface_hub.constants

    from paddle_electra.loading import fetch as _fetch

    monkeypatch.setenv("PADDLE_ELECTRA_HOME", str(cache_root))
    monkeypatch.setenv("PADDLE_ELECTRA_MIRROR", url)
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("PADDLE_ELECTRA_DISABLE_PROGRESS_BARS", "1")
    for var in ("PADDLE_ELECTRA_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DOWNLOAD_TIMEOUT",
                "PADDLE_ELECTRA_MAX_DOWNLOAD_BYTES", "PADDLE_ELECTRA_STALL_TIMEOUT",
                "PADDLE_ELECTRA_DOWNLOAD_DEADLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read at its import
    monkeypatch.setattr(_fetch, "BACKOFF", 0.01)
