"""AdamW with warmup + linear decay, the ELECTRA way.

* weight decay on matrices only: biases and LayerNorm parameters are excluded;
* optional layer-wise learning-rate decay (ELECTRA fine-tunes with 0.8): the
  embeddings get ``decay ** (L + 1)`` of the rate, encoder layer ``i`` gets
  ``decay ** (L - i)``, and the task head the full rate;
* gradient clipping by global norm.

Paddle's AdamW takes per-group ``learning_rate`` (a multiplier of the scheduled
rate) and ``weight_decay``, which is what the groups below use.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

import paddle

_LAYER_RE = re.compile(r"(?:^|\.)encoder\.layers?\.(\d+)\.")


def no_decay(name: str, param) -> bool:
    """True for parameters that get no weight decay: biases and LayerNorm scales (1-D)."""
    return name.endswith("bias") or "norm" in name.lower() or len(param.shape) == 1


def layer_depth(name: str, num_layers: int) -> int:
    """0 for embeddings, ``i + 1`` for encoder layer ``i``, ``num_layers + 1`` for everything else (heads)."""
    if ".embeddings." in f".{name}" or ".embeddings_project." in f".{name}":  # E -> H projection: with the embeddings
        return 0
    m = _LAYER_RE.search(name)
    if m:
        return int(m.group(1)) + 1
    return num_layers + 1


def parameter_groups(model: paddle.nn.Layer, weight_decay: float, layer_decay: Optional[float] = None,
                     num_layers: Optional[int] = None) -> List[Dict]:
    """Parameter groups for :class:`paddle.optimizer.AdamW`.

    Args:
        model: the model to train (trainable parameters only are grouped).
        weight_decay: decay for matrices; biases and norms get 0.
        layer_decay: layer-wise learning-rate decay factor in (0, 1]; None = off.
        num_layers: encoder depth for ``layer_decay`` (default: ``model.config.num_hidden_layers``).

    Returns:
        A list of ``{"params", "weight_decay", "learning_rate"}`` dicts, one per
        (depth, decay) pair; ``learning_rate`` is a multiplier of the schedule.
    """
    if layer_decay is not None and not 0 < layer_decay <= 1:
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if layer_decay is not None and num_layers is None:
        num_layers = model.config.num_hidden_layers
    groups: Dict[Tuple[float, bool], Dict] = {}
    seen = set()
    for name, param in model.named_parameters():
        if param.stop_gradient or id(param) in seen:  # a tied parameter is listed once
            continue
        seen.add(id(param))
        ratio = 1.0
        if layer_decay is not None:
            ratio = layer_decay ** (num_layers + 1 - layer_depth(name, num_layers))
        decay = not no_decay(name, param)
        key = (ratio, decay)
        if key not in groups:
            groups[key] = {"params": [], "weight_decay": weight_decay if decay else 0.0, "learning_rate": ratio}
        groups[key]["params"].append(param)
    return list(groups.values())


def warmup_linear(total_steps: int, warmup_steps: int):
    """The multiplier at step ``s``: linear 0 -> 1 over ``warmup_steps``, then linear to 0 at ``total_steps``."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def build_optimizer(model: paddle.nn.Layer, learning_rate: float, total_steps: int, warmup_steps: int = 0,
                    weight_decay: float = 0.01, layer_decay: Optional[float] = None, max_grad_norm: float = 1.0,
                    beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-6):
    """AdamW + warmup/linear-decay schedule + global-norm clipping.

    Returns:
        ``(optimizer, scheduler)``; call ``scheduler.step()`` after every
        ``optimizer.step()``. Both have ``state_dict`` / ``set_state_dict``.
    """
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    scheduler = paddle.optimizer.lr.LambdaDecay(learning_rate, warmup_linear(total_steps, warmup_steps))
    # auto_skip_clip: the gradients are scaled only when their global norm exceeds the limit (by
    # limit / norm, as always); below it the scale would be exactly 1, so skipping it changes no
    # value, and it saves Paddle's broadcasting multiply of every gradient (~5 ms of a 4-layer
    # fine-tuning step at 16 x 64, docs/performance.md)
    clip = (paddle.nn.ClipGradByGlobalNorm(max_grad_norm, auto_skip_clip=True)
            if max_grad_norm and max_grad_norm > 0 else None)
    optimizer = paddle.optimizer.AdamW(
        learning_rate=scheduler,
        parameters=parameter_groups(model, weight_decay, layer_decay),
        weight_decay=weight_decay,
        beta1=beta1,
        beta2=beta2,
        epsilon=epsilon,
        grad_clip=clip,
    )
    return optimizer, scheduler


def set_total_steps(scheduler, total_steps: int, warmup_steps: int, cuts: Sequence[Tuple[int, int]] = ()) -> None:
    """Give a :func:`build_optimizer` schedule a new length (a time budget's plan), from its current step on.

    The warm-up does not depend on the length, so a plan made during it leaves
    every rate already used unchanged. Each ``(at, end)`` in ``cuts`` (a plan
    cut short later) keeps the rates before step ``at`` and decays linearly from
    the rate at ``at`` to zero at ``end``.
    """
    factor = warmup_linear(total_steps, warmup_steps)
    for at, end in cuts:
        factor = _cut(factor, at, end)
    scheduler.lr_lambda = factor
    scheduler.last_lr = scheduler.get_lr()  # the rate of the step about to run, under the new length


def _cut(factor, at: int, end: int):
    """``factor`` up to step ``at``, then linear from its value there to 0 at ``end``."""
    if end <= at:
        raise ValueError(f"a schedule cut at step {at} must end after it, not at {end}")
    start = factor(at)

    def cut(step: int) -> float:
        return factor(step) if step < at else max(0.0, start * (end - step) / (end - at))

    return cut
