"""Serve paddle_electra's name table to PaddleNLP's own classes.

With PaddleNLP installed, one call::

    import paddle_electra.loading.paddlenlp_plugin
    paddle_electra.loading.paddlenlp_plugin.register()

    from paddlenlp.transformers import AutoTokenizer, ElectraGenerator
    gen = ElectraGenerator.from_pretrained("hfl/chinese-legal-electra-small-generator")
    tok = AutoTokenizer.from_pretrained("hfl/chinese-legal-electra-small-generator")

makes unchanged PaddleNLP code load every name of paddle_electra's table that
PaddleNLP does not publish itself: the 22 ``hfl/...`` names, the models that ship
inside paddle_electra (``electra-zh-peoples-daily-small-*``), and the Google
generator / discriminator names whose configs PaddleNLP lists without weights.
Such a name is resolved by :func:`paddle_electra.loading.hub.resolve` (downloaded once,
converted to PaddleNLP's layout and checked, into paddle_electra's cache; no
network for the shipped models), and the resulting local folder (``config.json`` +
``model_state.pdparams`` or ``model.safetensors``, ``vocab.txt``,
``tokenizer_config.json``) is handed to PaddleNLP's own ``from_pretrained``, so the
objects are PaddleNLP's, built by PaddleNLP's code.

What is wrapped (at run time, in memory; PaddleNLP's files are never touched):
``from_pretrained`` of PaddleNLP's ``ElectraPretrainedModel`` (so every ELECTRA and
ERNIE-Health model class), ``ElectraConfig``, ``ElectraTokenizer``, ``AutoConfig``,
``AutoTokenizer``, and the loader shared by every ``AutoModel...`` class.
:func:`unregister` puts the originals back.

PaddleNLP keeps its own behaviour for

* the names it publishes: its built-in names (``electra-small``, ``chinese-electra-base``,
  ``ernie-health-chinese``, ...) for each resource it has files for, and its community
  uploads (``junnyu/...``), which it downloads from its own bucket;
* local paths, and calls with ``from_hf_hub=True`` / ``from_aistudio=True`` or the
  ``from_modelscope`` environment variable (an explicit choice of PaddleNLP's sources);
* names that are in neither table (PaddleNLP's community route, as before).

``cache_dir=`` is honoured: the files go to paddle_electra's cache layout under that
folder (see :func:`paddle_electra.loading.hub.cache_root`). ``force_download=True`` on a
served name is refused with a message naming the cache folder to delete.

PaddleNLP 2.8.1 has no plugin hook (no entry point, no environment variable read
at import), so the registration is this explicit call.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
from typing import Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

from . import hub, registry
from .._io import write_text
from ..model.configuration import ElectraConfig

__all__ = ["register", "unregister", "is_registered", "served_names", "local_folder", "KINDS"]

logger = logging.getLogger(__name__)

KINDS = ("model", "config", "tokenizer")
_MISSING = object()
_lock = threading.RLock()
_patches: List[Tuple[type, str, object]] = []  # (owner, attribute, what its __dict__ held before, or _MISSING)
_env_lock = threading.Lock()


# ---------------------------------------------------------------- which names are served
def _paddlenlp_community(entry: "registry.PretrainedEntry") -> bool:
    """True for a PaddleNLP community upload: its files live in PaddleNLP's own bcebos bucket."""
    for f in entry.files:
        parts = urlsplit(f.url)
        if (parts.hostname or "").endswith("bcebos.com") and "/community/" in parts.path:
            return True
    return False


def _servable(name: str, kind: str) -> bool:
    """paddle_electra has ``kind`` for ``name`` and it is not PaddleNLP's own upload."""
    if not registry.is_known(name):
        return False
    entry = registry.get_entry(name)
    if _paddlenlp_community(entry):
        return False
    if kind == "model":
        return entry.source != "none" and entry.has_weights
    if kind == "tokenizer":
        return entry.file("vocab") is not None
    return True  # every entry has a config


def _paddlenlp_knows(name: str, kind: str) -> bool:
    """PaddleNLP 2.8.1's ELECTRA classes publish ``kind`` for ``name`` themselves."""
    from paddlenlp.transformers.electra import configuration, modeling, tokenizer

    if kind == "model":
        return name in modeling.ElectraPretrainedModel.pretrained_resource_files_map.get("model_state", {})
    if kind == "tokenizer":
        return name in tokenizer.ElectraTokenizer.pretrained_resource_files_map.get("vocab_file", {})
    return name in configuration.ElectraConfig.pretrained_init_configuration


def served_names(kind: str = "model") -> List[str]:
    """The names :func:`register` makes PaddleNLP load through paddle_electra, for one kind of resource.

    Args:
        kind: ``"model"`` (weights + config), ``"config"`` or ``"tokenizer"``.

    Raises:
        ValueError: an unknown kind.
        ImportError: PaddleNLP is not installed.
    """
    _check_kind(kind)
    _import_paddlenlp()
    return [n for n in registry.names() if _servable(n, kind) and not _paddlenlp_knows(n, kind)]


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


# ---------------------------------------------------------------- the local folders
def local_folder(name: str, kind: str = "model", cache_dir: Optional[str] = None) -> str:
    """The PaddleNLP-layout folder of a published name, made by paddle_electra (works without PaddleNLP).

    Args:
        name: a name in paddle_electra's table.
        kind: ``"model"`` (config.json + model_state.pdparams: downloaded and
            converted once), ``"tokenizer"`` (vocab.txt + tokenizer_config.json) or
            ``"config"`` (config.json, written from the name table: nothing is downloaded).
        cache_dir: cache root to use instead of :func:`paddle_electra.loading.hub.cache_root`.

    Raises:
        ValueError: an unknown name or kind, or a name without weights asked for ``"model"``.
        DownloadError: a file could not be fetched.
    """
    _check_kind(kind)
    with _cache_root(cache_dir):
        entry = registry.get_entry(name)
        if entry.source == "embedded":
            # the package folder holds config.json, vocab.txt and tokenizer_config.json as they are
            return _embedded_model_folder(entry) if kind == "model" else hub.resolve(name, kind="model")
        if kind != "config":
            return hub.resolve(name, kind=kind)
        folder = hub.model_dir(entry.name)
        os.makedirs(folder, exist_ok=True)
        write_text(os.path.join(folder, hub.CONFIG_FILE), ElectraConfig.from_pretrained(name).to_json_string(),
                   skip_if_same=True)
        return folder


_STAMP = "paddle_electra_source.json"


def _embedded_model_folder(entry: "registry.PretrainedEntry") -> str:
    """A cache copy of a shipped model with float32 ``model_state.pdparams``, made once per package version.

    The package ships its models as float16 safetensors (half the size). PaddleNLP 2.8.1
    casts a checkpoint to the model's dtype only where the keys match before it strips the
    ``electra.`` prefix, so ``ElectraModel.from_pretrained`` of a generator / discriminator
    folder in float16 fails with a dtype error; float32 weights (the float16 values, exactly)
    load into every class. A stamp with the source's sha256 makes a new package version
    rebuild the copy.
    """
    import numpy as np

    from .fetch import file_lock
    from .._io import atomic_path
    from .convert.readers import read_state_dict

    source = hub.resolve(entry.name, kind="model")  # the package folder, checked against the table
    weights = entry.file("weights")
    folder = hub.model_dir(entry.name)
    dest = os.path.join(folder, hub.PADDLE_WEIGHTS)
    stamp = os.path.join(folder, _STAMP)
    want = json.dumps({"source": weights.filename, "sha256": weights.sha256}, sort_keys=True) + "\n"
    with file_lock(dest, f"preparing {entry.name} for PaddleNLP"):
        if not (os.path.isfile(dest) and _read(stamp) == want):
            state = read_state_dict(os.path.join(source, weights.filename))
            state = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in state.items()}
            import paddle

            with atomic_path(dest) as tmp:
                paddle.save(state, tmp)
            write_text(stamp, want)  # after the weights: a crash in between rebuilds them
        for small in (hub.CONFIG_FILE, "vocab.txt", hub.TOKENIZER_CONFIG_FILE):
            if os.path.isfile(os.path.join(source, small)):
                write_text(os.path.join(folder, small), _read(os.path.join(source, small)), skip_if_same=True)
    return folder


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except OSError:
        return None


@contextlib.contextmanager
def _cache_root(cache_dir) -> Iterator[None]:
    """PaddleNLP's ``cache_dir=``: paddle_electra's cache root for the duration of one resolve."""
    if cache_dir is None:
        yield
        return
    with _env_lock:  # hub reads PADDLE_ELECTRA_HOME at each call; held so threads do not mix roots
        saved = os.environ.get("PADDLE_ELECTRA_HOME")
        os.environ["PADDLE_ELECTRA_HOME"] = os.path.abspath(os.path.expanduser(os.fspath(cache_dir)))
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("PADDLE_ELECTRA_HOME", None)
            else:
                os.environ["PADDLE_ELECTRA_HOME"] = saved


def _redirect(name_or_path, kind: str, kwargs: Dict, knows: Callable[[str], bool]):
    """The folder to hand PaddleNLP instead of ``name_or_path``, or ``name_or_path`` unchanged."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        return name_or_path
    name = os.fspath(name_or_path)
    if (os.path.exists(name) or kwargs.get("from_hf_hub") or kwargs.get("from_aistudio")
            or os.environ.get("from_modelscope", "").strip().lower() in ("1", "true", "yes", "on")):
        return name_or_path  # PaddleNLP's own sources, chosen explicitly
    if not _servable(name, kind) or knows(name):
        return name_or_path
    if kwargs.get("force_download"):
        raise ValueError(
            f"force_download=True: {name} is served by paddle_electra, whose downloads are verified and "
            f"never re-fetched; to fetch it again delete {hub.model_dir(name)} (cache root "
            f"PADDLE_ELECTRA_HOME / cache_dir) and call again without force_download"
        )
    folder = local_folder(name, kind, cache_dir=kwargs.get("cache_dir"))
    logger.debug("paddle_electra serves %s (%s) to PaddleNLP from %s", name, kind, folder)
    return folder


# ---------------------------------------------------------------- patching
def _wrap(owner: type, attr: str, kind: str, knows: Callable[[type, str], bool]) -> None:
    """Replace the classmethod ``owner.attr`` by one that redirects served names, then calls the original."""
    original = getattr(owner, attr).__func__  # the function the MRO finds now, called with the real cls

    @functools.wraps(original)
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        path = _redirect(pretrained_model_name_or_path, kind, kwargs, functools.partial(knows, cls))
        return original(cls, path, *args, **kwargs)

    from_pretrained.__paddle_electra_plugin__ = True
    _patches.append((owner, attr, owner.__dict__.get(attr, _MISSING)))
    setattr(owner, attr, classmethod(from_pretrained))


def _import_paddlenlp() -> None:
    """Import PaddleNLP's transformers package, or raise an ImportError that says what to install."""
    try:
        import paddlenlp.transformers  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"paddle_electra.loading.paddlenlp_plugin needs PaddleNLP (pip install paddlenlp): {exc}") from exc


def _auto_model_knows(cls, name: str) -> bool:
    """A built-in name of any PaddleNLP model: PaddleNLP's AutoModel dispatches it (to a wrapped class for ELECTRA)."""
    return any(name in names for names in cls._pretrained_model_dict)


def _auto_tokenizer_knows(cls, name: str) -> bool:
    return any(name in names for names in cls._tokenizer_mapping)


def _auto_config_knows(cls, name: str) -> bool:
    return any(name in config_class.pretrained_init_configuration
               for config_classes in cls.MAPPING_NAMES.values() for config_class in config_classes)


def register() -> None:
    """Make PaddleNLP's ``from_pretrained`` load the names paddle_electra serves (idempotent).

    Raises:
        ImportError: PaddleNLP is not installed.
    """
    with _lock:
        if _patches:
            return
        _import_paddlenlp()
        from paddlenlp.transformers.auto import configuration as auto_config
        from paddlenlp.transformers.auto import modeling as auto_modeling
        from paddlenlp.transformers.auto import tokenizer as auto_tokenizer
        from paddlenlp.transformers.electra import configuration, modeling, tokenizer

        try:
            _wrap(modeling.ElectraPretrainedModel, "from_pretrained", "model",
                  lambda cls, name: _paddlenlp_knows(name, "model"))
            _wrap(configuration.ElectraConfig, "from_pretrained", "config",
                  lambda cls, name: _paddlenlp_knows(name, "config"))
            _wrap(tokenizer.ElectraTokenizer, "from_pretrained", "tokenizer",
                  lambda cls, name: _paddlenlp_knows(name, "tokenizer"))
            _wrap(auto_modeling._BaseAutoModelClass, "_from_pretrained", "model", _auto_model_knows)
            _wrap(auto_tokenizer.AutoTokenizer, "from_pretrained", "tokenizer", _auto_tokenizer_knows)
            _wrap(auto_config.AutoConfig, "from_pretrained", "config", _auto_config_knows)
        except Exception:
            _restore()
            raise


def unregister() -> None:
    """Put PaddleNLP's own ``from_pretrained`` methods back (no-op when not registered)."""
    with _lock:
        _restore()


def _restore() -> None:
    while _patches:
        owner, attr, before = _patches.pop()
        if before is _MISSING:
            delattr(owner, attr)
        else:
            setattr(owner, attr, before)


def is_registered() -> bool:
    """True between :func:`register` and :func:`unregister`."""
    return bool(_patches)
