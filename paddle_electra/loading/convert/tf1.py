"""TF1 ELECTRA checkpoints -> PaddleNLP-named state dicts and ``from_pretrained`` folders.

:func:`tf1_to_paddle` renames one network's variables (ELECTRA's generator or
discriminator) to PaddleNLP's parameter names with a declarative table. TF
kernels are ``[in, out]`` like Paddle's Linear weights, so nothing is
transposed. :func:`convert_tf_checkpoint` writes ``from_pretrained`` folders.
The checkpoint itself is read without TensorFlow by :mod:`.tf1_bundle`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections import Counter
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..._io import atomic_folder, remove_leftovers
from .tf1_bundle import TF1Entry, list_tf1_checkpoint, read_tf1_checkpoint, resolve_tf1_prefix

__all__ = [
    "TF1Entry",
    "list_tf1_checkpoint",
    "read_tf1_checkpoint",
    "resolve_tf1_prefix",
    "tf1_to_paddle",
    "convert_tf_checkpoint",
    "TF1_KEY_TABLE",
]

logger = logging.getLogger("paddle_electra")


# ---------------------------------------------------------------- TF1 names -> PaddleNLP names
# (TF name under the network's scope, Paddle name under "electra." or at top level).
# {n} is a layer index; {dense} is kernel/bias (-> weight/bias, no transpose:
# TF kernels are [in, out] like Paddle's Linear); {ln} is gamma/beta (-> weight/bias).
_EMBEDDING_TABLE = (
    ("embeddings/word_embeddings", "embeddings.word_embeddings.weight"),
    ("embeddings/position_embeddings", "embeddings.position_embeddings.weight"),
    ("embeddings/token_type_embeddings", "embeddings.token_type_embeddings.weight"),
    ("embeddings/LayerNorm/{ln}", "embeddings.layer_norm.{ln}"),
)
_ENCODER_TABLE = (
    ("embeddings_project/{dense}", "embeddings_project.{dense}"),
    ("encoder/layer_{n}/attention/self/query/{dense}", "encoder.layers.{n}.self_attn.q_proj.{dense}"),
    ("encoder/layer_{n}/attention/self/key/{dense}", "encoder.layers.{n}.self_attn.k_proj.{dense}"),
    ("encoder/layer_{n}/attention/self/value/{dense}", "encoder.layers.{n}.self_attn.v_proj.{dense}"),
    ("encoder/layer_{n}/attention/output/dense/{dense}", "encoder.layers.{n}.self_attn.out_proj.{dense}"),
    ("encoder/layer_{n}/attention/output/LayerNorm/{ln}", "encoder.layers.{n}.norm1.{ln}"),
    ("encoder/layer_{n}/intermediate/dense/{dense}", "encoder.layers.{n}.linear1.{dense}"),
    ("encoder/layer_{n}/output/dense/{dense}", "encoder.layers.{n}.linear2.{dense}"),
    ("encoder/layer_{n}/output/LayerNorm/{ln}", "encoder.layers.{n}.norm2.{ln}"),
)
_HEAD_TABLE = {
    "discriminator": (
        ("discriminator_predictions/dense/{dense}", "discriminator_predictions.dense.{dense}"),
        ("discriminator_predictions/dense_1/{dense}", "discriminator_predictions.dense_prediction.{dense}"),
    ),
    "generator": (
        ("generator_predictions/dense/{dense}", "generator_predictions.dense.{dense}"),
        ("generator_predictions/LayerNorm/{ln}", "generator_predictions.layer_norm.{ln}"),
        ("generator_predictions/output_bias", "generator_lm_head_bias"),
    ),
}
# The scope of each network's encoder in ELECTRA's pre-training graph.
_SCOPES = {"discriminator": "electra", "generator": "generator"}

#: The whole table, for documentation and tests: (TF name, Paddle name) with
#: ``{scope}`` the network's scope, ``{emb}`` the embeddings' scope (the
#: generator reads the shared ``electra/embeddings`` unless it has its own).
TF1_KEY_TABLE = tuple(
    [("{emb}/" + tf, "electra." + pd) for tf, pd in _EMBEDDING_TABLE]
    + [("{scope}/" + tf, "electra." + pd) for tf, pd in _ENCODER_TABLE]
    + [pair for part in ("discriminator", "generator") for pair in _HEAD_TABLE[part]]
)

_SLOT_VALUES = {"dense": {"kernel": "weight", "bias": "bias"}, "ln": {"gamma": "weight", "beta": "bias"}}
_SLOT_REGEX = {"n": r"(?P<n>\d+)", "dense": r"(?P<dense>kernel|bias)", "ln": r"(?P<ln>gamma|beta)"}

# Optimizer slots (last name component) and training-state variables to drop.
_OPTIMIZER_SLOTS = ("adam_m", "adam_v", "Adam", "Adam_1", "lamb_m", "lamb_v", "Momentum", "Adagrad",
                    "RMSProp", "RMSProp_1", "ExponentialMovingAverage")
_TRAINING_STATE = ("global_step", "beta1_power", "beta2_power", "loss_scale", "current_loss_scale", "good_steps")


def _compile(template: str) -> "re.Pattern":
    escaped = re.escape(template)
    for slot, regex in _SLOT_REGEX.items():
        escaped = escaped.replace(re.escape("{%s}" % slot), regex)
    return re.compile(escaped + "$")


def _rules(part: str, emb_scope: str) -> List[Tuple["re.Pattern", str]]:
    scope = _SCOPES[part]
    rules = [(_compile(f"{emb_scope}/{tf}"), "electra." + pd) for tf, pd in _EMBEDDING_TABLE]
    rules += [(_compile(f"{scope}/{tf}"), "electra." + pd) for tf, pd in _ENCODER_TABLE]
    rules += [(_compile(tf), pd) for tf, pd in _HEAD_TABLE[part]]
    return rules


def _rename(match: "re.Match", template: str) -> str:
    slots = {}
    for slot, value in match.groupdict().items():
        slots[slot] = _SLOT_VALUES[slot][value] if slot in _SLOT_VALUES else value
    return template.format(**slots)


def _owner(name: str) -> Optional[str]:
    """Which network a variable belongs to by its top-level scope, or None."""
    top = name.split("/", 1)[0]
    if top in ("electra", "discriminator_predictions"):
        return "discriminator"
    if top in ("generator", "generator_predictions"):
        return "generator"
    return None


def tf1_to_paddle(tf_state: Dict[str, np.ndarray], part: str = "discriminator") -> Tuple[Dict[str, np.ndarray], str]:
    """Rename one network of an ELECTRA pre-training checkpoint to PaddleNLP names.

    Args:
        tf_state: TF variable name -> array, from :func:`read_tf1_checkpoint`.
        part: ``"discriminator"`` (scope ``electra/`` + ``discriminator_predictions/``)
            or ``"generator"`` (scope ``generator/`` + ``generator_predictions/``,
            with the embeddings shared from ``electra/embeddings/`` unless the
            checkpoint has its own ``generator/embeddings/``).

    Returns:
        ``(paddle_state_dict, summary)``: the Paddle-named arrays (loadable by
        ``ElectraDiscriminator`` / ``ElectraGenerator.load_weights``) and one line
        counting what was dropped (optimizer slots, training state, the other
        network, unrelated variables), ``""`` if nothing was. Variables in this
        network's scopes that the table does not know are kept under their TF
        name, so the loader reports them instead of losing them silently.

    Raises:
        ValueError: an unknown ``part``, a checkpoint with neither ``electra/``
            nor ``generator/`` variables, or one without the requested network.
    """
    if part not in _SCOPES:
        raise ValueError(f"part must be 'discriminator' or 'generator', got {part!r}")
    tops = {name.split("/", 1)[0] for name in tf_state}
    if not tops & {"electra", "generator"}:
        raise ValueError(
            "this is not an ELECTRA pre-training checkpoint: it has neither electra/ nor generator/ variables "
            f"(top-level scopes: {', '.join(sorted(tops)[:8]) or 'none'})"
        )
    scope = _SCOPES[part]
    if scope not in tops:
        have = "electra/ (the discriminator)" if part == "generator" else "generator/ (the generator)"
        raise ValueError(f"the checkpoint has no {part} (no {scope}/ variables); it only has {have}")
    untied = any(name.startswith("generator/embeddings/") for name in tf_state)
    rules = _rules(part, "generator" if part == "generator" and untied else "electra")

    out: Dict[str, np.ndarray] = {}
    skipped: Counter = Counter()
    unrelated: List[str] = []
    other = "generator" if part == "discriminator" else "discriminator"
    for name, value in tf_state.items():
        leaf = name.rsplit("/", 1)[-1]
        if leaf in _OPTIMIZER_SLOTS and "/" in name:
            skipped[leaf] += 1
            continue
        if name in _TRAINING_STATE:
            skipped[name] += 1
            continue
        for pattern, template in rules:
            m = pattern.match(name)
            if m:
                out[_rename(m, template)] = value
                break
        else:
            owner = _owner(name)
            if owner == part:
                out[name] = value  # unknown variable of this network: the loader reports it
            elif owner == other:
                skipped[f"{other}-only"] += 1
            else:
                unrelated.append(name)
    order = list(_OPTIMIZER_SLOTS) + list(_TRAINING_STATE) + [f"{other}-only"]
    parts = [f"{skipped[k]} {k}" for k in order if skipped[k]]
    if unrelated:
        shown = ", ".join(sorted(unrelated)[:3]) + (", ..." if len(unrelated) > 3 else "")
        parts.append(f"{len(unrelated)} unrelated ({shown})")
    total = sum(skipped.values()) + len(unrelated)
    return out, (f"skipped {total} entries: " + ", ".join(parts)) if total else ""


# ---------------------------------------------------------------- conversion to folders
PARTS = ("generator", "discriminator")
_CONFIG_FILE_NAMES = {"generator": ("generator.json", "generator_config.json"),
                      "discriminator": ("discriminator.json", "discriminator_config.json")}


def _resolve_config(config, part: str, ckpt_dir: str):
    from ...model.configuration import ElectraConfig

    if isinstance(config, ElectraConfig):
        return config
    if config is None:
        candidates = [os.path.join(ckpt_dir, n) for n in _CONFIG_FILE_NAMES[part]]
        found = [c for c in candidates if os.path.isfile(c)]
        if not found:  # e.g. HFL's small_discriminator_config.json
            found = sorted(
                os.path.join(ckpt_dir, n) for n in os.listdir(ckpt_dir) if n.endswith(".json") and part in n
            )
            if len(found) > 1:
                raise ValueError(
                    f"several {part} configs next to the checkpoint ({', '.join(map(os.path.basename, found))}); "
                    f"pass {part}_config"
                )
        if found:
            return ElectraConfig.from_json_file(found[0])
        raise ValueError(
            f"no {part} config: pass {part}_config (an ElectraConfig, a JSON file, or a published name such as "
            f"'electra-small-{part}' or 'hfl/chinese-electra-small-{part}'); "
            f"no {part} JSON file is next to the checkpoint in {ckpt_dir}"
        )
    if isinstance(config, dict):
        return ElectraConfig.from_dict(config)
    config = os.fspath(config)
    if os.path.isfile(config):
        return ElectraConfig.from_json_file(config)
    return ElectraConfig.from_pretrained(config)  # a model folder or a published name


def convert_tf_checkpoint(
    tf_checkpoint: str,
    out_dir: str,
    generator_config=None,
    discriminator_config=None,
    parts: Optional[Sequence[str]] = None,
    verify_crc: Optional[bool] = None,
    overwrite: bool = False,
    safe_serialization: bool = False,
    progress: Optional[Callable[[str], None]] = None,
) -> Dict[str, str]:
    """Convert an ELECTRA TF1 pre-training checkpoint into ``from_pretrained`` folders.

    Writes ``out_dir/generator/`` (for ``ElectraGenerator.from_pretrained``) and
    ``out_dir/discriminator/`` (for ``ElectraDiscriminator.from_pretrained``),
    each with ``config.json`` and ``model_state.pdparams`` (``model.safetensors``
    with ``safe_serialization``) and the checkpoint folder's ``vocab.txt`` if it
    has one. Everything is built in a temporary folder next to ``out_dir`` and
    swapped in whole at the end (:func:`~paddle_electra._io.atomic_folder`), so
    a failure or a kill leaves the previous ``out_dir`` or the new one, never a mix.

    Args:
        tf_checkpoint: checkpoint prefix, ``.index`` file or folder.
        out_dir: the folder to create.
        generator_config / discriminator_config: an ``ElectraConfig``, a JSON
            config file, a model folder or a published name. ``None`` looks for
            ``generator.json`` / ``discriminator.json`` next to the checkpoint.
        parts: which networks to write; default: each of ``("generator",
            "discriminator")`` the checkpoint holds (releases with only the
            discriminator exist). A part named here that the checkpoint
            lacks is an error.
        verify_crc: see :func:`read_tf1_checkpoint`.
        overwrite: replace an existing non-empty ``out_dir``.
        safe_serialization: write safetensors instead of ``.pdparams``.
        progress: called with one human-readable line per step (default: log at INFO).

    Returns:
        part -> the folder written.

    Raises:
        ValueError: an unreadable checkpoint, a missing or wrong config (any
            weight missing, unused or of another shape), an existing ``out_dir``.
    """
    say = progress or (lambda msg: logger.info("%s", msg))
    if parts is not None:
        parts = tuple(parts)
        bad = [p for p in parts if p not in PARTS]
        if bad or not parts:
            raise ValueError(f"parts must be a non-empty subset of {PARTS}, got {parts}")
    out_dir = os.path.abspath(os.fspath(out_dir))
    remove_leftovers(os.path.dirname(out_dir), os.path.basename(out_dir))  # may restore an interrupted swap
    if os.path.exists(out_dir) and not (os.path.isdir(out_dir) and not os.listdir(out_dir)) and not overwrite:
        raise ValueError(f"{out_dir} already exists and is not empty (pass overwrite=True to replace it)")

    prefix = resolve_tf1_prefix(tf_checkpoint)
    ckpt_dir = os.path.dirname(prefix) or "."
    if parts is None:
        scopes = {name.split("/", 1)[0] for name in list_tf1_checkpoint(prefix)}
        parts = tuple(p for p in PARTS if _SCOPES[p] in scopes)
        if not parts:
            raise ValueError(
                f"{prefix} is not an ELECTRA pre-training checkpoint: it has neither electra/ nor generator/ "
                f"variables (top-level scopes: {', '.join(sorted(scopes)[:8]) or 'none'})"
            )
    configs = {
        "generator": generator_config,
        "discriminator": discriminator_config,
    }
    configs = {p: _resolve_config(configs[p], p, ckpt_dir) for p in parts}
    say(f"reading {prefix}")
    state = read_tf1_checkpoint(prefix, verify_crc=verify_crc)
    say(f"read {len(state)} variables")

    from ...model.modeling import ElectraDiscriminator, ElectraGenerator

    classes = {"generator": ElectraGenerator, "discriminator": ElectraDiscriminator}
    written = {}
    with atomic_folder(out_dir, carry_over=False) as tmp:
        for part in parts:
            weights, summary = tf1_to_paddle(state, part)
            if summary:
                say(f"{part}: {summary}")
            cls = classes[part]
            # no random draws: every weight is loaded (anything missing is an error below)
            model = cls.build(configs[part], initialize=False) if hasattr(cls, "build") else cls(configs[part])
            report = model.load_weights(weights, source=f"{prefix} ({part})")
            if report.missing or report.unexpected:
                raise ValueError(
                    f"the {part} config does not fit the checkpoint {prefix}:\n  {report.summary()}\n"
                    f"check {part}_config (layers, sizes; generator and discriminator configs swapped?)"
                )
            folder = os.path.join(tmp, part)
            model.save_pretrained(folder, safe_serialization=safe_serialization)
            vocab = os.path.join(ckpt_dir, "vocab.txt")
            if os.path.isfile(vocab):
                shutil.copyfile(vocab, os.path.join(folder, "vocab.txt"))
            written[part] = os.path.join(out_dir, part)
            say(f"{part}: {len(weights)} tensors -> {written[part]}")
            del model
    return written
