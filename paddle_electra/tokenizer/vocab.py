"""Vocabulary file, PaddleNLP's ``Vocab`` view, added-token specs and the tokenizer's error types.

The innermost module of the tokenizer package: it imports nothing from the
rest of it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union


class TokenizerInputError(TypeError, ValueError):
    """An input of the wrong type (e.g. a number where a text belongs).

    A ``TypeError`` as Python (and HF) raise for wrong types, and a
    ``ValueError`` as every bad-input error of paddle_electra is.
    """


class SpecialTokensError(ValueError, AssertionError):
    """A bad ``add_special_tokens`` / special-token argument.

    PaddleNLP raises ``AssertionError`` here (its tests check that), and
    paddle_electra's bad-input errors are ``ValueError``\\ s: this is both.
    """


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


class Vocab(Mapping):
    """The base vocabulary as PaddleNLP's ``paddlenlp.data.Vocab`` offers it (``tokenizer.vocab``).

    A read-only ``token -> id`` mapping (iteration in id order) that also has
    PaddleNLP's methods: ``to_indices`` / ``__call__`` / ``vocab[tokens]``
    (unknown tokens give the unknown token's id, lists give lists),
    ``to_tokens``, ``token_to_idx``, ``idx_to_token`` and the ``*_token``
    attributes. Tokens added with ``add_tokens`` are not in it (they are in
    ``tokenizer.added_tokens_encoder``), as in PaddleNLP.

    Args:
        token_to_id: the mapping (shared, not copied).
        id_to_token: the tokens by line; with a token listed twice, its last
            line wins in ``token_to_id`` and both lines keep their token here.
        unk_token, pad_token, bos_token, eos_token: the special tokens PaddleNLP's
            ``Vocab`` records.
    """

    def __init__(self, token_to_id: Dict[str, int], id_to_token: Sequence[str], unk_token: Optional[str] = None,
                 pad_token: Optional[str] = None, bos_token: Optional[str] = None, eos_token: Optional[str] = None):
        self._token_to_idx = token_to_id
        self._tokens = id_to_token
        self.unk_token, self.pad_token, self.bos_token, self.eos_token = unk_token, pad_token, bos_token, eos_token
        self._unk_id = token_to_id.get(unk_token) if unk_token is not None else None

    def __getitem__(self, tokens):
        if isinstance(tokens, (list, tuple)):
            return [self._lookup(t) for t in tokens]
        return self._lookup(tokens)

    def _lookup(self, token: str) -> int:
        idx = self._token_to_idx.get(token)
        if idx is not None:
            return idx
        if self._unk_id is None:
            raise KeyError(f"token {token!r} is not in the vocabulary (and it has no unknown token)")
        return self._unk_id

    def __iter__(self) -> Iterator[str]:
        return iter(self._token_to_idx)

    def __len__(self) -> int:
        return len(self._token_to_idx)

    def __contains__(self, token) -> bool:
        return isinstance(token, str) and token in self._token_to_idx

    def __call__(self, tokens):
        """Same as :meth:`to_indices`."""
        return self[tokens]

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, unk_token={self.unk_token!r})"

    def to_indices(self, tokens: Union[str, Sequence[str]]):
        """Id of a token, or ids of a list of tokens (unknown ones get the unknown token's id)."""
        return self[tokens]

    def to_tokens(self, indices):
        """Token of an id, or tokens of a list / 1-D array of ids.

        Raises:
            ValueError: an id outside the vocabulary, or a nested list.
        """
        single = not isinstance(indices, (list, tuple)) and not hasattr(indices, "__len__")
        if hasattr(indices, "tolist"):
            indices = indices.tolist()
            single = not isinstance(indices, list)
        items = [indices] if single else list(indices)
        out = []
        for idx in items:
            if isinstance(idx, (list, tuple)):
                raise ValueError("to_tokens takes an id or a 1-D list of ids, got a nested list")
            idx = int(idx)
            if not 0 <= idx < len(self._tokens):
                raise ValueError(f"token index {idx} is outside the vocabulary [0, {len(self._tokens)})")
            out.append(self._tokens[idx])
        return out[0] if single else out

    @property
    def token_to_idx(self) -> Dict[str, int]:
        """The ``token -> id`` dict."""
        return self._token_to_idx

    @property
    def idx_to_token(self) -> Dict[int, str]:
        """An ``id -> token`` dict (built on each access)."""
        return dict(enumerate(self._tokens))

    def get_unk_token_id(self) -> Optional[int]:
        return self._unk_id

    def get_pad_token_id(self) -> Optional[int]:
        return self._token_to_idx.get(self.pad_token) if self.pad_token is not None else None

    def get_bos_token_id(self) -> Optional[int]:
        return self._token_to_idx.get(self.bos_token) if self.bos_token is not None else None

    def get_eos_token_id(self) -> Optional[int]:
        return self._token_to_idx.get(self.eos_token) if self.eos_token is not None else None


@dataclass(frozen=True)
class AddedToken:
    """A token to add, with PaddleNLP's / HF's options (PaddleNLP's and HF's own ``AddedToken`` work as well).

    Args:
        content: the token text.
        single_word: match it only where it is not inside a word.
        lstrip, rstrip: recorded and saved; whitespace next to a token never
            makes a WordPiece token, so they change nothing here.
        normalized: with ``do_lower_case``, a non-special token is stored
            lower-cased and matched in any case (PaddleNLP's behaviour);
            ``False`` keeps it as written and matches it exactly.
    """

    content: str = ""
    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool = True

    def __str__(self) -> str:
        return self.content

    def __getstate__(self) -> Dict[str, Any]:
        return {k: getattr(self, k) for k in ("content", "single_word", "lstrip", "rstrip", "normalized")}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)


def token_text(token: Any, what: str = "token") -> str:
    """The text of a token given as ``str`` or as an ``AddedToken`` (ours, PaddleNLP's or HF's).

    Raises:
        TokenizerInputError: anything else.
    """
    if isinstance(token, str):
        return token
    content = getattr(token, "content", None)
    if isinstance(content, str):
        return content
    raise TokenizerInputError(f"{what} must be a str or an AddedToken, got {type(token).__name__}: {token!r:.60}")


def token_flags(token: Any) -> Dict[str, bool]:
    """``single_word`` and ``normalized`` of an added token (defaults for a plain ``str``)."""
    return {"single_word": bool(getattr(token, "single_word", False)),
            "normalized": bool(getattr(token, "normalized", True))}


def as_added_token(value: Any) -> Any:
    """A token read from JSON: a dict (PaddleNLP's ``{"__type": "AddedToken", ...}``, HF's) is an ``AddedToken``."""
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        fields = {k: value[k] for k in ("single_word", "lstrip", "rstrip", "normalized") if k in value}
        return AddedToken(value["content"], **{k: bool(v) for k, v in fields.items()})
    if isinstance(value, (list, tuple)):
        return [as_added_token(v) for v in value]
    return value


def to_json_token(value: Any, type_field: bool) -> Any:
    """A special token for JSON: ``str`` as is, an ``AddedToken`` as PaddleNLP writes it (``__type`` on request)."""
    if isinstance(value, (list, tuple)):
        return [to_json_token(v, type_field) for v in value]
    if isinstance(value, str) or value is None:
        return value
    out = {"content": token_text(value), "single_word": bool(getattr(value, "single_word", False)),
           "lstrip": bool(getattr(value, "lstrip", False)), "rstrip": bool(getattr(value, "rstrip", False)),
           "normalized": bool(getattr(value, "normalized", True))}
    return {"__type": "AddedToken", **out} if type_field else out
