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
import os
import re
import shutil
from typing import Dict, List, Optional

import paddle

from ..safety import load_paddle_pickle

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
    from .._io import atomic_folder, remove_leftovers

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
    with open(state_file, encoding="utf-8") as f:
        return json.load(f)


def load_checkpoint(path: str, model, optimizer=None) -> Dict:
    """Restore model (and optimizer) from checkpoint folder ``path``; returns its trainer state.

    Random state is not stored as generator bytes: the trainers reseed Paddle
    and NumPy from ``(seed, step)`` at every step, so the seed in the trainer
    state and the step number reproduce it exactly.
    """
    state = read_state(path)
    # restricted reader: a checkpoint folder from elsewhere must not run code on --resume
    weights = load_paddle_pickle(os.path.join(path, "model.pdparams"))
    missing = sorted(set(model.state_dict()) - set(weights))
    if missing:
        raise ValueError(f"checkpoint {path} does not fit this model: missing {missing[:5]}")
    model.set_state_dict(weights)
    if optimizer is not None:
        slots = load_paddle_pickle(os.path.join(path, "optimizer.pdopt"))
        optimizer.set_state_dict(_local(_to_tensors(slots), model))
    return state


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
