"""Dynamic masking for the generator: a fresh 15 % of positions every time a block is seen.

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
    """

    def __init__(self, vocab_size: int, mask_token_id: int, pad_token_id: int, special_ids: Iterable[int],
                 mask_prob: float = 0.15, replace_prob: float = 0.8, random_prob: float = 0.1):
        if not 0 < mask_prob < 1:
            raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}")
        if replace_prob < 0 or random_prob < 0 or replace_prob + random_prob > 1:
            raise ValueError(f"replace_prob ({replace_prob}) + random_prob ({random_prob}) must be within [0, 1]")
        self.vocab_size = int(vocab_size)
        self.mask_token_id = int(mask_token_id)
        self.pad_token_id = int(pad_token_id)
        self.special_ids = np.array(sorted({int(i) for i in special_ids} | {self.pad_token_id, self.mask_token_id}))
        self.mask_prob = mask_prob
        self.replace_prob = replace_prob
        self.random_prob = random_prob
        normal = np.ones(self.vocab_size, dtype=bool)
        normal[self.special_ids[self.special_ids < self.vocab_size]] = False
        self.random_pool = np.flatnonzero(normal)  # replacements are ordinary tokens only
        if self.random_pool.size == 0:
            raise ValueError("the vocabulary has no ordinary (non-special) token to draw replacements from")

    @classmethod
    def from_tokenizer(cls, tokenizer, **kwargs) -> "MaskingCollator":
        """A collator using ``tokenizer``'s special tokens."""
        vocab = tokenizer.get_vocab()
        return cls(len(vocab), vocab["[MASK]"], vocab["[PAD]"], tokenizer.all_special_ids, **kwargs)

    def __call__(self, input_ids: np.ndarray, rng: np.random.Generator,
                 attention_mask: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
        """Mask one batch.

        Args:
            input_ids: int [B, L] original ids, padded with ``pad_token_id``.
            rng: the random source (one per step makes runs reproducible and resumable).
            attention_mask: optional [B, L] 1/0; default: ``input_ids != pad``.

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
