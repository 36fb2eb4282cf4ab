"""``save_pretrained`` / ``from_pretrained`` in the folder format PaddleNLP and HF both read.

A saved folder holds:

* ``vocab.txt``: the vocabulary, one token per line;
* ``tokenizer_config.json``: the ``__init__`` arguments (``init_kwargs``, as
  PaddleNLP saves them: the special tokens as given at construction, unknown
  keyword arguments kept) with the current ``model_max_length``,
  ``padding_side`` and ``truncation_side``, and ``tokenizer_class``;
* ``special_tokens_map.json``: the special tokens as they are now, as strings
  (HF v5 cannot read ``AddedToken`` objects inside the
  ``additional_special_tokens`` list, and their options change nothing for
  special tokens, which are always matched exactly);
* ``added_tokens.json``: ``token -> id`` of added tokens (only when there are any).

Loading reads the same files (and HF v5's ``added_tokens_decoder``); the
special-token map wins over the config and keyword arguments win over both,
as in PaddleNLP and HF. The folder is written beside the target and swapped in
whole (:func:`~paddle_electra._io.atomic_folder`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

from .._io import atomic_folder, write_text
from .._io import read_json as load_json
from .special import SPECIAL_TOKENS_ATTRIBUTES
from .vocab import as_added_token, to_json_token

logger = logging.getLogger("paddle_electra.tokenizer")

VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
# config keys that describe the file or the saving library, not an __init__ argument
_FILE_ONLY_KEYS = {"tokenizer_class", "init_class", "name_or_path", "special_tokens_map_file", "tokenizer_file",
                   "auto_map", "vocab_file", "init_inputs", "init_args", "backend", "added_tokens_decoder"}
# special tokens set after __init__ (they need not be in the vocabulary; the five core ones must)
_LATE_SLOTS = ("bos_token", "eos_token", "additional_special_tokens")


def read_json(path: str) -> Dict[str, Any]:
    """A JSON object from ``path``.

    Raises:
        ValueError: not valid JSON, or not an object.
    """
    data = load_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


class SavingMixin:
    """Saving and loading; the host provides ``init_kwargs`` and the tokenizer state."""

    def save_pretrained(self, save_directory: str, filename_prefix: Optional[str] = None) -> Tuple[str, ...]:
        """Write the tokenizer's files (see the module docstring) into ``save_directory``.

        The folder's other files (a model's weights and config) are kept; a
        stale ``added_tokens.json`` is removed when there are no added tokens.

        Args:
            save_directory: the folder (created if needed).
            filename_prefix: prefix ``"<prefix>-"`` to the names of the three
                JSON files (as PaddleNLP / HF do; ``from_pretrained`` does not
                look for prefixed names).

        Returns:
            The paths written: ``vocab.txt``, ``tokenizer_config.json``,
            ``special_tokens_map.json`` (and ``added_tokens.json``).

        Raises:
            ValueError: ``save_directory`` is a file, or the current working
                directory or a folder above it.
        """
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        names = [VOCAB_FILE, prefix + CONFIG_FILE, prefix + SPECIAL_TOKENS_MAP_FILE]
        added = self.get_added_vocab()
        if added:
            names.append(prefix + ADDED_TOKENS_FILE)
        with atomic_folder(save_directory, drop=() if added else [prefix + ADDED_TOKENS_FILE]) as folder:
            write_text(os.path.join(folder, VOCAB_FILE), "".join(t + "\n" for t in self._id_to_token))
            write_text(os.path.join(folder, names[1]), _dumps(self._config_to_save()))
            write_text(os.path.join(folder, names[2]), _dumps(self.special_tokens_map))
            if added:
                write_text(os.path.join(folder, names[3]), _dumps(added))
        return tuple(os.path.join(save_directory, n) for n in names)

    def _config_to_save(self) -> Dict[str, Any]:
        # None means "the default" everywhere; HF's loader fails on some None values (model_input_names)
        config = {k: v for k, v in self.init_kwargs.items() if k not in _FILE_ONLY_KEYS and v is not None}
        config.update(model_max_length=self.model_max_length, padding_side=self.padding_side,
                      truncation_side=self.truncation_side)
        config = {k: to_json_token(v, True) if k in SPECIAL_TOKENS_ATTRIBUTES else v for k, v in config.items()}
        config["tokenizer_class"] = type(self).__name__
        for key, value in config.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                raise ValueError(f"cannot save the tokenizer: init_kwargs[{key!r}] = {value!r:.80} is not JSON "
                                 "(tokenizer_config.json keeps every __init__ argument)") from None
        return config

    def save_vocabulary(self, save_directory: str, filename_prefix: Optional[str] = None) -> Tuple[str]:
        """Write only ``vocab.txt`` (``<prefix>-vocab.txt``) into an existing folder (HF's name); returns its path."""
        path = os.path.join(save_directory, (f"{filename_prefix}-" if filename_prefix else "") + VOCAB_FILE)
        write_text(path, "".join(t + "\n" for t in self._id_to_token))
        return (path,)

    def save_resources(self, save_directory: str) -> None:
        """Write ``vocab.txt`` into ``save_directory`` (PaddleNLP's name for it)."""
        self.save_vocabulary(save_directory)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, cache_dir: Optional[str] = None,
                        subfolder: Optional[str] = None, from_hf_hub: bool = False, from_aistudio: bool = False,
                        return_tokenizer_file_dir: bool = False, use_fast: Optional[bool] = None,
                        fast: Optional[bool] = None, **kwargs: Any):
        """Load from a folder (``vocab.txt`` + the optional JSON files), a ``vocab.txt`` file, or a published name.

        A name that is not a local path is resolved by
        :func:`paddle_electra.loading.hub.resolve` (``kind="tokenizer"``), which returns
        a folder holding the files. ``kwargs`` are ``__init__`` arguments and
        override the saved ones (``padding_side="left"``, ``model_max_length=128``,
        ``additional_special_tokens=[...]`` ...).

        Args:
            pretrained_model_name_or_path: folder, vocabulary file or name.
            cache_dir: not supported (the cache is ``$PADDLE_ELECTRA_HOME``);
                anything but ``None`` raises.
            subfolder: a folder inside the given one.
            from_hf_hub, from_aistudio: PaddleNLP's switches; names resolve
                through paddle_electra's table (HF-hosted names download from
                the hub), so only ``False`` is accepted.
            return_tokenizer_file_dir: return ``(tokenizer, folder)``.
            use_fast, fast: ``True`` uses the ``tokenizers`` backend (the Python
                one, with a warning, when it is not installed); ``False`` the
                Python backend. Both give the same ids.

        Raises:
            ValueError: no ``vocab.txt``, an unresolvable name, a bad JSON file,
                a non-consecutive ``added_tokens.json``, or an unsupported option.
        """
        if cache_dir is not None:
            raise ValueError("cache_dir is not supported: paddle_electra caches downloads under $PADDLE_ELECTRA_HOME "
                             "(set that variable to choose the folder)")
        if from_hf_hub or from_aistudio:
            raise ValueError("from_hf_hub / from_aistudio are not supported: names resolve through paddle_electra's "
                             "name table (hub-hosted names are downloaded from the HF hub), or pass a local folder")
        _apply_fast_flag(kwargs, use_fast, fast)
        path = os.fspath(pretrained_model_name_or_path)
        if os.path.isfile(path) and not subfolder:
            return cls(path, **kwargs)
        if not os.path.isdir(path):
            try:
                from ..loading.hub import resolve
            except ImportError as e:
                raise ValueError(f"{path!r} is not a local folder or vocab file, and published names cannot be "
                                 f"resolved here (paddle_electra.loading.hub is unavailable: {e})") from e
            path = resolve(path, kind="tokenizer")
        if subfolder:
            path = os.path.join(path, subfolder)
        vocab_path = os.path.join(path, VOCAB_FILE)
        if not os.path.isfile(vocab_path):
            raise ValueError(f"no {VOCAB_FILE} in {path!r}; a tokenizer folder needs {VOCAB_FILE} "
                             f"(and optionally {CONFIG_FILE})")
        tok = cls._load_folder(path, vocab_path, kwargs)
        tok.name_or_path = os.fspath(pretrained_model_name_or_path)
        return (tok, path) if return_tokenizer_file_dir else tok

    @classmethod
    def _load_folder(cls, path: str, vocab_path: str, kwargs: Dict[str, Any]):
        config_file = os.path.join(path, CONFIG_FILE)
        config = read_json(config_file) if os.path.isfile(config_file) else {}
        map_file = os.path.join(path, SPECIAL_TOKENS_MAP_FILE)
        special_map = read_json(map_file) if os.path.isfile(map_file) else {}
        for source in (config, special_map):  # HF v5 names the list extra_special_tokens
            extra = source.get("extra_special_tokens")
            if isinstance(extra, list) and not source.get("additional_special_tokens"):
                source["additional_special_tokens"] = extra
        hf_added = config.get("added_tokens_decoder")
        model_max = config.get("model_max_length")
        if model_max is not None and not (isinstance(model_max, int) and 0 < model_max < 1 << 31):
            del config["model_max_length"]  # HF writes 1e30 for "no limit"
        from_file = {k: as_added_token(v) for k, v in config.items() if k not in _FILE_ONLY_KEYS}
        known = cls._init_parameters()
        file_extras = {k: v for k, v in from_file.items() if k not in known}  # unused here: kept, saved again
        init = {k: v for k, v in from_file.items() if k in known}
        init.update(kwargs)  # unknown keyword arguments go on to __init__, which warns about them
        late = {}
        for slot in _LATE_SLOTS:  # set after __init__: they need not be in the vocabulary
            from_config = init.pop(slot, None)
            value = kwargs.get(slot) or as_added_token(special_map.get(slot)) or from_config
            if value:
                late[slot] = value
        tok = cls(vocab_path, **init)
        tok.init_kwargs.update({k: v for k, v in file_extras.items() if k not in tok.init_kwargs})
        for slot in _LATE_SLOTS:  # what __init__ was given, as PaddleNLP's init_kwargs records it
            if slot in kwargs or slot in from_file:
                tok.init_kwargs[slot] = kwargs.get(slot, from_file.get(slot))
        for slot, value in special_map.items():  # the map wins over the config, keyword arguments over both
            if slot in SPECIAL_TOKENS_ATTRIBUTES and slot not in _LATE_SLOTS and not kwargs.get(slot) and value:
                setattr(tok, slot, as_added_token(value))
        for slot, value in late.items():
            setattr(tok, slot, value)
        tok._add_saved_tokens(path, hf_added)
        tok.sanitize_special_tokens()
        return tok

    def _add_saved_tokens(self, path: str, hf_added: Any) -> None:
        """Add the tokens of ``added_tokens.json`` (PaddleNLP, HF legacy) or ``added_tokens_decoder`` (HF v5)."""
        entries: List[Tuple[int, str, bool]] = []
        file = os.path.join(path, ADDED_TOKENS_FILE)
        specials = set(self.all_special_tokens)
        if os.path.isfile(file):
            entries = [(i, t, t in specials) for t, i in read_json(file).items()]
        elif isinstance(hf_added, dict):
            for key, spec in hf_added.items():
                content = spec.get("content") if isinstance(spec, dict) else spec
                if str(key).isdigit() and isinstance(content, str) and int(key) >= self.vocab_size:
                    entries.append((int(key), content, bool(spec.get("special")) if isinstance(spec, dict) else False))
        for index, token, special in sorted(entries):
            if not isinstance(index, int) or isinstance(index, bool):
                raise ValueError(f"{file}: the id of {token!r} must be an int, got {index!r}")
            if self.added_tokens_encoder.get(token) == index:
                continue  # added by __init__ already (a special token missing from the vocabulary)
            if index != len(self):
                raise ValueError(f"added token {token!r} has id {index} in {path}, but the next free id is "
                                 f"{len(self)}: added tokens must follow the vocabulary without gaps")
            self.add_tokens([as_added_token(token)], special_tokens=special or token in specials)
            if self.added_tokens_encoder.get(token) != index:
                raise ValueError(f"added token {token!r} in {path} is already in the vocabulary (or was lower-cased "
                                 f"into another token); cannot give it id {index}")


def _apply_fast_flag(kwargs: Dict[str, Any], use_fast: Optional[bool], fast: Optional[bool]) -> None:
    """Turn PaddleNLP's / HF's ``use_fast`` / ``fast`` into ``backend``."""
    if use_fast is not None and fast is not None and bool(use_fast) != bool(fast):
        raise ValueError(f"use_fast={use_fast} and fast={fast} disagree; pass one")
    flag = use_fast if use_fast is not None else fast
    if flag is None:
        return
    backend = kwargs.get("backend", "auto")
    wanted = "fast" if flag else "python"
    if backend not in ("auto", wanted):
        raise ValueError(f"use_fast/fast={flag} and backend={backend!r} disagree; pass one")
    if wanted == "fast" and importlib.util.find_spec("tokenizers") is None:
        logger.warning("use_fast=True, but the `tokenizers` package is not installed: using the Python backend "
                       "(same ids; pip install tokenizers for speed)")
        wanted = "python"
    kwargs["backend"] = wanted


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
