"""ElectraTokenizer: BERT WordPiece with PaddleNLP / HF calling conventions.

One class, two interchangeable backends that give identical results (see
:mod:`paddle_electra._wordpiece`): ``tokenizers`` (Rust, used when importable)
and a pure-Python one. Ids equal ``transformers.BertTokenizerFast``'s on the
same vocabulary.

Example:
    >>> tok = ElectraTokenizer.from_pretrained("path/to/folder")  # vocab.txt (+ tokenizer_config.json)
    >>> enc = tok(["我爱北京", "天安门"], padding=True, return_tensors="pd")
    >>> list(enc["input_ids"].shape)  # int64 tensors
    [2, 6]
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import logging
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ._io import atomic_folder, write_text
from ._wordpiece import FastWordPiece, PythonWordPiece

logger = logging.getLogger(__name__)

VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKEN_KEYS = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_CONFIG_KEYS = SPECIAL_TOKEN_KEYS + ("do_lower_case", "model_max_length", "tokenize_chinese_chars", "strip_accents")
_TRUNCATION = {True: "longest_first", "longest_first": "longest_first", "only_first": "only_first",
               "only_second": "only_second", False: None, None: None, "do_not_truncate": None}
_PADDING = {True: "longest", "longest": "longest", "max_length": "max_length", False: None, None: None,
            "do_not_pad": None}
_OUTPUT_ORDER = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping")
_DECODE_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                   (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


class BatchEncoding(dict):
    """The model inputs: a ``dict`` whose keys can also be read as attributes (``enc.input_ids``)."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def load_vocab(vocab_file: str) -> List[str]:
    """Read a ``vocab.txt``: one token per line, the line number is the id.

    Lines are split on ``\\n`` only (the Chinese BERT vocabulary holds U+2028
    as a token); a trailing ``\\r`` is dropped.

    Raises:
        ValueError: the file is missing, not UTF-8, or empty.
    """
    if not isinstance(vocab_file, (str, os.PathLike)) or not os.path.isfile(vocab_file):
        raise ValueError(f"vocabulary file {vocab_file!r} does not exist (expected a vocab.txt, one token per line)")
    try:
        with open(vocab_file, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ValueError(f"vocabulary file {vocab_file!r} is not UTF-8 text: {e}") from None
    tokens = text.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    tokens = [t[:-1] if t.endswith("\r") else t for t in tokens]
    if not tokens:
        raise ValueError(f"vocabulary file {vocab_file!r} is empty")
    return tokens


class ElectraTokenizer:
    """BERT WordPiece tokenizer for ELECTRA: the ids of HF's ``BertTokenizerFast`` on the same vocabulary.

    (PaddleNLP's Python tokenizer differs on Unicode symbols such as ``～ ° ℃``,
    which it splits off; BERT and HF, and this class, keep them inside words.)

    Args:
        vocab_file: path of a ``vocab.txt`` (one token per line).
        do_lower_case: lower-case the input (uncased models).
        unk_token, sep_token, pad_token, cls_token, mask_token: special tokens;
            each must be in the vocabulary. Written in a text, they are kept
            as single tokens.
        model_max_length: the length ``truncation=True`` / ``padding="max_length"``
            use when no ``max_length`` is given.
        tokenize_chinese_chars: make every CJK ideograph a word of its own.
        strip_accents: strip accents; ``None`` (default) follows ``do_lower_case``.
        backend: ``"auto"`` (``tokenizers`` if importable, else Python),
            ``"fast"`` or ``"python"``.

    Raises:
        ValueError: missing/empty vocabulary, special tokens absent from it,
            or an unknown ``backend``.
        ImportError: ``backend="fast"`` without the ``tokenizers`` package.
    """

    def __init__(self, vocab_file: str, do_lower_case: bool = True, unk_token: str = "[UNK]",
                 sep_token: str = "[SEP]", pad_token: str = "[PAD]", cls_token: str = "[CLS]",
                 mask_token: str = "[MASK]", model_max_length: int = 512, tokenize_chinese_chars: bool = True,
                 strip_accents: Optional[bool] = None, backend: str = "auto"):
        if backend not in ("auto", "fast", "python"):
            raise ValueError(f"backend must be 'auto', 'fast' or 'python', got {backend!r}")
        self.vocab_file = str(vocab_file)
        self._id_to_token = load_vocab(vocab_file)
        self.vocab: Dict[str, int] = {t: i for i, t in enumerate(self._id_to_token)}
        if len(self.vocab) != len(self._id_to_token):
            logger.warning("%s lists %d tokens more than once; the last id of each wins",
                           vocab_file, len(self._id_to_token) - len(self.vocab))
        self.unk_token, self.sep_token, self.pad_token = unk_token, sep_token, pad_token
        self.cls_token, self.mask_token = cls_token, mask_token
        missing = [f"{k}={getattr(self, k)!r}" for k in SPECIAL_TOKEN_KEYS if getattr(self, k) not in self.vocab]
        if missing:
            raise ValueError(f"vocabulary {vocab_file!r} lacks the special token(s) {', '.join(missing)}; "
                             "a BERT/ELECTRA vocab.txt must contain [PAD], [UNK], [CLS], [SEP] and [MASK]")
        self.do_lower_case = bool(do_lower_case)
        self.model_max_length = int(model_max_length)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.strip_accents = strip_accents
        args = (self.vocab, unk_token, self.all_special_tokens, self.do_lower_case, strip_accents,
                self.tokenize_chinese_chars)
        self._backend: Union[FastWordPiece, PythonWordPiece]
        if backend == "python":
            self._backend = PythonWordPiece(*args)
        else:
            try:
                self._backend = FastWordPiece(*args, cls_token=cls_token, sep_token=sep_token)
            except ImportError as e:
                if backend == "fast":
                    raise ImportError("backend='fast' needs the HuggingFace `tokenizers` package "
                                      "(pip install tokenizers), or use backend='python'") from e
                self._backend = PythonWordPiece(*args)

    # ------------------------------------------------------------ properties
    @property
    def backend(self) -> str:
        """``"fast"`` (HF ``tokenizers``) or ``"python"``."""
        return "fast" if isinstance(self._backend, FastWordPiece) else "python"

    @property
    def backend_tokenizer(self):
        """The ``tokenizers.Tokenizer`` of the fast backend (with BERT's post-processor), else ``None``."""
        return getattr(self._backend, "tokenizer", None)

    @property
    def vocab_size(self) -> int:
        """Number of vocabulary entries (lines of ``vocab.txt``)."""
        return len(self._id_to_token)

    def __len__(self) -> int:
        return self.vocab_size

    def get_vocab(self) -> Dict[str, int]:
        """A copy of the ``token -> id`` mapping."""
        return dict(self.vocab)

    @property
    def all_special_tokens(self) -> List[str]:
        """The special tokens, in the order unk, sep, pad, cls, mask."""
        return [getattr(self, k) for k in SPECIAL_TOKEN_KEYS]

    @property
    def all_special_ids(self) -> List[int]:
        """Ids of :attr:`all_special_tokens`."""
        return [self.vocab[t] for t in self.all_special_tokens]

    unk_token_id = property(lambda self: self.vocab[self.unk_token], doc="Id of the unknown token.")
    sep_token_id = property(lambda self: self.vocab[self.sep_token], doc="Id of the separator token.")
    pad_token_id = property(lambda self: self.vocab[self.pad_token], doc="Id of the padding token.")
    cls_token_id = property(lambda self: self.vocab[self.cls_token], doc="Id of the classifier token.")
    mask_token_id = property(lambda self: self.vocab[self.mask_token], doc="Id of the mask token.")

    def __repr__(self) -> str:
        return (f"ElectraTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
                f"model_max_length={self.model_max_length}, backend={self.backend!r})")

    # ------------------------------------------------------ tokens and ids
    def tokenize(self, text: str) -> List[str]:
        """WordPiece tokens of ``text`` (no ``[CLS]``/``[SEP]`` added)."""
        self._check_text(text, "text")
        ids, _ = self._backend.encode(text)
        return [self._id_to_token[i] for i in ids]

    def convert_tokens_to_ids(self, tokens: Union[str, Sequence[str]]) -> Union[int, List[int]]:
        """Id of a token (or ids of a list of tokens); unknown tokens get the ``[UNK]`` id."""
        unk = self.unk_token_id
        if isinstance(tokens, str):
            return self.vocab.get(tokens, unk)
        return [self.vocab.get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False) -> Union[str, List[str]]:
        """Token of an id (or tokens of a list / array / tensor of ids).

        Raises:
            ValueError: an id outside ``[0, vocab_size)``.
        """
        if isinstance(ids, int) or (hasattr(ids, "ndim") and ids.ndim == 0):
            return self._id_to_token[self._check_ids([int(ids)])[0]]
        ids = self._check_ids(_to_id_list(ids))
        special = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._id_to_token[i] for i in ids if i not in special]

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        """Join WordPiece tokens like HF's WordPiece decoder: ``##`` pieces glued, spaces elsewhere, ``" ,"`` -> ``","``."""
        out = []
        for i, tok in enumerate(tokens):
            if i:
                tok = tok[2:] if tok.startswith("##") else " " + tok
            for old, new in _DECODE_CLEANUP:
                tok = tok.replace(old, new)
            out.append(tok)
        return "".join(out)

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """Text of a sequence of ids (list, numpy array or paddle tensor), as ``BertTokenizerFast.decode``.

        CJK characters come out space-separated (``"我 爱"``) and lower-casing
        and accent stripping are not undone, as in HF.
        """
        return self.convert_tokens_to_string(self.convert_ids_to_tokens(_to_id_list(ids), skip_special_tokens))

    def batch_decode(self, sequences, skip_special_tokens: bool = False) -> List[str]:
        """:meth:`decode` for each row of a batch (list of lists, 2-D array or tensor)."""
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(s, skip_special_tokens) for s in sequences]

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """2 for ``[CLS] A [SEP]``, 3 for ``[CLS] A [SEP] B [SEP]``."""
        return 3 if pair else 2

    def build_inputs_with_special_tokens(self, ids_0: List[int], ids_1: Optional[List[int]] = None) -> List[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``."""
        out = [self.cls_token_id, *ids_0, self.sep_token_id]
        return out if ids_1 is None else out + [*ids_1, self.sep_token_id]

    def create_token_type_ids_from_sequences(self, ids_0: List[int], ids_1: Optional[List[int]] = None) -> List[int]:
        """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``."""
        return [0] * (len(ids_0) + 2) + ([] if ids_1 is None else [1] * (len(ids_1) + 1))

    def _check_ids(self, ids: List[int]) -> List[int]:
        n = self.vocab_size
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise ValueError(f"token id(s) {bad[:5]} outside the vocabulary [0, {n})")
        return ids

    @staticmethod
    def _check_text(text, name: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a str (or, for a batch, a list of str), got {type(text).__name__}")

    # --------------------------------------------------------------- encode
    def __call__(self, text: Union[str, Sequence[str]], text_pair: Union[str, Sequence[str], None] = None,
                 max_length: Optional[int] = None, max_seq_len: Optional[int] = None,
                 truncation: Union[bool, str] = False, padding: Union[bool, str] = False,
                 return_tensors: Optional[str] = None, return_attention_mask: bool = True,
                 return_token_type_ids: bool = True, return_offsets_mapping: bool = False,
                 return_special_tokens_mask: bool = False) -> BatchEncoding:
        """Encode a text, a pair, or a batch of either, as model inputs.

        Args:
            text: a ``str`` or a list of ``str`` (a batch).
            text_pair: second sequence(s): a ``str`` / a list as long as ``text``.
            max_length: length limit counting special tokens; ``max_seq_len``
                is PaddleNLP's name for it.
            truncation: ``False``; ``True`` / ``"longest_first"`` (trim the
                longer sequence first); ``"only_first"``; ``"only_second"``.
                Without ``max_length`` it truncates to ``model_max_length``.
                Only the head of a long text that can be kept is tokenized
                (same results), so time and memory follow ``max_length``,
                not the text's length (one exception in time: the two texts
                of a pair both over an odd limit are counted, in pieces, to
                find the longer, which keeps the extra token).
            padding: ``False``; ``True`` / ``"longest"`` (to the longest in the
                batch); ``"max_length"`` (to ``max_length`` or ``model_max_length``).
                Padding is on the right with ``[PAD]``, type 0, mask 0, offsets (0, 0).
            return_tensors: ``None`` (lists), ``"np"`` (int64 arrays) or ``"pd"``
                (int64 Paddle tensors); a single text then gets a batch axis of 1.
            return_attention_mask, return_token_type_ids: include those keys.
            return_offsets_mapping: include ``offset_mapping``: each token's
                ``(start, end)`` character span in its original text, ``(0, 0)``
                for special and padding tokens.
            return_special_tokens_mask: include ``special_tokens_mask`` (1 for
                added ``[CLS]``/``[SEP]``/padding).

        Returns:
            BatchEncoding: ``input_ids``, ``token_type_ids``, ``attention_mask``
            (and the optional keys); lists for one text, lists of lists for a batch.

        Raises:
            TypeError: text that is not a ``str`` / list of ``str``.
            ValueError: bad options; an input longer than ``max_length`` without
                truncation; truncation that cannot fit; ragged tensors.
        """
        batched = isinstance(text, (list, tuple))
        texts = list(text) if batched else [text]
        pairs = None
        if text_pair is not None:
            if batched != isinstance(text_pair, (list, tuple)) or (batched and len(text_pair) != len(texts)):
                raise ValueError("text_pair must be a str for a single text, or a list as long as the batch "
                                 f"({len(texts)}) for a batch")
            pairs = list(text_pair) if batched else [text_pair]
        for name, items in (("text", texts), ("text_pair", pairs or ())):
            for i, t in enumerate(items):
                if not isinstance(t, str):
                    where = f"{name}[{i}]" if batched else name
                    raise TypeError(f"{where} must be a str, got {type(t).__name__}")
        if max_seq_len is not None:
            if max_length is not None and max_length != max_seq_len:
                raise ValueError(f"max_length={max_length} and max_seq_len={max_seq_len} disagree; pass one")
            max_length = max_seq_len
        if truncation not in _TRUNCATION:
            raise ValueError(f"unknown truncation={truncation!r}; use False, True, 'longest_first', 'only_first' "
                             "or 'only_second'")
        if padding not in _PADDING:
            raise ValueError(f"unknown padding={padding!r}; use False, True, 'longest' or 'max_length'")
        trunc, pad = _TRUNCATION[truncation], _PADDING[padding]
        if return_tensors not in (None, "np", "pd"):
            raise ValueError(f"return_tensors must be None, 'np' or 'pd', got {return_tensors!r}")
        if (trunc or pad == "max_length") and max_length is None:
            max_length = self.model_max_length
        if max_length is not None and (not isinstance(max_length, int) or max_length < 0):
            raise ValueError(f"max_length must be a non-negative int, got {max_length!r}")

        with _gc_paused():  # many small lists: the cyclic GC would rescan them again and again
            return self._encode(texts, pairs, batched, max_length, trunc, pad, return_tensors, return_attention_mask,
                                return_token_type_ids, return_offsets_mapping, return_special_tokens_mask)

    def _encode(self, texts, pairs, batched, max_length, trunc, pad, return_tensors, want_mask, want_types,
                want_offsets, want_special) -> BatchEncoding:
        """Tokenize, truncate, add special tokens, pad; see :meth:`__call__`."""
        n = len(texts)
        limit = max(0, max_length - (2 if pairs is None else 3)) if max_length is not None else 0
        if trunc:  # no text keeps more than `limit` tokens: tokenize only that much of long texts
            ids_all, offs_all, whole = self._backend.encode_batch_head(texts + (pairs or []), limit, want_offsets)
        else:
            (ids_all, offs_all), whole = self._backend.encode_batch(texts + (pairs or []), want_offsets), None
        a_ids, b_ids = ids_all[:n], (ids_all[n:] if pairs is not None else None)
        a_offs, b_offs = (offs_all[:n], offs_all[n:]) if want_offsets else (None, None)
        if max_length is not None:  # truncate (or refuse to)
            keep = [self._keep(texts, pairs, a_ids, b_ids, whole, i, limit, max_length, trunc, batched)
                    for i in range(n)]
            a_ids = [r[:k[0]] for r, k in zip(a_ids, keep)]
            a_offs = a_offs and [r[:k[0]] for r, k in zip(a_offs, keep)]
            if b_ids is not None:
                b_ids = [r[:k[1]] for r, k in zip(b_ids, keep)]
                b_offs = b_offs and [r[:k[1]] for r, k in zip(b_offs, keep)]
        cls, sep, none = self.cls_token_id, self.sep_token_id, (0, 0)
        rows: Dict[str, list] = {}
        if b_ids is None:  # [CLS] A [SEP]
            rows["input_ids"] = [[cls, *a, sep] for a in a_ids]
            if want_types:
                rows["token_type_ids"] = [[0] * (len(a) + 2) for a in a_ids]
            if want_special:
                rows["special_tokens_mask"] = [[1, *[0] * len(a), 1] for a in a_ids]
            if want_offsets:
                rows["offset_mapping"] = [[none, *o, none] for o in a_offs]
        else:  # [CLS] A [SEP] B [SEP]
            rows["input_ids"] = [[cls, *a, sep, *b, sep] for a, b in zip(a_ids, b_ids)]
            if want_types:
                rows["token_type_ids"] = [[0] * (len(a) + 2) + [1] * (len(b) + 1) for a, b in zip(a_ids, b_ids)]
            if want_special:
                rows["special_tokens_mask"] = [[1, *[0] * len(a), 1, *[0] * len(b), 1] for a, b in zip(a_ids, b_ids)]
            if want_offsets:
                rows["offset_mapping"] = [[none, *o, none, *p, none] for o, p in zip(a_offs, b_offs)]
        return self._finish(rows, batched, pad, max_length, return_tensors, want_mask)

    def _keep(self, texts, pairs, a_ids, b_ids, whole, i: int, limit: int, max_length: int,
              strategy: Optional[str], batched: bool) -> Tuple[int, int]:
        """:meth:`_truncate` for input ``i``, whose texts may have been tokenized only in part.

        A text cut short (``whole[j]`` false) has more than ``limit`` tokens,
        and it counts as ``limit + 1``: no kept length depends on how many more
        it has. Two exceptions need exact counts (found piece by piece, in
        bounded memory): which of two texts over the limit is longer when an
        odd ``limit`` is halved (the longer one keeps the extra token), and the
        numbers an error message quotes.
        """
        n = len(texts)
        whole_a = whole is None or whole[i]
        whole_b = b_ids is None or whole is None or whole[n + i]
        len_a = len(a_ids[i]) if whole_a else limit + 1
        len_b = None if b_ids is None else len(b_ids[i]) if whole_b else limit + 1
        if (not (whole_a and whole_b) and len_a > limit and (len_b or 0) > limit and strategy == "longest_first"
                and limit % 2):
            len_a, len_b = limit + 1 + self._backend.first_is_longer(texts[i], pairs[i]), limit + 1
        try:
            return self._truncate(len_a, len_b, max_length, strategy, i, batched)
        except ValueError:
            if whole_a and whole_b:
                raise
        len_a = len(a_ids[i]) if whole_a else self._backend.count_tokens(texts[i])
        len_b = None if b_ids is None else len(b_ids[i]) if whole_b else self._backend.count_tokens(pairs[i])
        return self._truncate(len_a, len_b, max_length, strategy, i, batched)  # raises, quoting the real counts

    def _truncate(self, len_a: int, len_b: Optional[int], max_length: Optional[int], strategy: Optional[str],
                  index: int, batched: bool) -> Tuple[int, int]:
        """How many tokens of A and B to keep (the rules of HF ``tokenizers``)."""
        n_special = 2 if len_b is None else 3
        total = len_a + (len_b or 0) + n_special
        if max_length is None or total <= max_length:
            return len_a, len_b or 0
        where = f"input {index} " if batched else "input "
        if strategy is None:
            raise ValueError(f"{where}is {total} tokens long (special tokens included), more than "
                             f"max_length={max_length}; pass truncation=True (or a truncation strategy) "
                             "to cut it, or a larger max_length")
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

    def _finish(self, rows: Dict[str, list], batched: bool, pad: Optional[str], max_length: Optional[int],
                return_tensors: Optional[str], want_mask: bool) -> BatchEncoding:
        """Add the attention mask and pad: as lists (one text unwrapped) or as int64 tensors."""
        lengths = [len(r) for r in rows["input_ids"]]
        target = max(lengths, default=0) if pad == "longest" else max_length if pad == "max_length" else None
        if return_tensors is not None:
            return self._to_tensors(rows, lengths, target, return_tensors, want_mask)
        if want_mask:
            rows["attention_mask"] = [[1] * n for n in lengths]
        if target is not None:
            for key, value in rows.items():
                fill = self._pad_value(key)
                rows[key] = [r + [fill] * (target - len(r)) if len(r) < target else r for r in value]
        out = BatchEncoding((k, rows[k]) for k in _OUTPUT_ORDER if k in rows)
        if not batched:
            for k in out:
                out[k] = out[k][0]
        return out

    def _pad_value(self, key: str):
        return {"input_ids": self.pad_token_id, "offset_mapping": (0, 0), "special_tokens_mask": 1}.get(key, 0)

    def _to_tensors(self, rows: Dict[str, list], lengths: List[int], target: Optional[int], kind: str,
                    want_mask: bool) -> BatchEncoding:
        """``[B, L]`` int64 arrays (``[B, L, 2]`` offsets), filled row by row without padded Python lists."""
        import numpy as np

        if target is None:
            if len(set(lengths)) > 1:
                raise ValueError(f"the batch has sequences of different lengths, which cannot form one {kind!r} "
                                 "tensor; pass padding=True (or padding='max_length')")
            target = lengths[0] if lengths else 0
        valid = np.arange(target) < np.asarray(lengths, dtype=np.int64)[:, None]  # [B, L]: not padding
        total = sum(lengths)
        out = BatchEncoding()
        for key in _OUTPUT_ORDER:
            if key == "attention_mask" and want_mask:
                arr = valid.astype(np.int64)
            elif key == "offset_mapping" and key in rows:
                arr = np.zeros((len(lengths), target, 2), dtype=np.int64)
                flat = itertools.chain.from_iterable(itertools.chain.from_iterable(rows[key]))
                arr[valid] = np.fromiter(flat, dtype=np.int64, count=2 * total).reshape(total, 2)
            elif key in rows:
                arr = np.full((len(lengths), target), self._pad_value(key), dtype=np.int64)
                arr[valid] = np.fromiter(itertools.chain.from_iterable(rows[key]), dtype=np.int64, count=total)
            else:
                continue
            if kind == "pd":
                import paddle

                arr = paddle.to_tensor(arr, dtype="int64")
            out[key] = arr
        return out

    # --------------------------------------------------------- save / load
    def save_pretrained(self, save_directory: str) -> Tuple[str, str]:
        """Write ``vocab.txt`` and ``tokenizer_config.json`` into ``save_directory`` (created if needed).

        The folder is written beside ``save_directory`` and swapped in whole
        (:func:`~paddle_electra._io.atomic_folder`), so a crash leaves the old
        tokenizer files or the new ones, never one of each; the folder's other
        files (a model's weights and config) are kept.

        Returns:
            The paths of the two files.

        Raises:
            ValueError: ``save_directory`` is a file, or the current working
                directory or a folder above it.
        """
        config = {"tokenizer_class": "ElectraTokenizer", "do_lower_case": self.do_lower_case,
                  "model_max_length": self.model_max_length, "tokenize_chinese_chars": self.tokenize_chinese_chars,
                  "strip_accents": self.strip_accents}
        config.update({k: getattr(self, k) for k in SPECIAL_TOKEN_KEYS})
        with atomic_folder(save_directory) as folder:
            write_text(os.path.join(folder, VOCAB_FILE), "".join(t + "\n" for t in self._id_to_token))
            write_text(os.path.join(folder, CONFIG_FILE), json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        return os.path.join(save_directory, VOCAB_FILE), os.path.join(save_directory, CONFIG_FILE)

    @classmethod
    def from_pretrained(cls, name_or_path: str, **kwargs: Any) -> "ElectraTokenizer":
        """Load from a folder (``vocab.txt`` + optional ``tokenizer_config.json``), a vocab file, or a name.

        A name that is not a local path is resolved by
        :func:`paddle_electra.hub.resolve` (``kind="tokenizer"``), which
        returns a folder holding both files. ``kwargs`` override the config
        (e.g. ``backend="python"``, ``model_max_length=128``).

        Raises:
            ValueError: no ``vocab.txt`` in the folder, or a name that cannot be resolved.
        """
        path = os.fspath(name_or_path)
        if os.path.isfile(path):
            return cls(path, **kwargs)
        if not os.path.isdir(path):
            try:
                from .hub import resolve
            except ImportError as e:
                raise ValueError(f"{path!r} is not a local folder or vocab file, and published names cannot be "
                                 f"resolved here (paddle_electra.hub is unavailable: {e})") from e
            path = resolve(path, kind="tokenizer")
        vocab_path = os.path.join(path, VOCAB_FILE)
        if not os.path.isfile(vocab_path):
            raise ValueError(f"no {VOCAB_FILE} in {path!r}; a tokenizer folder needs {VOCAB_FILE} "
                             f"(and optionally {CONFIG_FILE})")
        config: Dict[str, Any] = {}
        for name in ("special_tokens_map.json", CONFIG_FILE):  # the latter wins
            file = os.path.join(path, name)
            if os.path.isfile(file):
                with open(file, encoding="utf-8") as f:
                    data = json.load(f)
                config.update({k: v for k, v in data.items()
                               if k in _CONFIG_KEYS and (v is not None or k == "strip_accents")})
        for k in SPECIAL_TOKEN_KEYS:  # HF may store {"content": "[UNK]", ...}
            if isinstance(config.get(k), dict):
                config[k] = config[k].get("content")
        if "model_max_length" in config and not (isinstance(config["model_max_length"], int)
                                                 and 0 < config["model_max_length"] < 1 << 31):
            del config["model_max_length"]  # HF writes 1e30 for "no limit"
        config.update(kwargs)
        return cls(vocab_path, **config)


# ------------------------------------------------------------------ helpers
def _to_id_list(ids) -> List[int]:
    if hasattr(ids, "numpy") and not hasattr(ids, "tolist"):
        ids = ids.numpy()
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int):
        return [ids]
    return [int(i) for i in ids]


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
