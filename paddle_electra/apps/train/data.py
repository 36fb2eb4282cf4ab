"""Pre-training data: a WordPiece vocab from the corpus, and lines packed into fixed-length blocks.

Blocks are ``[CLS] line [SEP] line [SEP] ... [PAD]``: consecutive lines are
packed greedily until the block is full (a line longer than a block is cut
into several), so little compute goes to padding; the lines are in the
corpus's order, or (``LineBlocks`` with a seed) in a new seeded order each
epoch. The order of blocks each epoch is a seeded permutation, which makes the
data position of any step computable from the step number alone (exact
resume, and each ``paddle.distributed`` rank reads its own share of every
global batch).
"""

from __future__ import annotations

import os
import string
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..._io import atomic_path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def read_lines(paths: Sequence[str]) -> List[str]:
    """Non-empty, stripped lines of UTF-8 text files (one sentence or document per line)."""
    lines: List[str] = []
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"training text file not found: {path}")
        with open(path, encoding="utf-8") as f:
            try:
                lines.extend(s for s in (line.strip() for line in f) if s)
            except UnicodeDecodeError as e:
                raise ValueError(f"{path} is not UTF-8 text: {e}") from e
    if not lines:
        raise ValueError(f"no text found in {', '.join(paths)}")
    return lines


def train_vocab(lines: Iterable[str], out_file: str, vocab_size: int = 8000, min_frequency: int = 2,
                lowercase: bool = True) -> str:
    """Train a BERT WordPiece vocab with the ``tokenizers`` trainer and write ``vocab.txt``.

    BERT's normaliser and pre-tokeniser are used, so every CJK character is a
    word of its own, exactly as :class:`~paddle_electra.ElectraTokenizer` splits
    text. ``limit_alphabet`` is lifted so no Chinese character seen
    ``min_frequency`` times is dropped from the alphabet.

    Returns:
        ``out_file``. Ids 0-4 are ``[PAD] [UNK] [CLS] [SEP] [MASK]``.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    # ASCII letters, digits and punctuation are always in: text outside the corpus (reviews,
    # URLs) then never turns into [UNK] for want of a basic character
    ascii_chars = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=SPECIAL_TOKENS, limit_alphabet=100000,
                                        initial_alphabet=ascii_chars, continuing_subword_prefix="##",
                                        show_progress=False)
    tok.train_from_iterator(lines, trainer=trainer)
    vocab = tok.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    if tokens[:len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
        raise RuntimeError(f"unexpected special-token order from the trainer: {tokens[:5]}")
    # and their word-continuation forms, so any ASCII word splits into known pieces ("abc" -> a ##b ##c)
    known = set(tokens)
    tokens += [f"##{c}" for c in ascii_chars if f"##{c}" not in known]
    os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
    with atomic_path(out_file) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in tokens)
    return out_file


def line_ids(lines: Iterable[str], tokenizer) -> List[np.ndarray]:
    """The int32 token ids of each line; lines that tokenize to nothing are dropped."""
    out = []
    for line in lines:
        ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line))
        if ids:
            out.append(np.asarray(ids, dtype=np.int32))
    return out


def word_line_ids(word_lines: Iterable[Sequence[str]], tokenizer) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """:func:`line_ids` for segmented lines, with a flag per token: true where it begins a word.

    A token starting where a word starts opens it; a ``##`` piece or a later
    character of a word continues it.
    """
    ids, starts = [], []
    for words in word_lines:
        enc = tokenizer("".join(words), add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        if not enc["input_ids"]:
            continue
        bounds = set(np.cumsum([0] + [len(w) for w in words[:-1]]).tolist())
        ids.append(np.asarray(enc["input_ids"], dtype=np.int32))
        starts.append(np.asarray([int(begin) in bounds for begin, _ in enc["offset_mapping"]], dtype=bool))
    return ids, starts


def _join(pieces: Sequence[np.ndarray], sep, dtype) -> np.ndarray:
    """One stream ``piece sep piece sep ... piece``."""
    if not pieces:
        return np.zeros(0, dtype=dtype)
    out = np.full(sum(len(p) for p in pieces) + len(pieces) - 1, sep, dtype=dtype)
    at = 0
    for p in pieces:
        out[at:at + len(p)] = p
        at += len(p) + 1
    return out


def pack_blocks(lines: Iterable[str], tokenizer, max_length: int = 128) -> np.ndarray:
    """Tokenize ``lines`` and pack them into int32 blocks [N, max_length].

    The lines are one stream, ``line [SEP] line [SEP] ...``, cut every
    ``max_length - 2`` tokens and framed as ``[CLS] ... [SEP]``; only the last
    block is padded. (Greedy whole-line packing left ~28 % padding on
    People's Daily; the stream wastes none, at the cost of blocks that start
    mid-sentence, as in RoBERTa's "full sentences".)
    """
    return LineBlocks(line_ids(lines, tokenizer), tokenizer.get_vocab(), max_length).for_epoch(0)[0]


def pack_word_blocks(word_lines: Iterable[Sequence[str]], tokenizer,
                     max_length: int = 128) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`pack_blocks` for segmented lines, with where each word starts (whole-word masking).

    Args:
        word_lines: each line as its words; the text packed is their
            concatenation, so the blocks equal ``pack_blocks`` of the joined lines.
        tokenizer: an :class:`ElectraTokenizer`.
        max_length: block length.

    Returns:
        ``(blocks, starts)``: the int32 blocks [N, max_length] and a bool array of
        the same shape, true where a token begins a word (a ``##`` piece or a
        later character of a word continues it; every special token and pad is
        its own start).
    """
    ids, starts = word_line_ids(word_lines, tokenizer)
    return LineBlocks(ids, tokenizer.get_vocab(), max_length, starts=starts).for_epoch(0)


class LineBlocks:
    """Tokenized lines packed into blocks, in their own order or in a new seeded order every epoch.

    Packed in the corpus's order, a line always has the same neighbours and the
    same cuts around it, epoch after epoch: consecutive news lines are one
    article, so a model trained that way can lean on the article around a line.
    ``shuffle_seed`` packs each epoch's lines in its own order instead
    (``default_rng([shuffle_seed, epoch])``), which gives every line new
    neighbours and new cuts each epoch, as held-out lines scored in blocks of
    unrelated lines, or a single sentence at the fill-mask prompt, have. The
    number of blocks is the same every epoch (the tokens and separators are).

    Args:
        ids: each line's token ids (:func:`line_ids`).
        vocab: token -> id (``[CLS]``, ``[SEP]``, ``[PAD]`` are used).
        max_length: block length.
        starts: with whole-word masking, each line's word-start flags
            (:func:`word_line_ids`); they move with their line.
        shuffle_seed: None for the corpus's order every epoch.
    """

    def __init__(self, ids: Sequence[np.ndarray], vocab, max_length: int,
                 starts: Optional[Sequence[np.ndarray]] = None, shuffle_seed: Optional[int] = None):
        if starts is not None and [len(s) for s in starts] != [len(i) for i in ids]:
            raise ValueError("starts must hold one flag per token of each line")
        self._ids, self._starts, self.shuffle_seed = list(ids), starts, shuffle_seed
        self._special = (vocab["[PAD]"], vocab["[CLS]"], vocab["[SEP]"])
        self.max_length = max_length
        self._cache: dict = {}
        self._num = len(self.for_epoch(0)[0])

    def __len__(self) -> int:
        return self._num

    def for_epoch(self, epoch: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """``(blocks [N, max_length], word starts or None)`` that epoch ``epoch`` samples from."""
        key = 0 if self.shuffle_seed is None else epoch
        if key not in self._cache:
            order = (range(len(self._ids)) if self.shuffle_seed is None
                     else np.random.default_rng([self.shuffle_seed, epoch]).permutation(len(self._ids)))
            pad, cls, sep = self._special
            blocks = _frame(_join([self._ids[i] for i in order], sep, np.int32), self.max_length, pad, cls, sep)
            starts = None if self._starts is None else _frame(
                _join([self._starts[i] for i in order], True, bool), self.max_length, True, True, True)
            if len(self._cache) >= 2:  # enough for a batch across two epochs; a batch larger than an epoch re-packs
                self._cache.pop(min(self._cache))
            self._cache[key] = (blocks, starts)
        return self._cache[key]

    def batch(self, sampler: "BlockSampler", step: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """The blocks of global batch ``step`` (and their word starts), each from its own epoch's packing."""
        epochs, picked = sampler.picks(step)
        rows, flags = [], []
        for e in np.unique(epochs):
            blocks, starts = self.for_epoch(int(e))
            rows.append(blocks[picked[epochs == e]])
            flags.append(None if starts is None else starts[picked[epochs == e]])
        out = np.concatenate(rows)
        return out, (None if self._starts is None else np.concatenate(flags))


def _frame(stream: np.ndarray, max_length: int, fill, first, end) -> np.ndarray:
    """Cut a stream (of token ids, or of one flag per token) into blocks [N, max_length]: each body is
    ``max_length - 2`` values between ``first`` and ``end``, the last one padded with ``fill`` after its ``end``."""
    if max_length < 8:
        raise ValueError(f"max_length must be >= 8, got {max_length}")
    if not len(stream):
        raise ValueError("no tokens: every line tokenized to nothing")
    room = max_length - 2
    n = -(-len(stream) // room)
    body = np.full(n * room, fill, dtype=stream.dtype)
    body[:len(stream)] = stream
    out = np.full((n, max_length), fill, dtype=stream.dtype)
    out[:, 0] = first
    out[:, 1:-1] = body.reshape(n, room)
    out[:-1, -1] = end
    out[-1, len(stream) - (n - 1) * room + 1] = end  # right after the final block's last token
    return out


class BlockSampler:
    """Which blocks form global batch ``step``: a seeded permutation per epoch, no state to save.

    Args:
        num_blocks: dataset size.
        batch_size: blocks per global batch (all ranks, all accumulation steps).
        seed: permutation seed; epoch ``e`` uses ``seed + e``.
    """

    def __init__(self, num_blocks: int, batch_size: int, seed: int):
        if num_blocks < 1 or batch_size < 1:
            raise ValueError(f"need num_blocks >= 1 and batch_size >= 1, got {num_blocks}, {batch_size}")
        self.num_blocks, self.batch_size, self.seed = num_blocks, batch_size, seed
        self._perm_epoch = -1
        self._perm: Optional[np.ndarray] = None

    def _perm_for(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng(self.seed + epoch).permutation(self.num_blocks)
            self._perm_epoch = epoch
        return self._perm

    def indices(self, step: int) -> np.ndarray:
        """Block indices of global batch ``step`` (0-based), ``batch_size`` of them."""
        return self.picks(step)[1]

    def picks(self, step: int) -> Tuple[np.ndarray, np.ndarray]:
        """``(epochs, indices)`` of global batch ``step``: the epoch each of its blocks is drawn in, in order."""
        start = step * self.batch_size
        epochs = np.empty(self.batch_size, dtype=np.int64)
        out = np.empty(self.batch_size, dtype=np.int64)
        for i in range(self.batch_size):
            epochs[i], pos = divmod(start + i, self.num_blocks)
            out[i] = self._perm_for(int(epochs[i]))[pos]
        return epochs, out

    def epoch_of(self, step: int) -> float:
        """Epochs completed (fractional) after ``step`` batches."""
        return step * self.batch_size / self.num_blocks

    def position(self, step: int) -> dict:
        """The data position after ``step`` global batches (recorded in checkpoints)."""
        epoch, offset = divmod(step * self.batch_size, self.num_blocks)
        return {"epoch": int(epoch), "offset": int(offset), "blocks_seen": int(step * self.batch_size)}
