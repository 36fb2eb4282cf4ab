"""Special and added tokens: PaddleNLP's ``SpecialTokensMixin`` API, and the matcher that keeps them whole.

* The seven special-token slots (``bos_token`` ... ``mask_token``) and
  ``additional_special_tokens``, each with an ``..._id`` property; every one
  can be set (to a token, or through ``..._id`` to an id, or to ``None``).
* ``add_tokens`` / ``add_special_tokens``: new tokens get the ids after the
  vocabulary (``len(tokenizer)`` grows, ``vocab_size`` does not), are listed
  in ``added_tokens_encoder`` / ``added_tokens_decoder`` and are never split.
* Text is cut around every token that is never split (special, added, and the
  ``never_split`` words) before the WordPiece backend sees it, leftmost match
  first and the longest one where several start together, the same for both
  backends. The backend already keeps its own special tokens (``[CLS]`` ...)
  whole, so plain texts go straight to it.

The host class provides ``_token_to_id``, ``_id_to_token``, ``_unk_id``,
``do_lower_case`` and ``_backend_specials``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .vocab import SpecialTokensError, TokenizerInputError, token_flags, token_text

logger = logging.getLogger("paddle_electra.tokenizer")

SPECIAL_TOKEN_SLOTS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
SPECIAL_TOKENS_ATTRIBUTES = SPECIAL_TOKEN_SLOTS + ("additional_special_tokens",)


def _slot_property(slot: str) -> property:
    def get(self) -> Optional[str]:
        value = self._special_values[slot]
        return None if value is None else token_text(value)

    def set_(self, value) -> None:
        if value is not None:
            token_text(value, slot)  # type check
        self._special_values[slot] = value
        self._tokens_changed()

    return property(get, set_, doc=f"The {slot.replace('_', ' ')} (``None`` when unset); settable.")


def _id_property(slot: str) -> property:
    def get(self) -> Optional[int]:
        token = getattr(self, slot)
        return None if token is None else self.convert_tokens_to_ids(token)

    def set_(self, value: Optional[int]) -> None:
        setattr(self, slot, None if value is None else self.convert_ids_to_tokens(int(value)))

    return property(get, set_, doc=f"Id of :attr:`{slot}` (``None`` when unset); setting an id sets the token.")


class SpecialTokensMixin:
    """Special-token slots, added tokens and id conversion (see the module docstring)."""

    SPECIAL_TOKENS_ATTRIBUTES = list(SPECIAL_TOKENS_ATTRIBUTES)

    def _init_special(self, values: Dict[str, Any], additional: Optional[Sequence[Any]],
                      never_split: Optional[Sequence[str]]) -> None:
        """Set the slots, register them as never split, and add those not in the vocabulary."""
        self._special_values: Dict[str, Any] = {slot: values.get(slot) for slot in SPECIAL_TOKEN_SLOTS}
        self._additional: List[Any] = []
        self.added_tokens_encoder: Dict[str, int] = {}
        self.added_tokens_decoder: Dict[int, str] = {}
        self._added_flags: Dict[str, Dict[str, bool]] = {}
        self._special_added: set = set()  # added with special_tokens=True: matched exactly
        self._version = 0
        self._matcher_state: Tuple[int, Any, List[int]] = (-1, None, [])
        if never_split is not None:
            if isinstance(never_split, str) or not all(isinstance(t, str) for t in never_split):
                raise TokenizerInputError(f"never_split must be a list of str, got {never_split!r:.80}")
        self._never_split = tuple(never_split or ())
        if additional is not None:
            self.additional_special_tokens = additional
        self.unique_no_split_tokens: List[str] = sorted(set(self.all_special_tokens))
        self.sanitize_special_tokens()

    # ------------------------------------------------------------ special tokens
    @property
    def additional_special_tokens(self) -> List[str]:
        """The additional special tokens (a new list each time); settable."""
        return [token_text(t) for t in self._additional]

    @additional_special_tokens.setter
    def additional_special_tokens(self, values) -> None:
        if values is None:
            values = []
        if isinstance(values, str) or not isinstance(values, (list, tuple)):
            raise SpecialTokensError(f"additional_special_tokens must be a list or tuple of tokens, got {values!r:.80}")
        for t in values:
            token_text(t, "each additional special token")
        self._additional = list(values)
        self._tokens_changed()

    @property
    def additional_special_tokens_ids(self) -> List[int]:
        """Ids of :attr:`additional_special_tokens`; setting ids sets the tokens."""
        return self.convert_tokens_to_ids(self.additional_special_tokens)

    @additional_special_tokens_ids.setter
    def additional_special_tokens_ids(self, values: Sequence[int]) -> None:
        self.additional_special_tokens = [self.convert_ids_to_tokens(int(v)) for v in values]

    @property
    def pad_token_type_id(self) -> int:
        """Token type id of padding (0)."""
        return 0

    @property
    def special_tokens_map_extended(self) -> Dict[str, Any]:
        """The set special tokens by slot, ``AddedToken``\\ s kept as given."""
        out: Dict[str, Any] = {slot: v for slot, v in self._special_values.items() if v}
        if self._additional:
            out["additional_special_tokens"] = list(self._additional)
        return out

    @property
    def special_tokens_map(self) -> Dict[str, Union[str, List[str]]]:
        """The set special tokens by slot, as strings (``additional_special_tokens``: a list)."""
        return {k: [token_text(t) for t in v] if isinstance(v, list) else token_text(v)
                for k, v in self.special_tokens_map_extended.items()}

    @property
    def all_special_tokens_extended(self) -> List[Any]:
        """Every special token once, slots in PaddleNLP's order then the additional ones, as given."""
        seen, out = set(), []
        for value in self.special_tokens_map_extended.values():
            for t in value if isinstance(value, list) else [value]:
                if token_text(t) not in seen:
                    seen.add(token_text(t))
                    out.append(t)
        return out

    @property
    def all_special_tokens(self) -> List[str]:
        """Every special token once: ``[UNK] [SEP] [PAD] [CLS] [MASK]`` by default."""
        return [token_text(t) for t in self.all_special_tokens_extended]

    @property
    def all_special_ids(self) -> List[int]:
        """Ids of :attr:`all_special_tokens`."""
        return self.convert_tokens_to_ids(self.all_special_tokens)

    # ------------------------------------------------------------ added tokens
    def add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        """Add tokens after the vocabulary; they are never split. Returns how many were new.

        A token already in the vocabulary (or added before) is not added again.
        With ``do_lower_case`` a non-special token is stored lower-cased and
        matched in any case (unless it is an ``AddedToken`` with
        ``normalized=False``); special ones are matched exactly. Empty tokens
        are skipped.

        Args:
            new_tokens: a token or a list of tokens (``str`` or ``AddedToken``).
            special_tokens: register them as special: matched exactly, and
                ``skip_special_tokens`` leaves them out when they are also in
                a special slot.

        Raises:
            TokenizerInputError: a token that is not a ``str`` / ``AddedToken``.
        """
        if not new_tokens:
            return 0
        if not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]
        added = 0
        for item in new_tokens:
            text = token_text(item)
            if not text:
                continue
            flags = token_flags(item)
            if not special_tokens and self.do_lower_case and flags["normalized"]:
                text = text.lower()
            if special_tokens:
                self._special_added.add(text)
            new = text not in self._token_to_id and text not in self.added_tokens_encoder
            if new:
                new_id = len(self)
                self.added_tokens_encoder[text] = new_id
                self.added_tokens_decoder[new_id] = text
                self._added_flags[text] = flags
                added += 1
                logger.debug("added token %r with id %d", text, new_id)
            if (new or special_tokens) and text not in self.unique_no_split_tokens:  # as PaddleNLP
                self.unique_no_split_tokens = sorted(set(self.unique_no_split_tokens) | {text})
        self._tokens_changed()
        return added

    def add_special_tokens(self, special_tokens_dict: Dict[str, Any], replace_additional_special_tokens: bool = True
                           ) -> int:
        """Set special-token slots, adding the tokens the vocabulary lacks. Returns how many were new.

        Args:
            special_tokens_dict: slot name (``bos_token`` ... ``mask_token``,
                ``additional_special_tokens``) -> token, or a list of tokens
                for ``additional_special_tokens``.
            replace_additional_special_tokens: ``True`` (PaddleNLP, HF default):
                the given list replaces the additional special tokens;
                ``False`` appends to them.

        Raises:
            SpecialTokensError: an unknown slot, or a value of the wrong kind
                (a ``ValueError`` and, as in PaddleNLP, an ``AssertionError``).
        """
        if not special_tokens_dict:
            return 0
        if not isinstance(special_tokens_dict, dict):
            raise SpecialTokensError("add_special_tokens takes a dict of slot -> token, got "
                                     f"{special_tokens_dict!r:.80}")
        added = 0
        for key, value in special_tokens_dict.items():
            if key not in SPECIAL_TOKENS_ATTRIBUTES:
                raise SpecialTokensError(f"{key!r} is not a special-token slot; use one of "
                                         f"{', '.join(SPECIAL_TOKENS_ATTRIBUTES)}")
            if key == "additional_special_tokens":
                if isinstance(value, str) or not isinstance(value, (list, tuple)):
                    raise SpecialTokensError(f"additional_special_tokens must be a list of tokens, got {value!r:.80}")
                for t in value:
                    self._check_special_value(key, t)
                if replace_additional_special_tokens:
                    self.additional_special_tokens = value
                else:
                    known = set(self.additional_special_tokens)
                    self.additional_special_tokens = self._additional + [t for t in value if token_text(t) not in known]
                added += self.add_tokens(list(value), special_tokens=True)
            else:
                self._check_special_value(key, value)
                setattr(self, key, value)
                added += self.add_tokens([value], special_tokens=True)
        return added

    @staticmethod
    def _check_special_value(key: str, value: Any) -> None:
        if not isinstance(value, str) and not isinstance(getattr(value, "content", None), str):
            raise SpecialTokensError(f"the token for {key} must be a str or an AddedToken, got {value!r:.80}")

    def sanitize_special_tokens(self) -> int:
        """Add every special token that is not in the vocabulary yet; returns how many."""
        return self.add_tokens(self.all_special_tokens_extended, special_tokens=True)

    def get_added_vocab(self) -> Dict[str, int]:
        """The added tokens: ``token -> id``."""
        return dict(self.added_tokens_encoder)

    def __len__(self) -> int:
        """Vocabulary size plus the added tokens."""
        return len(self._id_to_token) + len(self.added_tokens_encoder)

    def get_vocab(self) -> Dict[str, int]:
        """``token -> id`` of the vocabulary and the added tokens (a new dict)."""
        vocab = dict(self._token_to_id)
        vocab.update(self.added_tokens_encoder)
        return vocab

    # ------------------------------------------------------------ ids
    def convert_tokens_to_ids(self, tokens):
        """Id of a token (or ids of a list of tokens); unknown tokens get the unknown token's id; ``None``: ``None``."""
        if tokens is None:
            return None
        added, vocab, unk = self.added_tokens_encoder, self._token_to_id, self._unk_id
        if isinstance(tokens, str):
            return added.get(tokens, vocab.get(tokens, unk))
        if added:
            return [added.get(t, vocab.get(t, unk)) for t in tokens]
        return [vocab.get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        """Token of an id (or tokens of a list / array / tensor of ids).

        Raises:
            ValueError: an id outside ``[0, len(tokenizer))``.
        """
        if isinstance(ids, int) or (hasattr(ids, "ndim") and ids.ndim == 0):
            return self._tokens_of(self._check_ids([int(ids)]))[0]
        ids = self._check_ids(to_id_list(ids))
        if skip_special_tokens:
            special = set(self.all_special_ids)
            ids = [i for i in ids if i not in special]
        return self._tokens_of(ids)

    def _tokens_of(self, ids: List[int]) -> List[str]:
        tokens, n = self._id_to_token, len(self._id_to_token)
        if not self.added_tokens_decoder:
            return [tokens[i] for i in ids]
        added = self.added_tokens_decoder
        return [tokens[i] if i < n else added[i] for i in ids]

    def _check_ids(self, ids: List[int]) -> List[int]:
        n = len(self)
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise ValueError(f"token id(s) {bad[:5]} outside the vocabulary [0, {n})")
        return ids

    # ------------------------------------------------------------ matching in text
    def _tokens_changed(self) -> None:
        self._version = getattr(self, "_version", 0) + 1

    def _no_split_matcher(self):
        """``(regex, ids)`` finding every never-split token the backend does not keep on its own; ``None`` if none.

        One group per token, longest first; ``ids[m.lastindex - 1]`` is the id of a match ``m``.
        """
        version, matcher, ids = self._matcher_state
        if version == self._version:
            return (matcher, ids) if matcher is not None else None
        exact = set(self.unique_no_split_tokens) | set(self.all_special_tokens)
        if exact <= self._backend_specials and not self._never_split:
            self._matcher_state = (self._version, None, [])
            return None
        alternatives = []  # (length, pattern, id)
        for token in exact:
            pattern = re.escape(token)
            flags = self._added_flags.get(token)
            if flags is not None and token not in self._special_added and token not in self.all_special_tokens:
                if self.do_lower_case and flags["normalized"]:
                    pattern = f"(?i:{pattern})"
                if flags["single_word"]:
                    pattern = rf"(?<!\w){pattern}(?!\w)"
            alternatives.append((len(token), pattern, self.convert_tokens_to_ids(token)))
        for word in self._never_split:
            if word not in exact:
                alternatives.append((len(word), rf"(?<!\S){re.escape(word)}(?!\S)", self.convert_tokens_to_ids(word)))
        alternatives.sort(key=lambda a: -a[0])
        matcher = re.compile("|".join(f"({a[1]})" for a in alternatives))
        ids = [a[2] for a in alternatives]
        self._matcher_state = (self._version, matcher, ids)
        return matcher, ids


for _slot in SPECIAL_TOKEN_SLOTS:
    setattr(SpecialTokensMixin, _slot, _slot_property(_slot))
    setattr(SpecialTokensMixin, _slot + "_id", _id_property(_slot))
del _slot


def to_id_list(ids) -> List[int]:
    """A list of ints from a list, tuple, numpy array or paddle tensor (1-D)."""
    if hasattr(ids, "numpy") and not hasattr(ids, "tolist"):
        ids = ids.numpy()
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int):
        return [ids]
    return [int(i) for i in ids]
