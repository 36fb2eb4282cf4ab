"""The name table: every published ELECTRA checkpoint, read from ``pretrained_configs/``.

One JSON file per name (data, no logic): the architecture its weights fit, the
full config, tokenizer settings, and the files with their source URLs. Nothing
here touches the network, so configs and the listing work offline. This is the
innermost layer: it imports nothing of the package.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

# In a source checkout (and an editable install) the table is the top-level
# pretrained_configs/; an installed wheel carries it as paddle_electra/pretrained_configs.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # paddle_electra/
_CANDIDATE_DIRS = (
    os.path.join(os.path.dirname(_PACKAGE_DIR), "pretrained_configs"),
    os.path.join(_PACKAGE_DIR, "pretrained_configs"),
)

GENERATOR_CLASSES = ("ElectraGenerator", "ElectraForMaskedLM")
DISCRIMINATOR_CLASSES = ("ElectraDiscriminator", "ElectraForPreTraining", "ErnieHealthDiscriminator")


@dataclass(frozen=True)
class PretrainedFile:
    """One file of a published checkpoint."""

    role: str  # "weights", "vocab", "config", "tokenizer_config"
    filename: str  # name in the cache folder
    url: str  # where it is published
    sha256: Optional[str] = None  # verified after download when known
    size: Optional[int] = None  # bytes, when known exactly


@dataclass(frozen=True)
class PretrainedEntry:
    """One row of the name table."""

    name: str
    architecture: str  # the class the weights fit
    config: Dict  # ElectraConfig fields; ElectraConfig.from_pretrained(name) validates them
    language: str
    domain: str
    source: str  # "huggingface", "bcebos" or "none" (config only)
    description: str = ""
    hf_repo: Optional[str] = None  # for source "huggingface"
    alias_of: Optional[str] = None
    notes: str = ""
    tokenizer: Dict = field(default_factory=dict)
    files: tuple = ()

    def file(self, role: str) -> Optional[PretrainedFile]:
        """The file with this role, or None."""
        return next((f for f in self.files if f.role == role), None)

    @property
    def has_weights(self) -> bool:
        return self.file("weights") is not None

    @property
    def num_parameters(self) -> int:
        return count_parameters(self.config, self.architecture)


def table_dir() -> str:
    """The folder holding the name table's JSON files."""
    for path in _CANDIDATE_DIRS:
        if os.path.isdir(path):
            return path
    raise RuntimeError(f"paddle_electra's name table is missing (looked in {', '.join(_CANDIDATE_DIRS)})")


def _parse(path: str) -> PretrainedEntry:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    try:
        return PretrainedEntry(
            name=data["name"],
            architecture=data["architecture"],
            config=dict(data["config"]),
            language=data["language"],
            domain=data["domain"],
            source=data["source"],
            description=data.get("description", ""),
            hf_repo=data.get("hf_repo"),
            alias_of=data.get("alias_of"),
            notes=data.get("notes", ""),
            tokenizer=dict(data.get("tokenizer", {})),
            files=tuple(PretrainedFile(**f) for f in data.get("files", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"bad name-table entry {path}: {exc}") from exc


@functools.lru_cache(maxsize=1)
def _table() -> Dict[str, PretrainedEntry]:
    folder = table_dir()
    entries = {}
    for fn in sorted(os.listdir(folder)):
        if fn.endswith(".json"):
            entry = _parse(os.path.join(folder, fn))
            entries[entry.name] = entry
    return entries


def names() -> List[str]:
    """Every known name, sorted."""
    return sorted(_table())


def is_known(name: str) -> bool:
    return name in _table()


def get_entry(name: str) -> PretrainedEntry:
    """The entry for ``name``.

    Raises:
        ValueError: unknown name; the message lists the closest known names.
    """
    table = _table()
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; paddle_electra.list_pretrained() lists them"
    raise ValueError(f"unknown model name {name!r} (not a local folder and not in the name table){hint}")


def list_pretrained() -> List[Dict]:
    """Rows of the name table (nothing is printed; :func:`print_pretrained` prints them).

    Returns:
        One dict per name, sorted by name: ``name``, ``class`` (the class its
        weights fit), ``params`` (an int), ``language``, ``domain`` and
        ``source`` (``"huggingface"``, ``"bcebos"``, ``"embedded"`` or ``"config only"``).
    """
    return [
        {
            "name": e.name,
            "class": e.architecture,
            "params": e.num_parameters,
            "language": e.language,
            "domain": e.domain,
            "source": e.source if e.has_weights else "config only",
        }
        for e in (_table()[n] for n in names())
    ]


def format_table(rows: List[Dict]) -> str:
    """The listing as an aligned text table (params in millions)."""
    header = ("name", "class", "params", "language", "domain", "source")
    cells = [[r["name"], r["class"], f"{r['params'] / 1e6:.1f}M", r["language"], r["domain"], r["source"]]
             for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def print_pretrained(file=None) -> None:
    """Print the name table as aligned text (what ``paddle-electra list`` prints).

    Args:
        file: a text stream; default ``sys.stdout``.
    """
    import sys

    print(format_table(list_pretrained()), file=file or sys.stdout)


def count_parameters(config: Dict, architecture: str = "ElectraModel") -> int:
    """Parameter count of ``architecture`` built from a config dict (no model is built)."""
    c = _Fields({"max_position_embeddings": 512, "type_vocab_size": 2, "num_labels": 2, **config})
    e, h, ffn, v = c.embedding_size, c.hidden_size, c.intermediate_size, c.vocab_size
    total = (v + c.max_position_embeddings + c.type_vocab_size) * e + 2 * e
    if e != h:
        total += e * h + h
    per_layer = 4 * (h * h + h) + (h * ffn + ffn) + (ffn * h + h) + 4 * h
    total += c.num_hidden_layers * per_layer
    if architecture in DISCRIMINATOR_CLASSES:
        total += h * h + h + h + 1
    if architecture == "ErnieHealthDiscriminator":
        total += (h * h + h) + v + (h * h + h) + (h * c.num_labels + c.num_labels)
    if architecture in GENERATOR_CLASSES:
        total += h * e + e + 2 * e + v  # dense, LayerNorm, output bias (weight tied)
    return total


class _Fields(dict):
    """Attribute access to a config dict."""

    __getattr__ = dict.__getitem__
