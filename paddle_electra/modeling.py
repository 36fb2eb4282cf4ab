"""ELECTRA layers and heads, in reading order.

embeddings -> attention -> layer -> encoder -> :class:`ElectraModel` -> heads.
Parameter names are PaddleNLP's (``encoder.layers.{i}.self_attn.q_proj`` ...), so
PaddleNLP ``.pdparams`` load with no mapping; HF checkpoints are renamed by
:mod:`paddle_electra.convert`. No I/O here: saving and loading live in
:mod:`paddle_electra.modeling_utils`.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Optional, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .configuration import ElectraConfig
from .inputs import check_inputs, prepare_inputs, to_input_tensor
from .modeling_utils import ElectraPretrainedModel
from .losses import keep_mask, masked_cross_entropy, rtd_loss, sequence_classification_loss
from .outputs import (
    BaseModelOutput,
    ElectraForPreTrainingOutput,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
    pack_outputs,
)

Tensor = paddle.Tensor

# Additive bias for masked attention scores. -1e4 (not -inf or finfo.min) keeps
# fully padded rows finite and survives a cast to float16.
MASK_BIAS = -1e4


def _gelu_new(x):
    return F.gelu(x, approximate=True)


def _gelu_fast(x):
    return 0.5 * x * (1.0 + paddle.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


# HF activation names -> functions. "gelu" is the exact erf form, as in HF and TF.
ACT2FN = {
    "gelu": F.gelu,
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": _gelu_new,
    "gelu_fast": _gelu_fast,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": paddle.tanh,
    "sigmoid": F.sigmoid,
}


def attention_bias(attention_mask: Optional[Tensor], input_ids: Optional[Tensor], pad_token_id: int, dtype):
    """Turn any accepted mask form into an additive bias broadcastable to [B, heads, L, L].

    * ``None``: positions whose id equals ``pad_token_id`` are masked (Paddle's
      convention); with ``inputs_embeds`` and no mask, nothing is masked.
    * [B, L] keep-mask, int / bool / float: 1 (True) keeps, 0 (False) masks;
      all three dtypes mean the same thing.
    * [B, L, L] keep-mask (per query row), same dtypes.
    * 4-D: bool is a keep-mask; int or float is already additive (0 keeps,
      large negative masks) and is used as it is.
    """
    if attention_mask is None:
        if input_ids is None:
            return None
        keep = (input_ids != pad_token_id).astype(dtype)
        return ((1.0 - keep) * MASK_BIAS).unsqueeze([1, 2])
    if attention_mask.ndim == 4:
        if attention_mask.dtype == paddle.bool:
            return (1.0 - attention_mask.astype(dtype)) * MASK_BIAS
        return attention_mask.astype(dtype)
    if attention_mask.ndim == 2:
        keep = attention_mask.astype(dtype).unsqueeze([1, 2])
    elif attention_mask.ndim == 3:
        keep = attention_mask.astype(dtype).unsqueeze(1)
    else:
        raise ValueError(f"attention_mask must be 2-D, 3-D or 4-D, got {attention_mask.ndim}-D")
    return (1.0 - keep) * MASK_BIAS


def dense(layer: nn.Linear, x):
    """``layer(x)``; in dygraph on the 2-D view, as one ``addmm`` when no gradient is recorded.

    Paddle's CPU ``F.linear`` adds the bias in a separate pass that costs up to
    a third of the GEMM (docs/dygraph-cpu-speed.md); static graphs keep the
    plain Linear so export and inference fuse passes see the usual pattern.
    """
    if not paddle.in_dynamic_mode():
        return layer(x)
    shape = x.shape
    out = affine(x.reshape([-1, shape[-1]]), layer.weight, layer.bias)
    return out.reshape(shape[:-1] + [out.shape[-1]])


def affine(x2d, weight, bias):
    """``x2d @ weight + bias`` for a 2-D input, fused into one ``addmm`` when no gradient is recorded.

    Paddle 3.3's CPU ``addmm`` backward crashes the process (segfault) under
    ``paddle.grad(..., retain_graph=True)`` (reproduced in
    tests/test_pretraining.py), so with autograd on the plain form is used.
    """
    if paddle.is_grad_enabled():
        return paddle.matmul(x2d, weight) + bias
    return paddle.addmm(bias, x2d, weight)


def expand_bias(bias, num_heads: int, max_elements: int = 1 << 25):
    """Broadcast a [B, 1, 1|L, L] mask bias to [B, heads, L, L] once per forward (dygraph).

    Paddle's CPU kernel for a broadcasting add is ~15x slower than a same-shape
    add (measured), and the bias is added in every layer. Expanding once costs
    one tensor of B*heads*L*L floats, so it is skipped above ``max_elements``.
    """
    if bias is None or not paddle.in_dynamic_mode():
        return bias
    batch, _, rows, seq = bias.shape
    shape = [batch if batch > 0 else 1, num_heads, seq, seq]
    if shape[0] * num_heads * seq * seq > max_elements or list(bias.shape) == shape:
        return bias
    return paddle.expand(bias, shape).clone()


@functools.lru_cache(maxsize=8)
def _head_rows(batch: int, seq: int, heads: int) -> Tuple[Tuple[Tensor, ...], Tensor]:
    """Row indices that reorder attention tensors by gathering rows of ``head_dim`` floats.

    Returns ``((q, k, v), back)``: row ``i`` of ``[B, heads, L, d]`` q (k, v) is row
    ``q[i]`` of the fused projection viewed as ``[B*L*3*heads, d]``; row ``i`` of
    ``[B*L*heads, d]`` (the context back in token order) is row ``back[i]`` of
    ``[B*heads*L, d]``. CPU tensors, cached per shape: the layers of a forward share them.
    """
    b, h, t = np.meshgrid(np.arange(batch), np.arange(heads), np.arange(seq), indexing="ij")
    base = ((b * seq + t) * 3 * heads + h).reshape(-1)  # (b, h, t) -> row of token t, part q, head h
    parts = tuple(paddle.to_tensor(base + part * heads, dtype="int64", place=paddle.CPUPlace()) for part in range(3))
    b, t, h = np.meshgrid(np.arange(batch), np.arange(seq), np.arange(heads), indexing="ij")
    back = paddle.to_tensor(((b * heads + h) * seq + t).reshape(-1), dtype="int64", place=paddle.CPUPlace())
    return parts, back


def _use_row_gather(x) -> bool:
    """Reorder heads by gathering rows (dygraph, CPU, inference) instead of through strided views.

    A transposed view is a strided tensor in Paddle 3; the elementwise op or
    matmul that consumes it first copies it with the generic strided-copy
    kernel, ~7.5 ms per [8, 12, 128, 64] tensor on this CPU, four times per
    layer (q scaled, k, v, the context). Gathering whole ``head_dim`` rows moves
    the same floats (bit-identical results) in ~2 ms (docs/dygraph-cpu-speed.md).
    Kept to inference (no autograd), where it was measured.
    """
    return (paddle.in_dynamic_mode() and not paddle.is_grad_enabled() and x.place.is_cpu_place()
            and os.environ.get("PADDLE_ELECTRA_STRIDED_HEADS") != "1")


class ElectraEmbeddings(nn.Layer):
    """Word + position + token-type embeddings (width E), LayerNorm, dropout."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embedding_size)
        self.layer_norm = nn.LayerNorm(config.embedding_size, epsilon=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        seq_len = paddle.shape(inputs_embeds)[1]
        if position_ids is None:
            # [1, L] broadcasts over the batch: no per-batch arange is materialised
            position_ids = paddle.arange(seq_len, dtype="int64").unsqueeze(0)
        embeddings = inputs_embeds + self.position_embeddings(position_ids)
        if token_type_ids is None:
            # all-zero segment ids select row 0 for every token: add it once, broadcast
            embeddings = embeddings + self.token_type_embeddings.weight[0]
        else:
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.layer_norm(embeddings))


class ElectraSelfAttention(nn.Layer):
    """Multi-head self-attention with PaddleNLP's parameter names (q/k/v/out_proj)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        hidden = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _split_heads(self, x):
        # [B, L, H] -> [B, heads, L, head_dim]; 0 in reshape keeps the dynamic axis
        return x.reshape([0, 0, self.num_heads, self.head_dim]).transpose([0, 2, 1, 3])

    def _qkv(self, hidden_states):
        if not paddle.in_dynamic_mode():
            # static graphs keep three projections: the pattern Paddle Inference's fuse passes match
            return [self._split_heads(p(hidden_states)) for p in (self.q_proj, self.k_proj, self.v_proj)]
        # dygraph: one [H, 3H] GEMM instead of three [H, H] ones (fewer, larger MKL calls)
        weight = paddle.concat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight], axis=1)
        bias = paddle.concat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
        batch, seq = hidden_states.shape[0], hidden_states.shape[1]
        qkv = affine(hidden_states.reshape([batch * seq, -1]), weight, bias)
        if _use_row_gather(qkv):  # contiguous [B, heads, L, d] each
            flat = qkv.reshape([-1, self.head_dim])
            return [paddle.gather(flat, r).reshape([batch, self.num_heads, seq, self.head_dim])
                    for r in _head_rows(batch, seq, self.num_heads)[0]]
        qkv = qkv.reshape([batch, seq, 3, self.num_heads, self.head_dim]).transpose([2, 0, 3, 1, 4])
        return qkv[0], qkv[1], qkv[2]

    def forward(self, hidden_states, bias=None, output_attentions=False):
        q, k, v = self._qkv(hidden_states)
        # scale q (B*L*d values) instead of the scores (B*heads*L*L values)
        scores = paddle.matmul(q * (1.0 / math.sqrt(self.head_dim)), k, transpose_y=True)
        if bias is not None:
            scores = scores + bias
        probs = F.softmax(scores, axis=-1)
        context = paddle.matmul(self.dropout(probs), v)
        hidden = self.num_heads * self.head_dim
        if _use_row_gather(context):  # back to token order: [B*L, H]
            back = _head_rows(context.shape[0], context.shape[2], self.num_heads)[1]
            context = paddle.gather(context.reshape([-1, self.head_dim]), back).reshape([-1, hidden])
            out = affine(context, self.out_proj.weight, self.out_proj.bias)
            return out.reshape(hidden_states.shape[:-1] + [hidden]), (probs if output_attentions else None)
        context = context.transpose([0, 2, 1, 3]).reshape([0, 0, hidden])
        return dense(self.out_proj, context), (probs if output_attentions else None)


class ElectraLayer(nn.Layer):
    """Post-LayerNorm transformer layer: attention -> add & norm -> FFN -> add & norm."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.self_attn = ElectraSelfAttention(config)
        self.dropout1 = nn.Dropout(config.hidden_dropout_prob)
        self.norm1 = nn.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.linear1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.linear2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout2 = nn.Dropout(config.hidden_dropout_prob)
        self.norm2 = nn.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)

    def forward(self, hidden_states, bias=None, output_attentions=False):
        attn_out, probs = self.self_attn(hidden_states, bias, output_attentions)
        hidden_states = self.norm1(hidden_states + self.dropout1(attn_out))
        ffn_out = dense(self.linear2, self.activation(dense(self.linear1, hidden_states)))
        return self.norm2(hidden_states + self.dropout2(ffn_out)), probs


class ElectraEncoder(nn.Layer):
    """A stack of ``num_hidden_layers`` :class:`ElectraLayer` s."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.layers = nn.LayerList([ElectraLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, bias=None, output_attentions=False, output_hidden_states=False):
        all_hidden = [hidden_states] if output_hidden_states else None
        all_attn = [] if output_attentions else None
        for layer in self.layers:
            hidden_states, probs = layer(hidden_states, bias, output_attentions)
            if output_hidden_states:
                all_hidden.append(hidden_states)
            if output_attentions:
                all_attn.append(probs)
        return (
            hidden_states,
            tuple(all_hidden) if all_hidden is not None else None,
            tuple(all_attn) if all_attn is not None else None,
        )


class ElectraModel(ElectraPretrainedModel):
    """The bare ELECTRA encoder: embeddings (+ E->H projection) and the layers."""

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.embeddings = ElectraEmbeddings(config)
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = nn.Linear(config.embedding_size, config.hidden_size)
        self.encoder = ElectraEncoder(config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids=None,
        token_type_ids=None,
        position_ids=None,
        attention_mask=None,
        inputs_embeds=None,
        output_attentions=False,
        output_hidden_states=False,
        return_dict=False,
    ):
        """Encode a batch of token sequences.

        This docstring is the reference for every head's ``forward``: heads take
        the same arguments (plus ``labels``) and differ only in what they return.

        Args:
            input_ids: int64 [B, L] token ids in ``[0, vocab_size)``.
            token_type_ids: int64 [B, L] segment ids in ``[0, type_vocab_size)``;
                default all 0.
            position_ids: int64 [B, L] (or [L]) positions; default ``0..L-1``.
            attention_mask: which positions to attend to. [B, L] with 1 = keep,
                0 = pad, as int, bool or float (all mean the same); [B, L, L] the
                same per query; 4-D bool keep-mask or 4-D additive float bias
                broadcastable to [B, heads, L, L]. ``None`` masks positions whose
                id equals ``config.pad_token_id`` (the Paddle convention).
            inputs_embeds: float32 [B, L, E] to use instead of ``input_ids``
                (then no padding is inferred without a mask).
            output_attentions: also return every layer's attention weights
                [B, heads, L, L].
            output_hidden_states: also return the embedding output and every
                layer's output, ``num_hidden_layers + 1`` tensors [B, L, H].
            return_dict: return a dataclass from :mod:`paddle_electra.outputs`
                instead of a tensor / tuple.

        Returns:
            float32 [B, L, H] sequence output when neither extra output is asked
            for; else the tuple ``(sequence_output, hidden_states?, attentions?)``
            of what was asked for; or :class:`BaseModelOutput` with
            ``return_dict=True``. Heads return their logits first (after the loss
            when labels are given) followed by the same optional extras.

        Inputs may be ``paddle.Tensor`` s, numpy arrays or nested lists (the
        latter two are converted, see :func:`to_input_tensor`).

        Raises:
            ValueError: ids outside the vocabulary or segment range, float or
                bool ids, a sequence longer than ``max_position_embeddings``,
                mask / segment ids whose shape differs from ``input_ids``, or
                an int mask holding values other than 0 and 1.
        """
        input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds = prepare_inputs(
            input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds)
        check_inputs(self.config, input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds)
        embedding_output = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        if hasattr(self, "embeddings_project"):
            embedding_output = self.embeddings_project(embedding_output)
        bias = attention_bias(attention_mask, input_ids, self.config.pad_token_id, embedding_output.dtype)
        bias = expand_bias(bias, self.config.num_attention_heads)
        sequence_output, hidden_states, attentions = self.encoder(
            embedding_output, bias, output_attentions, output_hidden_states
        )
        return pack_outputs(
            BaseModelOutput,
            return_dict,
            last_hidden_state=sequence_output,
            hidden_states=hidden_states,
            attentions=attentions,
        )


def _backbone(head, input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds,
              output_attentions, output_hidden_states) -> BaseModelOutput:
    """Run a head's ``electra`` backbone; always as a dataclass, heads pack their own output."""
    return head.electra(
        input_ids,
        token_type_ids=token_type_ids,
        position_ids=position_ids,
        attention_mask=attention_mask,
        inputs_embeds=inputs_embeds,
        output_attentions=output_attentions,
        output_hidden_states=output_hidden_states,
        return_dict=True,
    )


class ElectraDiscriminatorPredictions(nn.Layer):
    """Replaced-token-detection head: Linear(H, H) -> hidden_act -> Linear(H, 1)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dense_prediction = nn.Linear(config.hidden_size, 1)
        self.activation = ACT2FN[config.hidden_act]

    def forward(self, hidden_states):
        # squeeze only the last axis: [B, L, 1] -> [B, L] also when B == 1 or L == 1
        return self.dense_prediction(self.activation(self.dense(hidden_states))).squeeze(-1)


class ElectraGeneratorPredictions(nn.Layer):
    """Masked-LM transform: Linear(H, E) -> gelu -> LayerNorm(E)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.layer_norm = nn.LayerNorm(config.embedding_size, epsilon=config.layer_norm_eps)

    def forward(self, hidden_states):
        # gelu regardless of hidden_act, as in the TF original and HF
        return self.layer_norm(F.gelu(self.dense(hidden_states)))


class ElectraDiscriminator(ElectraPretrainedModel):
    """ELECTRA with the replaced-token-detection head. Alias: ``ElectraForPreTraining``.

    Returns logits [B, L] (> 0 means "replaced"); with ``labels`` (int [B, L],
    1 = replaced) the binary cross-entropy over non-padded positions comes
    first. Arguments: see :meth:`ElectraModel.forward`.
    """

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, attention_mask=None,
                inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False,
                return_dict=False):
        input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds = prepare_inputs(
            input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds)
        labels = to_input_tensor("labels", labels, "labels")
        out = _backbone(self, input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds,
                        output_attentions, output_hidden_states)
        logits = self.discriminator_predictions(out.last_hidden_state)
        loss = None
        if labels is not None:
            loss = rtd_loss(logits, labels, keep_mask(attention_mask, input_ids, self.config.pad_token_id))
        return pack_outputs(ElectraForPreTrainingOutput, return_dict, loss=loss, logits=logits,
                            hidden_states=out.hidden_states, attentions=out.attentions)


class ElectraGenerator(ElectraPretrainedModel):
    """ELECTRA with the masked-LM head. Alias: ``ElectraForMaskedLM``.

    The output embedding is the input word embedding (tied, one parameter);
    only the bias ``generator_lm_head_bias`` [V] is the head's own. Returns
    scores [B, L, V]; with ``labels`` (int [B, L], -100 = ignore) the mean
    cross-entropy comes first. Arguments: see :meth:`ElectraModel.forward`.
    """

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.generator_predictions = ElectraGeneratorPredictions(config)
        self.generator_lm_head_bias = self.create_parameter(
            [config.vocab_size], is_bias=True, default_initializer=nn.initializer.Constant(0.0)
        )

    def get_output_embeddings(self):
        return self.electra.embeddings.word_embeddings

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, attention_mask=None,
                inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False,
                return_dict=False):
        out = _backbone(self, input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds,
                        output_attentions, output_hidden_states)
        labels = to_input_tensor("labels", labels)  # token ids (-100 = ignore): integers only
        hidden = self.generator_predictions(out.last_hidden_state)
        word_emb = self.electra.embeddings.word_embeddings.weight  # [V, E], tied
        logits = paddle.matmul(hidden, word_emb, transpose_y=True) + self.generator_lm_head_bias
        loss = None
        if labels is not None:
            loss = masked_cross_entropy(logits.reshape([-1, self.config.vocab_size]), labels.reshape([-1]))
        return pack_outputs(MaskedLMOutput, return_dict, loss=loss, logits=logits,
                            hidden_states=out.hidden_states, attentions=out.attentions)


class ElectraClassificationHead(nn.Layer):
    """Sentence head on token 0: dropout -> Linear(H, H) -> gelu -> dropout -> Linear(H, labels)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, sequence_output):
        x = self.dropout(sequence_output[:, 0])
        # gelu, not BERT's tanh: what the ELECTRA authors used (and HF / PaddleNLP)
        x = self.dropout(F.gelu(self.dense(x)))
        return self.out_proj(x)


class ElectraForSequenceClassification(ElectraPretrainedModel):
    """ELECTRA with a sentence-level head: logits [B, num_labels].

    With ``labels`` the loss follows ``config.problem_type`` (inferred like HF
    when unset: 1 label -> regression (MSE), int labels -> single-label cross
    entropy, float [B, num_labels] labels -> multi-label BCE). Arguments: see
    :meth:`ElectraModel.forward`.
    """

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.electra = ElectraModel(config)
        self.classifier = ElectraClassificationHead(config)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, attention_mask=None,
                inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False,
                return_dict=False):
        out = _backbone(self, input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds,
                        output_attentions, output_hidden_states)
        logits = self.classifier(out.last_hidden_state)
        labels = to_input_tensor("labels", labels, "labels")
        loss = None if labels is None else sequence_classification_loss(logits, labels, self.config)
        return pack_outputs(SequenceClassifierOutput, return_dict, loss=loss, logits=logits,
                            hidden_states=out.hidden_states, attentions=out.attentions)


class ElectraForTokenClassification(ElectraPretrainedModel):
    """ELECTRA with a per-token head: dropout -> Linear(H, num_labels), logits [B, L, num_labels].

    With ``labels`` (int [B, L], -100 = ignore) the mean cross-entropy comes
    first. Arguments: see :meth:`ElectraModel.forward`.
    """

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.electra = ElectraModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, attention_mask=None,
                inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False,
                return_dict=False):
        out = _backbone(self, input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds,
                        output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        labels = to_input_tensor("labels", labels)  # class ids (-100 = ignore): integers only
        loss = None
        if labels is not None:
            loss = masked_cross_entropy(logits.reshape([-1, self.num_labels]), labels.reshape([-1]))
        return pack_outputs(TokenClassifierOutput, return_dict, loss=loss, logits=logits,
                            hidden_states=out.hidden_states, attentions=out.attentions)


class ElectraForQuestionAnswering(ElectraPretrainedModel):
    """ELECTRA with a span head Linear(H, 2): returns ``(start_logits, end_logits)``, each [B, L].

    With ``start_positions`` and ``end_positions`` (int [B]) the mean of the two
    cross-entropies comes first; positions outside the sequence are ignored.
    Arguments: see :meth:`ElectraModel.forward`.
    """

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.classifier = nn.Linear(config.hidden_size, 2)  # PaddleNLP's name; HF calls it qa_outputs

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, attention_mask=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=False,
                output_hidden_states=False, return_dict=False):
        out = _backbone(self, input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds,
                        output_attentions, output_hidden_states)
        logits = self.classifier(out.last_hidden_state)  # [B, L, 2]
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        loss = None
        if start_positions is not None and end_positions is not None:
            start_positions = to_input_tensor("start_positions", start_positions)
            end_positions = to_input_tensor("end_positions", end_positions)
            seq_len = start_logits.shape[1]
            # clip out-of-range targets to seq_len and ignore them, as HF does
            start = start_positions.reshape([-1]).clip(0, seq_len)
            end = end_positions.reshape([-1]).clip(0, seq_len)
            loss = 0.5 * (masked_cross_entropy(start_logits, start, ignore_index=seq_len)
                          + masked_cross_entropy(end_logits, end, ignore_index=seq_len))
        return pack_outputs(QuestionAnsweringModelOutput, return_dict, loss=loss, start_logits=start_logits,
                            end_logits=end_logits, hidden_states=out.hidden_states, attentions=out.attentions)


class ElectraSequenceSummary(nn.Layer):
    """Token 0 -> Linear(H, H) -> gelu -> dropout (HF's SequenceSummary with ELECTRA's settings)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, sequence_output):
        return self.dropout(F.gelu(self.dense(sequence_output[:, 0])))


class ElectraForMultipleChoice(ElectraPretrainedModel):
    """ELECTRA scoring ``num_choices`` candidates per example: logits [B, C].

    Inputs are [B, C, L] (``inputs_embeds`` [B, C, L, E]) and are flattened to
    [B*C, L] for the encoder. With ``labels`` (int [B], the right choice) the
    cross-entropy comes first. Other arguments: see :meth:`ElectraModel.forward`.
    """

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.num_choices = config.num_choices
        self.electra = ElectraModel(config)
        self.sequence_summary = ElectraSequenceSummary(config)
        self.classifier = nn.Linear(config.hidden_size, 1)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, attention_mask=None,
                inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False,
                return_dict=False):
        input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds = prepare_inputs(
            input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds)
        labels = to_input_tensor("labels", labels)
        ref = input_ids if input_ids is not None else inputs_embeds
        if ref is None:
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if ref.ndim != (3 if input_ids is not None else 4):
            raise ValueError(f"multiple choice inputs must be [batch, num_choices, seq_len], got {list(ref.shape)}")
        num_choices = ref.shape[1]

        def flat(t, keep=1):
            return None if t is None else t.reshape([-1] + list(t.shape[2:]))

        out = _backbone(self, flat(input_ids), flat(token_type_ids), flat(position_ids), flat(attention_mask),
                        flat(inputs_embeds), output_attentions, output_hidden_states)
        logits = self.classifier(self.sequence_summary(out.last_hidden_state)).reshape([-1, num_choices])
        loss = None if labels is None else masked_cross_entropy(logits, labels.reshape([-1]))
        return pack_outputs(MultipleChoiceModelOutput, return_dict, loss=loss, logits=logits,
                            hidden_states=out.hidden_states, attentions=out.attentions)


# PaddleNLP / HF alternative names
ElectraForPreTraining = ElectraDiscriminator
ElectraForMaskedLM = ElectraGenerator
