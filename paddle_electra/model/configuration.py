"""ElectraConfig: the hyper-parameters of one ELECTRA network, validated.

The same class reads the three config formats ELECTRA checkpoints are published
with (HF ``config.json``, PaddleNLP >= 2.5 flat ``config.json`` and PaddleNLP
2.4 ``model_config.json`` with nested ``init_args``) and writes one JSON file
that both HF transformers and PaddleNLP understand.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from .._io import write_text
from .config_files import (  # noqa: F401 (CONFIG_NAME, LEGACY_CONFIG_NAME, MAX_JSON_DEPTH re-exported)
    CONFIG_NAME,
    LEGACY_CONFIG_NAME,
    MAX_JSON_DEPTH,
    PADDLENLP_ALIASES as _PADDLENLP_ALIASES,
    check_depth as _check_depth,
    config_file as _config_file,
    flatten_config_dict,
    read_json as _read_json,
    rename_aliases as _rename_aliases,
)


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

# HF config fields whose non-default values change the network in ways this
# package does not implement: refuse them instead of loading a different model.
# (is_decoder is a field: a causal mask and a KV cache, see paddle_electra.model.kv_cache.)
_UNSUPPORTED_HF_VALUES = {
    "position_embedding_type": ("absolute",),
    "add_cross_attention": (False,),
}

# Attributes HF's and PaddleNLP's configs always have, read by paddle_electra's
# models, with the value a config that does not record them means. They are
# not fields: a file that states them keeps them in ``extra`` (and writes them back).
ATTRIBUTE_DEFAULTS = {
    "use_cache": True,  # decoders (is_decoder=True) return a KV cache unless told otherwise (HF)
    "tie_word_embeddings": True,  # the LM heads reuse the word embedding; False is refused by them
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


class NameTableConfigs:
    """Class attribute: ``{published name: config dict}`` from the name table (PaddleNLP's
    ``pretrained_init_configuration``), read when first accessed, a fresh copy each time."""

    def __get__(self, obj, owner=None) -> Dict[str, Dict[str, Any]]:
        from ..loading import registry  # the name table is loading's; read when the attribute is

        return {name: copy.deepcopy(registry.get_entry(name).config) for name in registry.names()}


@dataclass
class ElectraConfig:
    """Configuration of an ELECTRA encoder and its heads.

    Defaults are ELECTRA-small's discriminator (google/electra-small-discriminator).
    Unknown keys (from a JSON file or keyword arguments, as in HF and PaddleNLP)
    are kept in ``extra``, readable and settable as attributes (``config.gen_weight``)
    and written back, so a round trip through this class loses nothing.

    PaddleNLP's conventions work too: ``num_classes`` is an alias of
    ``num_labels`` (:attr:`attribute_map`), ``config["hidden_size"]``,
    ``config.get(...)``, and the mapping protocol, so ``ElectraModel(**config)``
    builds the same network.
    """

    attribute_map = {"num_classes": "num_labels"}  # PaddleNLP's alias (a class attribute, not a field)
    pretrained_init_configuration = NameTableConfigs()  # published name -> config dict (PaddleNLP's table)

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
    is_decoder: bool = False  # causal self-attention (HF's ElectraForCausalLM); written only when True
    extra: Dict[str, Any] = field(default_factory=dict)  # unknown keys, kept for the round trip

    def __init__(self, *args, **kwargs):
        """Fields by keyword (or position, in field order); aliases and unknown keys accepted.

        ``num_classes`` / ``layer_norm_epsilon`` set ``num_labels`` /
        ``layer_norm_eps``; ``model_type`` must be ``"electra"`` (or
        ``"ernie_health"``) and is not stored (it is always written);
        ``label2id`` is derived from ``id2label``; any other unknown key goes to
        ``extra``; ``extra=`` merges a dict of them.

        Raises:
            ValueError: an invalid field, an alias that disagrees with its
                field, or an HF variant this package does not implement.
        """
        names = tuple(f.name for f in dataclasses.fields(self))
        if len(args) > len(names):
            raise ValueError(f"ElectraConfig takes at most {len(names)} positional arguments, got {len(args)}")
        for name, value in zip(names, args):
            if name in kwargs:
                raise ValueError(f"ElectraConfig got {name} both by position and by keyword")
            kwargs[name] = value
        kwargs = _rename_aliases(kwargs)
        model_type = kwargs.pop("model_type", None)
        if model_type not in (None, "electra", "ernie_health"):
            raise ValueError(f"config has model_type {model_type!r}; paddle_electra reads 'electra' configs only")
        for key, allowed in _UNSUPPORTED_HF_VALUES.items():
            if key in kwargs and kwargs[key] not in allowed:
                raise ValueError(
                    f"config field {key}={kwargs[key]!r} is not supported by paddle_electra (supported: {allowed})"
                )
        extra = kwargs.pop("extra", None) or {}
        if not isinstance(extra, dict):
            raise ValueError(f"config field extra must be a JSON object, got {type(extra).__name__}")
        kwargs.pop("label2id", None)  # derived from id2label on write
        if kwargs.get("id2label") is not None and not isinstance(kwargs["id2label"], dict):
            kwargs["id2label"] = _parse_id2label(kwargs["id2label"])  # raises: names the field and the fix
        if kwargs.get("id2label") and "num_labels" not in kwargs:
            kwargs["num_labels"] = len(kwargs["id2label"])  # HF writes only id2label
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            object.__setattr__(self, f.name, kwargs.pop(f.name, default))
        extra = copy.deepcopy(extra)
        extra.update(kwargs)  # what is left is not a field: kept, as HF and PaddleNLP keep it
        object.__setattr__(self, "extra", extra)
        self.__post_init__()

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
        if not isinstance(self.is_decoder, bool):
            raise ValueError(f"ElectraConfig.is_decoder must be True or False, got {_short_repr(self.is_decoder)}")
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
        flat = flatten_config_dict(data)
        flat.update(_drop_stale_labels(flat, _rename_aliases(overrides)))
        return cls(**flat)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict readable by this class, HF transformers and PaddleNLP."""
        out: Dict[str, Any] = dict(self.extra)
        for name in self.field_names():
            value = getattr(self, name)
            if name in ("id2label", "architectures", "problem_type", "classifier_dropout") and value is None:
                continue
            if name == "is_decoder" and not value:
                continue  # configs of encoders look as they always did
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
        data = _read_json(path)
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
        is looked up in the name table offline. ``overrides`` change fields
        (``num_classes=3`` too); keys that are not fields are kept in ``extra``.

        Raises:
            ValueError: a folder with no config, a bad config, or an unknown name
                (the message lists the closest known names).
        """
        file = _config_file(path)
        if file is not None:
            return cls.from_json_file(file, **overrides)
        # a published name: the config is in the name table, nothing is downloaded
        from ..loading import registry  # the name table is loading's, consulted only for a name

        entry = registry.get_entry(path)
        return cls.from_dict(entry.config, **{"architectures": [entry.architecture], **overrides})

    @staticmethod
    def stated_keys(path: str) -> frozenset:
        """The keys the config of ``path`` (as :meth:`from_pretrained` finds it) states, in our spelling.

        Loaders use it to tell a value the file gives from a default, e.g. an
        ERNIE-Health CSP width a PaddleNLP 2.5+ ``config.json`` does not record.
        """
        file = _config_file(path)
        if file is None:
            from ..loading import registry  # the name table is loading's, consulted only for a name

            return frozenset(registry.get_entry(path).config) | {"architectures"}
        data = _read_json(file)
        return frozenset(flatten_config_dict(data)) if isinstance(data, dict) else frozenset()

    def copy(self, **changes) -> "ElectraConfig":
        """A validated copy with some fields (or aliases, or extra attributes) changed."""
        data = {name: copy.deepcopy(getattr(self, name)) for name in self.field_names()}
        data["extra"] = copy.deepcopy(self.extra)
        data.update(_drop_stale_labels(data, _rename_aliases(changes)))
        return type(self)(**data)

    # ------------------------------------------------- attributes / mapping
    def __getattr__(self, name):
        # only called when normal lookup fails: aliases, extra keys, HF/PaddleNLP standard attributes
        if name.startswith("__") or name == "extra":
            raise AttributeError(name)
        alias = _PADDLENLP_ALIASES.get(name)
        if alias is not None:
            return getattr(self, alias)
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        if name in ATTRIBUTE_DEFAULTS:
            return ATTRIBUTE_DEFAULTS[name]
        raise AttributeError(f"'ElectraConfig' object has no attribute {name!r}")

    def __setattr__(self, name, value):
        name = _PADDLENLP_ALIASES.get(name, name)
        if name == "label2id" and isinstance(value, dict):  # derived: set through id2label
            names = _parse_id2label({i: n for n, i in value.items()})
            object.__setattr__(self, "id2label", names)
            object.__setattr__(self, "num_labels", len(names))
        elif name in _field_set(type(self)) or name.startswith("_") or hasattr(type(self), name):
            if name == "num_labels" and self.__dict__.get("id2label") is not None and len(self.id2label) != value:
                object.__setattr__(self, "id2label", None)  # its names no longer fit (HF / PaddleNLP redo them too)
            object.__setattr__(self, name, value)
        else:
            self.extra[name] = value  # kept and written back, like HF's and PaddleNLP's extra attributes

    def __delattr__(self, name):
        if name in self.__dict__.get("extra", {}):
            del self.extra[name]
        else:
            object.__delattr__(self, name)

    def keys(self) -> list:
        """Field names, then the names in ``extra``: ``ElectraModel(**config)`` rebuilds the network."""
        return list(self.field_names()) + [k for k in self.extra if k not in _field_set(type(self))]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key) -> bool:
        return _PADDLENLP_ALIASES.get(key, key) in self.keys()

    def __getitem__(self, key):
        """``config["hidden_size"]``; like PaddleNLP, None for a key the config does not have."""
        return getattr(self, key, None) if isinstance(key, str) else None

    def __setitem__(self, key, value) -> None:
        setattr(self, key, value)

    def get(self, key: str, default=None):
        """The value of ``key`` (a field, an alias or an extra attribute), else ``default``."""
        return getattr(self, key, default)

    def __eq__(self, other):
        if not isinstance(other, ElectraConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict()


@functools.lru_cache(maxsize=None)
def _field_set(cls) -> frozenset:
    return frozenset(f.name for f in dataclasses.fields(cls))


def _drop_stale_labels(current: Dict[str, Any], changes: Dict[str, Any]) -> Dict[str, Any]:
    """``changes``, plus ``id2label=None`` when they set a num_labels the current label names do not fit."""
    names = current.get("id2label")
    if "num_labels" in changes and "id2label" not in changes and names and len(names) != changes["num_labels"]:
        return dict(changes, id2label=None)  # HF and PaddleNLP regenerate the names too
    return changes


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
