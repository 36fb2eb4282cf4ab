"""The ELECTRA encoder, in reading order: embeddings -> attention -> layer -> encoder -> :class:`ElectraModel`.

Parameter names are PaddleNLP's (``encoder.layers.{i}.self_attn.q_proj`` ...), so
PaddleNLP ``.pdparams`` load with no mapping; HF checkpoints are renamed by
:mod:`paddle_electra.loading.convert`. No I/O here: the base class is
:mod:`paddle_electra.model.base`; the masks and the KV cache live in
:mod:`paddle_electra.model.kv_cache`; the dygraph speed paths in
:mod:`paddle_electra.model.fast_paths`; the task heads in :mod:`paddle_electra.model.modeling`.
"""

from __future__ import annotations

import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .configuration import ElectraConfig
from .fast_paths import (Dropout, LayerNorm, _head_rows, _use_row_gather, affine, attention, attention_kernels,
                         cpu_training, dense, expand_bias, gelu, softmax)
from .inputs import check_inputs, prepare_inputs
from .kv_cache import KVCache, as_cache, attention_bias
from .base import ElectraPretrainedModel
from .outputs import BaseModelOutputWithPast, pack_outputs

Tensor = paddle.Tensor


def _gelu_new(x):
    return F.gelu(x, approximate=True)


def _gelu_fast(x):
    return 0.5 * x * (1.0 + paddle.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


# HF activation names -> functions. "gelu" is the exact erf form, as in HF and TF.
ACT2FN = {
    "gelu": gelu,  # F.gelu; fused in CPU training
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": _gelu_new,
    "gelu_fast": _gelu_fast,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": paddle.tanh,
    "sigmoid": F.sigmoid,
}


class ElectraEmbeddings(nn.Layer):
    """Word + position + token-type embeddings (width E), LayerNorm, dropout."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embedding_size)
        self.layer_norm = LayerNorm(config.embedding_size, epsilon=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, past_length=0):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        seq_len = paddle.shape(inputs_embeds)[1]
        if position_ids is None and past_length:  # new positions continue after the cached ones
            position_ids = paddle.arange(past_length, past_length + inputs_embeds.shape[1], dtype="int64").unsqueeze(0)
        elif position_ids is None:
            # [1, L] broadcasts over the batch: no per-batch arange is materialised
            position_ids = paddle.arange(seq_len, dtype="int64").unsqueeze(0)
        # CPU training: one id per token, so both tables' gradients are embedding gradients, not
        # Paddle's broadcast-add reductions over the batch (3.5 vs 0.2 ms at [32, 128, 128])
        per_token = cpu_training(inputs_embeds)
        if per_token and position_ids.shape[0] == 1 and inputs_embeds.shape[0] != 1:
            position_ids = position_ids.expand(inputs_embeds.shape[:2])
        embeddings = inputs_embeds + self.position_embeddings(position_ids)
        if token_type_ids is None and per_token:
            embeddings = embeddings + self.token_type_embeddings(paddle.zeros(inputs_embeds.shape[:2], "int64"))
        elif token_type_ids is None:
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
        self.dropout = Dropout(config.attention_probs_dropout_prob)

    def _split_heads(self, x):
        # [B, L, H] -> [B, heads, L, head_dim]; 0 in reshape keeps the dynamic axis
        return x.reshape([0, 0, self.num_heads, self.head_dim]).transpose([0, 2, 1, 3])

    def _projections(self, training: bool):
        """``[(weight, bias)]`` of q, k, v; in training q's scale is folded into its weight and bias
        (an [H, H] op instead of a [B, L, H] one)."""
        scale = 1.0 / math.sqrt(self.head_dim)
        wq, bq = (self.q_proj.weight * scale, self.q_proj.bias * scale) if training else (
            self.q_proj.weight, self.q_proj.bias)
        return [(wq, bq), (self.k_proj.weight, self.k_proj.bias), (self.v_proj.weight, self.v_proj.bias)]

    def _qkv(self, hidden_states):
        if not paddle.in_dynamic_mode():
            # static graphs keep three projections: the pattern Paddle Inference's fuse passes match
            q, k, v = [self._split_heads(p(hidden_states)) for p in (self.q_proj, self.k_proj, self.v_proj)]
            return q * (1.0 / math.sqrt(self.head_dim)), k, v
        # dygraph: one [H, 3H] GEMM instead of three [H, H] ones (fewer, larger MKL calls);
        # CPU training: three GEMMs, no fused output to split (the split and its gradient copy every
        # value twice; measured on [32, 128, 256], forward + backward: 29.6-29.9 vs 32.5 ms)
        scale = 1.0 / math.sqrt(self.head_dim)
        training = paddle.is_grad_enabled()
        pairs = self._projections(training)
        if cpu_training(hidden_states):  # [B, L, H] in: Paddle's reshape gradient is a copy
            return [self._split_heads(affine(hidden_states, w, b)) for w, b in pairs]
        weight = paddle.concat([w for w, _ in pairs], axis=1)
        bias = paddle.concat([b for _, b in pairs])
        batch, seq = hidden_states.shape[0], hidden_states.shape[1]
        if training:
            # split, not slices of one transposed view: Paddle's slice gradient zero-fills the input per part
            return [self._split_heads(part) for part in paddle.split(affine(hidden_states, weight, bias), 3, -1)]
        qkv = affine(hidden_states.reshape([batch * seq, -1]), weight, bias)
        if _use_row_gather(qkv):  # contiguous [B, heads, L, d] each
            flat = qkv.reshape([-1, self.head_dim])
            q, k, v = [paddle.gather(flat, r).reshape([batch, self.num_heads, seq, self.head_dim])
                       for r in _head_rows(batch, seq, self.num_heads)[0]]
        else:
            q, k, v = [self._split_heads(part.reshape([batch, seq, -1])) for part in paddle.split(qkv, 3, axis=-1)]
        # scale q (B*L*d values) instead of the scores (B*heads*L*L values)
        return q * scale, k, v

    def forward(self, hidden_states, bias=None, output_attentions=False, past=None, use_cache=False):
        """Returns ``(output, probs or None, (key, value) or None)``; ``past`` is this layer's cached pair."""
        kernels = (attention_kernels(hidden_states, bias, self.dropout)
                   if past is None and not use_cache and not output_attentions else None)
        if kernels is not None:  # CPU training: one fused op, q / k / v kept in token order
            q, k, v = [affine(hidden_states, w, b) for w, b in self._projections(True)]
            context = attention(kernels, q, k, v, bias, self.num_heads, self.dropout)
            return dense(self.out_proj, context), None, None
        q, k, v = self._qkv(hidden_states)  # q already scaled by 1/sqrt(head_dim)
        if past is not None:  # the new positions attend to the cached ones too
            k = paddle.concat([past[0].astype(k.dtype), k], axis=2)
            v = paddle.concat([past[1].astype(v.dtype), v], axis=2)
        present = (k, v) if use_cache else None
        scores = paddle.matmul(q, k, transpose_y=True)
        if bias is not None:
            scores = scores + bias
        probs = softmax(scores)  # F.softmax over the keys; fused in CPU training
        context = paddle.matmul(self.dropout(probs), v)
        hidden = self.num_heads * self.head_dim
        if _use_row_gather(context):  # back to token order: [B*L, H]
            back = _head_rows(context.shape[0], context.shape[2], self.num_heads)[1]
            context = paddle.gather(context.reshape([-1, self.head_dim]), back).reshape([-1, hidden])
            out = affine(context, self.out_proj.weight, self.out_proj.bias)
            return out.reshape(hidden_states.shape[:-1] + [hidden]), (probs if output_attentions else None), present
        context = context.transpose([0, 2, 1, 3]).reshape([0, 0, hidden])
        return dense(self.out_proj, context), (probs if output_attentions else None), present


class ElectraLayer(nn.Layer):
    """Post-LayerNorm transformer layer: attention -> add & norm -> FFN -> add & norm."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.self_attn = ElectraSelfAttention(config)
        self.dropout1 = Dropout(config.hidden_dropout_prob)
        self.norm1 = LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.linear1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.linear2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout2 = Dropout(config.hidden_dropout_prob)
        self.norm2 = LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)

    def forward(self, hidden_states, bias=None, output_attentions=False, past=None, use_cache=False):
        attn_out, probs, present = self.self_attn(hidden_states, bias, output_attentions, past, use_cache)
        hidden_states = self.norm1(hidden_states + self.dropout1(attn_out))
        ffn_out = dense(self.linear2, self.activation(dense(self.linear1, hidden_states)))
        return self.norm2(hidden_states + self.dropout2(ffn_out)), probs, present


class ElectraEncoder(nn.Layer):
    """A stack of ``num_hidden_layers`` :class:`ElectraLayer` s."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.layers = nn.LayerList([ElectraLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, bias=None, output_attentions=False, output_hidden_states=False,
                past_key_values=None, use_cache=False):
        """Returns ``(last, hidden_states or None, attentions or None, KVCache or None)``."""
        all_hidden = [hidden_states] if output_hidden_states else None
        all_attn = [] if output_attentions else None
        presents = [] if use_cache else None
        for i, layer in enumerate(self.layers):
            past = None if past_key_values is None else past_key_values[i]
            hidden_states, probs, present = layer(hidden_states, bias, output_attentions, past, use_cache)
            if output_hidden_states:
                all_hidden.append(hidden_states)
            if output_attentions:
                all_attn.append(probs)
            if use_cache:
                presents.append(present)
        return (
            hidden_states,
            tuple(all_hidden) if all_hidden is not None else None,
            tuple(all_attn) if all_attn is not None else None,
            KVCache(presents) if use_cache else None,
        )


class ElectraModel(ElectraPretrainedModel):
    """The bare ELECTRA encoder: embeddings (+ E->H projection) and the layers.

    Built from an :class:`ElectraConfig` or, PaddleNLP 2.4 style, from its fields
    as keywords: ``ElectraModel(vocab_size=..., hidden_size=...)``, ``ElectraModel(**config)``.
    With ``config.is_decoder`` the attention is causal (HF's decoder).
    """

    def __init__(self, config: ElectraConfig = None, **fields):
        if config is None:
            config = ElectraConfig(**fields)
        elif fields and isinstance(config, ElectraConfig):
            config = config.copy(**fields)
        elif fields:
            raise ValueError(f"ElectraModel takes an ElectraConfig or config fields as keywords, "
                             f"not both a {type(config).__name__} and {sorted(fields)}")
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
        past_key_values=None,
        use_cache=None,
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
                (then no padding is inferred without a mask). When both are
                given, ``input_ids`` is used (PaddleNLP's rule) and a warning says so.
            past_key_values: the :class:`~paddle_electra.model.kv_cache.KVCache` (or
                any sequence of per-layer ``(key, value)`` [B, heads, T, d])
                a previous call returned: the new positions attend to those T
                cached ones too and are numbered from T. A 2-D mask then covers
                all ``T + L`` positions.
            use_cache: return the cache of all positions (``past_key_values``
                of the output, second in the tuple). ``None``: no cache
                (PaddleNLP), or ``config.use_cache`` for a decoder (HF).
            output_attentions: also return every layer's attention weights
                [B, heads, L, L].
            output_hidden_states: also return the embedding output and every
                layer's output, ``num_hidden_layers + 1`` tensors [B, L, H].
            return_dict: return a dataclass from :mod:`paddle_electra.model.outputs`
                instead of a tensor / tuple.

        Returns:
            float32 [B, L, H] sequence output when neither extra output is asked
            for; else the tuple ``(sequence_output, cache?, hidden_states?, attentions?)``
            of what was asked for; or :class:`BaseModelOutputWithPast` with
            ``return_dict=True``. Heads return their logits first (after the loss
            when labels are given) followed by the same optional extras.

        Inputs may be ``paddle.Tensor`` s, numpy arrays or nested lists (the
        latter two are converted, see :func:`to_input_tensor`).

        Raises:
            ValueError: ids outside the vocabulary or segment range, float or
                bool ids, a sequence longer than ``max_position_embeddings``,
                mask / segment ids whose shape differs from ``input_ids``, an
                int mask holding values other than 0 and 1, or a cache that
                does not fit the model or the batch.
        """
        cfg = self.config
        input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds = prepare_inputs(
            input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds, ids_win=True)
        ref = input_ids if input_ids is not None else inputs_embeds
        past = as_cache(past_key_values, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.head_dim,
                        None if ref is None or not paddle.in_dynamic_mode() else ref.shape[0])
        past_length = past.get_seq_length() if past is not None else 0
        if use_cache is None:
            use_cache = bool(cfg.use_cache) if cfg.is_decoder else False
        check_inputs(cfg, input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds, past_length)
        embedding_output = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, past_length)
        if hasattr(self, "embeddings_project"):
            embedding_output = self.embeddings_project(embedding_output)
        bias = attention_bias(attention_mask, input_ids, cfg.pad_token_id, embedding_output.dtype, past_length,
                              causal=cfg.is_decoder, query_length=embedding_output.shape[1])
        if not past_length:
            bias = expand_bias(bias, cfg.num_attention_heads)
        sequence_output, hidden_states, attentions, cache = self.encoder(
            embedding_output, bias, output_attentions, output_hidden_states, past, use_cache
        )
        return pack_outputs(
            BaseModelOutputWithPast,
            return_dict,
            last_hidden_state=sequence_output,
            past_key_values=cache,
            hidden_states=hidden_states,
            attentions=attentions,
        )


def _backbone(head, input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds,
              output_attentions, output_hidden_states) -> BaseModelOutputWithPast:
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
