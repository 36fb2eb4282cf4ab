"""HF transformers <-> Paddle (PaddleNLP-named) ELECTRA state dicts.

Pure functions ``state_dict -> state_dict`` on numpy arrays, driven by one
declarative table read in both directions. torch's Linear stores ``weight`` as
[out, in] and Paddle's as [in, out], so every Linear weight is transposed;
embeddings and LayerNorm parameters are not.
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

import numpy as np

LINEAR = "linear"  # weight transposed, bias as is
PLAIN = "plain"  # copied as is (embeddings, LayerNorm, biases)

# (HF name, Paddle name, kind, only for this Paddle architecture or None).
# {n} is a layer index, {wb} is "weight" or "bias", {e} an embedding table.
# Backbone names may carry an "electra." prefix on both sides (heads do).
KEY_TABLE = (
    ("embeddings.{e}_embeddings.weight", "embeddings.{e}_embeddings.weight", PLAIN, None),
    ("embeddings.LayerNorm.{wb}", "embeddings.layer_norm.{wb}", PLAIN, None),
    ("embeddings_project.{wb}", "embeddings_project.{wb}", LINEAR, None),
    ("encoder.layer.{n}.attention.self.query.{wb}", "encoder.layers.{n}.self_attn.q_proj.{wb}", LINEAR, None),
    ("encoder.layer.{n}.attention.self.key.{wb}", "encoder.layers.{n}.self_attn.k_proj.{wb}", LINEAR, None),
    ("encoder.layer.{n}.attention.self.value.{wb}", "encoder.layers.{n}.self_attn.v_proj.{wb}", LINEAR, None),
    ("encoder.layer.{n}.attention.output.dense.{wb}", "encoder.layers.{n}.self_attn.out_proj.{wb}", LINEAR, None),
    ("encoder.layer.{n}.attention.output.LayerNorm.{wb}", "encoder.layers.{n}.norm1.{wb}", PLAIN, None),
    ("encoder.layer.{n}.intermediate.dense.{wb}", "encoder.layers.{n}.linear1.{wb}", LINEAR, None),
    ("encoder.layer.{n}.output.dense.{wb}", "encoder.layers.{n}.linear2.{wb}", LINEAR, None),
    ("encoder.layer.{n}.output.LayerNorm.{wb}", "encoder.layers.{n}.norm2.{wb}", PLAIN, None),
    ("discriminator_predictions.dense.{wb}", "discriminator_predictions.dense.{wb}", LINEAR, None),
    ("discriminator_predictions.dense_prediction.{wb}", "discriminator_predictions.dense_prediction.{wb}", LINEAR,
     None),
    ("generator_predictions.dense.{wb}", "generator_predictions.dense.{wb}", LINEAR, None),
    ("generator_predictions.LayerNorm.{wb}", "generator_predictions.layer_norm.{wb}", PLAIN, None),
    ("generator_lm_head.bias", "generator_lm_head_bias", PLAIN, None),
    ("classifier.dense.{wb}", "classifier.dense.{wb}", LINEAR, None),
    ("classifier.out_proj.{wb}", "classifier.out_proj.{wb}", LINEAR, None),
    # QA: HF's qa_outputs is PaddleNLP's classifier; listed before the generic
    # classifier row so the reverse direction picks it for QA models.
    ("qa_outputs.{wb}", "classifier.{wb}", LINEAR, "ElectraForQuestionAnswering"),
    ("classifier.{wb}", "classifier.{wb}", LINEAR, None),
    ("sequence_summary.summary.{wb}", "sequence_summary.dense.{wb}", LINEAR, None),
)

# Keys HF writes that have no Paddle counterpart, and why they can be dropped.
HF_SKIPPED = {
    "embeddings.position_ids": "a constant arange buffer, not a parameter",
    "embeddings.token_type_ids": "a constant zeros buffer, not a parameter",
    "generator_lm_head.weight": "tied to the word embeddings; Paddle keeps one parameter",
}

_SLOTS = {"n": r"(?P<n>\d+)", "wb": r"(?P<wb>weight|bias)", "e": r"(?P<e>word|position|token_type)"}


def _compile(template: str) -> "re.Pattern":
    escaped = re.escape(template)
    for slot, regex in _SLOTS.items():
        escaped = escaped.replace(re.escape("{%s}" % slot), regex)
    return re.compile(r"^(?P<prefix>electra\.)?" + escaped + "$")


_FORWARD = [(_compile(hf), pd, kind) for hf, pd, kind, _ in KEY_TABLE]
_BACKWARD = [(_compile(pd), hf, kind, arch) for hf, pd, kind, arch in KEY_TABLE]


def is_hf_state_dict(keys) -> bool:
    """True if the keys use HF's names (``LayerNorm``, ``encoder.layer.N``)."""
    return any(".LayerNorm." in k or re.search(r"(^|\.)encoder\.layer\.\d", k) for k in keys)


def _convert(key: str, value: np.ndarray, match: "re.Match", template: str, kind: str):
    slots = {k: v for k, v in match.groupdict().items() if k != "prefix" and v is not None}
    new_key = (match.group("prefix") or "") + template.format(**slots)
    if kind == LINEAR and key.endswith("weight") and value.ndim == 2:
        value = np.ascontiguousarray(value.T)
    return new_key, value


def hf_to_paddle(state_dict: Dict[str, np.ndarray]) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Rename and transpose an HF ELECTRA state dict into PaddleNLP's layout.

    Args:
        state_dict: HF key -> numpy array (torch layout).

    Returns:
        ``(paddle_state_dict, skipped)``; ``skipped`` maps each dropped HF key to
        the reason. Keys the table does not know pass through unchanged so the
        loader reports them as unexpected instead of losing them silently.
    """
    out: Dict[str, np.ndarray] = {}
    skipped: Dict[str, str] = {}
    for key, value in state_dict.items():
        bare = key[len("electra."):] if key.startswith("electra.") else key
        if bare in HF_SKIPPED:
            skipped[key] = HF_SKIPPED[bare]
            continue
        for pattern, template, kind in _FORWARD:
            m = pattern.match(key)
            if m:
                new_key, new_value = _convert(key, value, m, template, kind)
                break
        else:
            new_key, new_value = key, value
        out[new_key] = new_value
    return out, skipped


def paddle_to_hf(state_dict: Dict[str, np.ndarray], architecture: Optional[str] = None) -> Dict[str, np.ndarray]:
    """Inverse of :func:`hf_to_paddle`, for exporting to transformers.

    Args:
        state_dict: PaddleNLP-named key -> numpy array (Paddle layout).
        architecture: the Paddle class the weights belong to; it decides
            names that differ per head (QA's ``classifier`` is HF's ``qa_outputs``).

    Returns:
        HF key -> numpy array; a generator also gets ``generator_lm_head.weight``
        (the word embeddings), which HF expects as a tied entry.
    """
    out: Dict[str, np.ndarray] = {}
    for key, value in state_dict.items():
        for pattern, template, kind, arch in _BACKWARD:
            if arch is not None and arch != architecture:
                continue
            m = pattern.match(key)
            if m:
                new_key, new_value = _convert(key, value, m, template, kind)
                break
        else:
            new_key, new_value = key, value
        out[new_key] = new_value
    if "generator_lm_head.bias" in out and "electra.embeddings.word_embeddings.weight" in out:
        out["generator_lm_head.weight"] = out["electra.embeddings.word_embeddings.weight"]
    return out
