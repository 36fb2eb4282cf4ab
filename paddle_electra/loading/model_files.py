"""Saving and loading model folders: the work behind ``save_pretrained`` / ``from_pretrained``.

The model classes (:mod:`paddle_electra.model.base`) keep the public methods and
their documentation; the methods call in here when they run, so the model layer
imports nothing from the loaders at import time. Loading is never silent:
:class:`LoadReport` lists missing, unexpected and shape-mismatched keys in one
summary, names the heads that start from random weights, and a checkpoint whose
backbone does not load at all is an error.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import paddle

from . import registry
from .._io import atomic_folder
from ..model.configuration import ElectraConfig
from ..model.model_api import _check_architecture, _dtype_name
from .safety import check_config_fits_weights
from .convert.hf import hf_to_paddle, is_hf_state_dict, paddle_to_hf
from .convert.readers import (
    PADDLE_WEIGHTS,
    SAFETENSORS_WEIGHTS,
    drop_optimizer_state,
    find_weights_file,
    read_state_dict,
)

logger = logging.getLogger("paddle_electra")

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



def save_pretrained(model, save_directory: str, safe_serialization: bool = False, format: str = "paddle") -> None:
    """:meth:`ElectraPretrainedModel.save_pretrained <paddle_electra.model.base.ElectraPretrainedModel.save_pretrained>`."""
    if format not in ("paddle", "hf"):
        raise ValueError(f"format must be 'paddle' or 'hf', got {format!r}")
    if os.path.isfile(save_directory):
        raise ValueError(f"save_pretrained needs a folder, but {save_directory} is a file")
    arch = type(model).__name__
    if format == "hf" and arch not in HF_CLASS_NAMES:
        raise ValueError(f"{arch} has no HF transformers counterpart; save it with format='paddle'")
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    if format == "hf":
        state = paddle_to_hf(state, architecture=arch)
        safe_serialization = True
    name = SAFETENSORS_WEIGHTS if safe_serialization else PADDLE_WEIGHTS
    other = PADDLE_WEIGHTS if safe_serialization else SAFETENSORS_WEIGHTS
    config = model.config.copy(architectures=[HF_CLASS_NAMES[arch] if format == "hf" else arch])
    if format == "hf" and arch == "ElectraForQuestionAnswering":
        config = config.copy(num_labels=2, id2label=None)  # HF sizes qa_outputs by num_labels
    stale = os.path.join(save_directory, other)
    had_stale = os.path.isfile(stale)  # the loader would pick it over the new file, or the reverse
    tokenizer = _tokenizer_to_carry(model, save_directory)  # loaded before anything is written
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


def _tokenizer_to_carry(model, save_directory: str):
    """The tokenizer of :attr:`tokenizer_source` to save beside the weights, or ``None``.

    ``None`` when the model has no tokenizer source, or ``save_directory``
    already holds a ``vocab.txt`` (that tokenizer is kept: the folder's
    owner put it there). A source that no longer loads is a warning, not
    an error: the weights are still worth saving.
    """
    # the tokenizer layer sits above the loaders: imported when a model carries one
    from ..tokenizer import VOCAB_FILE, ElectraTokenizer

    source = model.tokenizer_source
    if source is None or os.path.isfile(os.path.join(save_directory, VOCAB_FILE)):
        return None
    try:
        return ElectraTokenizer.from_pretrained(source)
    except (ValueError, OSError) as e:
        logger.warning("save_pretrained: the model's tokenizer could not be loaded from %s (%s); %s gets no "
                       "tokenizer: save one there with tokenizer.save_pretrained(%r)",
                       source, e, save_directory, save_directory)
        return None


def from_pretrained(cls, pretrained_model_name_or_path: str, config: Optional[ElectraConfig] = None,
                    ignore_mismatched_sizes: bool = False, output_loading_info: bool = False, dtype=None,
                    cache_dir: Optional[str] = None, config_overrides: Optional[Dict] = None):
    """:meth:`ElectraPretrainedModel.from_pretrained <paddle_electra.model.base.ElectraPretrainedModel.from_pretrained>`
    for ``cls``, with its extra keywords in ``config_overrides``."""
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
    overrides = cls._config_overrides(base, config_overrides or {})
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


def load_weights(model, state: Dict[str, np.ndarray], source: str = "<state dict>",
                 ignore_mismatched_sizes: bool = False) -> LoadReport:
    """:meth:`ElectraPretrainedModel.load_weights <paddle_electra.model.base.ElectraPretrainedModel.load_weights>`."""
    report = LoadReport(source=source)
    state, note = drop_optimizer_state(state)
    if note:
        report.skipped.append(note)
    if is_hf_state_dict(state):
        state, dropped = hf_to_paddle(state)
        report.converted_from = "hf"
        if dropped:
            report.skipped.append(f"skipped {len(dropped)} HF-only entries: {_short(list(dropped))}")
    own = model.state_dict()
    state = _fit_prefix(model, state, own)
    _check_head_kind(model, state, own)

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

    backbone = [k for k in own if _is_backbone_key(model, k)]
    if backbone and not any(k in to_set for k in backbone):
        raise ValueError(
            f"none of {type(model).__name__}'s backbone weights could be loaded from {source}: "
            f"the checkpoint has {_short(sorted(state))}; is it an ELECTRA checkpoint?"
        )
    if report.mismatched and not ignore_mismatched_sizes:
        raise ValueError(
            f"{source} does not fit {type(model).__name__} with this config:\n  {report.summary()}\n"
            "check the config (a different model size?) or pass ignore_mismatched_sizes=True "
            "to leave those weights random"
        )
    for key, value in to_set.items():
        own[key].set_value(value)
    # a clean load is DEBUG: Paddle configures the root logger at INFO, which would print every load
    level = logging.WARNING if (report.missing or report.unexpected or report.mismatched) else logging.DEBUG
    logger.log(level, "%s: %s", type(model).__name__, report.summary())
    return report


def _is_backbone_key(model, key: str) -> bool:
    prefix = model.base_model_prefix + "."
    return key.startswith(prefix) if any(k.startswith(prefix) for k in model.state_dict()) else (
        key.startswith("embeddings") or key.startswith("encoder")
    )

def _fit_prefix(model, state: Dict[str, np.ndarray], own) -> Dict[str, np.ndarray]:
    """Add or strip ``electra.`` so a bare-encoder checkpoint fits a head and back."""
    prefix = model.base_model_prefix + "."
    model_prefixed = any(k.startswith(prefix) for k in own)
    ckpt_prefixed = any(k.startswith(prefix) for k in state)
    bare = ("embeddings", "embeddings_project", "encoder")
    if model_prefixed and not ckpt_prefixed:
        return {(prefix + k if k.split(".")[0] in bare else k): v for k, v in state.items()}
    if ckpt_prefixed and not model_prefixed:
        return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}
    return state

def _check_head_kind(model, state: Dict[str, np.ndarray], own) -> None:
    """A generator checkpoint in a discriminator class (or back) is an error, not random weights."""
    mine = {owner for k in own for top, owner in _HEAD_OWNERS.items() if k.split(".")[0] == top}
    theirs = {owner for k in state for top, owner in _HEAD_OWNERS.items() if k.split(".")[0] == top}
    if mine and theirs and not mine & theirs:
        right = sorted(theirs)[0]
        raise ValueError(
            f"this checkpoint holds an {right} head but {type(model).__name__} was asked to load it; "
            f"use {right}.from_pretrained(...) (or ElectraModel for the encoder alone)"
        )


def _tokenizer_source(name_or_path) -> Optional[str]:
    """Where a model loaded from ``name_or_path`` finds its tokenizer: the folder (absolute) or the name.

    ``None`` when there is none: a folder without ``vocab.txt``, or a
    published name whose table entry lists no vocabulary file.
    """
    from ..tokenizer import VOCAB_FILE  # the file that makes a folder a tokenizer's

    path = os.fspath(name_or_path)
    if os.path.isdir(path):
        return os.path.abspath(path) if os.path.isfile(os.path.join(path, VOCAB_FILE)) else None
    try:
        entry = registry.get_entry(path)
    except ValueError:
        return None
    return path if entry.file("vocab") is not None else None


def _numpy_dtype(dtype) -> np.dtype:
    """numpy dtype of a Paddle parameter dtype."""
    return np.dtype(str(dtype).replace("paddle.", ""))
