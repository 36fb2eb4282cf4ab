"""From inputs to rows of ids: tokenize (only text heads when truncating), truncate, add special tokens.

Truncation lengths follow HF ``tokenizers`` (what ``BertTokenizerFast`` gives,
checked on real text by the tests); overflowing tokens, ``stride`` windows
over the second text of pairs and the meaning of ``add_special_tokens=False``
follow PaddleNLP 2.8.1. Padding and tensors are :mod:`.padding`'s.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .options import Request
from .vocab import TokenizerInputError

# PaddleNLP-convention messages (the too-long warning) go where PaddleNLP logs them: code (and
# PaddleNLP's own tests) watching the "PaddleNLP" logger see them, under this child name.
paddlenlp_logger = logging.getLogger("PaddleNLP.paddle_electra")
OVERFLOW_PAIR_ERROR = ("Not possible to return overflowing tokens for pair of sequences with the `longest_first`. "
                       "Please select another truncation strategy than `longest_first`, for instance `only_second` "
                       "or `only_first`.")


class AssemblyMixin:
    """Tokenizing and assembling rows; the host provides the backend, special tokens and :mod:`.padding`."""

    # ------------------------------------------------------------ tokens of texts
    def _tokenize_texts(self, texts: Sequence[str], head_limit: Optional[int], with_offsets: bool):
        """Ids (and offsets) of texts, added tokens kept whole: ``(ids, offsets or None, whole or None)``.

        ``head_limit``: tokenize only a head of texts with more tokens than
        that (``whole[i]`` tells which were tokenized whole; ``None``: all).
        Heads are used only when no added token needs matching (the backend's
        own special tokens are handled by the backend's head logic).
        """
        found = self._no_split_matcher()
        if found is None:
            if head_limit is not None:
                return self._backend.encode_batch_head(texts, head_limit, with_offsets)
            ids, offsets = self._backend.encode_batch(texts, with_offsets)
            return ids, offsets, None
        matcher, match_ids = found
        pieces: List[str] = []
        plans = []  # per text: [(piece index, start) or (None, (token id, span))]
        for text in texts:
            plan, start = [], 0
            for m in matcher.finditer(text):
                if m.start() > start:
                    plan.append((len(pieces), start))
                    pieces.append(text[start:m.start()])
                plan.append((None, (match_ids[m.lastindex - 1], m.span())))
                start = m.end()
            if start < len(text) or not plan:
                plan.append((len(pieces), start))
                pieces.append(text[start:])
            plans.append(plan)
        p_ids, p_offs = self._backend.encode_batch(pieces, with_offsets)
        out_ids, out_offs = [], []
        for plan in plans:
            ids: List[int] = []
            offs: List[Tuple[int, int]] = []
            for index, info in plan:
                if index is None:
                    ids.append(info[0])
                    offs.append(info[1])
                else:
                    ids.extend(p_ids[index])
                    if with_offsets:
                        offs.extend((a + info, b + info) for a, b in p_offs[index])
            out_ids.append(ids)
            out_offs.append(offs)
        return out_ids, (out_offs if with_offsets else None), None

    def _sequence_ids(self, items: Sequence[Any], req: Request, head_limit: Optional[int]):
        """Ids (offsets, whole flags) of each input: a text, a list of words / tokens, or a list of ids."""
        if all(isinstance(it, str) for it in items):
            return self._tokenize_texts(items, head_limit, req.offsets)
        n = len(items)
        ids: List[Any] = [None] * n
        offs: Optional[List[Any]] = [None] * n if req.offsets else None
        whole: List[bool] = [True] * n
        texts = [i for i, it in enumerate(items) if isinstance(it, str)]
        if texts:
            t_ids, t_offs, t_whole = self._tokenize_texts([items[i] for i in texts], head_limit, req.offsets)
            for j, i in enumerate(texts):
                ids[i] = t_ids[j]
                if offs is not None:
                    offs[i] = t_offs[j]
                if t_whole is not None:
                    whole[i] = t_whole[j]
        word_rows = []  # (item index, number of words): lists of words tokenized one word at a time
        words: List[str] = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                continue
            if not isinstance(item, (list, tuple)):
                raise TokenizerInputError(f"an input must be a str, a list of str or a list of int ids, got "
                                          f"{type(item).__name__}")
            if item and all(isinstance(t, str) for t in item):
                if req.split is True:
                    word_rows.append((i, len(item)))
                    words.extend(item)
                    continue
                ids[i] = self.convert_tokens_to_ids(list(item))  # tokens (PaddleNLP: is_split_into_words="token")
            elif all(isinstance(t, int) and not isinstance(t, bool) for t in item):
                if req.split is True and item:
                    raise TokenizerInputError("is_split_into_words=True takes lists of words (str), got a list of ids")
                ids[i] = self._check_ids(list(item))
            else:
                raise TokenizerInputError("a list input must hold only str (words / tokens) or only int (ids), got "
                                          f"{[type(t).__name__ for t in item][:5]}")
            if offs is not None:
                raise ValueError("return_offsets_mapping needs texts (or words with is_split_into_words=True); "
                                 "tokens and ids have no characters to point to")
        if words:  # offsets of words are relative to each word, as HF gives them
            w_ids, w_offs, _ = self._tokenize_texts(words, None, req.offsets)
            k = 0
            for i, count in word_rows:
                ids[i] = [t for row in w_ids[k:k + count] for t in row]
                if offs is not None:
                    offs[i] = [o for row in w_offs[k:k + count] for o in row]
                k += count
        return ids, offs, whole

    # ------------------------------------------------------------ rows
    def _encode_rows(self, firsts: List[Any], seconds: Optional[List[Any]], batched: bool, req: Request):
        """Tokenize, truncate, add special tokens, then pad (see :meth:`_finish`)."""
        n = len(firsts)
        pair_rows = [i for i in range(n) if seconds is not None and seconds[i] is not None]
        if req.stride and batched and pair_rows:
            if len(pair_rows) != n:
                raise ValueError("stride windows over pairs need every item of the batch to be a pair")
            return self._windows(firsts, seconds, req)
        if req.stride and not req.overflow:
            raise ValueError(f"stride={req.stride} does nothing here: it applies with return_overflowing_tokens=True, "
                             "or to a batch of pairs (question-answering windows)")
        if req.overflow and req.truncation == "longest_first" and pair_rows:
            raise ValueError(OVERFLOW_PAIR_ERROR)
        if req.add_special and (self.cls_token_id is None or self.sep_token_id is None):
            raise ValueError("add_special_tokens=True needs cls_token and sep_token; set them or pass "
                             "add_special_tokens=False")
        n_single = 2 if req.add_special else 0
        n_pair = 3 if req.add_special else 0
        head_limit = None
        if req.truncation and req.max_length is not None and self.truncation_side == "right" and not req.overflow:
            head_limit = max(0, req.max_length - (n_pair if len(pair_rows) == n and n else n_single))
        items = list(firsts) + [seconds[i] for i in pair_rows]
        ids, offs, whole = self._sequence_ids(items, req, head_limit)
        second_of = {i: n + j for j, i in enumerate(pair_rows)}
        rows: Dict[str, list] = {"input_ids": []}
        for key, wanted in (("token_type_ids", req.types), ("special_tokens_mask", req.special_mask),
                            ("offset_mapping", req.offsets), ("position_ids", req.positions)):
            if wanted:
                rows[key] = []
        if req.overflow:
            rows["overflowing_tokens"], rows["num_truncated_tokens"] = [], []
        left = self.truncation_side == "left"
        for i in range(n):
            j = second_of.get(i)
            a, b = ids[i], (ids[j] if j is not None else None)
            n_special = n_single if b is None else n_pair
            len_a, len_b = len(a), (None if b is None else len(b))
            keep_a, keep_b = len_a, len_b or 0
            if req.truncation and req.max_length is not None:
                keep_a, keep_b = self._keep(
                    items[i], items[j] if j is not None else None, a, b,
                    whole is None or whole[i], whole is None or j is None or whole[j],
                    req.max_length - n_special, req.max_length, req.truncation, i, batched, n_special)
            if req.overflow:
                self._overflow(rows, a, b, keep_a, keep_b, n_special, req, left)
            oa = offs[i] if offs is not None else None
            ob = offs[j] if offs is not None and j is not None else None
            if keep_a < len_a:
                a, oa = _cut(a, keep_a, left), (_cut(oa, keep_a, left) if oa is not None else None)
            if b is not None and keep_b < len_b:
                b, ob = _cut(b, keep_b, left), (_cut(ob, keep_b, left) if ob is not None else None)
            self._add_row(rows, a, b, oa, ob, req)
            if req.max_length is None and req.verbose and len(rows["input_ids"][-1]) > self.model_max_length:
                self._warn_too_long(len(rows["input_ids"][-1]))
        return self._finish(rows, batched, req)

    def _add_row(self, rows: Dict[str, list], a: List[int], b: Optional[List[int]], oa, ob, req: Request) -> None:
        """Append one assembled row: ``[CLS] A [SEP] (B [SEP])``, or ``A (B)`` without special tokens."""
        if req.add_special:
            cls, sep, none = self.cls_token_id, self.sep_token_id, (0, 0)
            if b is None:
                row = [cls, *a, sep]
                types, special = [0] * len(row), [1, *[0] * len(a), 1]
                offsets = [none, *oa, none] if oa is not None else None
            else:
                row = [cls, *a, sep, *b, sep]
                types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
                special = [1, *[0] * len(a), 1, *[0] * len(b), 1]
                offsets = [none, *oa, none, *ob, none] if oa is not None else None
        else:  # PaddleNLP: no special tokens, every token type 0
            row = a + (b or [])
            types = special = [0] * len(row)
            offsets = (oa + (ob or [])) if oa is not None else None
        rows["input_ids"].append(row)
        if "token_type_ids" in rows:
            rows["token_type_ids"].append(types)
        if "special_tokens_mask" in rows:
            rows["special_tokens_mask"].append(list(special))
        if "offset_mapping" in rows:
            rows["offset_mapping"].append(offsets)
        if "position_ids" in rows:
            rows["position_ids"].append(list(range(len(row))))

    def _overflow(self, rows, a, b, keep_a, keep_b, n_special, req: Request, left: bool) -> None:
        """PaddleNLP's ``overflowing_tokens`` (the cut tokens plus ``stride`` kept ones), ``num_truncated_tokens``."""
        total = len(a) + len(b or ()) + n_special
        cut, removed = (a, len(a) - keep_a) if keep_a < len(a) else (b, len(b) - keep_b) if b is not None and \
            keep_b < len(b) else (None, 0)
        over: List[int] = []
        if cut is not None:
            window = min(len(cut), req.stride + removed)
            over = list(cut[:window]) if left else list(cut[len(cut) - window:])
        rows["overflowing_tokens"].append(over)
        rows["num_truncated_tokens"].append(total - req.max_length if req.max_length is not None else 0)

    def _windows(self, firsts: List[Any], seconds: List[Any], req: Request):
        """PaddleNLP's question-answering windows: batched pairs with ``stride > 0``.

        The first text is kept whole; the second is cut into windows that fill
        ``max_length``, each starting ``min(window, stride)`` tokens after the
        previous one. Every window is a row, with ``offset_mapping`` and
        ``overflow_to_sample`` (the index of its pair); a pair with an empty
        second text gives no row, as in PaddleNLP.
        """
        if req.max_length is None:
            raise ValueError("stride with batched pairs cuts the second texts into windows of max_length tokens; "
                             "pass max_length (or max_seq_len)")
        req.offsets = True
        n = len(firsts)
        ids, offs, _ = self._sequence_ids(list(firsts) + list(seconds), req, None)
        rows: Dict[str, list] = {"input_ids": [], "offset_mapping": []}
        for key, wanted in (("token_type_ids", req.types), ("special_tokens_mask", req.special_mask),
                            ("position_ids", req.positions)):
            if wanted:
                rows[key] = []
        samples = []
        for i in range(n):
            a, b = ids[i], ids[n + i]
            room = req.max_length - len(a) - (3 if req.add_special else 0)
            if room <= 0:
                raise ValueError(f"pair {i}: its first text has {len(a)} tokens, which leaves no room for the second "
                                 f"in max_length={req.max_length}; raise max_length or shorten the first text")
            start = 0
            while start < len(b):
                length = min(len(b) - start, room)
                self._add_row(rows, a, b[start:start + length], offs[i], offs[n + i][start:start + length], req)
                samples.append(i)
                if start + length == len(b):
                    break
                start += min(length, req.stride)
        rows["overflow_to_sample"] = samples
        return self._finish(rows, True, req)

    def _warn_too_long(self, length: int) -> None:
        if not self.deprecation_warnings.get("sequence-length-is-longer-than-the-specified-maximum"):
            paddlenlp_logger.warning(
                "Token indices sequence length is longer than the specified maximum sequence length for this model "
                f"({length} > {self.model_max_length}). Running this sequence through the model will result in "
                "indexing errors")
            self.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] = True

    # ------------------------------------------------------------ truncation
    def _keep(self, text_a, text_b, a_ids, b_ids, whole_a: bool, whole_b: bool, limit: int, max_length: int,
              strategy: str, index: int, batched: bool, n_special: int) -> Tuple[int, int]:
        """:meth:`_truncate` for one input, whose texts may have been tokenized only in part.

        A text cut short (``whole_*`` false) has more than ``limit`` tokens, and
        it counts as ``limit + 1``: no kept length depends on how many more it
        has. Two exceptions need exact counts (found piece by piece, in bounded
        memory): which of two texts over the limit is longer when an odd
        ``limit`` is halved (the longer one keeps the extra token), and the
        numbers an error message quotes.
        """
        len_a = len(a_ids) if whole_a else limit + 1
        len_b = None if b_ids is None else len(b_ids) if whole_b else limit + 1
        if (not (whole_a and whole_b) and len_a > limit and (len_b or 0) > limit and strategy == "longest_first"
                and limit % 2):
            len_a, len_b = limit + 1 + self._backend.first_is_longer(text_a, text_b), limit + 1
        try:
            return self._truncate(len_a, len_b, max_length, strategy, index, batched, n_special)
        except ValueError:
            if whole_a and whole_b:
                raise
        len_a = len(a_ids) if whole_a else self._backend.count_tokens(text_a)
        len_b = None if b_ids is None else len(b_ids) if whole_b else self._backend.count_tokens(text_b)
        return self._truncate(len_a, len_b, max_length, strategy, index, batched, n_special)  # raises, real counts

    @staticmethod
    def _truncate(len_a: int, len_b: Optional[int], max_length: int, strategy: str, index: int, batched: bool,
                  n_special: int) -> Tuple[int, int]:
        """How many tokens of A and B to keep (the rules of HF ``tokenizers``)."""
        total = len_a + (len_b or 0) + n_special
        if total <= max_length:
            return len_a, len_b or 0
        where = f"input {index} " if batched else "input "
        if max_length < n_special:
            raise ValueError(f"max_length={max_length} cannot even hold the {n_special} special tokens")
        limit = max_length - n_special
        if limit == 0:
            return 0, 0
        if len_b is None:
            if strategy == "only_second":
                raise ValueError("truncation='only_second' needs a text_pair")
            return limit, 0
        if strategy == "longest_first":
            n1, n2, swap = len_a, len_b, len_a > len_b
            if swap:
                n1, n2 = n2, n1
            n2 = n1 if n1 > limit else max(n1, limit - n1)
            if n1 + n2 > limit:
                n1, n2 = limit // 2, limit // 2 + limit % 2
            return (n2, n1) if swap else (n1, n2)
        to_remove = total - max_length
        first = strategy == "only_first"
        target = len_a if first else len_b
        if target <= to_remove:
            raise ValueError(f"{where}cannot be cut to max_length={max_length} with truncation={strategy!r}: "
                             f"the {'first' if first else 'second'} sequence has only {target} tokens and "
                             f"{to_remove} must go; use truncation='longest_first'")
        return (len_a - to_remove, len_b) if first else (len_a, len_b - to_remove)


def _cut(row: list, keep: int, left: bool) -> list:
    """The ``keep`` tokens truncation leaves: the first ones, or (``truncation_side="left"``) the last ones."""
    return row[len(row) - keep:] if left else row[:keep]
