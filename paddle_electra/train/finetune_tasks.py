"""What differs between fine-tuning tasks: head class, labels, encoding, output handling, metric.

One :class:`TaskSpec` subclass per task; :func:`make_spec` picks it. The
training loop in :mod:`.finetune` only talks to this interface.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import finetune_data as fd
from .metrics import accuracy, entity_scores


class TaskSpec:
    """Interface of one task.

    Attributes:
        task: the task name (a key of :data:`.finetune_data.TASKS`).
        model_class: the head class to load / build.
        main_metric: key of :meth:`score`'s result that selects the best checkpoint.
        labels: label names (classification tasks) or ``None``.
    """

    task = ""
    main_metric = ""
    labels: Optional[List[str]] = None

    def __init__(self, cfg, splits: Dict[str, List[Dict]], labels: Optional[List[str]] = None):
        self.cfg = cfg

    @property
    def model_class(self):
        raise NotImplementedError

    def config_overrides(self) -> Dict[str, Any]:
        """Config fields the head needs (``num_labels``, ``id2label``, ``num_choices``)."""
        return {}

    def encode(self, examples: List[Dict], tokenizer, train: bool) -> List[Dict]:
        """Features (lists of ids, labels) of one split."""
        raise NotImplementedError

    def unpad(self, outputs: Sequence[np.ndarray], length: int) -> Any:
        """One feature's model outputs (one batch row each, padded) -> what :meth:`score` needs."""
        return outputs[0]

    def score(self, examples: List[Dict], features: List[Dict], outputs: List[Any]) -> Dict[str, float]:
        """The metrics of one split from its per-feature outputs."""
        raise NotImplementedError


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
        from ..modeling import ElectraForSequenceClassification

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
        from ..modeling import ElectraForTokenClassification

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
        from ..modeling import ElectraForMultipleChoice

        return ElectraForMultipleChoice

    def config_overrides(self):
        return {"num_choices": self.num_choices}

    def encode(self, examples, tokenizer, train):
        return fd.encode_multiple_choice(examples, tokenizer, self.cfg.max_length)

    def score(self, examples, features, outputs):
        preds = [int(np.argmax(o)) for o in outputs]
        return {"accuracy": accuracy(preds, [f["label"] for f in features]), "count": len(features)}


def make_spec(cfg, splits: Dict[str, List[Dict]], labels: Optional[List[str]] = None) -> TaskSpec:
    """The :class:`TaskSpec` of ``cfg.task``."""
    specs = {cls.task: cls for cls in (ClassificationSpec, TokenClassificationSpec, MultipleChoiceSpec)}
    if cfg.task == "question-answering":
        from .finetune_qa import QuestionAnsweringSpec

        return QuestionAnsweringSpec(cfg, splits, labels)
    return specs[cfg.task](cfg, splits, labels)
