"""ElectraConfig: the hyper-parameters of one ELECTRA network, validated.

The same class reads the three config formats ELECTRA checkpoints are published
with (HF ``config.json``, PaddleNLP >= 2.5 flat ``config.json`` and PaddleNLP
2.4 ``model_config.json`` with nested ``init_args``) and writes one JSON file
that both HF transformers and PaddleNLP understand.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from . import registry
from ._io import write_text

CONFIG_NAME = "config.json"
LEGACY_CONFIG_NAME = "model_config.json"  # PaddleNLP 2.4 and its community uploads

# Activations the layers know how to build (see modeling.ACT2FN); HF names.
SUPPORTED_ACTIVATIONS = (
    "gelu",
    "gelu_new",
    "gelu_pytorch_tanh",
    "gelu_fast",
    "relu",
    "silu",
    "swish",
    "tanh",
    "sigmoid",
)

PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")

# PaddleNLP spells a few fields differently; map them onto ours when reading.
_PADDLENLP_ALIASES = {
    "num_classes": "num_labels",
    "layer_norm_epsilon": "layer_norm_eps",
}

# HF config fields whose non-default values change the network in ways this
# package does not implement: refuse them instead of loading a different model.
_UNSUPPORTED_HF_VALUES = {
    "position_embedding_type": ("absolute",),
    "is_decoder": (False,),
    "add_cross_attention": (False,),
}

# Upper bounds of the size fields. Every published ELECTRA is far below them
# (vocab 21128-30522, widths 64-1024, 12-24 layers, 512 positions, 2 segment
# types); they exist so that a hostile or corrupt config.json is refused before
# it asks for terabytes or builds a million layers. Each is at least 40x the
# largest value a published ELECTRA uses (and 16x a 250k multilingual vocabulary).
SIZE_LIMITS = {
    "vocab_size": 1 << 22,  # 4,194,304 (multilingual vocabularies reach ~250k)
    "embedding_size": 1 << 16,  # 65,536
    "hidden_size": 1 << 16,  # 65,536
    "num_hidden_layers": 1024,
    "num_attention_heads": 1024,
    "intermediate_size": 1 << 20,  # 1,048,576
    "max_position_embeddings": 1 << 20,  # 1,048,576
    "type_vocab_size": 1024,
    "num_labels": 1 << 20,  # 1,048,576
    "num_choices": 1024,
}
# The fields above can still combine into an absurd network (a 4M vocabulary
# x 65536-wide embeddings is 1 TB), so the whole network is bounded too:
# 2**34 (about 17 billion) parameters, 64 GiB in float32; the largest
# published ELECTRA has 335 million.
MAX_PARAMETERS = 1 << 34
# Deepest JSON nesting a config may have. Real configs are at most 4 levels
# deep (PaddleNLP 2.4's nested init_args); deeper input would only exercise
# recursion in the parser and in copies.
MAX_JSON_DEPTH = 32


@dataclass
class ElectraConfig:
    """Configuration of an ELECTRA encoder and its heads.

    Defaults are ELECTRA-small's discriminator (google/electra-small-discriminator).
    Unknown keys read from a JSON file are kept in ``extra`` and written back, so a
    round trip through this class loses nothing.
    """

    vocab_size: int = 30522  # rows of the word embedding; ids must be < this
    embedding_size: int = 128  # E: width of the embeddings (ELECTRA decouples it from H)
    hidden_size: int = 256  # H: width of the transformer layers
    num_hidden_layers: int = 12  # number of encoder layers
    num_attention_heads: int = 4  # must divide hidden_size
    intermediate_size: int = 1024  # width of the feed-forward block
    hidden_act: str = "gelu"  # activation of the FFN and discriminator head (HF names)
    hidden_dropout_prob: float = 0.1  # dropout after embeddings / attention output / FFN
    attention_probs_dropout_prob: float = 0.1  # dropout on the attention weights
    max_position_embeddings: int = 512  # longest sequence the position table covers
    type_vocab_size: int = 2  # number of segment (token type) ids
    initializer_range: float = 0.02  # std of the normal init of new weights
    pad_token_id: int = 0  # id masked out when no attention_mask is given
    layer_norm_eps: float = 1e-12  # every LayerNorm uses it (PaddleNLP's 1e-5 default is a bug)
    num_labels: int = 2  # outputs of sequence/token classification heads
    num_choices: int = 2  # choices per example for multiple choice (PaddleNLP keeps it here)
    classifier_dropout: Optional[float] = None  # classification-head dropout; None -> hidden_dropout_prob
    problem_type: Optional[str] = None  # seq-cls loss; None -> inferred from num_labels and label dtype
    id2label: Optional[Dict[int, str]] = None  # label names of classification heads
    architectures: Optional[list] = None  # class names the weights were saved from
    extra: Dict[str, Any] = field(default_factory=dict)  # unknown keys, kept for the round trip

    def __post_init__(self):
        if self.id2label is not None:
            self.id2label = _parse_id2label(self.id2label)
        if isinstance(self.architectures, tuple):
            self.architectures = list(self.architectures)
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field.

        Integer fields take Python ints only: ``True`` and floats, even integral
        ones such as ``1000000.0``, are refused, since a float in a size field
        means the file was not written by a tool that knows the format. Size
        fields are bounded by :data:`SIZE_LIMITS` and the whole network by
        :data:`MAX_PARAMETERS`; float fields must be finite.
        """
        for name, limit in SIZE_LIMITS.items():
            value = getattr(self, name)
            _require_int(name, value, "a positive integer", limit)
            if value <= 0:
                raise ValueError(f"ElectraConfig.{name} must be a positive integer, got {value!r}")
            if value > limit:
                raise ValueError(
                    f"ElectraConfig.{name}={value} is larger than paddle_electra's cap of {limit} for {name}; "
                    "no real ELECTRA comes near it, so the config is corrupt or hostile"
                )
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"ElectraConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if not isinstance(self.hidden_act, str) or self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ValueError(
                f"ElectraConfig.hidden_act {_short_repr(self.hidden_act)} is not supported; "
                f"use one of {', '.join(SUPPORTED_ACTIVATIONS)}"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            value = getattr(self, name)
            if value is None and name == "classifier_dropout":
                continue
            if not _is_real(value) or not 0.0 <= value < 1.0:
                raise ValueError(f"ElectraConfig.{name} must be a probability in [0, 1), got {_short_repr(value)}")
        for name in ("layer_norm_eps", "initializer_range"):
            value = getattr(self, name)
            if not _is_real(value) or not math.isfinite(value) or not value > 0:
                raise ValueError(f"ElectraConfig.{name} must be > 0 and finite, got {_short_repr(value)}")
        _require_int("pad_token_id", self.pad_token_id, f"an integer in [0, vocab_size={self.vocab_size})")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"ElectraConfig.pad_token_id must be in [0, vocab_size={self.vocab_size}), got {self.pad_token_id!r}"
            )
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"ElectraConfig.problem_type {_short_repr(self.problem_type)} is not one of {', '.join(PROBLEM_TYPES)}"
            )
        if self.id2label is not None:
            if len(self.id2label) != self.num_labels:
                raise ValueError(
                    f"ElectraConfig.id2label has {len(self.id2label)} labels but num_labels is {self.num_labels}"
                )
            outside = sorted(k for k in self.id2label if not 0 <= k < self.num_labels)
            if outside:
                raise ValueError(
                    f"ElectraConfig.id2label has id {outside[0]}, outside [0, num_labels={self.num_labels})"
                )
        if self.architectures is not None and (
            not isinstance(self.architectures, list) or not all(isinstance(a, str) for a in self.architectures)
        ):
            raise ValueError(
                "ElectraConfig.architectures must be a list of class names (strings) such as "
                f'["ElectraDiscriminator"], got {_short_repr(self.architectures)}'
            )
        if not isinstance(self.extra, dict):
            raise ValueError(f"ElectraConfig.extra must be a dict, got {type(self.extra).__name__}")
        total = self.estimate_num_parameters()
        if total > MAX_PARAMETERS:
            raise ValueError(
                f"this config describes a network of about {total:,} parameters, more than paddle_electra's cap "
                f"of {MAX_PARAMETERS:,} (2**34); the largest published ELECTRA has 335 million"
            )

    def estimate_num_parameters(self) -> int:
        """Parameters of the encoder plus an upper bound of its largest head (no allocation).

        Exact for :class:`~paddle_electra.ElectraModel`; the heads add at most
        ``H * (H + E + num_labels) + vocab_size + 3 * H + E + num_labels``.
        """
        v, e, h, i = self.vocab_size, self.embedding_size, self.hidden_size, self.intermediate_size
        embeddings = (v + self.max_position_embeddings + self.type_vocab_size) * e + 2 * e
        project = 0 if e == h else e * h + h
        layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h
        heads = h * (h + e + self.num_labels) + v + 3 * h + e + self.num_labels
        return embeddings + project + self.num_hidden_layers * layer + heads

    # ------------------------------------------------------------ properties
    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden_size // self.num_attention_heads

    @property
    def classifier_dropout_prob(self) -> float:
        """Dropout the classification heads use."""
        return self.hidden_dropout_prob if self.classifier_dropout is None else self.classifier_dropout

    @property
    def label2id(self) -> Dict[str, int]:
        """Inverse of ``id2label`` (``LABEL_i`` names when none were given)."""
        names = self.id2label or {i: f"LABEL_{i}" for i in range(self.num_labels)}
        return {v: k for k, v in names.items()}

    # ----------------------------------------------------------- dict / json
    @classmethod
    def field_names(cls) -> tuple:
        """The named fields (everything but ``extra``)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")

    @classmethod
    def from_dict(cls, data: Dict[str, Any], **overrides) -> "ElectraConfig":
        """Build a config from any of the three published dict layouts.

        Args:
            data: an HF / PaddleNLP flat config dict, or a PaddleNLP 2.4
                ``{"init_args": [...], "init_class": ...}`` dict.
            **overrides: field values that win over ``data``.

        Raises:
            ValueError: a field is invalid, or the config describes an HF
                variant this package does not implement.
        """
        if not isinstance(data, dict):
            raise ValueError(f"an ELECTRA config must be a JSON object, got {type(data).__name__}")
        _check_depth(data)
        legacy = "init_args" in data or "init_class" in data  # PaddleNLP 2.4 model_config.json
        flat = _flatten_init_args(data) if legacy else _rename_aliases(data)
        if flat.get("architectures") == ["ErnieHealthDiscriminator"] and "num_labels" not in flat:
            flat["num_labels"] = 128  # 2.4's ERNIE-Health had a fixed 128-way CSP head and did not record it
        flat.update(overrides)
        model_type = flat.get("model_type")
        if model_type not in (None, "electra", "ernie_health"):
            raise ValueError(f"config has model_type {model_type!r}; paddle_electra reads 'electra' configs only")
        for key, allowed in _UNSUPPORTED_HF_VALUES.items():
            if key in flat and flat[key] not in allowed:
                raise ValueError(
                    f"config field {key}={flat[key]!r} is not supported by paddle_electra (supported: {allowed})"
                )
        known = set(cls.field_names())
        kwargs = {k: v for k, v in flat.items() if k in known}
        extra = {k: v for k, v in flat.items() if k not in known and k != "extra"}
        if not isinstance(flat.get("extra") or {}, dict):
            raise ValueError(f"config field extra must be a JSON object, got {type(flat['extra']).__name__}")
        extra.update(flat.get("extra") or {})
        if kwargs.get("id2label") is not None and not isinstance(kwargs["id2label"], dict):
            kwargs["id2label"] = _parse_id2label(kwargs["id2label"])  # raises: names the field and the fix
        if kwargs.get("id2label") and "num_labels" not in kwargs:
            kwargs["num_labels"] = len(kwargs["id2label"])  # HF writes only id2label
        extra.pop("label2id", None)  # derived from id2label on write
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict readable by this class, HF transformers and PaddleNLP."""
        out: Dict[str, Any] = dict(self.extra)
        for name in self.field_names():
            value = getattr(self, name)
            if name in ("id2label", "architectures", "problem_type", "classifier_dropout") and value is None:
                continue
            out[name] = copy.deepcopy(value)
        if self.id2label is not None:
            out["id2label"] = {str(k): v for k, v in self.id2label.items()}
            out["label2id"] = self.label2id
        out["model_type"] = "electra"
        return dict(sorted(out.items()))

    def to_json_string(self) -> str:
        """The config as indented, key-sorted JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json_file(cls, path: str, **overrides) -> "ElectraConfig":
        """Read a config JSON file (any of the three layouts)."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except UnicodeDecodeError as exc:  # a ValueError too, but its message does not say which file
            raise ValueError(f"{path} is not UTF-8 text, so not a config JSON file: {exc}") from exc
        except RecursionError:
            raise ValueError(f"{path}: JSON nested too deeply to be a config (more than "
                             f"{MAX_JSON_DEPTH} levels are refused)") from None
        except ValueError as exc:  # JSONDecodeError, and integers longer than Python's digit limit
            raise ValueError(f"{path} is not valid JSON: {exc}") from exc
        try:
            return cls.from_dict(data, **overrides)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def save_pretrained(self, save_directory: str) -> str:
        """Write ``config.json`` into ``save_directory`` atomically; return its path."""
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(save_directory, CONFIG_NAME)
        write_text(path, self.to_json_string())
        return path

    @classmethod
    def from_pretrained(cls, path: str, **overrides) -> "ElectraConfig":
        """Read the config of a local model folder, a config file, or a published name.

        A folder is searched for ``config.json`` first, then PaddleNLP 2.4's
        ``model_config.json``. A name (``"hfl/chinese-electra-180g-small-discriminator"``)
        is looked up in the name table offline.

        Raises:
            ValueError: a folder with no config, a bad config, or an unknown name
                (the message lists the closest known names).
        """
        if os.path.isfile(path):
            return cls.from_json_file(path, **overrides)
        for name in (CONFIG_NAME, LEGACY_CONFIG_NAME):
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return cls.from_json_file(candidate, **overrides)
        if os.path.isdir(path):
            raise ValueError(f"{path} has neither {CONFIG_NAME} nor {LEGACY_CONFIG_NAME}")
        # a published name: the config is in the name table, nothing is downloaded
        entry = registry.get_entry(path)
        return cls.from_dict(entry.config, **{"architectures": [entry.architecture], **overrides})

    def copy(self, **changes) -> "ElectraConfig":
        """A validated copy with some fields changed."""
        changes.setdefault("extra", copy.deepcopy(self.extra))
        return dataclasses.replace(self, **changes)

    def __eq__(self, other):
        if not isinstance(other, ElectraConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict()


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
    for key, value in _rename_aliases(data).items():
        if key == "init_class":
            flat["architectures"] = [value]
        elif key != "init_args":
            flat[key] = value
    return flat


def _rename_aliases(data: Dict[str, Any]) -> Dict[str, Any]:
    """PaddleNLP's spellings (``num_classes``) -> ours (``num_labels``)."""
    return {_PADDLENLP_ALIASES.get(k, k): v for k, v in data.items()}


def _is_real(value) -> bool:
    """An int or float, not a bool (``True`` is an int in Python, never a rate or epsilon)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require_int(name: str, value, what: str, limit: Optional[int] = None) -> None:
    """Raise unless ``value`` is a Python int (not a bool, not a float such as ``1000000.0``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return
    hint = ""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        if limit is not None and value > limit:
            hint = f" (a float, and above paddle_electra's cap of {limit} for {name})"
        else:
            hint = f" (a float; write {int(value)} without the decimal point)"
    raise ValueError(f"ElectraConfig.{name} must be {what}, got {_short_repr(value)}{hint}")


def _short_repr(value, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: error messages stay one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _parse_id2label(id2label) -> Dict[int, str]:
    """``{id: name}`` with int ids, from a dict whose keys are ints or decimal strings (as JSON writes them).

    A list is refused rather than guessed at: HF transformers and PaddleNLP
    both write a dict, and a list usually means a hand-edited file.
    """
    if not isinstance(id2label, dict):
        raise ValueError(
            f"ElectraConfig.id2label must be a dict {{id: label name}} such as {{\"0\": \"neg\", \"1\": \"pos\"}}, "
            f"got a {type(id2label).__name__}: {_short_repr(id2label)}"
        )
    out: Dict[int, str] = {}
    for key, name in id2label.items():
        try:
            index = int(key) if isinstance(key, (int, str)) and not isinstance(key, bool) else None
        except ValueError:
            index = None
        if index is None:
            raise ValueError(f"ElectraConfig.id2label key {_short_repr(key)} is not an integer label id")
        if isinstance(name, bool) or not isinstance(name, (str, int)):
            raise ValueError(f"ElectraConfig.id2label[{index}] must be a label name (a string), "
                             f"got {_short_repr(name)}")
        if index in out:
            raise ValueError(f"ElectraConfig.id2label gives label id {index} twice")
        out[index] = str(name)
    return out


def _check_depth(data) -> None:
    """Refuse JSON nested deeper than :data:`MAX_JSON_DEPTH` (iteratively: no recursion to exhaust)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"config is nested more than {MAX_JSON_DEPTH} levels deep; real configs use at most 4")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
