"""Extractive QA fine-tuning (SQuAD / CMRC2018): the :class:`~.task_spec.TaskSpec` for question answering.

Windows, answer labels and span decoding are :mod:`paddle_electra.inference.qa`'s (doc
stride, offset mapping, best span over all windows); this module adapts them
to the training loop: questions longer than ``max_query_length`` tokens are
cut, every window becomes a feature (a window without the whole answer is
labelled ``[CLS]``, as in the SQuAD v1 recipes), and predictions are scored
with :func:`~.metrics.qa_scores` (EM and F1, best over the gold answers).
"""

from __future__ import annotations

from typing import Dict, List

from .metrics import qa_scores
from .task_spec import TaskSpec


class QuestionAnsweringSpec(TaskSpec):
    """Extractive QA, scored by F1 (and exact match)."""

    task = "question-answering"
    main_metric = "f1"

    @property
    def model_class(self):
        from ...model.modeling import ElectraForQuestionAnswering

        return ElectraForQuestionAnswering

    def _questions(self, examples: List[Dict], tokenizer) -> List[str]:
        """The questions, each cut after its ``max_query_length``-th token (the window needs room for context)."""
        from ...inference import qa

        limit = self.cfg.max_query_length
        if limit is None or limit < 1:
            raise ValueError(f"max_query_length must be >= 1, got {limit}")
        if limit + 4 > self.cfg.max_length:
            raise ValueError(f"max_query_length={limit} leaves no room for the context in max_length="
                             f"{self.cfg.max_length} (3 special tokens and at least 1 context token)")
        questions = [ex["question"] for ex in examples]
        ids, offsets = qa.tokenize_with_offsets(tokenizer, questions)
        return [q if len(t) <= limit else q[:offs[limit - 1][1]] for q, t, offs in zip(questions, ids, offsets)]

    def encode(self, examples, tokenizer, train):
        from ...inference import qa

        feats = qa.build_features(tokenizer, self._questions(examples, tokenizer), [ex["context"] for ex in examples],
                                  answers=[ex["answers"] for ex in examples] if train else None,
                                  max_length=self.cfg.max_length, doc_stride=self.cfg.doc_stride)
        out = []
        for f in feats:
            d = {"input_ids": f.input_ids, "token_type_ids": f.token_type_ids, "qa": f}
            if train:
                d["start_positions"], d["end_positions"] = f.start_position, f.end_position
            out.append(d)
        return out

    def unpad(self, outputs, length):
        return outputs[0][:length], outputs[1][:length]

    def score(self, examples, features, outputs):
        from ...inference import qa

        answers = qa.postprocess([f["qa"] for f in features], [o[0] for o in outputs], [o[1] for o in outputs],
                                 [ex["context"] for ex in examples], top_k=1,
                                 max_answer_len=self.cfg.max_answer_length)
        predictions = {ex["id"]: (best[0]["answer"] if best else "") for ex, best in zip(examples, answers)}
        references = {ex["id"]: [a["text"] for a in ex["answers"]] for ex in examples}
        if len(references) != len(examples):
            raise ValueError("question ids repeat within one split; every question needs its own id")
        return qa_scores(predictions, references)
