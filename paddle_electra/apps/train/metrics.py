"""Evaluation metrics of the fine-tuning tasks, in plain Python (no seqeval / sklearn needed).

* :func:`accuracy` - sequence classification and multiple choice;
* :func:`get_entities` / :func:`entity_scores` - entity-level precision, recall
  and F1 from BIO tag sequences (micro-averaged over entity types, as seqeval
  and conlleval report them);
* :func:`qa_scores` - SQuAD / CMRC2018 exact match and F1 for Chinese and
  mixed Chinese-English answers.

Every score is a fraction in [0, 1]; reports multiply by 100.
"""

from __future__ import annotations

import collections
import re
import string
import unicodedata
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple, Union

Entity = Tuple[str, int, int]  # (type, start, end), end exclusive


def accuracy(predictions: Sequence, references: Sequence) -> float:
    """Fraction of positions where ``predictions[i] == references[i]``.

    Raises:
        ValueError: the two sequences differ in length or are empty.
    """
    if len(predictions) != len(references):
        raise ValueError(f"accuracy: {len(predictions)} predictions for {len(references)} references")
    if not references:
        raise ValueError("accuracy of an empty set is undefined")
    return sum(int(p == r) for p, r in zip(predictions, references)) / len(references)


# ------------------------------------------------------------------- entities
def _split_tag(tag: str, where: str) -> Tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``."""
    if tag == "O":
        return "O", ""
    if len(tag) > 2 and tag[0] in "BI" and tag[1] in "-_":
        return tag[0], tag[2:]
    raise ValueError(f"{where}: tag {tag!r} is not BIO (expected 'O', 'B-TYPE' or 'I-TYPE')")


def get_entities(tags: Sequence[str], where: str = "sequence") -> List[Entity]:
    """The entities of one BIO tag sequence, as ``(type, start, end)`` with ``end`` exclusive.

    ``B-X`` starts an entity and following ``I-X`` tags extend it. An ``I-X``
    that does not continue an entity of type ``X`` (after ``O``, at the start,
    or after an entity of another type) starts a new entity of type ``X``:
    conlleval's and seqeval's default rule, and the one
    :class:`paddle_electra.inference.pipelines.TokenClassificationPipeline` uses, so
    the evaluated entities are the ones the pipeline returns. (seqeval's
    ``mode="strict"`` would drop such entities instead.)

    Raises:
        ValueError: a tag that is neither ``O`` nor ``B-``/``I-`` prefixed
            (``where`` names the sequence in the message).
    """
    entities: List[Entity] = []
    kind, start = None, 0
    for i, tag in enumerate(tags):
        prefix, name = _split_tag(tag, where)
        continues = prefix == "I" and kind == name
        if kind is not None and not continues:
            entities.append((kind, start, i))
            kind = None
        if prefix == "B" or (prefix == "I" and not continues):
            kind, start = name, i
    if kind is not None:
        entities.append((kind, start, len(tags)))
    return entities


def _prf(correct: int, predicted: int, gold: int) -> Dict[str, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "correct": correct, "predicted": predicted,
            "gold": gold}


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Dict:
    """Entity-level precision / recall / F1 over a corpus of BIO sequences.

    An entity counts as correct only when its type, start and end all match a
    gold entity. Scores are micro-averaged: counts are summed over all
    sentences and types before dividing (an empty prediction set has
    precision 0). ``per_type`` holds the same scores for each entity type.

    Args:
        gold: one tag sequence per sentence.
        predicted: the predicted tags, same shape as ``gold``.

    Returns:
        ``{"precision", "recall", "f1", "correct", "predicted", "gold",
        "per_type": {TYPE: {...same keys...}}}``.

    Raises:
        ValueError: the corpora differ in sentence count or a sentence's length,
            or a tag is not BIO.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"entity_scores: {len(predicted)} predicted sentences for {len(gold)} gold ones")
    counts: Dict[str, List[int]] = collections.defaultdict(lambda: [0, 0, 0])  # correct, predicted, gold
    for i, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"entity_scores: sentence {i} has {len(g)} gold tags but {len(p)} predicted ones")
        gold_set = set(get_entities(g, f"gold sentence {i}"))
        pred_set = set(get_entities(p, f"predicted sentence {i}"))
        for kind, *_ in gold_set:
            counts[kind][2] += 1
        for entity in pred_set:
            counts[entity[0]][1] += 1
            counts[entity[0]][0] += entity in gold_set
    total = [sum(c[k] for c in counts.values()) for k in range(3)]
    out = _prf(*total)
    out["per_type"] = {kind: _prf(*c) for kind, c in sorted(counts.items())}
    return out


# ------------------------------------------------------------------------- QA
# ASCII punctuation plus the full-width / CJK marks CMRC2018's evaluation removes;
# any other Unicode punctuation (category P*) is removed as well.
_EXTRA_PUNCT = set(string.punctuation) | set("，。：？！“”；’《》‘（）、…【】—～·「」『』〈〉﹏＿．")
_WORD_RE = re.compile(r"[0-9a-z]+|\S")


def normalize_answer(text: str) -> str:
    """Lower-case, NFKC (full-width -> half-width), drop punctuation and whitespace.

    English articles are kept (SQuAD's English script removes a/an/the;
    CMRC2018's does not, and these recipes are Chinese).
    """
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if not ch.isspace() and ch not in _EXTRA_PUNCT
                   and not unicodedata.category(ch).startswith("P"))


def answer_tokens(text: str) -> List[str]:
    """Units the F1 counts: runs of ASCII letters/digits as one word, every other character alone.

    This is CMRC2018's "mixed segmentation" with characters for Chinese: for
    an all-Chinese answer F1 is character-level. Applied to the normalised
    text, except that whitespace between Latin words still separates them.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    tokens: List[str] = []
    for piece in text.split():
        cleaned = normalize_answer(piece)
        tokens.extend(_WORD_RE.findall(cleaned))  # a CJK character never joins a run: one token each
    return tokens


def exact_match(prediction: str, gold_answers: Union[str, Iterable[str]]) -> float:
    """1.0 if the normalised prediction equals a normalised gold answer, else 0.0."""
    golds = [gold_answers] if isinstance(gold_answers, str) else list(gold_answers)
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def span_f1(prediction: str, gold_answers: Union[str, Iterable[str]]) -> float:
    """Token-overlap F1 against the best-matching gold answer (bag of :func:`answer_tokens`)."""
    golds = [gold_answers] if isinstance(gold_answers, str) else list(gold_answers)
    pred = answer_tokens(prediction)
    best = 0.0
    for g in golds:
        ref = answer_tokens(g)
        if not pred or not ref:
            best = max(best, float(pred == ref))  # both empty (no-answer) is a match
            continue
        common = sum((collections.Counter(pred) & collections.Counter(ref)).values())
        if common:
            precision, recall = common / len(pred), common / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def qa_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> Dict[str, float]:
    """Mean exact match and F1 over questions (multiple gold answers: the best one counts).

    Args:
        predictions: question id -> predicted answer text.
        references: question id -> its gold answer texts.

    Returns:
        ``{"exact_match", "f1", "count"}``; a question without a prediction scores 0.

    Raises:
        ValueError: no references, or predictions for ids that have no reference.
    """
    if not references:
        raise ValueError("qa_scores: no reference answers")
    unknown = sorted(set(predictions) - set(references))
    if unknown:
        raise ValueError(f"qa_scores: predictions for unknown question ids {unknown[:5]}")
    em = f1 = 0.0
    for qid, golds in references.items():
        pred = predictions.get(qid, "")
        if qid in predictions:
            em += exact_match(pred, golds)
            f1 += span_f1(pred, golds)
    n = len(references)
    return {"exact_match": em / n, "f1": f1 / n, "count": n}
