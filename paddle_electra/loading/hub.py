"""Published names -> local model folders: download once, convert once, reuse.

:func:`resolve` turns a name from the name table (:mod:`paddle_electra.loading.registry`)
into a folder ``from_pretrained`` can load; a local folder is returned as is.
Each name gets ``<cache_root()>/models/<name with "/" as "--">/`` holding

* ``config.json``, written from the name table's config (the table is
  authoritative: a hub ``config.json`` is never downloaded, so a wrong one,
  as for ``hfl/chinese-legal-electra-small-generator``, cannot leak in);
* ``model_state.pdparams`` (``kind="model"``): PaddleNLP-named weights. Files
  on the Hugging Face Hub are fetched with ``huggingface_hub.hf_hub_download``
  into ``<cache_root()>/hf`` and converted to Paddle once; plain URLs (Baidu
  bcebos) are fetched by :func:`paddle_electra.loading.fetch.fetch`. A published
  ``model_config.json`` comes along when the name lists one;
* ``vocab.txt`` and ``tokenizer_config.json`` (``kind="tokenizer"``), the latter
  written from the table's tokenizer settings.

Later calls find the files and make no request at all. Every file appears
under its final name only when complete (temporary name + rename, under a
cross-process file lock), so concurrent processes end with one valid copy.

Environment variables (read at each call, so they can be set after import):

``PADDLE_ELECTRA_HOME``
    Cache root. Default ``$XDG_CACHE_HOME/paddle_electra``, or
    ``~/.cache/paddle_electra`` when ``XDG_CACHE_HOME`` is unset.
``XDG_CACHE_HOME``
    Base of the default cache root (see above).
``PADDLE_ELECTRA_OFFLINE``
    ``1``: never touch the network; a file missing from the cache is an error
    naming it. ``HF_HUB_OFFLINE=1`` does the same. huggingface_hub is switched
    off with it (its ``HF_HUB_OFFLINE`` and ``HF_HUB_DISABLE_TELEMETRY``), as it
    otherwise sends a request of its own even for a cached file.
``HF_HUB_OFFLINE``
    As ``PADDLE_ELECTRA_OFFLINE`` (huggingface_hub's own switch).
``PADDLE_ELECTRA_MIRROR``
    Base URL that replaces the scheme and host of every plain (bcebos) URL,
    after a bucket host is put in path style, e.g. with
    ``PADDLE_ELECTRA_MIRROR=http://10.0.0.5:8000``:
    ``https://bj.bcebos.com/paddlenlp/models/x.pdparams`` ->
    ``http://10.0.0.5:8000/paddlenlp/models/x.pdparams`` and
    ``https://paddlenlp.bj.bcebos.com/models/y/vocab.txt`` ->
    ``http://10.0.0.5:8000/paddlenlp/models/y/vocab.txt``
    (see :func:`paddle_electra.loading.fetch.mirror_url`).
``HF_ENDPOINT``
    Hugging Face Hub endpoint (a mirror such as ``https://hf-mirror.com``);
    read at each call and passed to huggingface_hub, so setting it after
    import works.
``HF_TOKEN``
    Token for private or gated hub repositories (read by huggingface_hub).
``PADDLE_ELECTRA_DISABLE_PROGRESS_BARS``
    ``1``: no progress bars (downloads and conversion).
``PADDLE_ELECTRA_MAX_DOWNLOAD_BYTES`` / ``PADDLE_ELECTRA_STALL_TIMEOUT`` / ``PADDLE_ELECTRA_DOWNLOAD_DEADLINE``
    Bounds of every transfer, on both routes (see :func:`paddle_electra.loading.fetch.limits`):
    the largest file of unknown size (default 4 GiB; a size the name table lists
    is the cap when known), seconds without a byte (default 30; on the hub route
    ``HF_HUB_DOWNLOAD_TIMEOUT`` wins when set), seconds for a whole file (default
    3600). A hub file is downloaded by a child process that is killed at the deadline.
``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``
    Honoured by both downloaders.

Every downloaded file is checked by :func:`paddle_electra.loading.fetch.validate_download`
(size, format magic, no HTML page) before it is used: on the plain route before
the rename onto its final name, on the hub route right after huggingface_hub's
rename, removing the blob, its snapshot link and partial files when it fails.

Failures are :class:`DownloadError` (an ``OSError``; :class:`ChecksumError`
and :class:`OfflineError` are its subclasses) naming the URL or file and
saying how to get around it: a local folder, a mirror, or a pre-filled cache.
"""

from __future__ import annotations

import contextlib
import contextvars
import glob
import json
import math
import os
import re
import subprocess
import sys
from typing import Iterator, List, Optional, Tuple
from urllib.parse import unquote, urlsplit

from . import registry
from .._io import atomic_path, copy_file, write_text
from .fetch import (
    CONNECT_TIMEOUT,
    ChecksumError,
    DownloadError,
    OfflineError,
    fetch,
    file_lock,
    limits,
    mirror_url,
    progress_disabled,
    validate_download,
)

__all__ = [
    "ChecksumError",
    "DownloadError",
    "OfflineError",
    "cache_root",
    "is_offline",
    "mirror_url",
    "model_dir",
    "resolve",
]

CONFIG_FILE = "config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
PADDLE_WEIGHTS = "model_state.pdparams"
_KINDS = ("model", "tokenizer")
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# ---------------------------------------------------------------- settings
# from_pretrained(..., cache_dir=...) (PaddleNLP's and HF's keyword) sets this for one call
_CACHE_DIR: contextvars.ContextVar = contextvars.ContextVar("paddle_electra_cache_dir", default=None)


@contextlib.contextmanager
def cache_dir_override(cache_dir: Optional[str]) -> Iterator[None]:
    """Use ``cache_dir`` as the cache root inside the block (None: no change)."""
    if cache_dir is None:
        yield
        return
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise ValueError(f"cache_dir must be a folder path, got {type(cache_dir).__name__}")
    token = _CACHE_DIR.set(os.path.abspath(os.path.expanduser(os.fspath(cache_dir))))
    try:
        yield
    finally:
        _CACHE_DIR.reset(token)


def cache_root() -> str:
    """The cache root: a call's ``cache_dir``, else ``$PADDLE_ELECTRA_HOME``, else
    ``$XDG_CACHE_HOME/paddle_electra``, else ``~/.cache/paddle_electra``."""
    if _CACHE_DIR.get() is not None:
        return _CACHE_DIR.get()
    home = os.environ.get("PADDLE_ELECTRA_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(os.path.expanduser(base)), "paddle_electra")


def is_offline() -> bool:
    """True when ``PADDLE_ELECTRA_OFFLINE`` or ``HF_HUB_OFFLINE`` is ``1`` (or true/yes/on)."""
    return any(_truthy(os.environ.get(var)) for var in ("PADDLE_ELECTRA_OFFLINE", "HF_HUB_OFFLINE"))


def _truthy(value: Optional[str]) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


# huggingface_hub reads HF_HUB_OFFLINE once, at its import, and builds every request's
# headers by asking {endpoint}/api/agent-harnesses unless that switch is on; so a process
# started offline switches it on before anything imports huggingface_hub ...
if _truthy(os.environ.get("PADDLE_ELECTRA_OFFLINE")):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@contextlib.contextmanager
def _hf_offline_if_needed() -> Iterator[None]:
    """... and offline mode switched on later holds huggingface_hub's switches on while we call it."""
    if not is_offline():
        yield
        return
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE, constants.HF_HUB_DISABLE_TELEMETRY
    constants.HF_HUB_OFFLINE = constants.HF_HUB_DISABLE_TELEMETRY = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, constants.HF_HUB_DISABLE_TELEMETRY = saved


def model_dir(name: str) -> str:
    """The cache folder of a published name (``/`` becomes ``--``: ``hfl--chinese-...``)."""
    parts = name.split("/")
    if len(parts) > 2 or not all(_SAFE_PART.match(p) for p in parts):
        raise ValueError(f"{name!r} cannot name a cache folder (expected 'name' or 'owner/name' of "
                         "letters, digits, '.', '_' and '-')")
    return os.path.join(cache_root(), "models", "--".join(parts))


# ---------------------------------------------------------------- resolve
def resolve(name_or_path: str, kind: str = "model") -> str:
    """A local folder holding what ``kind`` needs for ``name_or_path``.

    Args:
        name_or_path: a local folder (returned unchanged) or a published name.
        kind: ``"model"`` (weights + config) or ``"tokenizer"`` (vocabulary +
            tokenizer config).

    Raises:
        ValueError: unknown name (the message lists the closest names), or a
            config-only name asked for weights.
        DownloadError: a file could not be fetched (:class:`OfflineError` when
            offline mode is on and it is not cached, :class:`ChecksumError`
            when it arrived corrupt).
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if os.path.isdir(name_or_path):
        return name_or_path
    entry = registry.get_entry(name_or_path)
    files = _needed_files(entry, kind)
    if entry.source == "embedded":
        return embedded_folder(entry, files)
    folder = model_dir(entry.name)
    os.makedirs(folder, exist_ok=True)
    for f in files:
        dest = os.path.join(folder, _local_name(entry, f))
        if os.path.isfile(dest):
            continue
        if entry.source == "huggingface":
            _ensure_hub_file(entry, f, dest)
        else:
            _ensure_plain_file(entry, f, dest)
    write_text(os.path.join(folder, CONFIG_FILE), _config_json(entry), skip_if_same=True)
    if kind == "tokenizer":
        write_text(os.path.join(folder, TOKENIZER_CONFIG_FILE), _tokenizer_config_json(entry), skip_if_same=True)
    return folder


# ---------------------------------------------------------------- embedded models
EMBEDDED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained_models")
_verified: set = set()


def embedded_folder(entry: "registry.PretrainedEntry", files=None) -> str:
    """The package folder of a model shipped inside paddle_electra, its files checked once per process.

    Raises:
        FileNotFoundError / ChecksumError: the installed package lacks a file or
            holds a different one (a broken install: reinstall paddle_electra).
    """
    import hashlib

    folder = os.path.join(EMBEDDED_DIR, entry.name)
    for f in entry.files if files is None else files:
        path = os.path.join(folder, f.filename)
        if path in _verified:
            continue
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{entry.name} ships with paddle_electra, but {path} is missing: "
                                    "the installation is incomplete; reinstall paddle_electra")
        if f.sha256:
            with open(path, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
            if digest != f.sha256:
                raise ChecksumError(f"{path} does not match the name table (sha256 {digest[:12]}... != "
                                    f"{f.sha256[:12]}...): the installation is damaged; reinstall paddle_electra")
        _verified.add(path)
    return folder


def _needed_files(entry: "registry.PretrainedEntry", kind: str) -> List["registry.PretrainedFile"]:
    if kind == "model":
        if entry.source == "none" or not entry.has_weights:
            raise ValueError(
                f"{entry.name} has no published weights (the name table lists its config only"
                + (f": {entry.notes}" if entry.notes else "")
                + f"). To pre-train it from scratch, build it from its config:\n"
                f"    config = ElectraConfig.from_pretrained({entry.name!r})\n"
                f"    model = {entry.architecture}(config)\n"
                f"or load a folder of weights you trained with {entry.architecture}.from_pretrained('/path/to/folder')"
            )
        # a published config file may come along (model_config.json), but never onto the
        # config.json that the table's config is written to
        return [f for f in entry.files
                if f.role == "weights" or (f.role == "config" and _local_name(entry, f) != CONFIG_FILE)]
    vocab = entry.file("vocab")
    if vocab is None:
        raise ValueError(f"{entry.name} publishes no vocabulary file; pass a local folder holding vocab.txt")
    return [vocab]


def _local_name(entry, f) -> str:
    """File name in the cache folder: hub weights are stored converted, as ``model_state.pdparams``."""
    return PADDLE_WEIGHTS if entry.source == "huggingface" and f.role == "weights" else f.filename


# ---------------------------------------------------------------- plain URLs
def _ensure_plain_file(entry, f, dest: str) -> None:
    if is_offline():
        raise OfflineError(_offline_message(entry, f, dest))
    url = mirror_url(f.url, os.environ.get("PADDLE_ELECTRA_MIRROR"))
    fetch(url, dest, sha256=f.sha256, size=f.size, desc=f"{entry.name}: {f.filename}",
          hint=_hints(entry, dest))


# ---------------------------------------------------------------- HF hub
def _ensure_hub_file(entry, f, dest: str) -> None:
    """Fetch one hub file through huggingface_hub; weights are converted to Paddle once."""
    with file_lock(dest, f"preparing {entry.name}: {f.filename}"):
        if os.path.isfile(dest):  # another process made it while we waited
            return
        src = _hub_download(entry, f, dest)
        if f.role == "weights":
            try:
                _convert_weights(src, dest, entry.name)
            except ValueError:  # unreadable: drop it from huggingface_hub's cache too, the next call fetches it anew
                _remove_hub_file(src)
                raise
        else:
            copy_file(src, dest)


def _hub_location(entry, f) -> Tuple[str, str]:
    """(revision, path in the repo) from ``.../<repo>/resolve/<revision>/<path>``; else ("main", filename)."""
    path = urlsplit(f.url).path
    prefix = f"/{entry.hf_repo}/resolve/"
    if path.startswith(prefix):
        revision, _, in_repo = path[len(prefix):].partition("/")
        if revision and in_repo:
            return unquote(revision), unquote(in_repo)
    return "main", f.filename


def _hub_download(entry, f, dest: str) -> str:
    """Path of the file in huggingface_hub's cache (``<cache_root()>/hf``), downloading it if needed."""
    from huggingface_hub import hf_hub_download, hf_hub_url
    from huggingface_hub.errors import LocalEntryNotFoundError

    revision, filename = _hub_location(entry, f)
    endpoint = (os.environ.get("HF_ENDPOINT") or "").rstrip("/") or None
    kwargs = dict(repo_id=entry.hf_repo, filename=filename, revision=revision,
                  cache_dir=os.path.join(cache_root(), "hf"), endpoint=endpoint, library_name="paddle_electra")
    try:  # the raw file may be cached already (e.g. an earlier conversion was interrupted)
        with _hf_offline_if_needed():
            cached = hf_hub_download(**kwargs, local_files_only=True)
        validate_download(cached, filename, size=f.size, sha256=f.sha256)
        return cached
    except LocalEntryNotFoundError:
        pass
    except DownloadError:  # a bad file from an older version: fetch it again
        _remove_hub_file(cached)
    if is_offline():
        raise OfflineError(_offline_message(entry, f, dest))
    url = hf_hub_url(entry.hf_repo, filename, revision=revision, endpoint=endpoint)
    path, size_known = _bounded_hub_download(entry, f, kwargs, url, dest)
    try:
        validate_download(path, filename, size=f.size, sha256=f.sha256, size_confirmed=size_known)
    except DownloadError as exc:
        removed = _remove_hub_file(path)
        raise type(exc)(f"could not download {url} for {entry.name}: {exc}; removed it from the Hugging Face cache "
                        f"({', '.join(removed)}), so the next call downloads it again\n{_hints(entry, dest)}") from None
    return path


# Run in a child process so that the download can be killed at its deadline: huggingface_hub
# gives no way to stop a transfer, and reads its body in 10 MB blocks, so a server dripping
# bytes would hold a thread (and huggingface_hub's lock on the file) for as long as it likes.
_HUB_CHILD = r"""
import inspect, json, sys
from huggingface_hub import get_hf_file_metadata, hf_hub_download
from tqdm.auto import tqdm


def supported(fn, **kwargs):  # huggingface_hub < 0.26 (PaddleNLP's pin) lacks a few keywords
    names = inspect.signature(fn).parameters
    return {k: v for k, v in kwargs.items() if k in names}

job = json.loads(sys.argv[1])
cap = job["cap"]
seen = {}

def check(nbytes):
    if nbytes > cap:
        raise ValueError(f"the file is larger than {cap} bytes ({job['cap_from']})")

class Bounded(tqdm):  # huggingface_hub's one hook into its transfer: it reports each block it writes
    def __init__(self, *args, **kwargs):
        kwargs["disable"] = job["quiet"]
        super().__init__(*args, **kwargs)
        self.got, seen["total"] = kwargs.get("initial") or 0, kwargs.get("total")
        check(seen["total"] or 0)

    def update(self, n=1):
        self.got += n or 0
        check(self.got)
        return super().update(n)

try:
    meta = get_hf_file_metadata(job["url"], timeout=job["timeout"],
                                **supported(get_hf_file_metadata, endpoint=job["endpoint"]))
    print("META " + json.dumps({"etag": meta.etag}), flush=True)
    if meta.size is not None:
        check(meta.size)  # a body longer than announced is stopped at once, not at the end:
        cap, job["cap_from"] = meta.size, "the size its HEAD answer announced"
    # without tqdm_class (huggingface_hub < 0.26) the announced size, the deadline and the
    # validation after the transfer still bound it; the per-block cap needs the hook
    path = hf_hub_download(**job["kwargs"], etag_timeout=job["timeout"],
                           **supported(hf_hub_download, tqdm_class=Bounded))
    result = {"path": path, "size_known": meta.size is not None or seen.get("total") is not None}
except Exception as exc:
    lines = str(exc).strip().splitlines()
    result = {"error": f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"}
print("RESULT " + json.dumps(result), flush=True)
"""


def _bounded_hub_download(entry, f, kwargs: dict, url: str, dest: str) -> Tuple[str, bool]:
    """hf_hub_download in a child process under the transfer bounds; ``(path, size_known)``."""
    from huggingface_hub.file_download import repo_folder_name

    bounds = limits(f.size)
    job = dict(kwargs=kwargs, url=url, endpoint=kwargs["endpoint"], timeout=CONNECT_TIMEOUT, cap=bounds.max_bytes,
               cap_from=bounds.max_bytes_from, quiet=progress_disabled())
    env = dict(os.environ)  # the stall timeout is huggingface_hub's read timeout (whole seconds)
    env.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(max(1, math.ceil(bounds.stall))))
    failed = f"could not download {url} for {entry.name}"
    try:
        out = subprocess.run([sys.executable, "-c", _HUB_CHILD, json.dumps(job)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, env=env, timeout=bounds.deadline).stdout
    except OSError as exc:  # no interpreter to run it with (an embedded Python)
        raise DownloadError(f"{failed}: cannot start the download process ({exc})\n{_hints(entry, dest)}") from None
    except subprocess.TimeoutExpired as exc:  # killed: remove what huggingface_hub had written
        meta = _child_line(exc.stdout, "META")
        if meta and meta.get("etag"):
            blobs = os.path.join(kwargs["cache_dir"], repo_folder_name(repo_id=entry.hf_repo, repo_type="model"),
                                 "blobs")
            for part in glob.glob(os.path.join(glob.escape(blobs), glob.escape(meta["etag"]) + "*.incomplete")):
                os.remove(part)
        raise DownloadError(f"{failed}: not finished within {bounds.deadline:g} s "
                            f"(PADDLE_ELECTRA_DOWNLOAD_DEADLINE)\n{_hints(entry, dest)}") from None
    result = _child_line(out, "RESULT") or {"error": "the download process ended without a result"}
    if "error" in result:
        raise DownloadError(f"{failed}: {result['error']}\n{_hints(entry, dest)}")
    return result["path"], result["size_known"]


def _child_line(out, tag: str) -> Optional[dict]:
    text = out.decode("utf-8", "replace") if isinstance(out, bytes) else (out or "")
    lines = [line[len(tag) + 1:] for line in text.splitlines() if line.startswith(tag + " ")]
    return json.loads(lines[-1]) if lines else None


def _remove_hub_file(pointer: str) -> List[str]:
    """Remove a file from huggingface_hub's cache: its snapshot link, its blob and partial blobs; the paths removed."""
    blob = os.path.realpath(pointer)
    removed = []
    for path in [pointer, blob] + glob.glob(glob.escape(blob) + "*.incomplete"):
        if os.path.lexists(path):
            os.remove(path)
            removed.append(path)
    return removed


def _convert_weights(src: str, dest: str, name: str) -> None:
    """Read a hub weights file, rename/transpose HF keys to Paddle's, save ``dest`` atomically."""
    from tqdm.auto import tqdm

    from .convert.hf import hf_to_paddle, is_hf_state_dict
    from .convert.readers import read_state_dict

    with tqdm(total=3, desc=f"converting {name} to Paddle", unit="step", file=sys.stderr,
              disable=progress_disabled(), leave=False) as bar:
        bar.set_postfix_str("reading")
        state = read_state_dict(src)
        bar.update()
        bar.set_postfix_str("converting")
        if is_hf_state_dict(state):
            state, _ = hf_to_paddle(state)
        bar.update()
        bar.set_postfix_str("saving")
        import paddle

        with atomic_path(dest) as tmp:
            paddle.save(state, tmp)
        bar.update()


# ---------------------------------------------------------------- small files
def _config_json(entry) -> str:
    from ..model.configuration import ElectraConfig

    return ElectraConfig.from_dict(entry.config, architectures=[entry.architecture]).to_json_string()


def _tokenizer_config_json(entry) -> str:
    data = {"do_lower_case": True, "model_max_length": 512, **entry.tokenizer, "tokenizer_class": "ElectraTokenizer"}
    return json.dumps(dict(sorted(data.items())), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- messages
def _hints(entry, dest: Optional[str] = None) -> str:
    where = "HF_ENDPOINT (a Hugging Face Hub mirror)" if entry.source == "huggingface" else \
        "PADDLE_ELECTRA_MIRROR (a mirror of the bcebos files; see paddle_electra.loading.hub)"
    folder = os.path.dirname(dest) if dest else model_dir(entry.name)
    return (
        f"To load {entry.name} anyway: pass a local folder holding the model files to from_pretrained "
        f"instead of the name; or set {where} to a server you can reach; or fill the cache folder "
        f"{folder} (PADDLE_ELECTRA_HOME={cache_root()}) on a machine with network and copy it here."
    )


def _offline_message(entry, f, dest: str) -> str:
    return (
        f"{entry.name}: {f.filename} is not in the cache ({dest}) and offline mode is on "
        f"(PADDLE_ELECTRA_OFFLINE / HF_HUB_OFFLINE), so it was not downloaded from {f.url}.\n"
        + _hints(entry, dest)
        + " Or unset the offline switch to download it."
    )
