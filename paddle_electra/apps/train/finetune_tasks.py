"""What differs between fine-tuning tasks: head class, labels, encoding, output handling, metric.

One :class:`~.task_spec.TaskSpec` subclass per task (question answering's is in
:mod:`.finetune_qa`); :data:`TASK_SPECS` maps task names to them and
:func:`make_spec` picks one. The training loop in :mod:`.finetune` only talks
to this interface. Imports point one way: this module imports :mod:`.task_spec`
and :mod:`.finetune_qa`, and neither imports it.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Type

import numpy as np

from . import finetune_data as fd
from .finetune_qa import QuestionAnsweringSpec
from .metrics import accuracy, entity_scores
from .task_spec import TaskSpec  # also re-exported: finetune.py names it ft.TaskSpec


class _LabelledSpec(TaskSpec):
    """Tasks with named labels: the names come from the dataset or the training split, sorted."""

    def __init__(self, cfg, splits, labels=None):
        super().__init__(cfg, splits, labels)
        self.labels = list(labels) if labels else fd.label_names(self.task, splits["train"])
        self.label2id = {name: i for i, name in enumerate(self.labels)}
        self.id2label = dict(enumerate(self.labels))
        for name, examples in splits.items():
            fd.check_labels(self.task, examples, self.label2id, name)

    def config_overrides(self):
        return {"num_labels": len(self.labels), "id2label": self.id2label}


class ClassificationSpec(_LabelledSpec):
    """Sentence (pair) classification, scored by accuracy."""

    task = "text-classification"
    main_metric = "accuracy"

    @property
    def model_class(self):
        from ...model.modeling import ElectraForSequenceClassification

        return ElectraForSequenceClassification

    def config_overrides(self):
        return dict(super().config_overrides(), problem_type="single_label_classification")

    def encode(self, examples, tokenizer, train):
        return fd.encode_classification(examples, tokenizer, self.label2id, self.cfg.max_length)

    def score(self, examples, features, outputs):
        preds = [int(np.argmax(o)) for o in outputs]
        return {"accuracy": accuracy(preds, [f["label"] for f in features]), "count": len(features)}


class TokenClassificationSpec(_LabelledSpec):
    """BIO tagging, scored by entity-level F1 over whole sentences (word level)."""

    task = "token-classification"
    main_metric = "f1"

    @property
    def model_class(self):
        from ...model.modeling import ElectraForTokenClassification

        return ElectraForTokenClassification

    def encode(self, examples, tokenizer, train):
        return fd.encode_token_classification(examples, tokenizer, self.label2id, self.cfg.max_length)

    def unpad(self, outputs, length):
        return np.argmax(outputs[0][:length], axis=-1)

    def score(self, examples, features, outputs):
        predicted = fd.tags_from_predictions(examples, features, outputs, self.id2label)
        scores = entity_scores([ex["labels"] for ex in examples], predicted)
        scores["count"] = len(examples)
        return scores


class MultipleChoiceSpec(TaskSpec):
    """Pick one of ``C`` choices, scored by accuracy."""

    task = "multiple-choice"
    main_metric = "accuracy"

    def __init__(self, cfg, splits, labels=None):
        super().__init__(cfg, splits, labels)
        counts = {len(ex["choices"]) for examples in splits.values() for ex in examples}
        if len(counts) != 1:
            raise fd.DataError(f"the splits have different numbers of choices {sorted(counts)}; "
                               "every example needs the same number")
        self.num_choices = counts.pop()

    @property
    def model_class(self):
        from ...model.modeling import ElectraForMultipleChoice

        return ElectraForMultipleChoice

    def config_overrides(self):
        return {"num_choices": self.num_choices}

    def encode(self, examples, tokenizer, train):
        return fd.encode_multiple_choice(examples, tokenizer, self.cfg.max_length)

    def score(self, examples, features, outputs):
        preds = [int(np.argmax(o)) for o in outputs]
        return {"accuracy": accuracy(preds, [f["label"] for f in features]), "count": len(features)}


# task name -> spec class: the one task table
TASK_SPECS: Dict[str, Type[TaskSpec]] = {
    cls.task: cls for cls in (ClassificationSpec, TokenClassificationSpec, MultipleChoiceSpec, QuestionAnsweringSpec)}


def make_spec(cfg, splits: Dict[str, List[Dict]], labels: Optional[List[str]] = None) -> TaskSpec:
    """The :class:`~.task_spec.TaskSpec` of ``cfg.task``.

    Args:
        cfg: the fine-tuning config (its ``task`` picks the spec).
        splits: split name -> examples (labelled specs read their label names from ``"train"``).
        labels: label names to use instead of those found in the training split.

    Raises:
        KeyError: ``cfg.task`` is not a key of :data:`TASK_SPECS`.
    """
    return TASK_SPECS[cfg.task](cfg, splits, labels)
