"""Atomic, resumable training checkpoints.

A checkpoint is a folder ``<root>/step-00000200/`` holding

* ``model.pdparams``     the model's state dict,
* ``optimizer.pdopt``    AdamW moments and step counters,
* ``trainer_state.json`` step, scheduler state, data position, the random seed,
  and anything else the trainer passes (configs, arguments),

plus any extra files (the vocab). It is written into a temporary sibling folder
and swapped into place (:func:`~paddle_electra._io.atomic_folder`): a folder
named ``step-*`` is always complete (re-saving a step replaces it in one step),
and a crash mid-save leaves only temporary folders, which the next save removes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from typing import Callable, Dict, List, Optional

import paddle

from ..._io import read_json
from ...loading.safety import load_paddle_pickle

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^step-(\d{8})$")
STATE_FILE = "trainer_state.json"


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(root: str) -> List[str]:
    """Complete checkpoint folders under ``root``, oldest first."""
    if not os.path.isdir(root):
        return []
    found = [(int(m.group(1)), os.path.join(root, d)) for d in os.listdir(root) if (m := _NAME.match(d))]
    return [p for _, p in sorted(found) if os.path.isfile(os.path.join(p, STATE_FILE))]


def latest_checkpoint(root: str) -> Optional[str]:
    found = list_checkpoints(root)
    return found[-1] if found else None


def save_checkpoint(root: str, step: int, model, optimizer, state: Dict, extra_files: Optional[Dict[str, str]] = None,
                    keep: Optional[int] = None) -> str:
    """Write checkpoint ``step`` under ``root`` atomically; keep the newest ``keep`` (None = all).

    Args:
        root: the checkpoints folder (created if needed).
        step: optimizer steps done.
        model, optimizer: Paddle layer and optimizer.
        state: JSON-serialisable trainer state (step is added).
        extra_files: ``{name in checkpoint: source path}`` copied in (e.g. ``vocab.txt``).
        keep: how many checkpoints to keep after this one is written.

    Returns:
        The checkpoint folder.
    """
    from ..._io import atomic_folder, remove_leftovers

    os.makedirs(root, exist_ok=True)
    for d in os.listdir(root):  # leftovers of an interrupted save by earlier versions
        if d.startswith(".tmp-"):
            shutil.rmtree(os.path.join(root, d), ignore_errors=True)
    remove_leftovers(root)  # of killed saves of any step (atomic_folder cleans only the step it writes)
    final = os.path.join(root, checkpoint_name(step))
    with atomic_folder(final, carry_over=False) as tmp:
        paddle.save(model.state_dict(), os.path.join(tmp, "model.pdparams"))
        paddle.save(_portable(optimizer.state_dict(), model), os.path.join(tmp, "optimizer.pdopt"))
        for name, src in (extra_files or {}).items():
            shutil.copyfile(src, os.path.join(tmp, name))
        with open(os.path.join(tmp, STATE_FILE), "w", encoding="utf-8") as f:  # last: marks completeness
            json.dump(dict(state, step=step), f, indent=2, ensure_ascii=False)
    if keep is not None and keep > 0:
        for old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(path: str) -> Dict:
    """The ``trainer_state.json`` of checkpoint folder ``path`` (a clear error when it is not one)."""
    state_file = os.path.join(path, STATE_FILE)
    if not os.path.isfile(state_file):
        raise FileNotFoundError(f"{path} is not a complete checkpoint (no {STATE_FILE})")
    return read_json(state_file)


def load_checkpoint(path: str, model, optimizer=None, prefix: str = "",
                    rename: Optional[Callable[[str], str]] = None) -> Dict:
    """Restore model (and optimizer) from checkpoint folder ``path``; returns its trainer state.

    Random state is not stored as generator bytes: the trainers reseed Paddle
    and NumPy from ``(seed, step)`` at every step, so the seed in the trainer
    state and the step number reproduce it exactly.

    Args:
        prefix: restore only the parameters whose names start with it (e.g.
            ``"generator."``); the others keep their values. Weights only.
        rename: maps a parameter's name in ``model`` to the checkpoint's name
            for it (several may read one). Weights only.
    """
    if (prefix or rename) and optimizer is not None:
        raise ValueError("a partial or renamed restore (prefix=, rename=) restores weights only; pass optimizer=None")
    state = read_state(path)
    # restricted reader: a checkpoint folder from elsewhere must not run code on --resume
    weights = load_paddle_pickle(os.path.join(path, "model.pdparams"))
    current = model.state_dict()
    own = {k: v for k, v in current.items() if k.startswith(prefix)}
    source = {k: rename(k) if rename else k for k in own}
    missing = sorted(k for k in own if source[k] not in weights)
    if missing:
        raise ValueError(f"checkpoint {path} does not fit this model: missing {missing[:5]}")
    # Paddle's set_state_dict only warns on a shape mismatch and keeps the old value
    wrong = [f"{k} {list(weights[source[k]].shape)} vs {list(v.shape)}" for k, v in own.items()
             if list(weights[source[k]].shape) != list(v.shape)]
    if wrong:
        raise ValueError(f"checkpoint {path} does not fit this model: shapes differ for {wrong[:3]}")
    # the parameters outside the prefix are passed back as they are (Paddle warns about every key left out)
    model.set_state_dict({**current, **{k: weights[source[k]] for k in own}})
    if optimizer is not None:
        slots = load_paddle_pickle(os.path.join(path, "optimizer.pdopt"))
        optimizer.set_state_dict(_local(_to_tensors(slots), model))
    return state


def copy_by_name(target, source, rename=None, strict: bool = False) -> List[str]:
    """Copy ``source``'s parameters into ``target``'s of the same name (after ``rename``); returns the names copied.

    Args:
        target, source: layers; ``target``'s parameter ``n`` takes ``source``'s ``rename(n)``.
        rename: maps a target name to the source's (default: the same name).
        strict: a missing or differently shaped source is a ``ValueError`` (default: skipped).

    A parameter both share (a tied word embedding) is left as it is.
    """
    sources = dict(source.named_parameters())
    copied = []
    for name, param in target.named_parameters():
        src = sources.get(rename(name) if rename else name)
        if src is None or list(src.shape) != list(param.shape):
            if strict:
                raise ValueError(f"{name}: {list(param.shape)} vs {list(src.shape) if src is not None else 'absent'}")
            continue
        if src is not param:
            param.set_value(src.detach().clone())
            copied.append(name)
    return copied


def _layer_mod(prefix: str, n: int) -> Callable[[str], str]:
    """A ``rename`` that reads layer ``i`` under ``prefix`` from layer ``i mod n`` (progressive stacking)."""

    def rename(name: str) -> str:
        if not name.startswith(prefix):
            return name
        index, rest = name[len(prefix):].split(".", 1)
        return f"{prefix}{int(index) % n}.{rest}"

    return rename


# what must agree for a discriminator to grow from a shallower one (only the depth may change; the
# vocabulary is checked for every stage start)
_GROW_SAME = ("hidden_size", "num_attention_heads", "intermediate_size", "embedding_size")


def start_stage_from(path: str, model, grow_discriminator: bool = False) -> None:
    """Start an :class:`ElectraForTotalPretraining` stage from checkpoint ``path``'s weights.

    A generator-only stage (``disc_weight`` 0) never trained its discriminator, so
    only its generator (and the word embedding both share) is taken, and the
    discriminator may have another shape; its position / token-type embeddings
    and their LayerNorm start as the generator's where the shapes agree (as in
    ELECTRA, which shares all embeddings): trained positions spare the new
    discriminator the slow start that fresh ones on 128-token blocks give.

    With ``grow_discriminator``, ``path`` is a joint stage whose discriminator
    has fewer layers than ``model``'s (every other size equal): layer ``i``
    starts as its layer ``i mod n`` (progressive stacking, Gong et al. 2019),
    so a deeper discriminator keeps what the shallower one learnt.

    Raises:
        ValueError: another vocabulary; with ``grow_discriminator``, a
            generator-only ``path``, a discriminator that is not shallower, or
            other sizes that differ.
    """
    prior = read_state(path)
    vocab_size = model.discriminator.config.vocab_size
    if prior.get("discriminator_config", {}).get("vocab_size") != vocab_size:
        raise ValueError(f"{path} was trained with another vocabulary; pass its vocab.txt as vocab=")
    joint = prior.get("config", {}).get("disc_weight") != 0
    if grow_discriminator:
        if not joint:
            raise ValueError(f"grow_discriminator: {path} is a generator-only stage (disc_weight 0), its "
                             f"discriminator never trained; use discriminator_from_generator to start one")
        before, now = prior.get("discriminator_config", {}), model.discriminator.config
        n_before, n_now = int(before.get("num_hidden_layers") or 0), now.num_hidden_layers
        if not 0 < n_before < n_now:
            raise ValueError(f"grow_discriminator: {path}'s discriminator has {n_before} layers and this one "
                             f"{n_now}; it grows only to more layers")
        differ = [f"{k} {before.get(k)} vs {getattr(now, k)}" for k in _GROW_SAME if before.get(k) != getattr(now, k)]
        if differ:
            raise ValueError(f"grow_discriminator changes only the depth; {path}'s discriminator differs in "
                             f"{', '.join(differ)}")
        load_checkpoint(path, model, rename=_layer_mod("discriminator.electra.encoder.layers.", n_before))
        logger.info("initialised from %s (step %s); its %d-layer discriminator stacked to %d layers",
                    path, prior.get("step"), n_before, n_now)
        return
    if joint:
        load_checkpoint(path, model)
        logger.info("initialised from %s (step %s)", path, prior.get("step"))
        return
    load_checkpoint(path, model, prefix="generator.")
    copied = copy_by_name(model.discriminator.electra.embeddings, model.generator.electra.embeddings)
    logger.info("initialised the generator from %s (step %s; that stage did not train the discriminator); "
                "the discriminator's %s start as the generator's", path, prior.get("step"), ", ".join(copied))


def start_from_pretrained(model, generator: str, discriminator: str, widen: bool = False, seed: int = 0) -> None:
    """Start an :class:`ElectraForTotalPretraining` run from a pre-trained pair's weights (continued pre-training).

    ``generator`` / ``discriminator`` are model folders (or published names);
    every parameter of ``model`` must be there with its shape. Where the two
    networks share the word embedding, the discriminator's copy is the one kept
    (it is what fine-tuning reads); a pair whose two copies differ is logged.
    With ``widen``, ``model``'s discriminator is twice as wide as
    ``discriminator`` and starts as its function-preserving widening
    (:func:`.widen.widen_discriminator`, its random split seeded by ``seed``).

    Raises:
        ValueError: a parameter missing or of another shape in the pair (a run
            whose sizes or vocab differ from the pair's).
    """
    from ...model.modeling import ElectraDiscriminator, ElectraGenerator

    words = {}
    for part, cls, source in (("generator", ElectraGenerator, generator),
                              ("discriminator", ElectraDiscriminator, discriminator)):
        loaded = cls.from_pretrained(source)
        if widen and part == "discriminator":
            from .widen import widen_discriminator

            loaded = widen_discriminator(loaded, seed)
        try:
            copy_by_name(getattr(model, part), loaded, strict=True)
        except ValueError as e:
            raise ValueError(f"the {part} {source} does not fit this run ({e}): leave the sizes and vocab to the "
                             "pair's, or give ones that match it") from None
        words[part] = loaded.electra.embeddings.word_embeddings.weight
    if float((words["generator"] - words["discriminator"]).abs().max()) > 1e-3:
        logger.warning("%s and %s have different word embeddings; this run shares one: the discriminator's is kept",
                       generator, discriminator)
    logger.info("initialised from the pre-trained pair %s + %s", generator, discriminator)


def stack_generator_into_discriminator(model) -> None:
    """Copy the generator's encoder into the discriminator of an :class:`ElectraForTotalPretraining`.

    Embeddings and the encoder layers are copied; discriminator layer ``i`` takes
    generator layer ``i mod n`` (progressive stacking, Gong et al. 2019), so a
    4-layer discriminator on a 2-layer generator starts as that generator run
    twice. The replaced-token head stays freshly initialised.

    Raises:
        ValueError: the two encoders' layers or embeddings have different shapes.
    """
    gen, disc = model.generator.electra, model.discriminator.electra
    n_gen, n_disc = len(gen.encoder.layers), len(disc.encoder.layers)
    try:
        copy_by_name(disc, gen, rename=_layer_mod("encoder.layers.", n_gen), strict=True)
    except ValueError as e:
        raise ValueError(f"discriminator_from_generator needs the generator's encoder shapes; "
                         f"discriminator vs generator: {e}") from None
    logger.info("discriminator started as the generator's encoder (%d layers stacked to %d)", n_gen, n_disc)


# Paddle keys optimizer slots by the parameters' generated names ("linear_3.w_0_moment1_0"),
# which depend on how many layers the process built before. Checkpoints store them under
# the structured names ("generator.electra.encoder.layers.0.linear1.weight::moment1_0").
_SEP = "::"


def _param_names(model) -> Dict[str, str]:
    return {p.name: n for n, p in model.named_parameters()}


def _split_key(key: str, names) -> Optional[tuple]:
    best = None
    for name in names:
        if key.startswith(name + "_") and (best is None or len(name) > len(best)):
            best = name
    return (best, key[len(best) + 1:]) if best else None


def _portable(state: Dict, model) -> Dict:
    names = _param_names(model)
    out = {}
    for key, value in state.items():
        if key == "master_weights" and isinstance(value, dict):
            out[key] = {names.get(k, k): v for k, v in value.items()}
            continue
        hit = _split_key(key, names) if isinstance(key, str) else None
        out[f"{names[hit[0]]}{_SEP}{hit[1]}" if hit else key] = value
    return out


def _local(state: Dict, model) -> Dict:
    by_struct = {n: p.name for n, p in model.named_parameters()}
    out = {}
    for key, value in state.items():
        if key == "master_weights" and isinstance(value, dict):
            out[key] = {by_struct.get(k, k): v for k, v in value.items()}
            continue
        if isinstance(key, str) and _SEP in key:
            struct, slot = key.split(_SEP, 1)
            if struct not in by_struct:
                raise ValueError(f"optimizer state for {struct!r} has no parameter in this model")
            key = f"{by_struct[struct]}_{slot}"
        out[key] = value
    return out


def _to_tensors(state):
    """numpy arrays (what the restricted reader returns) back to the tensors Paddle's optimizer expects."""
    if isinstance(state, dict):
        return {k: _to_tensors(v) for k, v in state.items()}
    if hasattr(state, "dtype") and hasattr(state, "shape") and getattr(state, "ndim", 0) > 0:
        return paddle.to_tensor(state)
    return state
