"""ElectraForCausalLM: ELECTRA as a left-to-right language model, as HF transformers has it.

With ``config.is_decoder=True`` every position attends only to itself and the
positions before it, so the model predicts the next token; a KV cache
(:mod:`paddle_electra.model.kv_cache`) makes step-by-step generation cost one
position per step. The head is the generator's (Linear(H, E) -> gelu ->
LayerNorm, then the tied word embedding and a bias), with the same parameter
names as :class:`~paddle_electra.ElectraGenerator`, so HF ``ElectraForCausalLM``
checkpoints load (and save with ``format="hf"``) through the usual converter.
"""

from __future__ import annotations

import logging
from typing import Optional

import paddle

from .configuration import ElectraConfig
from .inputs import to_input_tensor
from .losses import masked_cross_entropy
from .modeling import ElectraGenerator
from .outputs import CausalLMOutput, pack_outputs

logger = logging.getLogger("paddle_electra")


class ElectraForCausalLM(ElectraGenerator):
    """ELECTRA with a causal LM head (HF's ``ElectraForCausalLM``).

    Args:
        config: an :class:`ElectraConfig` with ``is_decoder=True`` (without it
            the attention stays bidirectional and a warning says so, as in HF),
            or an :class:`ElectraModel` to use as the backbone.
    """

    # The generator's layers (encoder, generator_predictions, tied output embedding, its bias),
    # as HF's ElectraForCausalLM has ElectraForMaskedLM's; only the forward differs.
    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        if not self.config.is_decoder:
            logger.warning("ElectraForCausalLM: config.is_decoder is False, so the attention is bidirectional; "
                           "set is_decoder=True to use it as a left-to-right language model")

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, labels=None,
                past_key_values=None, use_cache=None, logits_to_keep: int = 0, output_attentions=False,
                output_hidden_states=False, return_dict: Optional[bool] = None, cache=None):
        """Next-token scores; HF's argument order (note: ``attention_mask`` second).

        Args:
            input_ids: int [B, L]; with a cache only the new positions.
            attention_mask: [B, past + L] keep-mask (1 = attend) covering the
                cached and the new positions, or any form
                :meth:`ElectraModel.forward` takes. ``None``: nothing is masked
                (HF; no padding is inferred from the ids).
            token_type_ids, position_ids, inputs_embeds: as :meth:`ElectraModel.forward`;
                positions default to ``past .. past + L - 1``.
            encoder_hidden_states, encoder_attention_mask: cross-attention is
                not implemented; passing them is an error.
            labels: int [B, L] targets, -100 = ignore; the loss is the mean
                cross-entropy of position ``t``'s scores against ``labels[:, t + 1]``
                (shifted inside, as HF). Turns the cache off, as in HF.
            past_key_values: the cache a previous call returned (HF 5's
                ``cache=`` is the same argument).
            use_cache: return the cache; ``None`` = ``config.use_cache`` (True by default).
            logits_to_keep: score only the last this many positions (0 = all).
            return_dict: ``None`` or True: :class:`~paddle_electra.model.outputs.CausalLMOutput`
                (HF's default); False: the tuple ``(loss?, logits, cache?, hidden?, attentions?)``.

        Raises:
            ValueError: both or neither of input_ids / inputs_embeds, cross-attention
                inputs, both ``past_key_values`` and ``cache``, or ``labels`` with
                ``logits_to_keep``.
        """
        if encoder_hidden_states is not None or encoder_attention_mask is not None:
            raise ValueError("ElectraForCausalLM here has no cross-attention (add_cross_attention is not "
                             "supported): pass neither encoder_hidden_states nor encoder_attention_mask")
        if cache is not None:
            if past_key_values is not None:
                raise ValueError("pass the cache as past_key_values or as cache, not both")
            past_key_values = cache
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if isinstance(logits_to_keep, bool) or not isinstance(logits_to_keep, int) or logits_to_keep < 0:
            raise ValueError(f"logits_to_keep must be an int >= 0, got {logits_to_keep!r}")
        labels = to_input_tensor("labels", labels)
        if labels is not None:
            if logits_to_keep:
                raise ValueError("labels need the scores of every position; do not pass logits_to_keep with them")
            use_cache = False
        out = self.electra(input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds,
                           past_key_values=past_key_values, use_cache=use_cache,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                           return_dict=True)
        hidden = out.last_hidden_state
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        word_emb = self.electra.embeddings.word_embeddings.weight  # [V, E], tied
        logits = paddle.matmul(self.generator_predictions(hidden), word_emb, transpose_y=True)
        logits = logits + self.generator_lm_head_bias
        loss = None
        if labels is not None:
            vocab = logits.shape[-1]
            loss = masked_cross_entropy(logits[:, :-1].reshape([-1, vocab]), labels[:, 1:].reshape([-1]))
        return pack_outputs(CausalLMOutput, True if return_dict is None else return_dict, loss=loss,
                            logits=logits, past_key_values=out.past_key_values,
                            hidden_states=out.hidden_states, attentions=out.attentions)

    @paddle.no_grad()
    def generate(self, input_ids, attention_mask=None, max_new_tokens: int = 20, eos_token_id: Optional[int] = None,
                 pad_token_id: Optional[int] = None, use_cache: bool = True):
        """Greedy decoding, as HF's ``generate(do_sample=False)``; returns prompt + new ids [B, L + n].

        Positions follow HF: counted over the attended tokens of each row
        (``cumsum(attention_mask) - 1``), so left-padded prompts decode as if
        unpadded. A row that produced ``eos_token_id`` continues with
        ``pad_token_id`` (default ``config.pad_token_id``); decoding stops early
        once every row has.

        Args:
            input_ids: int [B, L] prompts (left-pad them for a batch).
            attention_mask: [B, L] 1 = token, 0 = padding; default all 1.
            max_new_tokens: tokens to add (>= 1).
            use_cache: reuse keys / values between steps (same tokens, faster).

        Raises:
            ValueError: ``max_new_tokens`` < 1 or a prompt longer than the model allows.
        """
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
        ids = to_input_tensor("input_ids", input_ids)
        if ids is None or ids.ndim != 2:
            raise ValueError("generate needs input_ids of shape [batch, seq_len]")
        mask = paddle.ones(ids.shape, dtype="int64") if attention_mask is None else \
            to_input_tensor("attention_mask", attention_mask, "mask").astype("int64")
        if list(mask.shape) != list(ids.shape):
            raise ValueError(f"attention_mask has shape {list(mask.shape)} but input_ids has shape {list(ids.shape)}")
        if ids.shape[1] + max_new_tokens > self.config.max_position_embeddings:
            raise ValueError(f"{ids.shape[1]} prompt + {max_new_tokens} new tokens exceed "
                             f"max_position_embeddings={self.config.max_position_embeddings}")
        pad = self.config.pad_token_id if pad_token_id is None else pad_token_id
        positions = paddle.where(mask == 0, paddle.zeros_like(mask), paddle.cumsum(mask, axis=-1) - 1)
        done = paddle.zeros([ids.shape[0]], dtype="bool")
        step_ids, step_pos, past = ids, positions, None
        for _ in range(max_new_tokens):
            out = self(step_ids, attention_mask=mask, position_ids=step_pos, past_key_values=past,
                       use_cache=use_cache, logits_to_keep=1)
            token = paddle.argmax(out.logits[:, -1], axis=-1).astype(ids.dtype)
            token = paddle.where(done, paddle.full_like(token, pad), token)
            ids = paddle.concat([ids, token.unsqueeze(-1)], axis=-1)
            mask = paddle.concat([mask, paddle.ones([mask.shape[0], 1], dtype=mask.dtype)], axis=-1)
            positions = paddle.concat([positions, positions[:, -1:] + 1], axis=-1)
            if eos_token_id is not None:
                done = done | (token == eos_token_id)
                if bool(done.all()):
                    break
            if use_cache:
                step_ids, step_pos, past = token.unsqueeze(-1), positions[:, -1:], out.past_key_values
            else:
                step_ids, step_pos = ids, positions
        return ids
