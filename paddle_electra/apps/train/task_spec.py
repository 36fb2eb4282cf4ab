"""The :class:`TaskSpec` interface: what the fine-tuning loop asks of a task.

It sits in a module of its own so that the task modules (:mod:`.finetune_tasks`,
:mod:`.finetune_qa`) build on it without importing one another; the table that
maps task names to specs (:data:`.finetune_tasks.TASK_SPECS`) is the one place
that imports them all.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np


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
