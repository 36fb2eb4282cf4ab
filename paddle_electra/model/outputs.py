"""Dataclass outputs returned with ``return_dict=True``.

With ``return_dict=False`` (the default, PaddleNLP's convention) the models
return plain tensors or tuples instead, which is what static-graph export needs.
Both forms come from :func:`pack_outputs`, so their orders always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional, Tuple

import paddle

Tensor = paddle.Tensor


@dataclass
class ModelOutput:
    """Base of all outputs: attribute access plus HF-style tuple indexing.

    ``output[0]`` is the first field that is not ``None`` (the loss when labels
    were given), so code written against tuple outputs keeps working.
    """

    def to_tuple(self) -> tuple:
        """The non-``None`` fields in declaration order."""
        return tuple(getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None)

    def __getitem__(self, index):
        if isinstance(index, str):
            return getattr(self, index)
        return self.to_tuple()[index]

    def __len__(self) -> int:
        return len(self.to_tuple())

    def __iter__(self):
        return iter(self.to_tuple())


@dataclass
class BaseModelOutput(ModelOutput):
    """Output of :class:`ElectraModel`: ``last_hidden_state`` is [B, L, H]."""

    last_hidden_state: Optional[Tensor] = None
    hidden_states: Optional[Tuple[Tensor, ...]] = None
    attentions: Optional[Tuple[Tensor, ...]] = None


class _CacheAlias:
    """``cache``: HF transformers 5's name for ``past_key_values``."""

    @property
    def cache(self):
        return self.past_key_values


@dataclass
class BaseModelOutputWithPast(_CacheAlias, ModelOutput):
    """Output of :class:`ElectraModel`; ``past_key_values`` (a :class:`~paddle_electra.model.kv_cache.KVCache`)
    only with ``use_cache``. Tuple order as PaddleNLP's: sequence output, cache, hidden states, attentions."""

    last_hidden_state: Optional[Tensor] = None
    past_key_values: Optional[tuple] = None
    hidden_states: Optional[Tuple[Tensor, ...]] = None
    attentions: Optional[Tuple[Tensor, ...]] = None


@dataclass
class CausalLMOutput(_CacheAlias, ModelOutput):
    """:class:`ElectraForCausalLM` output: ``logits`` [B, L, V]; ``loss`` (shifted LM loss) with labels."""

    loss: Optional[Tensor] = None
    logits: Optional[Tensor] = None
    past_key_values: Optional[tuple] = None
    hidden_states: Optional[Tuple[Tensor, ...]] = None
    attentions: Optional[Tuple[Tensor, ...]] = None


@dataclass
class MaskedLMOutput(ModelOutput):
    """Generator output: ``logits`` [B, L, V]; ``loss`` with labels."""

    loss: Optional[Tensor] = None
    logits: Optional[Tensor] = None
    hidden_states: Optional[Tuple[Tensor, ...]] = None
    attentions: Optional[Tuple[Tensor, ...]] = None


@dataclass
class ElectraForPreTrainingOutput(MaskedLMOutput):
    """Discriminator output: ``logits`` [B, L] (replaced-token scores)."""


@dataclass
class SequenceClassifierOutput(MaskedLMOutput):
    """Sequence classification output: ``logits`` [B, num_labels]."""


@dataclass
class TokenClassifierOutput(MaskedLMOutput):
    """Token classification output: ``logits`` [B, L, num_labels]."""


@dataclass
class MultipleChoiceModelOutput(MaskedLMOutput):
    """Multiple choice output: ``logits`` [B, num_choices]."""


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    """Extractive QA output: ``start_logits`` and ``end_logits`` [B, L]."""

    loss: Optional[Tensor] = None
    start_logits: Optional[Tensor] = None
    end_logits: Optional[Tensor] = None
    hidden_states: Optional[Tuple[Tensor, ...]] = None
    attentions: Optional[Tuple[Tensor, ...]] = None


def pack_outputs(output_cls, return_dict: bool, **values):
    """Build ``output_cls(**values)`` or its plain form.

    The plain form (``return_dict=False``) is the single tensor when only one
    field is set (PaddleNLP returns bare tensors, e.g. ``ElectraModel`` gives
    [B, L, H]) and otherwise the tuple of the set fields, loss first.
    """
    out = output_cls(**values)
    if return_dict:
        return out
    items = out.to_tuple()
    return items[0] if len(items) == 1 else items
