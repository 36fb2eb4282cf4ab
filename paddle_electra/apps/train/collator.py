"""Dynamic masking for the generator: a fresh 15 % of positions every time a block is seen.

With word boundaries (whole-word masking) the words are chosen, and each chosen
word is masked whole, as in Chinese BERT-wwm / ELECTRA (Cui et al.).

Of the chosen positions 80 % become ``[MASK]``, 10 % a random token, 10 % stay
as they are (BERT / ELECTRA). ``[CLS]``, ``[SEP]``, ``[PAD]`` (and every other
special id given) are never chosen. Every sequence with at least one
maskable token gets at least one masked position, so no example is wasted.
"""

from __future__ import annotations

from typing import Dict, Iterable, Optional

import numpy as np

IGNORE_INDEX = -100  # the label of positions the generator is not scored on


class MaskingCollator:
    """Turn a batch of token-id rows into generator inputs and targets.

    Args:
        vocab_size: number of ids; random replacements are drawn from the
            non-special ids below it.
        mask_token_id: id of ``[MASK]``.
        pad_token_id: id of ``[PAD]`` (rows are padded with it).
        special_ids: ids never masked (``[CLS]``, ``[SEP]``, ``[PAD]``, ``[UNK]``...).
        mask_prob: fraction of maskable positions chosen (0.15).
        replace_prob / random_prob: of the chosen, the share set to ``[MASK]``
            (0.8) and to a random token (0.1); the rest keep their token.
        whole_word_share: where word starts are given, the share of rows
            masked by whole words; the other rows choose single tokens.
    """

    def __init__(self, vocab_size: int, mask_token_id: int, pad_token_id: int, special_ids: Iterable[int],
                 mask_prob: float = 0.15, replace_prob: float = 0.8, random_prob: float = 0.1,
                 whole_word_share: float = 1.0):
        if not 0 < mask_prob < 1:
            raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}")
        if replace_prob < 0 or random_prob < 0 or replace_prob + random_prob > 1:
            raise ValueError(f"replace_prob ({replace_prob}) + random_prob ({random_prob}) must be within [0, 1]")
        self.vocab_size = int(vocab_size)
        self.mask_token_id = int(mask_token_id)
        self.pad_token_id = int(pad_token_id)
        self.special_ids = np.array(sorted({int(i) for i in special_ids} | {self.pad_token_id, self.mask_token_id}))
        if not 0 <= whole_word_share <= 1:
            raise ValueError(f"whole_word_share must be in [0, 1], got {whole_word_share}")
        self.mask_prob = mask_prob
        self.whole_word_share = whole_word_share
        self.replace_prob = replace_prob
        self.random_prob = random_prob
        normal = np.ones(self.vocab_size, dtype=bool)
        normal[self.special_ids[self.special_ids < self.vocab_size]] = False
        self.random_pool = np.flatnonzero(normal)  # replacements are ordinary tokens only
        if self.random_pool.size == 0:
            raise ValueError("the vocabulary has no ordinary (non-special) token to draw replacements from")

    def _whole_words(self, maskable: np.ndarray, starts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Chosen flags [B, L] of every row, by words: each word with ``mask_prob``, at least one per row."""
        if starts.shape != maskable.shape:
            raise ValueError(f"word_starts has shape {starts.shape}, input_ids {maskable.shape}")
        # a maskable token after a special one opens a word even if flagged as continuing:
        # a block can start (after [CLS]) in the middle of a word
        after_special = np.ones_like(maskable)
        after_special[:, 1:] = ~maskable[:, :-1]
        opens = maskable & (starts | after_special)
        word = np.cumsum(opens, axis=1)  # word number of each token, within its row
        picked = (rng.random(maskable.shape) < self.mask_prob) & opens
        for row in np.flatnonzero(~picked.any(axis=1) & opens.any(axis=1)):  # at least one word per row
            picked[row, rng.choice(np.flatnonzero(opens[row]))] = True
        # every token takes the pick of the token that opened its word
        n_words = int(word.max()) + 1
        table = np.zeros((maskable.shape[0], n_words), dtype=bool)
        rows, cols = np.nonzero(picked)
        table[rows, word[rows, cols]] = True
        return table[np.arange(maskable.shape[0])[:, None], word] & maskable

    @classmethod
    def from_tokenizer(cls, tokenizer, **kwargs) -> "MaskingCollator":
        """A collator using ``tokenizer``'s special tokens."""
        vocab = tokenizer.get_vocab()
        return cls(len(vocab), vocab["[MASK]"], vocab["[PAD]"], tokenizer.all_special_ids, **kwargs)

    def __call__(self, input_ids: np.ndarray, rng: np.random.Generator,
                 attention_mask: Optional[np.ndarray] = None,
                 word_starts: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
        """Mask one batch.

        Args:
            input_ids: int [B, L] original ids, padded with ``pad_token_id``.
            rng: the random source (one per step makes runs reproducible and resumable).
            attention_mask: optional [B, L] 1/0; default: ``input_ids != pad``.
            word_starts: optional bool [B, L], true where a token begins a word
                (:func:`.data.pack_word_blocks`): whole-word masking in a
                ``whole_word_share`` of the rows, each word chosen with
                ``mask_prob`` and all its tokens with it, so the share of tokens
                chosen stays ``mask_prob`` on average. Which of the chosen
                become ``[MASK]`` is still drawn per token.

        Returns:
            ``input_ids`` (masked, int64 [B, L]), ``raw_input_ids`` (int64 [B, L]),
            ``generator_labels`` (int64 [B, L], original id where masked, -100
            elsewhere) and ``attention_mask`` (int64 [B, L]).
        """
        raw = np.asarray(input_ids, dtype=np.int64)
        if raw.ndim != 2:
            raise ValueError(f"input_ids must be [batch, length], got shape {raw.shape}")
        if attention_mask is None:
            attention_mask = raw != self.pad_token_id
        attention_mask = np.asarray(attention_mask).astype(bool)
        maskable = attention_mask & ~np.isin(raw, self.special_ids)
        chosen = (rng.random(raw.shape) < self.mask_prob) & maskable
        if word_starts is not None:
            by_word = rng.random(len(raw)) < self.whole_word_share  # these rows choose words, the rest tokens
            chosen[by_word] = self._whole_words(maskable, np.asarray(word_starts, dtype=bool), rng)[by_word]
        # a row with maskable tokens but no pick gets one, uniformly among its maskable positions
        empty = ~chosen.any(axis=1) & maskable.any(axis=1)
        for row in np.flatnonzero(empty):
            chosen[row, rng.choice(np.flatnonzero(maskable[row]))] = True
        action = rng.random(raw.shape)
        to_mask = chosen & (action < self.replace_prob)
        to_random = chosen & (action >= self.replace_prob) & (action < self.replace_prob + self.random_prob)
        masked = raw.copy()
        masked[to_mask] = self.mask_token_id
        masked[to_random] = rng.choice(self.random_pool, size=int(to_random.sum()))
        labels = np.where(chosen, raw, IGNORE_INDEX)
        return {
            "input_ids": masked,
            "raw_input_ids": raw,
            "generator_labels": labels.astype(np.int64),
            "attention_mask": attention_mask.astype(np.int64),
        }
