"""Reading ELECTRA config files: where a folder keeps its config, and the three layouts as one flat dict.

HF ``config.json``, PaddleNLP >= 2.5 flat ``config.json`` and PaddleNLP 2.4
``model_config.json`` (nested ``init_args``) all become one dict of what the file
states, in paddle_electra's spelling; :class:`~paddle_electra.ElectraConfig` validates it.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

CONFIG_NAME = "config.json"
LEGACY_CONFIG_NAME = "model_config.json"  # PaddleNLP 2.4 and its community uploads
# the weights files a model folder may hold beside its config (the readers know the other formats too);
# PaddleNLP's model classes name the first as their resource file
PADDLE_WEIGHTS = "model_state.pdparams"
SAFETENSORS_WEIGHTS = "model.safetensors"

# PaddleNLP spells a few fields differently; map them onto ours when reading,
# in keyword arguments and (num_classes, PaddleNLP's attribute_map) as attributes.
PADDLENLP_ALIASES = {
    "num_classes": "num_labels",
    "layer_norm_epsilon": "layer_norm_eps",
}

# Deepest JSON nesting a config may have. Real configs are at most 4 levels
# deep (PaddleNLP 2.4's nested init_args); deeper input would only exercise
# recursion in the parser and in copies.
MAX_JSON_DEPTH = 32


def config_file(path: str) -> Optional[str]:
    """The config file for a file or folder path; None for a published name; ValueError for a bare folder."""
    if os.path.isfile(path):
        return path
    for name in (CONFIG_NAME, LEGACY_CONFIG_NAME):
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
    if os.path.isdir(path):
        raise ValueError(f"{path} has neither {CONFIG_NAME} nor {LEGACY_CONFIG_NAME}")
    return None


def read_json(path: str):
    """A JSON file's content; every failure a ValueError naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except UnicodeDecodeError as exc:  # a ValueError too, but its message does not say which file
        raise ValueError(f"{path} is not UTF-8 text, so not a config JSON file: {exc}") from exc
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply to be a config (more than "
                         f"{MAX_JSON_DEPTH} levels are refused)") from None
    except ValueError as exc:  # JSONDecodeError, and integers longer than Python's digit limit
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc


def flatten_config_dict(data: Dict[str, Any]) -> Dict[str, Any]:
    """One flat dict of what a config file states, in paddle_electra's spelling.

    PaddleNLP 2.4's nested ``init_args`` are flattened (their ``init_class``
    becomes ``architectures``) and aliases renamed. A 2.4 ``ErnieHealthDiscriminator``
    had a fixed 128-way CSP head that its file does not record, so 128 is filled in.
    """
    legacy = "init_args" in data or "init_class" in data  # PaddleNLP 2.4 model_config.json
    flat = _flatten_init_args(data) if legacy else rename_aliases(data)
    if legacy and flat.get("architectures") == ["ErnieHealthDiscriminator"] and "num_labels" not in flat:
        flat["num_labels"] = 128
    return flat


def _flatten_init_args(data: Dict[str, Any]) -> Dict[str, Any]:
    """Flatten PaddleNLP 2.4's ``model_config.json``.

    A bare model's file is its kwargs plus ``init_class``; a head's file nests
    the backbone's kwargs: ``{"init_args": [{...backbone kwargs...,
    "init_class": "ElectraModel"}], "init_class": "ElectraForSequenceClassification",
    "num_classes": 2}``. Inner (backbone) kwargs are read first, the outer
    level's own keys win, and the outermost ``init_class`` becomes ``architectures``.
    """
    flat: Dict[str, Any] = {}
    init_args = data.get("init_args", [])
    if not isinstance(init_args, list):
        raise ValueError(f"config field init_args must be a JSON list, got {type(init_args).__name__}")
    for arg in init_args:
        if isinstance(arg, dict):
            inner = _flatten_init_args(arg)
            inner.pop("architectures", None)  # the backbone's class; the outer init_class names the model
            flat.update(inner)
    for key, value in rename_aliases(data).items():
        if key == "init_class":
            flat["architectures"] = [value]
        elif key != "init_args":
            flat[key] = value
    return flat


def rename_aliases(data: Dict[str, Any]) -> Dict[str, Any]:
    """PaddleNLP's spellings (``num_classes``) -> ours (``num_labels``); an alias that disagrees raises."""
    out: Dict[str, Any] = {}
    for key, value in data.items():
        name = PADDLENLP_ALIASES.get(key, key)
        if name in out and out[name] != value:
            raise ValueError(f"config gives {name} twice with different values ({key}={_short(value)} "
                             f"and {_short(out[name])}); {key} is another name for {name}")
        out[name] = value
    return out


def check_depth(data) -> None:
    """Refuse JSON nested deeper than :data:`MAX_JSON_DEPTH` (iteratively: no recursion to exhaust)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"config is nested more than {MAX_JSON_DEPTH} levels deep; real configs use at most 4")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _short(value, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: error messages stay one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
