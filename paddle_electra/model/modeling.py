"""The ELECTRA heads on :class:`~paddle_electra.model.backbone.ElectraModel`, PaddleNLP's names.

Generator and discriminator (pre-training), sequence and token classification,
question answering, multiple choice. This module is also what
``paddle_electra.model.modeling`` (PaddleNLP's ``electra.modeling``) names, so the
encoder classes are imported here too.
"""

from __future__ import annotations


import paddle
import paddle.nn as nn

from .configuration import ElectraConfig
from .fast_paths import Dropout, LayerNorm, gelu
from .inputs import prepare_inputs, to_input_tensor
from .model_api import require_tied_embeddings
from .backbone import (  # noqa: F401 (the encoder's classes are PaddleNLP's modeling names too)
    ACT2FN,
    ElectraEmbeddings,
    ElectraEncoder,
    ElectraLayer,
    ElectraModel,
    ElectraSelfAttention,
    _backbone,
)
from .base import ElectraPretrainedModel
from .losses import keep_mask, masked_cross_entropy, rtd_loss, sequence_classification_loss
from .outputs import (
    ElectraForPreTrainingOutput,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
    pack_outputs,
)


Tensor = paddle.Tensor


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
        self.layer_norm = LayerNorm(config.embedding_size, epsilon=config.layer_norm_eps)

    def forward(self, hidden_states):
        # gelu regardless of hidden_act, as in the TF original and HF
        return self.layer_norm(gelu(self.dense(hidden_states)))


class ElectraDiscriminator(ElectraPretrainedModel):
    """ELECTRA with the replaced-token-detection head. Alias: ``ElectraForPreTraining``.

    Returns logits [B, L] (> 0 means "replaced"); with ``labels`` (int [B, L],
    1 = replaced) the binary cross-entropy over non-padded positions comes
    first. Arguments: see :meth:`ElectraModel.forward`.
    """

    def __init__(self, config: ElectraConfig):
        config, electra = self.resolve_config(type(self).__name__, config)
        super().__init__(config)
        self.electra = electra or ElectraModel(config)
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
        config, electra = self.resolve_config(type(self).__name__, config)
        require_tied_embeddings(type(self).__name__, config)
        super().__init__(config)
        self.electra = electra or ElectraModel(config)
        self.generator_predictions = ElectraGeneratorPredictions(config)
        self.generator_lm_head_bias = self.create_parameter(
            [config.vocab_size], is_bias=True, default_initializer=nn.initializer.Constant(0.0)
        )

    def get_output_embeddings(self):
        return self.electra.embeddings.word_embeddings

    def _resize_vocab_weights(self, old: int, new: int) -> None:
        self._resize_bias("generator_lm_head_bias", new)

    def lm_logits(self, sequence_output):
        """Vocabulary scores [..., V] of encoder outputs [..., H] (the head alone)."""
        hidden = self.generator_predictions(sequence_output)
        word_emb = self.electra.embeddings.word_embeddings.weight  # [V, E], tied
        return paddle.matmul(hidden, word_emb, transpose_y=True) + self.generator_lm_head_bias

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, attention_mask=None,
                inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False,
                return_dict=False):
        out = _backbone(self, input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds,
                        output_attentions, output_hidden_states)
        labels = to_input_tensor("labels", labels)  # token ids (-100 = ignore): integers only
        logits = self.lm_logits(out.last_hidden_state)
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
        self.dropout = Dropout(config.classifier_dropout_prob)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, sequence_output):
        x = self.dropout(sequence_output[:, 0])
        # gelu, not BERT's tanh: what the ELECTRA authors used (and HF / PaddleNLP)
        x = self.dropout(gelu(self.dense(x)))
        return self.out_proj(x)


class ElectraForSequenceClassification(ElectraPretrainedModel):
    """ELECTRA with a sentence-level head: logits [B, num_labels].

    With ``labels`` the loss follows ``config.problem_type`` (inferred like HF
    when unset: 1 label -> regression (MSE), int labels -> single-label cross
    entropy, float [B, num_labels] labels -> multi-label BCE). Arguments: see
    :meth:`ElectraModel.forward`.
    """

    legacy_init_kwargs = {"dropout": "classifier_dropout"}

    def __init__(self, config: ElectraConfig, num_classes=None, dropout=None, activation=None):
        if activation not in (None, "gelu"):
            raise ValueError(f"ElectraForSequenceClassification's head uses gelu (ELECTRA's choice), "
                             f"got activation={activation!r}")
        config, electra = self.resolve_config(type(self).__name__, config, num_labels=num_classes,
                                              classifier_dropout=dropout)
        super().__init__(config)
        self.num_labels = config.num_labels
        self.electra = electra or ElectraModel(config)
        self.classifier = ElectraClassificationHead(config)

    def lm_logits(self, sequence_output):
        """Vocabulary scores [..., V] of encoder outputs [..., H] (the head alone)."""
        hidden = self.generator_predictions(sequence_output)
        word_emb = self.electra.embeddings.word_embeddings.weight  # [V, E], tied
        return paddle.matmul(hidden, word_emb, transpose_y=True) + self.generator_lm_head_bias

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

    legacy_init_kwargs = {"dropout": "classifier_dropout"}

    def __init__(self, config: ElectraConfig, num_classes=None, dropout=None):
        config, electra = self.resolve_config(type(self).__name__, config, num_labels=num_classes,
                                              classifier_dropout=dropout)
        super().__init__(config)
        self.num_labels = config.num_labels
        self.electra = electra or ElectraModel(config)
        self.dropout = Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def lm_logits(self, sequence_output):
        """Vocabulary scores [..., V] of encoder outputs [..., H] (the head alone)."""
        hidden = self.generator_predictions(sequence_output)
        word_emb = self.electra.embeddings.word_embeddings.weight  # [V, E], tied
        return paddle.matmul(hidden, word_emb, transpose_y=True) + self.generator_lm_head_bias

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
        config, electra = self.resolve_config(type(self).__name__, config)
        super().__init__(config)
        self.electra = electra or ElectraModel(config)
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
        self.dropout = Dropout(config.classifier_dropout_prob)

    def forward(self, sequence_output):
        return self.dropout(gelu(self.dense(sequence_output[:, 0])))


class ElectraForMultipleChoice(ElectraPretrainedModel):
    """ELECTRA scoring ``num_choices`` candidates per example: logits [B, C].

    Inputs are [B, C, L] (``inputs_embeds`` [B, C, L, E]) and are flattened to
    [B*C, L] for the encoder. With ``labels`` (int [B], the right choice) the
    cross-entropy comes first. Other arguments: see :meth:`ElectraModel.forward`.
    """

    legacy_init_kwargs = {"dropout": "classifier_dropout"}

    def __init__(self, config: ElectraConfig, num_choices=None, dropout=None):
        config, electra = self.resolve_config(type(self).__name__, config, num_choices=num_choices,
                                              classifier_dropout=dropout)
        super().__init__(config)
        self.num_choices = config.num_choices
        self.electra = electra or ElectraModel(config)
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
