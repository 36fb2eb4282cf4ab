"""The base class of every ELECTRA model: weight init, save and load.

Loading is never silent: :class:`LoadReport` lists missing, unexpected and
shape-mismatched keys in one summary, names the heads that start from random
weights, and a checkpoint whose backbone does not load at all is an error.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import paddle
import paddle.nn as nn
from paddle.nn import initializer

from . import registry
from ._io import atomic_folder
from .configuration import ATTRIBUTE_DEFAULTS, ElectraConfig
from .model_api import ModelAPI, _check_architecture, _dtype_name
from .tokenizer.saving import VOCAB_FILE  # the file that makes a folder a tokenizer's
from .safety import check_config_fits_memory, check_config_fits_weights
from .convert.hf import hf_to_paddle, is_hf_state_dict, paddle_to_hf
from .convert.readers import (
    PADDLE_WEIGHTS,
    SAFETENSORS_WEIGHTS,
    drop_optimizer_state,
    find_weights_file,
    read_state_dict,
)

logger = logging.getLogger("paddle_electra")

# Set while the outermost model is being built ("init" or "load"), so nested
# models (a backbone inside a head) leave initialisation to it.
_BUILDING: contextvars.ContextVar = contextvars.ContextVar("paddle_electra_building", default=None)

# Top-level names of the two pre-training heads, to tell a generator checkpoint
# from a discriminator one when the wrong class is asked to load it.
_HEAD_OWNERS = {
    "generator_predictions": "ElectraGenerator",
    "generator_lm_head_bias": "ElectraGenerator",
    "discriminator_predictions": "ElectraDiscriminator",
}


# paddle_electra class -> HF transformers class with the same weights
HF_CLASS_NAMES = {
    "ElectraModel": "ElectraModel",
    "ElectraGenerator": "ElectraForMaskedLM",
    "ElectraDiscriminator": "ElectraForPreTraining",
    "ElectraForSequenceClassification": "ElectraForSequenceClassification",
    "ElectraForTokenClassification": "ElectraForTokenClassification",
    "ElectraForQuestionAnswering": "ElectraForQuestionAnswering",
    "ElectraForMultipleChoice": "ElectraForMultipleChoice",
    "ElectraForCausalLM": "ElectraForCausalLM",
}


@dataclass
class LoadReport:
    """What happened when a checkpoint was loaded into a model."""

    source: str  # the weights file
    converted_from: Optional[str] = None  # "hf" when HF names were mapped
    missing: List[str] = field(default_factory=list)  # model keys not in the checkpoint
    unexpected: List[str] = field(default_factory=list)  # checkpoint keys the model lacks
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)  # key, ckpt shape, model shape
    skipped: List[str] = field(default_factory=list)  # one-line notes (optimizer slots, HF buffers)

    @property
    def newly_initialized(self) -> List[str]:
        """Sub-modules left with random weights (missing or mismatched), by top-level name."""
        names = [k for k in self.missing] + [k for k, _, _ in self.mismatched]
        return sorted({k.split(".")[0] for k in names})

    def summary(self) -> str:
        """One readable paragraph, empty sections left out."""
        lines = [f"loaded {self.source}" + (f" (converted from {self.converted_from})" if self.converted_from else "")]
        if self.mismatched:
            shapes = "; ".join(f"{k}: checkpoint {list(a)} vs model {list(b)}" for k, a, b in self.mismatched)
            lines.append(f"shape mismatch, left random ({len(self.mismatched)}): {shapes}")
        if self.missing:
            lines.append(f"missing from the checkpoint ({len(self.missing)}): {_short(self.missing)}")
        if self.newly_initialized:
            lines.append(
                f"newly initialised, train before use: {', '.join(self.newly_initialized)}"
            )
        if self.unexpected:
            lines.append(f"unused checkpoint weights ({len(self.unexpected)}): {_short(self.unexpected)}")
        lines.extend(self.skipped)
        return "\n  ".join(lines)


def _short(keys: List[str], limit: int = 8) -> str:
    keys = sorted(keys)
    more = f", ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


class ElectraPretrainedModel(ModelAPI, nn.Layer):
    """Base class: holds ``config``, initialises weights, saves and loads folders.

    The PaddleNLP / HF model API (``base_model``, ``resize_token_embeddings``,
    ``model_name_list``, building a head from an ``ElectraModel`` ...) comes
    from :class:`~paddle_electra.model_api.ModelAPI`.
    """

    config_class = ElectraConfig
    base_model_prefix = "electra"
    #: where this model's tokenizer lives: the folder (absolute path) or published name that
    #: :meth:`from_pretrained` loaded it from, when that source has a vocabulary; ``None`` for a
    #: model built from a config. :meth:`save_pretrained` and ``paddle_electra.export`` carry it
    #: along, so a saved or exported model keeps the tokenizer it was trained with.
    tokenizer_source: Optional[str] = None

    def __init__(self, config: ElectraConfig):
        super().__init__()
        if not isinstance(config, ElectraConfig):
            raise ValueError(f"{type(self).__name__} needs an ElectraConfig, got {type(config).__name__}")
        check_config_fits_memory(config)  # before any layer allocates
        self.config = config

    # ------------------------------------------------------------ init
    def __init_subclass__(cls, **kwargs):
        """Wrap every subclass ``__init__`` so the outermost one initialises once.

        While the outermost model is being built, Paddle's global initializer is
        set to Normal(0, initializer_range) / zero bias, so every weight is drawn
        once at creation instead of Xavier first and Normal again; LayerNorms are
        fixed up afterwards. ``from_pretrained`` builds under a constant
        initializer instead (no random draws for weights about to be loaded) and
        initialises only what the checkpoint lacks.
        """
        super().__init_subclass__(**kwargs)
        original = cls.__init__

        @functools.wraps(original)
        def __init__(self, *args, **kw):
            if _BUILDING.get() is not None:  # an inner model, or under from_pretrained
                return original(self, *args, **kw)
            std = _initializer_range(args, kw)
            token = _BUILDING.set("init")
            initializer.set_global_initializer(initializer.Normal(0.0, std), initializer.Constant(0.0))
            try:
                original(self, *args, **kw)
            finally:
                initializer.set_global_initializer(None, None)
                _BUILDING.reset(token)
            self._finish_init()

        cls.__init__ = __init__

    @classmethod
    def build(cls, config: ElectraConfig, initialize: bool = True, **kwargs):
        """``cls(config, **kwargs)``; with ``initialize=False`` every weight is 0 (no random draws).

        The uninitialised form is what :meth:`from_pretrained` loads into, and is
        a fast way to inspect a large architecture.
        """
        if initialize:
            return cls(config, **kwargs)
        token = _BUILDING.set("load")
        initializer.set_global_initializer(initializer.Constant(0.0), initializer.Constant(0.0))
        try:
            return cls(config, **kwargs)
        finally:
            initializer.set_global_initializer(None, None)
            _BUILDING.reset(token)

    def _finish_init(self) -> None:
        """Fix-ups after building under the Normal global initializer (an adopted backbone is left alone)."""
        adopted = [layer for layer in self.sublayers() if getattr(layer, "_adopted", False)]
        skip = {id(sub) for layer in adopted for sub in layer.sublayers(include_self=True)}
        for layer in adopted:
            layer._adopted = False
        for layer in self.sublayers(include_self=True):
            if id(layer) in skip:
                continue
            if isinstance(layer, nn.LayerNorm):
                layer.weight.set_value(paddle.ones_like(layer.weight))
                layer.bias.set_value(paddle.zeros_like(layer.bias))
            if hasattr(layer, "_init_extra"):
                layer._init_extra()

    def init_weights(self, only: Optional[set] = None) -> None:
        """Draw fresh weights: Normal(0, initializer_range), zero biases, unit LayerNorms.

        Args:
            only: parameter names (``state_dict`` keys) to initialise; default all.
        """
        std = self.config.initializer_range
        for prefix, layer in self.named_sublayers(include_self=True):
            for pname, param in layer.named_parameters(include_sublayers=False):
                key = f"{prefix}.{pname}" if prefix else pname
                if only is not None and key not in only:
                    continue
                if isinstance(layer, nn.LayerNorm) and pname == "weight":
                    value = paddle.ones_like(param)
                elif isinstance(layer, (nn.Linear, nn.Embedding)) and pname == "weight":
                    value = paddle.normal(0.0, std, param.shape).astype(param.dtype)
                else:  # biases, LayerNorm shifts, free-standing bias parameters
                    value = paddle.zeros_like(param)
                param.set_value(value)

    # ------------------------------------------------------------ save
    def save_pretrained(self, save_directory: str, safe_serialization: bool = False, format: str = "paddle") -> None:
        """Write ``config.json`` and the weights into ``save_directory``.

        Args:
            save_directory: the folder (created if needed).
            safe_serialization: Paddle format only: ``model.safetensors`` in
                Paddle layout instead of ``model_state.pdparams``.
            format: ``"paddle"`` (PaddleNLP's names and layout, loadable by
                PaddleNLP) or ``"hf"``: ``config.json`` + ``model.safetensors``
                with HF names and torch layout, loadable by HF transformers'
                matching class (``ElectraGenerator`` -> ``ElectraForMaskedLM``,
                ``ElectraDiscriminator`` -> ``ElectraForPreTraining``).

        The folder is written beside ``save_directory`` and swapped in whole
        (:func:`~paddle_electra._io.atomic_folder`), so a save killed at any
        moment leaves the old model or the new one, never new weights with an old
        config. Other files already in the folder (a tokenizer's, subfolders) are
        kept; a weights file of the other format left from an earlier save is
        removed, so the folder holds one model.

        The tokenizer comes along: a model loaded by :meth:`from_pretrained`
        from a folder or name that has a vocabulary (:attr:`tokenizer_source`)
        writes that tokenizer's files (``vocab.txt``, ``tokenizer_config.json``,
        ``special_tokens_map.json``, ``added_tokens.json``) into the same
        atomic folder, unless ``save_directory`` already holds a ``vocab.txt``,
        which is kept as it is.

        Raises:
            ValueError: a bad ``format``, ``save_directory`` is a file, or it is
                the current working directory or a folder above it.
        """
        if format not in ("paddle", "hf"):
            raise ValueError(f"format must be 'paddle' or 'hf', got {format!r}")
        if os.path.isfile(save_directory):
            raise ValueError(f"save_pretrained needs a folder, but {save_directory} is a file")
        arch = type(self).__name__
        if format == "hf" and arch not in HF_CLASS_NAMES:
            raise ValueError(f"{arch} has no HF transformers counterpart; save it with format='paddle'")
        state = {k: v.numpy() for k, v in self.state_dict().items()}
        if format == "hf":
            state = paddle_to_hf(state, architecture=arch)
            safe_serialization = True
        name = SAFETENSORS_WEIGHTS if safe_serialization else PADDLE_WEIGHTS
        other = PADDLE_WEIGHTS if safe_serialization else SAFETENSORS_WEIGHTS
        config = self.config.copy(architectures=[HF_CLASS_NAMES[arch] if format == "hf" else arch])
        if format == "hf" and arch == "ElectraForQuestionAnswering":
            config = config.copy(num_labels=2, id2label=None)  # HF sizes qa_outputs by num_labels
        stale = os.path.join(save_directory, other)
        had_stale = os.path.isfile(stale)  # the loader would pick it over the new file, or the reverse
        tokenizer = self._tokenizer_to_carry(save_directory)  # loaded before anything is written
        with atomic_folder(save_directory, drop=[other]) as folder:
            path = os.path.join(folder, name)
            if safe_serialization:
                from safetensors.numpy import save_file

                # "np" is what PaddleNLP writes for Paddle-layout files and the only value its loader accepts
                meta = {"format": "pt" if format == "hf" else "np"}
                save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, path, metadata=meta)
            else:
                paddle.save(state, path)
            config.save_pretrained(folder)
            if tokenizer is not None:
                tokenizer.save_pretrained(folder)
        if had_stale:
            logger.warning("save_pretrained: removed the stale %s so %s holds one model", stale, save_directory)

    def _tokenizer_to_carry(self, save_directory: str):
        """The tokenizer of :attr:`tokenizer_source` to save beside the weights, or ``None``.

        ``None`` when the model has no tokenizer source, or ``save_directory``
        already holds a ``vocab.txt`` (that tokenizer is kept: the folder's
        owner put it there). A source that no longer loads is a warning, not
        an error: the weights are still worth saving.
        """
        source = self.tokenizer_source
        if source is None or os.path.isfile(os.path.join(save_directory, VOCAB_FILE)):
            return None
        from .tokenizer import ElectraTokenizer

        try:
            return ElectraTokenizer.from_pretrained(source)
        except (ValueError, OSError) as e:
            logger.warning("save_pretrained: the model's tokenizer could not be loaded from %s (%s); %s gets no "
                           "tokenizer: save one there with tokenizer.save_pretrained(%r)",
                           source, e, save_directory, save_directory)
            return None

    # ------------------------------------------------------------ load
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str,
        config: Optional[ElectraConfig] = None,
        ignore_mismatched_sizes: bool = False,
        output_loading_info: bool = False,
        dtype=None,
        cache_dir: Optional[str] = None,
        **config_overrides,
    ):
        """Build the model from a folder or a published name and load its weights.

        The folder holds ``config.json`` (HF or PaddleNLP) or PaddleNLP 2.4's
        ``model_config.json``, and one of ``model_state.pdparams``,
        ``model.safetensors`` (Paddle or HF layout) or ``pytorch_model.bin``
        (read without torch, refusing pickles that could run code). HF weights
        are renamed and transposed on the fly.

        Args:
            pretrained_model_name_or_path: a model folder, or a published name
                from the name table (downloaded once into the cache, see
                :mod:`paddle_electra.hub`).
            config: use this config instead of the folder's.
            ignore_mismatched_sizes: leave weights whose shapes differ from the
                model's randomly initialised instead of raising (e.g. a new
                ``num_labels``).
            output_loading_info: also return the :class:`LoadReport`.
            dtype: ``"float32"`` (default), ``"float16"``, ``"bfloat16"`` or
                ``"float64"`` (or the paddle dtype): the parameters' dtype.
            cache_dir: cache root for a published name instead of
                ``PADDLE_ELECTRA_HOME`` (PaddleNLP's and HF's keyword).
            **config_overrides: config fields to change (``num_labels=3``, or
                PaddleNLP's ``num_classes=3``), the head's PaddleNLP 2.4 arguments
                (``dropout=``), or attributes the config already has.

        Raises:
            ValueError: a keyword that is none of these, no folder / config /
                weights, an unreadable or unsafe weights file, a checkpoint of the
                other pre-training head, shape mismatches (unless ignored), or a
                backbone that does not load.
        """
        dtype = None if dtype is None else _dtype_name(dtype)
        path = pretrained_model_name_or_path
        if not os.path.isdir(path):
            entry = registry.get_entry(path)  # unknown names fail here, with the closest names
            _check_architecture(cls, entry)  # before anything is downloaded
            from .hub import cache_dir_override, resolve

            with cache_dir_override(cache_dir):
                path = resolve(path, kind="model")
        if config is not None and not isinstance(config, ElectraConfig):
            raise ValueError(f"config must be an ElectraConfig, got {type(config).__name__}")
        stated = None if config is not None else ElectraConfig.stated_keys(path)
        base = config if config is not None else ElectraConfig.from_pretrained(path)
        overrides = cls._config_overrides(base, config_overrides)
        config = base.copy(**overrides) if overrides else base
        weights = find_weights_file(path)
        state = read_state_dict(weights)
        if stated is not None:  # what the config file leaves unsaid may be read off the weights
            config = cls._config_from_checkpoint(config, state, stated | set(overrides))
        # before allocating: a few bytes of config must not ask for gigabytes the file cannot fill
        check_config_fits_weights(config, sum(int(v.size) for v in state.values()), weights)
        model = cls.build(config, initialize=False)  # every weight is about to be overwritten
        report = model.load_weights(state, source=weights, ignore_mismatched_sizes=ignore_mismatched_sizes)
        # what the checkpoint did not provide gets a proper initialisation
        model.init_weights(only=set(report.missing) | {k for k, _, _ in report.mismatched})
        model.eval()
        if dtype is not None:
            model.to(dtype=dtype)
        model.tokenizer_source = _tokenizer_source(pretrained_model_name_or_path)
        return (model, report) if output_loading_info else model

    @classmethod
    def _config_overrides(cls, config: ElectraConfig, kwargs: Dict) -> Dict:
        """``from_pretrained``'s extra keywords as config changes; any other keyword is an error."""
        known = set(ElectraConfig.field_names()) | set(ElectraConfig.attribute_map) | {"layer_norm_epsilon"}
        known |= set(ATTRIBUTE_DEFAULTS) | set(config.extra)
        out = {}
        for key, value in kwargs.items():
            name = cls.legacy_init_kwargs.get(key, key)
            if name not in known:
                raise ValueError(
                    f"{cls.__name__}.from_pretrained got an unexpected keyword argument {key!r}: it is neither a "
                    "loading option (config, ignore_mismatched_sizes, output_loading_info, dtype, cache_dir), an "
                    "ElectraConfig "
                    f"field, nor an attribute this config has{_legacy_hint(cls)}")
            out[name] = value
        return out

    @classmethod
    def _config_from_checkpoint(cls, config: ElectraConfig, state: Dict[str, np.ndarray], stated: set):
        """The config with what its file does not state (``stated`` lists what it does) taken from the weights."""
        return config

    def load_weights(self, state: Dict[str, np.ndarray], source: str = "<state dict>",
                     ignore_mismatched_sizes: bool = False) -> LoadReport:
        """Load a state dict of any supported naming into this model and report.

        HF names are converted, optimizer slots dropped, and the backbone
        prefix (``electra.``) added or removed to fit this class.
        """
        report = LoadReport(source=source)
        state, note = drop_optimizer_state(state)
        if note:
            report.skipped.append(note)
        if is_hf_state_dict(state):
            state, dropped = hf_to_paddle(state)
            report.converted_from = "hf"
            if dropped:
                report.skipped.append(f"skipped {len(dropped)} HF-only entries: {_short(list(dropped))}")
        own = self.state_dict()
        state = self._fit_prefix(state, own)
        self._check_head_kind(state, own)

        to_set = {}
        for key, param in own.items():
            if key not in state:
                report.missing.append(key)
                continue
            value = state[key]
            if tuple(value.shape) != tuple(param.shape):
                report.mismatched.append((key, tuple(value.shape), tuple(param.shape)))
                continue
            want = _numpy_dtype(param.dtype)
            if value.dtype == np.uint16 and want.kind == "f":
                # paddle.save stores bfloat16 tensors as their raw uint16 bits: widen exactly
                value = (value.astype(np.uint32) << 16).view(np.float32)
            elif value.dtype.kind != want.kind:
                # float weights stored as integers (or back) are a different tensor, not a precision change
                raise ValueError(f"{source}: {key} is stored as {value.dtype}, which does not fit the model's "
                                 f"{want} parameter")
            to_set[key] = value.astype(want, copy=False)
        report.unexpected = sorted(k for k in state if k not in own)

        backbone = [k for k in own if self._is_backbone_key(k)]
        if backbone and not any(k in to_set for k in backbone):
            raise ValueError(
                f"none of {type(self).__name__}'s backbone weights could be loaded from {source}: "
                f"the checkpoint has {_short(sorted(state))}; is it an ELECTRA checkpoint?"
            )
        if report.mismatched and not ignore_mismatched_sizes:
            raise ValueError(
                f"{source} does not fit {type(self).__name__} with this config:\n  {report.summary()}\n"
                "check the config (a different model size?) or pass ignore_mismatched_sizes=True "
                "to leave those weights random"
            )
        for key, value in to_set.items():
            own[key].set_value(value)
        # a clean load is DEBUG: Paddle configures the root logger at INFO, which would print every load
        level = logging.WARNING if (report.missing or report.unexpected or report.mismatched) else logging.DEBUG
        logger.log(level, "%s: %s", type(self).__name__, report.summary())
        return report

    # ------------------------------------------------------------ helpers
    def _is_backbone_key(self, key: str) -> bool:
        prefix = self.base_model_prefix + "."
        return key.startswith(prefix) if any(k.startswith(prefix) for k in self.state_dict()) else (
            key.startswith("embeddings") or key.startswith("encoder")
        )

    def _fit_prefix(self, state: Dict[str, np.ndarray], own) -> Dict[str, np.ndarray]:
        """Add or strip ``electra.`` so a bare-encoder checkpoint fits a head and back."""
        prefix = self.base_model_prefix + "."
        model_prefixed = any(k.startswith(prefix) for k in own)
        ckpt_prefixed = any(k.startswith(prefix) for k in state)
        bare = ("embeddings", "embeddings_project", "encoder")
        if model_prefixed and not ckpt_prefixed:
            return {(prefix + k if k.split(".")[0] in bare else k): v for k, v in state.items()}
        if ckpt_prefixed and not model_prefixed:
            return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}
        return state

    def _check_head_kind(self, state: Dict[str, np.ndarray], own) -> None:
        """A generator checkpoint in a discriminator class (or back) is an error, not random weights."""
        mine = {owner for k in own for top, owner in _HEAD_OWNERS.items() if k.split(".")[0] == top}
        theirs = {owner for k in state for top, owner in _HEAD_OWNERS.items() if k.split(".")[0] == top}
        if mine and theirs and not mine & theirs:
            right = sorted(theirs)[0]
            raise ValueError(
                f"this checkpoint holds an {right} head but {type(self).__name__} was asked to load it; "
                f"use {right}.from_pretrained(...) (or ElectraModel for the encoder alone)"
            )


def _tokenizer_source(name_or_path) -> Optional[str]:
    """Where a model loaded from ``name_or_path`` finds its tokenizer: the folder (absolute) or the name.

    ``None`` when there is none: a folder without ``vocab.txt``, or a
    published name whose table entry lists no vocabulary file.
    """
    path = os.fspath(name_or_path)
    if os.path.isdir(path):
        return os.path.abspath(path) if os.path.isfile(os.path.join(path, VOCAB_FILE)) else None
    try:
        entry = registry.get_entry(path)
    except ValueError:
        return None
    return path if entry.file("vocab") is not None else None


def _legacy_hint(cls) -> str:
    names = sorted(cls.legacy_init_kwargs)
    return f" (or one of {cls.__name__}'s PaddleNLP 2.4 arguments: {', '.join(names)})" if names else ""


def _initializer_range(args, kwargs) -> float:
    """``initializer_range`` of what a model is being built from: a config, a backbone or config fields."""
    source = args[0] if args else kwargs.get("config")
    if isinstance(source, ElectraPretrainedModel):
        source = source.config
    if isinstance(source, ElectraConfig):
        return source.initializer_range
    return kwargs.get("initializer_range", 0.02)


def _numpy_dtype(dtype) -> np.dtype:
    """numpy dtype of a Paddle parameter dtype."""
    return np.dtype(str(dtype).replace("paddle.", ""))
