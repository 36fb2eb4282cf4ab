"""Published names -> local model folders: download once, convert once, reuse.

:func:`resolve` turns a name from the name table (:mod:`paddle_electra.registry`)
into a folder ``from_pretrained`` can load; a local folder is returned as is.
Each name gets ``<cache_root()>/models/<name with "/" as "--">/`` holding

* ``config.json``, written from the name table's config (the table is
  authoritative: a hub ``config.json`` is never downloaded, so a wrong one,
  as for ``hfl/chinese-legal-electra-small-generator``, cannot leak in);
* ``model_state.pdparams`` (``kind="model"``): PaddleNLP-named weights. Files
  on the Hugging Face Hub are fetched with ``huggingface_hub.hf_hub_download``
  into ``<cache_root()>/hf`` and converted to Paddle once; plain URLs (Baidu
  bcebos) are fetched by :func:`paddle_electra._fetch.fetch`. A published
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
    naming it. ``HF_HUB_OFFLINE=1`` does the same.
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
    (see :func:`paddle_electra._fetch.mirror_url`).
``HF_ENDPOINT``
    Hugging Face Hub endpoint (a mirror such as ``https://hf-mirror.com``);
    read at each call and passed to huggingface_hub, so setting it after
    import works.
``HF_TOKEN``
    Token for private or gated hub repositories (read by huggingface_hub).
``PADDLE_ELECTRA_DISABLE_PROGRESS_BARS``
    ``1``: no progress bars (downloads and conversion).
``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``
    Honoured by both downloaders.

Failures are :class:`DownloadError` (an ``OSError``; :class:`ChecksumError`
and :class:`OfflineError` are its subclasses) naming the URL or file and
saying how to get around it: a local folder, a mirror, or a pre-filled cache.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import List, Optional, Tuple
from urllib.parse import unquote, urlsplit

from . import registry
from ._io import atomic_path, copy_file, write_text
from ._fetch import (
    CONNECT_TIMEOUT,
    ChecksumError,
    DownloadError,
    OfflineError,
    fetch,
    file_lock,
    mirror_url,
    progress_disabled,
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
def cache_root() -> str:
    """The cache root: ``$PADDLE_ELECTRA_HOME``, else ``$XDG_CACHE_HOME/paddle_electra``, else ``~/.cache/...``."""
    home = os.environ.get("PADDLE_ELECTRA_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(os.path.expanduser(base)), "paddle_electra")


def is_offline() -> bool:
    """True when ``PADDLE_ELECTRA_OFFLINE`` or ``HF_HUB_OFFLINE`` is ``1`` (or true/yes/on)."""
    return any(
        (os.environ.get(var) or "").strip().lower() in ("1", "true", "yes", "on")
        for var in ("PADDLE_ELECTRA_OFFLINE", "HF_HUB_OFFLINE")
    )


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
EMBEDDED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained_models")
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
            _convert_weights(src, dest, entry.name)
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
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import LocalEntryNotFoundError

    revision, filename = _hub_location(entry, f)
    endpoint = (os.environ.get("HF_ENDPOINT") or "").rstrip("/") or None
    kwargs = dict(repo_id=entry.hf_repo, filename=filename, revision=revision,
                  cache_dir=os.path.join(cache_root(), "hf"), endpoint=endpoint, library_name="paddle_electra")
    if progress_disabled():
        kwargs["tqdm_class"] = _silent_tqdm_class()
    try:  # the raw file may be cached already (e.g. an earlier conversion was interrupted)
        return hf_hub_download(**kwargs, local_files_only=True)
    except LocalEntryNotFoundError:
        if is_offline():
            raise OfflineError(_offline_message(entry, f, dest)) from None
    url = hf_hub_url(entry.hf_repo, filename, revision=revision, endpoint=endpoint)
    try:
        # One HEAD with no retries first: hf_hub_download retries a failed HEAD for ~25 s,
        # this says "no network" in well under a second.
        get_hf_file_metadata(url, timeout=CONNECT_TIMEOUT, endpoint=endpoint)
        return hf_hub_download(**kwargs, etag_timeout=CONNECT_TIMEOUT)
    except (OSError, *_hub_http_errors()) as exc:  # HfHubHTTPError, LocalEntryNotFoundError, ... are OSErrors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DownloadError(f"could not download {url} for {entry.name}: {type(exc).__name__}: {reason}\n"
                            f"{_hints(entry, dest)}") from exc


def _hub_http_errors() -> tuple:
    """The HTTP client error base classes huggingface_hub may raise (httpx2 for 2.x, httpx / requests before)."""
    errors = []
    for module, attr in (("httpx2", "HTTPError"), ("httpx", "HTTPError"), ("requests", "RequestException")):
        try:
            errors.append(getattr(__import__(module), attr))
        except ImportError:
            continue
    return tuple(errors)


def _silent_tqdm_class():
    from tqdm.auto import tqdm

    class SilentTqdm(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return SilentTqdm


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
    from .configuration import ElectraConfig

    return ElectraConfig.from_dict(entry.config, architectures=[entry.architecture]).to_json_string()


def _tokenizer_config_json(entry) -> str:
    data = {"do_lower_case": True, "model_max_length": 512, **entry.tokenizer, "tokenizer_class": "ElectraTokenizer"}
    return json.dumps(dict(sorted(data.items())), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- messages
def _hints(entry, dest: Optional[str] = None) -> str:
    where = "HF_ENDPOINT (a Hugging Face Hub mirror)" if entry.source == "huggingface" else \
        "PADDLE_ELECTRA_MIRROR (a mirror of the bcebos files; see paddle_electra.hub)"
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
