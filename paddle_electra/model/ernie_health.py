"""ERNIE-Health: ELECTRA pre-training with three discriminator tasks.

* RTD, replaced-token detection (as ELECTRA);
* MTS, multi-token selection: at every position pick the original token among
  it and ``num_negatives`` generator samples;
* CSP, contrastive sequence prediction: two corrupted views of one sentence
  should embed close together (SimCLR / NT-Xent, temperature 0.07).

Parameter names follow PaddleNLP (``discriminator_rtd``, ``discriminator_mts``,
``bias_mts``, ``discriminator_csp``). MTS scores candidates with the word
embedding, so ERNIE-Health needs ``embedding_size == hidden_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .configuration import ElectraConfig
from .modeling import ElectraClassificationHead, ElectraDiscriminatorPredictions, ElectraGenerator, ElectraModel
from .inputs import prepare_inputs, to_input_tensor
from .losses import keep_mask, masked_cross_entropy, rtd_loss
from .base import ElectraPretrainedModel
from .outputs import ModelOutput, pack_outputs
from .pretraining import (
    ElectraForTotalPretraining,
    adopt_pair,
    criterion_settings,
    gumbel_sample,
    resolve_generator_config,
)

Tensor = paddle.Tensor

# Added to excluded candidates' logits so they are never sampled (finite for fp16).
_EXCLUDE = -1e4


def _require_tied_width(config: ElectraConfig) -> None:
    if config.embedding_size != config.hidden_size:
        raise ValueError(
            f"ERNIE-Health scores MTS candidates with the word embedding, so embedding_size "
            f"({config.embedding_size}) must equal hidden_size ({config.hidden_size})"
        )


@dataclass
class ErnieHealthDiscriminatorOutput(ModelOutput):
    """``logits_rtd`` [B, L], ``logits_mts`` [B, L, K+1], ``logits_csp`` [B, num_labels]."""

    logits_rtd: Optional[Tensor] = None
    logits_mts: Optional[Tensor] = None
    logits_csp: Optional[Tensor] = None


class ErnieHealthDiscriminator(ElectraPretrainedModel):
    """ELECTRA discriminator with the RTD, MTS and CSP heads.

    The CSP projection has ``config.num_labels`` outputs (PaddleNLP's layout).
    ``from_pretrained`` reads that width off the checkpoint when the config
    file does not state it: PaddleNLP 2.5+ writes no ``num_labels`` for its
    default 2-way head, 2.4 had a fixed 128-way one.
    """

    def __init__(self, config: ElectraConfig):
        config, electra = self.resolve_config(type(self).__name__, config)
        _require_tied_width(config)
        super().__init__(config)
        self.electra = electra or ElectraModel(config)
        self.discriminator_rtd = ElectraDiscriminatorPredictions(config)
        self.discriminator_mts = nn.Linear(config.hidden_size, config.hidden_size)
        self.bias_mts = nn.Embedding(config.vocab_size, 1)
        self.discriminator_csp = ElectraClassificationHead(config)

    def _init_extra(self) -> None:
        # MTS per-token bias starts at 0, like a Linear bias
        self.bias_mts.weight.set_value(paddle.zeros_like(self.bias_mts.weight))

    @classmethod
    def _config_from_checkpoint(cls, config: ElectraConfig, state, stated: set) -> ElectraConfig:
        if "num_labels" in stated or "id2label" in stated:
            return config
        widths = [v.shape[0] for k, v in state.items() if k.endswith("discriminator_csp.out_proj.bias")]
        if len(widths) == 1 and widths[0] != config.num_labels:
            return config.copy(num_labels=int(widths[0]))
        return config

    def _resize_vocab_weights(self, old: int, new: int) -> None:
        table = nn.Embedding(new, 1)  # the MTS per-token bias: one row per vocabulary entry
        table.to(dtype=self.bias_mts.weight.dtype)
        value = paddle.zeros([new, 1], dtype=self.bias_mts.weight.dtype)
        value[:min(old, new)] = self.bias_mts.weight.detach()[:min(old, new)]
        table.weight.set_value(value)
        self.bias_mts = table

    def forward(self, input_ids, candidate_ids, token_type_ids=None, position_ids=None, attention_mask=None,
                return_dict=False):
        """Score a corrupted batch.

        Args:
            input_ids: int64 [B, L], the generator-corrupted ids.
            candidate_ids: int64 [B, L, K+1], candidate 0 the original token.
            Other arguments: see :meth:`ElectraModel.forward`.

        Returns:
            ``(logits_rtd, logits_mts, logits_csp)`` or
            :class:`ErnieHealthDiscriminatorOutput`.
        """
        candidate_ids = to_input_tensor("candidate_ids", candidate_ids)
        hidden = self.electra(input_ids, token_type_ids, position_ids, attention_mask)
        logits_rtd = self.discriminator_rtd(hidden)
        query = F.gelu(self.discriminator_mts(hidden)).unsqueeze(2)  # [B, L, 1, H]
        cand_emb = self.electra.embeddings.word_embeddings(candidate_ids)  # [B, L, K+1, H]
        logits_mts = paddle.matmul(query, cand_emb, transpose_y=True).squeeze(2)
        logits_mts = logits_mts + self.bias_mts(candidate_ids).squeeze(-1)
        logits_csp = self.discriminator_csp(hidden)
        return pack_outputs(ErnieHealthDiscriminatorOutput, return_dict, logits_rtd=logits_rtd,
                            logits_mts=logits_mts, logits_csp=logits_csp)


def sample_candidates(gen_logits: Tensor, raw_input_ids: Tensor, num_negatives: int = 5) -> Tensor:
    """MTS candidates: the original id followed by ``num_negatives`` distinct generator samples.

    Each negative is Gumbel-sampled from the generator with the original and
    every earlier negative excluded, so the K+1 candidates are distinct.

    Returns:
        [B, L, num_negatives + 1], the dtype of ``raw_input_ids``.
    """
    vocab = gen_logits.shape[-1]
    if num_negatives >= vocab:
        raise ValueError(f"num_negatives ({num_negatives}) must be smaller than the vocabulary ({vocab})")
    with paddle.no_grad():
        logits = gen_logits.detach()
        excluded = F.one_hot(raw_input_ids, vocab).astype(logits.dtype) * _EXCLUDE
        picks = [raw_input_ids]
        for _ in range(num_negatives):
            sample = gumbel_sample(logits + excluded)
            excluded = excluded + F.one_hot(sample, vocab).astype(logits.dtype) * _EXCLUDE
            picks.append(sample.astype(raw_input_ids.dtype))  # stack() needs one dtype
        return paddle.stack(picks, axis=-1)


@dataclass
class ErnieHealthPretrainingOutput(ModelOutput):
    """Everything :class:`ErnieHealthPretrainingCriterion` needs."""

    generator_logits: Optional[Tensor] = None  # [B, L, V]
    logits_rtd: Optional[Tensor] = None  # [B, L]
    logits_mts: Optional[Tensor] = None  # [B, L, K+1]
    logits_csp: Optional[Tensor] = None  # [B, num_labels]
    discriminator_labels: Optional[Tensor] = None  # int64 [B, L]
    attention_mask: Optional[Tensor] = None  # bool [B, L]


class ErnieHealthForTotalPretraining(ElectraPretrainedModel):
    """Generator + :class:`ErnieHealthDiscriminator`, word embedding shared as one parameter.

    Args:
        config: the discriminator's config (``embedding_size == hidden_size``).
        generator_config: default a quarter of the width.
        num_negatives: MTS negatives per position (5 in ERNIE-Health).
    """

    base_model_prefix = "discriminator"

    def __init__(self, config: ElectraConfig, generator_config: Optional[ElectraConfig] = None,
                 num_negatives: int = 5):
        generator, discriminator, config, generator_config = adopt_pair(
            type(self).__name__, config, generator_config, ErnieHealthDiscriminator)
        _require_tied_width(config)
        generator_config, config = resolve_generator_config(config, generator_config)
        super().__init__(config)
        self.generator_config = generator_config
        self.num_negatives = num_negatives
        self.generator = generator or ElectraGenerator(generator_config)
        self.discriminator = discriminator or ErnieHealthDiscriminator(config)
        self.discriminator.electra.embeddings.word_embeddings = self.generator.electra.embeddings.word_embeddings

    _resize_vocab_weights = ElectraForTotalPretraining._resize_vocab_weights

    def forward(self, input_ids, token_type_ids=None, position_ids=None, attention_mask=None, raw_input_ids=None,
                generator_labels=None, return_dict=False):
        """Arguments as :meth:`ElectraForTotalPretraining.forward`.

        The batch holds two corrupted views of each sentence (rows ``i`` and
        ``i + B/2``) for the CSP task.

        Returns:
            ``(generator_logits, logits_rtd, logits_mts, logits_csp,
            discriminator_labels, attention_mask)`` or
            :class:`ErnieHealthPretrainingOutput`.
        """
        if raw_input_ids is None or generator_labels is None:
            raise ValueError("ErnieHealthForTotalPretraining needs raw_input_ids and generator_labels")
        # numpy / list inputs become tensors here: the ids are also used outside the encoders
        input_ids, token_type_ids, position_ids, attention_mask, _ = prepare_inputs(
            input_ids, token_type_ids, position_ids, attention_mask)
        raw_input_ids = to_input_tensor("raw_input_ids", raw_input_ids)
        generator_labels = to_input_tensor("generator_labels", generator_labels)
        gen_logits = self.generator(input_ids, token_type_ids, position_ids, attention_mask)
        masked = generator_labels != -100
        with paddle.no_grad():
            sampled = gumbel_sample(gen_logits.detach()).astype(input_ids.dtype)  # int32 ids stay int32
            disc_input = paddle.where(masked, sampled, input_ids)
            disc_labels = ((disc_input != raw_input_ids) & masked).astype("int64")
            candidates = sample_candidates(gen_logits, raw_input_ids, self.num_negatives)
        logits_rtd, logits_mts, logits_csp = self.discriminator(disc_input, candidates, token_type_ids,
                                                                position_ids, attention_mask)
        keep = keep_mask(attention_mask, raw_input_ids, self.config.pad_token_id)
        out = ErnieHealthPretrainingOutput(gen_logits, logits_rtd, logits_mts, logits_csp, disc_labels, keep)
        return out if return_dict else out.to_tuple()


def csp_loss(logits_csp: Tensor, temperature: float = 0.07) -> Tensor:
    """NT-Xent over a batch of two views: row ``i`` and row ``i + B/2`` are positives.

    Args:
        logits_csp: float [B, D], B even.
    """
    batch = logits_csp.shape[0]
    if batch % 2:
        raise ValueError(f"the CSP loss needs two views per sentence: batch size {batch} is odd")
    z = F.normalize(logits_csp, axis=-1)
    sim = paddle.matmul(z, z, transpose_y=True) / temperature
    sim = sim + paddle.eye(batch, dtype=sim.dtype) * _EXCLUDE  # a row is not its own positive
    half = batch // 2
    targets = paddle.concat([paddle.arange(half, batch), paddle.arange(0, half)]).astype("int64")
    return F.cross_entropy(sim, targets.unsqueeze(-1), reduction="sum") / batch


class ErnieHealthPretrainingCriterion(nn.Layer):
    """``gen * MLM + rtd * RTD + mts * MTS + csp * CSP``; weights 1, 50, 20, 1 as in ERNIE-Health."""

    def __init__(self, vocab_size: int, gen_weight: float = None, rtd_weight: float = 50.0,
                 mts_weight: float = 20.0, csp_weight: float = 1.0, temperature: float = 0.07):
        # PaddleNLP >= 2.5 passes the config: vocab_size and gen_weight come from it
        vocab_size, gen_weight = criterion_settings(vocab_size, gen_weight=gen_weight)
        super().__init__()
        self.vocab_size = vocab_size
        self.weights = (gen_weight, rtd_weight, mts_weight, csp_weight)
        self.temperature = temperature

    def forward(self, generator_logits, generator_labels, logits_rtd, logits_mts, logits_csp,
                discriminator_labels, attention_mask=None):
        """Returns ``(total, gen_loss, rtd_loss, mts_loss, csp_loss)``.

        MTS counts only replaced positions (where ``discriminator_labels`` is 1):
        elsewhere the original token is in the input and the task is trivial.
        """
        gen = masked_cross_entropy(generator_logits.reshape([-1, self.vocab_size]), generator_labels.reshape([-1]))
        keep = None if attention_mask is None else attention_mask.astype("float32") > 0.5
        rtd = rtd_loss(logits_rtd, discriminator_labels, keep)
        mts_targets = paddle.where(discriminator_labels == 1, paddle.zeros_like(discriminator_labels),
                                   paddle.full_like(discriminator_labels, -100))
        mts = masked_cross_entropy(logits_mts.reshape([-1, logits_mts.shape[-1]]), mts_targets.reshape([-1]))
        csp = csp_loss(logits_csp, self.temperature)
        w_gen, w_rtd, w_mts, w_csp = self.weights
        total = w_gen * gen + w_rtd * rtd + w_mts * mts + w_csp * csp
        return total, gen, rtd, mts, csp
