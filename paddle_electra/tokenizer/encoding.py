"""The encoding entry points, with PaddleNLP 2.8.1's signatures.

``__call__``, ``encode`` (``encode_plus``), ``batch_encode`` and ``prepare_for_model``.

``encode`` returns the encoding (a :class:`BatchEncoding`), as PaddleNLP's
does (HF's returns only the ids: ``tok.encode(text)["input_ids"]`` is HF's
``tok.encode(text)``). Which inputs are a batch follows PaddleNLP: for
``__call__`` a list of texts is a batch, and with ``is_split_into_words`` a
list of lists of words is; ``encode`` takes one text, one list of words /
tokens, or one list of ids; ``batch_encode`` takes a list of texts or of
``(text, text_pair)`` pairs.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any, List, Optional

from .options import check_text
from .vocab import TokenizerInputError


class EncodingMixin:
    """Public encoding methods; the work is :mod:`.assembly`'s and :mod:`.padding`'s."""

    def __call__(self, text, text_pair=None, max_length: Optional[int] = None, stride: int = 0,
                 is_split_into_words=False, padding=False, truncation=False, return_position_ids=None,
                 return_token_type_ids=None, return_attention_mask=None, return_length: bool = False,
                 return_overflowing_tokens: bool = False, return_special_tokens_mask: bool = False,
                 return_dict: bool = True, return_offsets_mapping: bool = False, add_special_tokens: bool = True,
                 pad_to_multiple_of: Optional[int] = None, return_tensors=None, verbose: bool = True,
                 max_seq_len: Optional[int] = None, pad_to_max_seq_len: bool = False):
        """Encode a text, a pair, or a batch of either, as model inputs.

        Args:
            text: a ``str`` or a list of ``str`` (a batch); with
                ``is_split_into_words``, a list of words or a list of such lists.
            text_pair: the second text(s): a ``str`` / a list as long as ``text``.
            max_length: length limit counting special tokens (``max_seq_len``:
                PaddleNLP 2.x's name). Given without ``padding`` / ``truncation``,
                it truncates (``longest_first``), as in PaddleNLP and HF.
            stride: with ``return_overflowing_tokens``, how many kept tokens
                the overflowing tokens repeat; for a batch of pairs, PaddleNLP's
                question-answering windows over the second texts (each window
                a row, with ``offset_mapping`` and ``overflow_to_sample``).
            is_split_into_words: ``True``: the input is words, each tokenized
                on its own; ``"token"``: the input is tokens already.
            padding: ``False``; ``True`` / ``"longest"``; ``"max_length"`` (to
                ``max_length``, else ``model_max_length``). Side: ``padding_side``.
            truncation: ``False``; ``True`` / ``"longest_first"`` (the longer
                sequence first); ``"only_first"``; ``"only_second"``. Without
                ``max_length`` it truncates to ``model_max_length``. Side:
                ``truncation_side``. Only the head of a long text that can be
                kept is tokenized (same results), so time and memory follow
                ``max_length``, not the text's length.
            return_position_ids, return_token_type_ids, return_attention_mask:
                include those keys; ``None`` follows ``model_input_names``
                (token types and attention mask: yes; positions: no).
            return_length: include ``length`` and ``seq_len`` (a batch: before
                padding; one input: after, as in PaddleNLP).
            return_overflowing_tokens: include ``overflowing_tokens`` and
                ``num_truncated_tokens`` (PaddleNLP's; not with ``longest_first``
                on pairs).
            return_special_tokens_mask: include ``special_tokens_mask`` (1 for
                added ``[CLS]``/``[SEP]`` and padding).
            return_dict: ``False`` gives a batch as a list of dicts.
            return_offsets_mapping: include ``offset_mapping``: each token's
                ``(start, end)`` span in its text, ``(0, 0)`` for special and padding.
            add_special_tokens: add ``[CLS]`` / ``[SEP]`` (``False``: all token types 0).
            pad_to_multiple_of: round the padded length up to a multiple of this.
            return_tensors: ``None`` (lists), ``"np"`` (int64 arrays) or ``"pd"``
                (int64 Paddle tensors); one input then gets a batch axis of 1.
            verbose: warn (once per tokenizer) of inputs longer than ``model_max_length``.
            pad_to_max_seq_len: PaddleNLP 2.x: pad to ``max_length`` (or the longest).

        Returns:
            BatchEncoding: ``input_ids``, ``token_type_ids``, ``attention_mask``
            and the keys asked for; lists for one input, lists of lists for a batch.

        Raises:
            TokenizerInputError: an input that is not text (a ``TypeError`` and a ``ValueError``).
            ValueError: bad options; truncation that cannot fit; ragged tensors.
        """
        split = is_split_into_words
        if split:
            batched = isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], (list, tuple))
        else:
            batched = isinstance(text, (list, tuple))
        if batched:
            texts = list(text)
            if text_pair is not None and (not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(texts)):
                raise ValueError("text_pair must be a str for a single text, or a list as long as the batch "
                                 f"({len(texts)}) for a batch")
            pairs = list(text_pair) if text_pair is not None else None
        else:
            texts, pairs = [text], (None if text_pair is None else [text_pair])
        for name, items in (("text", texts), ("text_pair", pairs or ())):
            for i, item in enumerate(items):
                where = f"{name}[{i}]" if batched else name
                if split and not isinstance(item, str):
                    _check_words(item, where)
                elif not split or not isinstance(item, str):
                    check_text(item, where)
        if not batched and not return_dict:
            raise ValueError("return_dict=False gives a batch as a list of dicts; one input is always a dict")
        req = self._request(add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                            max_length=max_length, max_seq_len=max_seq_len, pad_to_max_seq_len=pad_to_max_seq_len,
                            stride=stride, is_split_into_words=split, pad_to_multiple_of=pad_to_multiple_of,
                            return_tensors=return_tensors, return_token_type_ids=return_token_type_ids,
                            return_attention_mask=return_attention_mask, return_position_ids=return_position_ids,
                            return_overflowing_tokens=return_overflowing_tokens,
                            return_special_tokens_mask=return_special_tokens_mask,
                            return_offsets_mapping=return_offsets_mapping, return_length=return_length,
                            return_dict=return_dict, verbose=verbose)
        with _gc_paused():  # many small lists: the cyclic GC would rescan them again and again
            return self._encode_rows(texts, pairs, batched, req)

    def encode(self, text, text_pair=None, add_special_tokens: bool = True, padding=False, truncation=False,
               max_length: Optional[int] = None, stride: int = 0, is_split_into_words=False,
               pad_to_multiple_of: Optional[int] = None, return_tensors=None, return_token_type_ids=None,
               return_attention_mask=None, return_overflowing_tokens: bool = False,
               return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
               return_length: bool = False, verbose: bool = True, return_position_ids=None,
               max_seq_len: Optional[int] = None, pad_to_max_seq_len: bool = False):
        """Encode one input (PaddleNLP's ``encode``: returns the encoding, not just the ids).

        ``text`` / ``text_pair``: a ``str``; a list of words
        (``is_split_into_words=True``); a list of tokens (``"token"``, or any
        list of ``str`` without ``is_split_into_words``); or a list of ids.
        The other arguments are :meth:`__call__`'s.

        Returns:
            BatchEncoding: the keys of :meth:`__call__` for one input.
        """
        return self._encode_one(text, text_pair, is_split_into_words, dict(
            add_special_tokens=add_special_tokens, padding=padding, truncation=truncation, max_length=max_length,
            stride=stride, pad_to_multiple_of=pad_to_multiple_of, return_tensors=return_tensors,
            return_token_type_ids=return_token_type_ids, return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask, return_offsets_mapping=return_offsets_mapping,
            return_length=return_length, verbose=verbose, return_position_ids=return_position_ids,
            max_seq_len=max_seq_len, pad_to_max_seq_len=pad_to_max_seq_len))

    encode_plus = encode

    def _encode_one(self, text, text_pair, split, options: dict, prepend: bool = True):
        for name, item in (("text", text), ("text_pair", text_pair)):
            if item is not None and not isinstance(item, (str, list, tuple)):
                raise TokenizerInputError(f"{name} must be a str, a list of str or a list of int ids, got "
                                          f"{type(item).__name__}")
        req = self._request(is_split_into_words=split, **options)
        req.prepend = prepend
        with _gc_paused():
            return self._encode_rows([text], None if text_pair is None else [text_pair], False, req)

    def batch_encode(self, batch_text_or_text_pairs, max_length: Optional[int] = None, stride: int = 0,
                     is_split_into_words=False, padding=False, truncation=False, return_position_ids=None,
                     return_token_type_ids=None, return_attention_mask=None, return_length: bool = False,
                     return_overflowing_tokens: bool = False, return_special_tokens_mask: bool = False,
                     return_dict: bool = True, return_offsets_mapping: bool = False, add_special_tokens: bool = True,
                     pad_to_multiple_of: Optional[int] = None, return_tensors=None, verbose: bool = True,
                     max_seq_len: Optional[int] = None, pad_to_max_seq_len: bool = False):
        """Encode a batch: a list of inputs, each a text or a ``(text, text_pair)`` pair (PaddleNLP's ``batch_encode``).

        With ``is_split_into_words=True`` an item that is a list of words is one
        input, and a pair is two such lists. The other arguments are
        :meth:`__call__`'s.

        Raises:
            ValueError: an item that is neither an input nor a pair of two.
        """
        if not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise TokenizerInputError("batch_encode takes a list of texts or of (text, text_pair) pairs, got "
                                      f"{type(batch_text_or_text_pairs).__name__}")
        firsts: List[Any] = []
        seconds: List[Any] = []
        for i, item in enumerate(batch_text_or_text_pairs):
            if isinstance(item, str) or (is_split_into_words and isinstance(item, (list, tuple)) and item
                                         and not isinstance(item[0], (list, tuple))):
                firsts.append(item)
                seconds.append(None)
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                firsts.append(item[0])
                seconds.append(item[1])
            else:
                raise ValueError(f"batch item {i} must be a text or a (text, text_pair) pair, got {item!r:.80}")
        req = self._request(add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                            max_length=max_length, max_seq_len=max_seq_len, pad_to_max_seq_len=pad_to_max_seq_len,
                            stride=stride, is_split_into_words=is_split_into_words,
                            pad_to_multiple_of=pad_to_multiple_of, return_tensors=return_tensors,
                            return_token_type_ids=return_token_type_ids, return_attention_mask=return_attention_mask,
                            return_position_ids=return_position_ids,
                            return_overflowing_tokens=return_overflowing_tokens,
                            return_special_tokens_mask=return_special_tokens_mask,
                            return_offsets_mapping=return_offsets_mapping, return_length=return_length,
                            return_dict=return_dict, verbose=verbose)
        with _gc_paused():
            return self._encode_rows(firsts, seconds if any(s is not None for s in seconds) else None, True, req)

    def prepare_for_model(self, ids, pair_ids=None, padding=False, truncation=False, max_length: Optional[int] = None,
                          stride: int = 0, pad_to_multiple_of: Optional[int] = None, return_tensors=None,
                          return_position_ids=None, return_token_type_ids=None, return_attention_mask=None,
                          return_length: bool = False, return_overflowing_tokens: bool = False,
                          return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                          add_special_tokens: bool = True, verbose: bool = True, prepend_batch_axis: bool = False):
        """Add special tokens, truncate and pad ids that are already tokenized (PaddleNLP / HF).

        Args:
            ids, pair_ids: lists of token ids.
            prepend_batch_axis: with ``return_tensors``, give the arrays a batch
                axis of 1 (default: 1-D, as PaddleNLP's).

        The other arguments are :meth:`__call__`'s (``return_offsets_mapping``
        raises: ids have no text).
        """
        for name, item in (("ids", ids), ("pair_ids", pair_ids)):
            if item is not None and not (isinstance(item, (list, tuple))
                                         and all(isinstance(i, int) and not isinstance(i, bool) for i in item)):
                raise TokenizerInputError(f"{name} must be a list of int token ids, got {item!r:.80}")
        return self._encode_one(list(ids), None if pair_ids is None else list(pair_ids), False, dict(
            add_special_tokens=add_special_tokens, padding=padding, truncation=truncation, max_length=max_length,
            stride=stride, pad_to_multiple_of=pad_to_multiple_of, return_tensors=return_tensors,
            return_token_type_ids=return_token_type_ids, return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask, return_offsets_mapping=return_offsets_mapping,
            return_length=return_length, verbose=verbose, return_position_ids=return_position_ids),
            prepend=prepend_batch_axis)


def _check_words(item: Any, where: str) -> None:
    if not isinstance(item, (list, tuple)) or not all(isinstance(w, str) for w in item):
        raise TokenizerInputError(f"{where} must be a list of words (str) with is_split_into_words, got "
                                  f"{item!r:.80}")


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector (nothing made here forms cycles); restore it afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
