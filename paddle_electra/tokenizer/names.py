"""PaddleNLP's class-level name tables of a tokenizer, read from paddle_electra's name table.

``ElectraTokenizer.pretrained_resource_files_map["vocab_file"]`` (name ->
vocabulary URL), ``pretrained_init_configuration`` (name -> ``__init__``
arguments) and ``max_model_input_sizes`` (name -> longest input) list every
name of :mod:`paddle_electra.loading.registry`, PaddleNLP's six ELECTRA names first in
PaddleNLP's order (code that takes "the first English name", as PaddleNLP's
tokenizer tests do, gets ``electra-small`` as there). The table is read on
first use, not at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Callable, Dict, Iterator

from ..loading import registry

# PaddleNLP 2.8.1's ElectraTokenizer lists these, in this order.
PADDLENLP_ORDER = ("electra-small", "electra-base", "electra-large", "chinese-electra-base", "chinese-electra-small",
                   "ernie-health-chinese")
_PACKAGE_URL = "package://paddle_electra/"
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class LazyNameMap(Mapping):
    """A read-only ``name -> value`` mapping built from the name table on first access."""

    def __init__(self, build: Callable[[], Dict[str, Any]]):
        self._build = build
        self._data: Dict[str, Any] = {}
        self._built = False

    def _table(self) -> Dict[str, Any]:
        if not self._built:
            self._data = self._build()
            self._built = True
        return self._data

    def __getitem__(self, name: str) -> Any:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return f"LazyNameMap({dict(self._table())!r})"


def _ordered_entries():
    known = registry.names()
    first = [n for n in PADDLENLP_ORDER if n in known]
    return [registry.get_entry(n) for n in first + [n for n in known if n not in first]]


def _vocab_url(entry) -> str:
    """The vocabulary's URL; an embedded model's is its file path (PaddleNLP's loader reads local paths)."""
    url = entry.file("vocab").url if entry.file("vocab") else ""
    if url.startswith(_PACKAGE_URL):
        return os.path.join(_PACKAGE_ROOT, *url[len(_PACKAGE_URL):].split("/"))
    return url


def vocab_urls() -> Dict[str, str]:
    return {e.name: _vocab_url(e) for e in _ordered_entries() if e.file("vocab")}


def init_configurations() -> Dict[str, Dict[str, Any]]:
    return {e.name: {k: v for k, v in e.tokenizer.items() if k != "model_max_length"}
            for e in _ordered_entries() if e.file("vocab")}


def max_input_sizes() -> Dict[str, int]:
    return {e.name: int(e.tokenizer.get("model_max_length") or e.config.get("max_position_embeddings", 512))
            for e in _ordered_entries() if e.file("vocab")}
