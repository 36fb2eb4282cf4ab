"""ELECTRA pre-training: generator + discriminator trained jointly, and their loss.

The generator fills masked positions with Gumbel-sampled tokens; the
discriminator labels every token replaced / original. The two networks have
their own configs and share only the word embedding, as ONE parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import paddle
import paddle.nn as nn

from .configuration import ElectraConfig
from .inputs import prepare_inputs, to_input_tensor
from .losses import keep_mask, masked_cross_entropy, rtd_loss
from .modeling import ElectraDiscriminator, ElectraGenerator
from .base import ElectraPretrainedModel
from .outputs import ModelOutput

Tensor = paddle.Tensor


def generator_config_for(discriminator: ElectraConfig, size_ratio: float = 0.25) -> ElectraConfig:
    """A generator config ``size_ratio`` the width of the discriminator's.

    ELECTRA's generators are 1/4 - 1/3 of the discriminator (facts: small uses
    H 64 for a 256 discriminator). The embedding width is kept, since the word
    embedding is shared.
    """
    if not 0 < size_ratio <= 1:
        raise ValueError(f"size_ratio must be in (0, 1], got {size_ratio}")
    heads = max(1, round(discriminator.num_attention_heads * size_ratio))
    hidden = max(heads, round(discriminator.hidden_size * size_ratio / heads) * heads)
    extra = {k: v for k, v in discriminator.extra.items() if k != "generator_config"}
    return discriminator.copy(
        extra=extra,
        hidden_size=hidden,
        num_attention_heads=heads,
        intermediate_size=max(1, round(discriminator.intermediate_size * size_ratio)),
        architectures=None,
    )


def adopt_pair(cls_name: str, first, second, discriminator_class):
    """PaddleNLP 2.4's ``Total(generator, discriminator)`` form, if that is what was passed.

    Returns:
        ``(generator, discriminator, config, generator_config)``: the two
        instances (None for the config form) and the configs to build with.
    """
    if not isinstance(first, ElectraPretrainedModel):
        return None, None, first, second
    if not (isinstance(first, ElectraGenerator) and isinstance(second, discriminator_class)):
        raise ValueError(f"{cls_name} takes a discriminator config (and optionally a generator config), or "
                         f"PaddleNLP 2.4's (ElectraGenerator, {discriminator_class.__name__})")
    first._adopted = second._adopted = True  # their weights stay as they are
    return first, second, second.config, first.config


def resolve_generator_config(config: ElectraConfig, generator_config: Optional[ElectraConfig]):
    """The generator config to build, and the discriminator config that records it.

    A saved pre-training model keeps its generator config under
    ``extra["generator_config"]`` of config.json, so ``from_pretrained`` rebuilds
    the same generator; with neither given, :func:`generator_config_for`.
    """
    if generator_config is None:
        saved = config.extra.get("generator_config")
        generator_config = ElectraConfig.from_dict(saved) if saved else generator_config_for(config)
    for name in ("vocab_size", "embedding_size"):
        if getattr(generator_config, name) != getattr(config, name):
            raise ValueError(
                f"generator {name} ({getattr(generator_config, name)}) must equal the discriminator's "
                f"({getattr(config, name)}): the word embedding is shared"
            )
    recorded = config.copy()
    recorded.extra["generator_config"] = generator_config.to_dict()
    return generator_config, recorded


def gumbel_sample(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Draw one token per position from softmax(logits / temperature) with the Gumbel-max trick.

    Args:
        logits: float [..., V].

    Returns:
        int64 [...] sampled ids.
    """
    uniform = paddle.rand(logits.shape, dtype=logits.dtype)
    gumbel = -paddle.log(-paddle.log(uniform + 1e-9) + 1e-9)
    return paddle.argmax(logits / temperature + gumbel, axis=-1)


def masked_generator_logits(generator: ElectraGenerator, input_ids, masked, token_type_ids=None, position_ids=None,
                            attention_mask=None):
    """The generator's vocabulary scores at the masked positions only.

    The encoder runs on the whole batch; the masked-LM head (the [H -> E] transform
    and the [E -> V] projection, most of a small generator's cost) only on the
    rows where ``masked`` is True.

    Returns:
        ``(logits, rows)``: float [N, V] for the N masked positions in row-major
        order, and their int64 [N] indices into the flattened [B * L] batch.
    """
    hidden = generator.electra(input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                               attention_mask=attention_mask, return_dict=True).last_hidden_state
    rows = paddle.nonzero(masked.reshape([-1])).reshape([-1])
    return generator.lm_logits(paddle.gather(hidden.reshape([-1, hidden.shape[-1]]), rows)), rows


@dataclass
class ElectraPretrainingOutput(ModelOutput):
    """Everything the criterion needs from one pre-training step."""

    generator_logits: Optional[Tensor] = None  # [B, L, V]
    discriminator_logits: Optional[Tensor] = None  # [B, L]
    discriminator_labels: Optional[Tensor] = None  # int64 [B, L], 1 = replaced
    attention_mask: Optional[Tensor] = None  # bool [B, L], positions that count
    sampled_input_ids: Optional[Tensor] = None  # int64 [B, L], what the discriminator saw


class ElectraForTotalPretraining(ElectraPretrainedModel):
    """Generator and discriminator for replaced-token-detection pre-training.

    Args:
        config: the discriminator's config.
        generator_config: the generator's; default :func:`generator_config_for`
            (a quarter of the width). Its ``embedding_size`` and ``vocab_size``
            must equal the discriminator's, as the word embedding is shared.
        temperature: Gumbel sampling temperature (1.0 in ELECTRA).
    """

    base_model_prefix = "discriminator"

    def __init__(self, config: ElectraConfig, generator_config: Optional[ElectraConfig] = None,
                 temperature: float = 1.0):
        generator, discriminator, config, generator_config = adopt_pair(
            type(self).__name__, config, generator_config, ElectraDiscriminator)
        generator_config, config = resolve_generator_config(config, generator_config)
        super().__init__(config)
        self.generator_config = generator_config
        self.temperature = temperature
        self.generator = generator or ElectraGenerator(generator_config)
        self.discriminator = discriminator or ElectraDiscriminator(config)
        self.tie_weights()

    def _resize_vocab_weights(self, old: int, new: int) -> None:
        # the generator config recorded for save / load must follow the shared embedding
        recorded = self.config.extra.get("generator_config")
        if isinstance(recorded, dict):
            recorded["vocab_size"] = new
        self.generator_config.vocab_size = new

    def tie_weights(self) -> None:
        """Make the discriminator use the generator's word embedding layer (one parameter)."""
        self.discriminator.electra.embeddings.word_embeddings = self.generator.electra.embeddings.word_embeddings

    def forward(self, input_ids, token_type_ids=None, position_ids=None, attention_mask=None, raw_input_ids=None,
                generator_labels=None, return_dict=False, masked_only=False):
        """One pre-training forward pass.

        Args:
            input_ids: int64 [B, L] with masked positions already replaced
                (usually by [MASK]).
            raw_input_ids: int64 [B, L] the original ids.
            generator_labels: int64 [B, L], the original id at masked positions
                and -100 elsewhere (the masked-LM targets).
            token_type_ids, position_ids, attention_mask: as in
                :meth:`ElectraModel.forward`.
            masked_only: compute the generator's scores only where
                ``generator_labels != -100``: ``generator_logits`` is then
                [N, V], the masked positions in row-major order, to be scored
                against ``generator_labels[generator_labels != -100]``. The
                losses are the same; the vocabulary projection and the
                sampling cost ~1/7 (15 % masking). The trainer uses it.

        Returns:
            ``(generator_logits, discriminator_logits, discriminator_labels,
            attention_mask)`` or :class:`ElectraPretrainingOutput`. A sampled
            token equal to the original is labelled 0 (original).
        """
        if raw_input_ids is None or generator_labels is None:
            raise ValueError("ElectraForTotalPretraining needs raw_input_ids and generator_labels")
        # numpy / list inputs become tensors here: the ids are also used outside the encoders
        input_ids, token_type_ids, position_ids, attention_mask, _ = prepare_inputs(
            input_ids, token_type_ids, position_ids, attention_mask)
        raw_input_ids = to_input_tensor("raw_input_ids", raw_input_ids)
        generator_labels = to_input_tensor("generator_labels", generator_labels)
        masked = generator_labels != -100
        if masked_only:
            gen_logits, rows = masked_generator_logits(self.generator, input_ids, masked, token_type_ids,
                                                       position_ids, attention_mask)
        else:
            gen_logits = self.generator(input_ids, token_type_ids, position_ids, attention_mask)
        with paddle.no_grad():  # sampling is not differentiated through, as in ELECTRA
            # int32 ids stay int32: where() does not promote integer dtypes
            sampled = gumbel_sample(gen_logits.detach(), self.temperature).astype(input_ids.dtype)
            if masked_only:  # back to [B, L]: the samples at the masked rows, zeros elsewhere (not used)
                sampled = paddle.scatter(paddle.zeros([masked.numel()], sampled.dtype), rows,
                                         sampled).reshape(input_ids.shape)
            disc_input = paddle.where(masked, sampled, input_ids)
            # only masked positions can be "replaced"; a sample equal to the original is not
            disc_labels = ((disc_input != raw_input_ids) & masked).astype("int64")
        disc_logits = self.discriminator(disc_input, token_type_ids, position_ids, attention_mask)
        keep = keep_mask(attention_mask, raw_input_ids, self.config.pad_token_id)
        out = ElectraPretrainingOutput(gen_logits, disc_logits, disc_labels, keep, disc_input)
        if return_dict:
            return out
        return gen_logits, disc_logits, disc_labels, keep


class ElectraPretrainingCriterion(nn.Layer):
    """``gen_weight * MLM loss + disc_weight * RTD loss`` (1.0 and 50.0 in ELECTRA).

    Args:
        vocab_size: generator output size.
        gen_weight: weight of the generator's masked-LM loss.
        disc_weight: weight of the discriminator's replaced-token loss.
    """

    def __init__(self, vocab_size: int, gen_weight: float = None, disc_weight: float = None):
        # PaddleNLP >= 2.5 passes the config: vocab_size and the weights come from it
        vocab_size, gen_weight, disc_weight = criterion_settings(vocab_size, gen_weight=gen_weight,
                                                                 disc_weight=disc_weight)
        super().__init__()
        self.vocab_size = vocab_size
        self.gen_weight = gen_weight
        self.disc_weight = disc_weight

    def forward(self, generator_prediction_scores, discriminator_prediction_scores, generator_labels,
                discriminator_labels, attention_mask=None, return_parts=False):
        """Args are the pre-training model's outputs and the masked-LM targets.

        Args:
            generator_prediction_scores: float [B, L, V].
            discriminator_prediction_scores: float [B, L].
            generator_labels: int64 [B, L], -100 where not masked.
            discriminator_labels: int64 [B, L].
            attention_mask: bool / 0-1 [B, L] positions the RTD loss averages over.
            return_parts: also return ``(gen_loss, disc_loss)``.
        """
        gen_loss = masked_cross_entropy(
            generator_prediction_scores.reshape([-1, self.vocab_size]), generator_labels.reshape([-1])
        )
        keep = None if attention_mask is None else attention_mask.astype("float32") > 0.5
        disc_loss = rtd_loss(discriminator_prediction_scores, discriminator_labels, keep)
        total = self.gen_weight * gen_loss + self.disc_weight * disc_loss
        return (total, gen_loss, disc_loss) if return_parts else total


def criterion_settings(vocab_size, **weights):
    """``(vocab_size, *weights)`` for a criterion built from a vocabulary size or, as in PaddleNLP
    >= 2.5, from a config (its ``gen_weight`` / ``disc_weight`` attributes when it has them).
    Weights left None take ELECTRA's values: gen 1.0, disc 50.0."""
    defaults = {"gen_weight": 1.0, "disc_weight": 50.0}
    if isinstance(vocab_size, ElectraConfig):
        config, vocab_size = vocab_size, vocab_size.vocab_size
        weights = {k: getattr(config, k, defaults[k]) if v is None else v for k, v in weights.items()}
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= 0:
        raise ValueError(f"the criterion needs the vocabulary size (a positive int) or the config, got {vocab_size!r}")
    return (vocab_size, *(defaults[k] if v is None else v for k, v in weights.items()))


# PaddleNLP's name for the joint model (note: HF's ElectraForPreTraining, capital T,
# is the discriminator alone; both spellings keep their own library's meaning).
ElectraForPretraining = ElectraForTotalPretraining
