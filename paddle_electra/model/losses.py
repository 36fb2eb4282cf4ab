"""Losses of the fine-tuning heads and the pre-training criteria.

Per-token cross-entropies average over the targets that count, as HF / PyTorch
do; Paddle's own ``ignore_index`` mean does not (see :func:`masked_cross_entropy`).
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F

from .configuration import ElectraConfig


def keep_mask(attention_mask, input_ids, pad_token_id):
    """[B, L] bool of positions that count in per-token losses (None = all)."""
    if attention_mask is not None and attention_mask.ndim == 2:
        return attention_mask.astype("float32") > 0.5
    if attention_mask is None and input_ids is not None:
        return input_ids != pad_token_id
    return None


def masked_cross_entropy(logits, labels, ignore_index: int = -100):
    """Mean cross-entropy over the targets that are not ``ignore_index``.

    Paddle's own ``F.cross_entropy(..., ignore_index=...)`` divides by all
    targets, ignored ones included (measured on Paddle 3.3), which is not the
    HF / PyTorch mean; this divides by the kept ones only.

    Args:
        logits: float [N, C].
        labels: int [N].
    """
    labels = labels.astype("int64")
    keep = labels != ignore_index
    safe = paddle.where(keep, labels, paddle.zeros_like(labels))
    per = F.cross_entropy(logits, safe.unsqueeze(-1), reduction="none").reshape([-1])
    keep = keep.astype(per.dtype)
    return (per * keep).sum() / keep.sum().clip(min=1.0)


def rtd_loss(logits, labels, keep=None):
    """Replaced-token-detection loss: mean BCE over the kept positions.

    Args:
        logits: float [B, L] discriminator scores.
        labels: int or float [B, L], 1 = replaced, 0 = original.
        keep: bool [B, L] positions to average over, or None for all.
    """
    per_token = F.binary_cross_entropy_with_logits(logits, labels.astype(logits.dtype), reduction="none")
    if keep is None:
        return per_token.mean()
    keep = keep.astype(logits.dtype)
    return (per_token * keep).sum() / keep.sum().clip(min=1.0)


def sequence_classification_loss(logits, labels, config: ElectraConfig):
    """Loss of a sequence-classification head, chosen by ``config.problem_type``."""
    problem = config.problem_type
    if problem is None:
        if config.num_labels == 1:
            problem = "regression"
        elif labels.dtype in (paddle.int64, paddle.int32):
            problem = "single_label_classification"
        else:
            problem = "multi_label_classification"
    if problem == "regression":
        target = labels.astype(logits.dtype)
        if config.num_labels == 1:
            return F.mse_loss(logits.reshape([-1]), target.reshape([-1]))
        return F.mse_loss(logits, target)
    if problem == "single_label_classification":
        return masked_cross_entropy(logits.reshape([-1, config.num_labels]), labels.reshape([-1]))
    return F.binary_cross_entropy_with_logits(logits, labels.astype(logits.dtype))
