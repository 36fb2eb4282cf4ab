"""The layer behind every generated PaddleHub module: PaddleHub's ``TransformerModule`` interface on paddle_electra.

A generated ``module.py`` subclasses :class:`ElectraHubLayer` under
``@moduleinfo(..., meta=TransformerModule)``, so ``hub.Module(directory=...)``
gets an ``nn.Layer`` with PaddleHub's conventions:

* ``__init__(task=None | 'seq-cls' | 'token-cls' | 'text-matching' [| 'fill-mask'],
  load_checkpoint=None, label_map=None, num_classes=None, suffix=False)``;
* ``forward`` as PaddleHub's language models (probabilities; with ``labels`` a
  ``(probs, loss, metrics)`` triple), so ``hub.Trainer`` fine-tunes it;
* ``predict(data, max_seq_len=128, split_char='\\002', batch_size=1, use_gpu=False,
  return_prob=False)``, ``get_embedding(data)``, ``get_tokenizer()``.

This module needs Paddle and paddle_electra only (never paddlehub), so the
same code runs, and is tested, with and without PaddleHub installed.
Differences from PaddleHub's own ELECTRA modules, all deliberate: inputs are
padded per batch (not to ``max_seq_len``) with an attention mask, so results do
not depend on ``batch_size``; ``get_embedding`` works for every task (it runs
the encoder) and returns unpadded token vectors; ``num_classes=None`` takes the
label count of the checkpoint.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ...inference.pipeline_base import check_batch_size
from ...loading.safety import load_paddle_pickle
from ...model.modeling import (
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraGenerator,
    ElectraModel,
)
from ...tokenizer import ElectraTokenizer

logger = logging.getLogger("paddle_electra.hubmodule")

ENCODER_TASKS = (None, "seq-cls", "token-cls", "text-matching")
GENERATOR_TASKS = (None, "fill-mask")
# PaddleHub 2.0's task names, still accepted there with a warning
_TASK_ALIASES = {"sequence_classification": "seq-cls", "token_classification": "token-cls"}


class HubTokenizer:
    """An :class:`ElectraTokenizer` that also takes PaddleNLP 2.x's call, as PaddleHub passes it.

    PaddleHub's ``TransformerModule`` and its fine-tuning datasets call
    ``tokenizer(text=..., text_pair=..., max_seq_len=N, pad_to_max_seq_len=True,
    is_split_into_words=..., return_length=True)`` and read ``input_ids``,
    ``token_type_ids`` and ``seq_len``; ``reseg_token_label`` calls
    ``tokenizer._tokenize(word)``. Everything else is the wrapped tokenizer's.
    """

    def __init__(self, tokenizer: ElectraTokenizer):
        self.tokenizer = tokenizer

    def __getattr__(self, name: str):
        return getattr(self.__dict__["tokenizer"], name)

    def _tokenize(self, text: str) -> List[str]:
        return self.tokenizer.tokenize(text)

    def __call__(self, text, text_pair=None, max_seq_len: Optional[int] = None, pad_to_max_seq_len: bool = False,
                 is_split_into_words: bool = False, return_length: bool = False, **kwargs):
        paddlenlp_style = pad_to_max_seq_len or is_split_into_words or return_length
        if not paddlenlp_style:
            return self.tokenizer(text, text_pair, max_seq_len=max_seq_len, **kwargs)
        if not isinstance(text, (str, list, tuple)) or (isinstance(text, (list, tuple)) and not is_split_into_words):
            raise TypeError("PaddleNLP-style calls (pad_to_max_seq_len / is_split_into_words / return_length) take "
                            "one text (or one list of words with is_split_into_words=True)")
        tok = self.tokenizer
        ids_a = self._ids(text, is_split_into_words)
        ids_b = None if text_pair is None else self._ids(text_pair, is_split_into_words)
        if max_seq_len is not None:  # PaddleNLP 2.x truncates whenever max_seq_len is given
            budget = max_seq_len - tok.num_special_tokens_to_add(pair=ids_b is not None)
            if budget < 1:
                raise ValueError(f"max_seq_len={max_seq_len} leaves no room for text")
            while len(ids_a) + len(ids_b or ()) > budget:  # longest first, as PaddleNLP
                if ids_b is not None and len(ids_b) > len(ids_a):
                    ids_b.pop()
                else:
                    ids_a.pop()
        input_ids = tok.build_inputs_with_special_tokens(ids_a, ids_b)
        token_type_ids = tok.create_token_type_ids_from_sequences(ids_a, ids_b)
        out = {"input_ids": input_ids, "token_type_ids": token_type_ids}
        if return_length:
            out["seq_len"] = len(input_ids)
        if pad_to_max_seq_len and max_seq_len is not None:
            pad = max_seq_len - len(input_ids)
            out["input_ids"] = input_ids + [tok.pad_token_id] * pad
            out["token_type_ids"] = token_type_ids + [0] * pad
        return out

    def _ids(self, text, split_into_words: bool) -> List[int]:
        if split_into_words and isinstance(text, (list, tuple)):
            tokens = [piece for word in text for piece in self.tokenizer.tokenize(word)]
        else:
            tokens = self.tokenizer.tokenize(text)
        return list(self.tokenizer.convert_tokens_to_ids(tokens))


def _as_pairs(data, needs_pairs: bool, single: bool = False) -> Tuple[List[str], Optional[List[str]]]:
    """PaddleHub's ``data`` (``[[text], ...]`` or ``[[text_a, text_b], ...]``; bare strings accepted) as two lists.

    ``single``: the task reads one text per item (fill-mask), so pairs are an error.
    """
    if isinstance(data, str) or not isinstance(data, (list, tuple)):
        raise TypeError(f"data must be a list of [text] or [text_a, text_b] lists, got {type(data).__name__}")
    rows = [[row] if isinstance(row, str) else row for row in data]
    widths = set()
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or not 1 <= len(row) <= 2 or not all(isinstance(t, str) for t in row):
            raise TypeError(f"data[{i}] must be [text] or [text_a, text_b] (strings), got {row!r:.80}")
        if not all(t.strip() for t in row):
            raise ValueError(f"data[{i}] holds an empty text")
        widths.add(len(row))
    if needs_pairs and widths - {2}:
        raise ValueError("text-matching needs two texts per item: [[query, title], ...]")
    if single and 2 in widths:
        raise ValueError("fill-mask reads one text per item: [[text], ...], not pairs")
    if len(widths) > 1:
        raise ValueError("data mixes single texts and pairs; send one kind per call")
    first = [r[0] for r in rows]
    second = [r[1] for r in rows] if widths == {2} else None
    return first, second


def int_keys(label_map: Dict) -> Dict:
    """``label_map`` with its integer-looking string keys as ints: hub serving's JSON config turns the ids into
    strings, and PaddleHub converts them back."""
    return {int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k: v for k, v in label_map.items()}


def check_predict_options(task: Optional[str], return_prob: bool, top_k: Optional[int]) -> None:
    """Refuse ``predict`` options the module's task would not use (rather than ignore them)."""
    if top_k is not None and task != "fill-mask":
        raise ValueError(f"top_k is a fill-mask option; this module's task is {task!r}")
    if return_prob and task in (None, "fill-mask"):
        raise ValueError(f"return_prob is for the classification tasks; this module's task is {task!r} "
                         "(fill-mask candidates carry their scores)")


def label_row(task: str, probs: np.ndarray, special_tokens_mask: Sequence[int], label_map: Dict) -> Tuple[Any, list]:
    """One input's answer: seq-cls ``probs`` ``[n_classes]`` -> ``(label, probs)``; token-cls ``probs``
    ``[n_tokens, n_classes]`` (padding may follow) -> the labels and probabilities of its tokens, special tokens
    left out."""
    if task == "token-cls":
        keep = [k for k, s in enumerate(special_tokens_mask) if not s]
        return [label_map[int(c)] for c in probs[keep].argmax(-1)], probs[keep].tolist()
    return label_map[int(probs.argmax())], probs.tolist()


def embedding_row(hidden: np.ndarray) -> list:
    """PaddleHub's ``[pooled, sequence]`` of one input's last hidden states ``[n_tokens, H]`` (padding removed)."""
    return [hidden[0].tolist(), hidden.tolist()]


class ElectraHubLayer(nn.Layer):
    """The model of a generated PaddleHub module (see the module docstring).

    Args:
        source: the model folder shipped inside the module, or a published name
            (downloaded by paddle_electra at first use).
        task: ``None`` (embeddings), ``'seq-cls'``, ``'token-cls'``,
            ``'text-matching'``, or for generator modules ``'fill-mask'``.
        load_checkpoint: a ``.pdparams`` state dict of this layer (e.g. from
            ``hub.Trainer``) loaded after the weights.
        label_map: ``{id: label}`` for the classification tasks; default: the
            checkpoint's ``id2label`` (``LABEL_i`` when it has none).
        num_classes: label count of a new head; default ``len(label_map)``, else the checkpoint's.
        suffix: token-cls metric: labels are ``X-B`` style (``ChunkEvaluator(suffix=True)``).
        kwargs: passed to ``from_pretrained`` (e.g. ``ignore_mismatched_sizes=True``).

    Raises:
        ValueError: a task this module does not support.
    """

    TASKS: Sequence[Optional[str]] = ENCODER_TASKS

    def __init__(self, source: str, task: Optional[str] = None, load_checkpoint: Optional[str] = None,
                 label_map: Optional[Dict] = None, num_classes: Optional[int] = None, suffix: bool = False,
                 **kwargs: Any):
        nn.Layer.__init__(self)
        task = _TASK_ALIASES.get(task, task)
        if task not in self.TASKS:
            raise ValueError(f"unknown task {task!r}; this module supports {list(self.TASKS)}")
        self.task, self.source, self.suffix = task, source, suffix
        if label_map:
            label_map = int_keys(label_map)
            num_classes = num_classes or len(label_map)
        head_kwargs = dict(kwargs)
        if num_classes is not None:
            head_kwargs["num_labels"] = int(num_classes)
        if task == "seq-cls":
            self.model = ElectraForSequenceClassification.from_pretrained(source, **head_kwargs)
        elif task == "token-cls":
            self.model = ElectraForTokenClassification.from_pretrained(source, **head_kwargs)
        elif task == "fill-mask":
            self.model = ElectraGenerator.from_pretrained(source, **kwargs)
        else:
            self.model = ElectraModel.from_pretrained(source, **kwargs)
        config = self.model.config
        if task == "text-matching":  # as PaddleHub's modules: [u, v, |u - v|] of mean-pooled tokens -> 2 classes
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.classifier = nn.Linear(config.hidden_size * 3, num_classes or 2)
        if task in ("seq-cls", "token-cls", "text-matching"):
            n = config.num_labels if task != "text-matching" else (num_classes or 2)
            self.label_map = label_map or {i: (config.id2label or {}).get(i, f"LABEL_{i}") for i in range(n)}
            self.num_classes = len(self.label_map)
        else:
            self.label_map, self.num_classes = label_map, num_classes
        self.tokenizer = ElectraTokenizer.from_pretrained(source)
        self.metric = self._make_metric()
        if load_checkpoint is not None:
            if not os.path.isfile(load_checkpoint):
                raise FileNotFoundError(f"load_checkpoint={load_checkpoint} is not a file")
            self.set_state_dict(load_paddle_pickle(load_checkpoint))  # never runs code from the file
            logger.info("loaded parameters from %s", os.path.abspath(load_checkpoint))
        self.eval()

    def _make_metric(self):
        if self.task in ("seq-cls", "text-matching"):
            return paddle.metric.Accuracy()
        if self.task == "token-cls":
            try:  # the chunk F1 PaddleHub reports; paddlenlp comes with paddlehub
                from paddlenlp.metrics import ChunkEvaluator
            except ImportError:
                return None
            return ChunkEvaluator(label_list=[self.label_map[i] for i in sorted(self.label_map)], suffix=self.suffix)
        return None

    @staticmethod
    def _count(value) -> int:
        return int(np.asarray(value.numpy() if hasattr(value, "numpy") else value).sum())

    # ------------------------------------------------------------------ forward (training and predict)
    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, attention_mask=None,
                query_input_ids=None, query_token_type_ids=None, query_position_ids=None, query_attention_mask=None,
                title_input_ids=None, title_token_type_ids=None, title_position_ids=None, title_attention_mask=None,
                seq_lengths=None, labels=None):
        """PaddleHub's convention: probabilities (logits for fill-mask, hidden states for ``task=None``);
        with ``labels`` (classification tasks) ``(probs, loss, {metric: value})``."""
        if self.task == "text-matching":
            q = self._mean_tokens(query_input_ids, query_token_type_ids, query_position_ids, query_attention_mask)
            t = self._mean_tokens(title_input_ids, title_token_type_ids, title_position_ids, title_attention_mask)
            logits = self.classifier(paddle.concat([q, t, paddle.abs(q - t)], axis=-1))
        else:
            logits = self.model(input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                                attention_mask=attention_mask)
        if self.task in (None, "fill-mask"):
            return logits
        probs = F.softmax(logits, axis=-1)
        if labels is None:
            return probs
        if self.task == "token-cls":
            loss = F.cross_entropy(logits, labels.unsqueeze(-1) if labels.ndim == 2 else labels)
            if self.metric is None:
                return probs, loss, {}
            preds = probs.argmax(axis=-1)
            counts = self.metric.compute(None, seq_lengths, preds, labels)
            self.metric.update(*[self._count(c) for c in counts])  # scalars: numpy 2 refuses 1-element arrays
            _, _, f1 = map(float, self.metric.accumulate())
            return probs, loss, {"f1_score": f1}
        loss = F.cross_entropy(logits, labels)
        acc = self.metric.update(self.metric.compute(probs, labels))
        return probs, loss, {"acc": acc}

    def _mean_tokens(self, ids, types, positions, mask):
        h = self.dropout(self.model(ids, token_type_ids=types, position_ids=positions, attention_mask=mask))
        keep = (ids != self.model.config.pad_token_id).astype(h.dtype).unsqueeze(2) if mask is None else \
            mask.astype(h.dtype).unsqueeze(2)
        return (h * keep).sum(axis=1) / keep.sum(axis=1)

    def _encoder(self):
        return self.model if isinstance(self.model, ElectraModel) else self.model.electra

    # ------------------------------------------------------------------ batching
    def _batches(self, texts: List[str], pairs: Optional[List[str]], max_seq_len: int, batch_size: int):
        """``(rows, encodings, ids, types, mask)`` per batch, in input order, padded per batch."""
        check_batch_size(batch_size)
        limit = min(int(max_seq_len), self.model.config.max_position_embeddings)
        enc = self.tokenizer(texts, pairs, max_length=limit, truncation=True, return_special_tokens_mask=True)
        n = len(texts)
        for start in range(0, n, batch_size):
            rows = list(range(start, min(n, start + batch_size)))
            width = max(len(enc["input_ids"][i]) for i in rows)
            ids = np.full((len(rows), width), self.tokenizer.pad_token_id, dtype="int64")
            types = np.zeros_like(ids)
            mask = np.zeros_like(ids)
            for r, i in enumerate(rows):
                k = len(enc["input_ids"][i])
                ids[r, :k], types[r, :k], mask[r, :k] = enc["input_ids"][i], enc["token_type_ids"][i], 1
            yield rows, enc, paddle.to_tensor(ids), paddle.to_tensor(types), paddle.to_tensor(mask)

    @staticmethod
    def _set_device(use_gpu: bool) -> None:
        paddle.set_device("gpu" if use_gpu else "cpu")

    # ------------------------------------------------------------------ PaddleHub API
    def predict(self, data, max_seq_len: int = 128, split_char: str = "\002", batch_size: int = 1,
                use_gpu: bool = False, return_prob: bool = False, top_k: Optional[int] = None):
        """Predict, as PaddleHub's ``TransformerModule.predict``.

        Args:
            data: ``[[text], ...]`` (``[[text_a, text_b], ...]`` for pairs and
                text-matching); bare strings are taken as ``[text]``.
            max_seq_len: tokens per input, special tokens included (longer inputs are cut).
            split_char: token-cls: the character separating pre-split words (read as a space).
            batch_size: inputs per forward pass.
            use_gpu: run on the GPU.
            return_prob: classification tasks: also return the probabilities.
            top_k: fill-mask: candidates per ``[MASK]`` (default 5).

        Returns:
            seq-cls / text-matching: the label per input (and ``[n_classes]``
            probabilities each); token-cls: per input the label of each token,
            special tokens left out (and ``[n_tokens, n_classes]`` probabilities);
            ``task=None``: :meth:`get_embedding`'s result; fill-mask: per text and
            ``[MASK]`` the top-k ``{token, token_id, score, sequence}`` (paddle_electra's fill-mask pipeline).
        """
        check_predict_options(self.task, return_prob, top_k)
        self._set_device(use_gpu)
        if self.task is None:
            return self.get_embedding(data, use_gpu=use_gpu, max_seq_len=max_seq_len, batch_size=batch_size)
        if self.task == "fill-mask":
            from ...inference.pipelines import pipeline

            texts, _ = _as_pairs(data, False, single=True)
            if not texts:
                return []
            pipe = pipeline("fill-mask", model=self.model, tokenizer=self.tokenizer, batch_size=batch_size,
                            max_length=min(int(max_seq_len), self.model.config.max_position_embeddings),
                            truncation=True, top_k=5 if top_k is None else top_k)
            return pipe(texts)
        texts, pairs = _as_pairs(data, self.task == "text-matching")
        if not texts:
            return ([], []) if return_prob else []
        if self.task == "token-cls" and split_char:  # pre-split words: a space keeps English words apart
            texts = [t.replace(split_char, " ") for t in texts]
        labels: List[Any] = []
        probs_out: List[Any] = []
        self.eval()
        with paddle.no_grad():
            if self.task == "text-matching":
                for q_batch, t_batch in zip(self._batches(texts, None, max_seq_len, batch_size),
                                            self._batches(pairs, None, max_seq_len, batch_size)):
                    probs = self(query_input_ids=q_batch[2], query_token_type_ids=q_batch[3],
                                 query_attention_mask=q_batch[4], title_input_ids=t_batch[2],
                                 title_token_type_ids=t_batch[3], title_attention_mask=t_batch[4]).numpy()
                    labels += [self.label_map[int(i)] for i in probs.argmax(-1)]
                    probs_out += probs.tolist()
            else:
                for rows, enc, ids, types, mask in self._batches(texts, pairs, max_seq_len, batch_size):
                    probs = self(ids, token_type_ids=types, attention_mask=mask).numpy()
                    for r, i in enumerate(rows):
                        label, row = label_row(self.task, probs[r], enc["special_tokens_mask"][i], self.label_map)
                        labels.append(label)
                        probs_out.append(row)
        return (labels, probs_out) if return_prob else labels

    def get_embedding(self, data, use_gpu: bool = False, max_seq_len: int = 128, batch_size: int = 1):
        """Sentence and token embeddings of the encoder (whatever the task).

        Returns:
            per input ``[cls_vector, token_vectors]``: the last hidden state of
            ``[CLS]`` (``[H]``; ELECTRA has no pooler) and of every token,
            special tokens included, padding removed (``[n_tokens, H]``),
            PaddleHub's ``[pooled, sequence]`` order.
        """
        self._set_device(use_gpu)
        texts, pairs = _as_pairs(data, False)
        if not texts:
            return []
        encoder = self._encoder()
        out: List[Any] = []
        self.eval()
        with paddle.no_grad():
            for rows, enc, ids, types, mask in self._batches(texts, pairs, max_seq_len, batch_size):
                hidden = encoder(ids, token_type_ids=types, attention_mask=mask).numpy()
                out += [embedding_row(hidden[r, :len(enc["input_ids"][i])]) for r, i in enumerate(rows)]
        return out

    def get_tokenizer(self, *args, **kwargs) -> HubTokenizer:
        """The module's tokenizer, callable paddle_electra's way and PaddleNLP 2.x's way (as PaddleHub calls it)."""
        return HubTokenizer(self.tokenizer)

    def serve(self, data, max_seq_len: int = 128, batch_size: int = 1, use_gpu: bool = False):
        """What ``hub serving`` returns: labels (classification), embeddings (``task=None``), fill-mask candidates."""
        if self.task is None:
            return self.get_embedding(data, use_gpu=use_gpu, max_seq_len=max_seq_len, batch_size=batch_size)
        return self.predict(data, max_seq_len=max_seq_len, batch_size=batch_size, use_gpu=use_gpu)


__all__ = ["ElectraHubLayer", "HubTokenizer", "ENCODER_TASKS", "GENERATOR_TASKS", "label_row", "embedding_row"]
