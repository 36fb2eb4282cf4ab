"""The two WordPiece backends behind :class:`paddle_electra.ElectraTokenizer`.

Both turn a text into WordPiece ids (and, on request, character offsets into
that text) *without* special tokens; :class:`~paddle_electra.ElectraTokenizer`
splits out added tokens, adds ``[CLS]``/``[SEP]``, truncates and pads, the
same way for both.

* :class:`PythonWordPiece`: a readable pure-Python implementation.
* :class:`FastWordPiece`: the Rust pipeline of the HuggingFace ``tokenizers``
  library (``BertNormalizer``, ``BertPreTokenizer``, ``WordPiece`` model,
  ``TemplateProcessing`` post-processor, ``WordPiece`` decoder), i.e. what
  ``transformers.BertTokenizerFast`` runs.

The pipeline (BERT's, as implemented by ``tokenizers``):

1. Special tokens (``[CLS]``, ``[MASK]``, ...) written in the text are matched
   verbatim first (leftmost, longest) and become their ids.
2. Cleaning: NUL, U+FFFD and "other" characters (categories Cc, Cf, Co, Cs) are
   removed; ``\\t \\n \\r`` and every Unicode ``White_Space`` character become
   a space.
3. Each CJK ideograph becomes a word of its own.
4. Accent stripping (default: when lower-casing): NFD, then non-spacing marks
   (Mn) are removed. Then lower-casing, character by character.
5. Split on spaces; punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and Unicode
   category P*) is a word of its own. Symbols (category S*: ``～ ° ℃``) are
   *not* split, as in BERT (PaddleNLP's BasicTokenizer splits them).
6. WordPiece: greedy longest-match-first with ``##`` continuations; a word
   longer than 100 characters, or one that cannot be covered, is ``[UNK]``.

``tokenizers`` takes Unicode categories from a frozen table (the Rust
``unicode_categories`` crate, Unicode 9 era), not from Python's newer
``unicodedata``; it keeps unassigned code points (Cn) as letters, and lists
CJK Extension E from U+2B920 instead of U+2B820. The pure-Python backend uses
the same data (``_OTHER_SPEC``, ``_MN_SPEC``, ``_PUNCT_SPEC`` below: hex
code-point ranges read off ``tokenizers`` one code point at a time), so both
backends agree on every code point; ``tests/tokenizer/test_tokenizer.py`` checks that
against ``tokenizers``. What remains is where Python's and Rust's Unicode
versions disagree on case mapping or NFD: with Python 3.11, 55 letters new in
Unicode 15-16 (Rust lower-cases them) and U+11938 (Python decomposes it).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from typing import Dict, List, Optional, Sequence, Tuple

Offsets = List[Tuple[int, int]]

# Categories Cc, Cf, Co (and Cs) as tokenizers sees them: removed by cleaning.
_OTHER_SPEC = (
    "1-8 b-c e-1f 7f-9f ad 600-605 61c 6dd 70f 180e 200b-200f 202a-202e 2060-2064 2066-206f d800-dfff e000-f8ff feff "
    "fff9-fffb 110bd 1bca0-1bca3 1d173-1d17a e0001 e0020-e007f f0000-ffffd 100000-10fffd "
)
_MN_SPEC = (
    "300-36f 483-487 591-5bd 5bf 5c1-5c2 5c4-5c5 5c7 610-61a 64b-65f 670 6d6-6dc 6df-6e4 6e7-6e8 6ea-6ed 711 "
    "730-74a 7a6-7b0 7eb-7f3 816-819 81b-823 825-827 829-82d 859-85b 8e3-902 93a 93c 941-948 94d 951-957 "
    "962-963 981 9bc 9c1-9c4 9cd 9e2-9e3 a01-a02 a3c a41-a42 a47-a48 a4b-a4d a51 a70-a71 a75 a81-a82 abc "
    "ac1-ac5 ac7-ac8 acd ae2-ae3 b01 b3c b3f b41-b44 b4d b56 b62-b63 b82 bc0 bcd c00 c3e-c40 c46-c47 c4a-c4d "
    "c55-c56 c62-c63 c81 cbc cbf cc6 ccc-ccd ce2-ce3 d01 d41-d44 d4d d62-d63 dca dd2-dd4 dd6 e31 e34-e3a "
    "e47-e4e eb1 eb4-eb9 ebb-ebc ec8-ecd f18-f19 f35 f37 f39 f71-f7e f80-f84 f86-f87 f8d-f97 f99-fbc fc6 "
    "102d-1030 1032-1037 1039-103a 103d-103e 1058-1059 105e-1060 1071-1074 1082 1085-1086 108d 109d 135d-135f "
    "1712-1714 1732-1734 1752-1753 1772-1773 17b4-17b5 17b7-17bd 17c6 17c9-17d3 17dd 180b-180d 18a9 1920-1922 "
    "1927-1928 1932 1939-193b 1a17-1a18 1a1b 1a56 1a58-1a5e 1a60 1a62 1a65-1a6c 1a73-1a7c 1a7f 1ab0-1abd "
    "1b00-1b03 1b34 1b36-1b3c 1b42 1b6b-1b73 1b80-1b81 1ba2-1ba5 1ba8-1ba9 1bab-1bad 1be6 1be8-1be9 1bed "
    "1bef-1bf1 1c2c-1c33 1c36-1c37 1cd0-1cd2 1cd4-1ce0 1ce2-1ce8 1ced 1cf4 1cf8-1cf9 1dc0-1df5 1dfc-1dff "
    "20d0-20dc 20e1 20e5-20f0 2cef-2cf1 2d7f 2de0-2dff 302a-302d 3099-309a a66f a674-a67d a69e-a69f a6f0-a6f1 "
    "a802 a806 a80b a825-a826 a8c4 a8e0-a8f1 a926-a92d a947-a951 a980-a982 a9b3 a9b6-a9b9 a9bc a9e5 aa29-aa2e "
    "aa31-aa32 aa35-aa36 aa43 aa4c aa7c aab0 aab2-aab4 aab7-aab8 aabe-aabf aac1 aaec-aaed aaf6 abe5 abe8 abed "
    "fb1e fe00-fe0f fe20-fe2f 101fd 102e0 10376-1037a 10a01-10a03 10a05-10a06 10a0c-10a0f 10a38-10a3a 10a3f "
    "10ae5-10ae6 11001 11038-11046 1107f-11081 110b3-110b6 110b9-110ba 11100-11102 11127-1112b 1112d-11134 "
    "11173 11180-11181 111b6-111be 111ca-111cc 1122f-11231 11234 11236-11237 112df 112e3-112ea 11300-11301 "
    "1133c 11340 11366-1136c 11370-11374 114b3-114b8 114ba 114bf-114c0 114c2-114c3 115b2-115b5 115bc-115bd "
    "115bf-115c0 115dc-115dd 11633-1163a 1163d 1163f-11640 116ab 116ad 116b0-116b5 116b7 1171d-1171f "
    "11722-11725 11727-1172b 16af0-16af4 16b30-16b36 16f8f-16f92 1bc9d-1bc9e 1d167-1d169 1d17b-1d182 "
    "1d185-1d18b 1d1aa-1d1ad 1d242-1d244 1da00-1da36 1da3b-1da6c 1da75 1da84 1da9b-1da9f 1daa1-1daaf "
    "1e8d0-1e8d6 e0100-e01ef "
)
_PUNCT_SPEC = (
    "21-2f 3a-40 5b-60 7b-7e a1 a7 ab b6-b7 bb bf 37e 387 55a-55f 589-58a 5be 5c0 5c3 5c6 5f3-5f4 609-60a "
    "60c-60d 61b 61e-61f 66a-66d 6d4 700-70d 7f7-7f9 830-83e 85e 964-965 970 af0 df4 e4f e5a-e5b f04-f12 f14 "
    "f3a-f3d f85 fd0-fd4 fd9-fda 104a-104f 10fb 1360-1368 1400 166d-166e 169b-169c 16eb-16ed 1735-1736 "
    "17d4-17d6 17d8-17da 1800-180a 1944-1945 1a1e-1a1f 1aa0-1aa6 1aa8-1aad 1b5a-1b60 1bfc-1bff 1c3b-1c3f "
    "1c7e-1c7f 1cc0-1cc7 1cd3 2010-2027 2030-2043 2045-2051 2053-205e 207d-207e 208d-208e 2308-230b 2329-232a "
    "2768-2775 27c5-27c6 27e6-27ef 2983-2998 29d8-29db 29fc-29fd 2cf9-2cfc 2cfe-2cff 2d70 2e00-2e2e 2e30-2e42 "
    "3001-3003 3008-3011 3014-301f 3030 303d 30a0 30fb a4fe-a4ff a60d-a60f a673 a67e a6f2-a6f7 a874-a877 "
    "a8ce-a8cf a8f8-a8fa a8fc a92e-a92f a95f a9c1-a9cd a9de-a9df aa5c-aa5f aade-aadf aaf0-aaf1 abeb fd3e-fd3f "
    "fe10-fe19 fe30-fe52 fe54-fe61 fe63 fe68 fe6a-fe6b ff01-ff03 ff05-ff0a ff0c-ff0f ff1a-ff1b ff1f-ff20 "
    "ff3b-ff3d ff3f ff5b ff5d ff5f-ff65 10100-10102 1039f 103d0 1056f 10857 1091f 1093f 10a50-10a58 10a7f "
    "10af0-10af6 10b39-10b3f 10b99-10b9c 11047-1104d 110bb-110bc 110be-110c1 11140-11143 11174-11175 "
    "111c5-111c9 111cd 111db 111dd-111df 11238-1123d 112a9 114c6 115c1-115d7 11641-11643 1173c-1173e "
    "12470-12474 16a6e-16a6f 16af5 16b37-16b3b 16b44 1bc9f 1da87-1da8b "
)

# Rust's char::is_whitespace (the Unicode White_Space property), plus \t \n \r.
_WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                        + "".join(map(chr, range(0x2000, 0x200B))))
# CJK ideograph blocks, exactly as tokenizers' BertNormalizer lists them.
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
MAX_INPUT_CHARS_PER_WORD = 100
_CACHE_LIMIT = 1 << 18  # entries per cache before it is cleared


class _CodePoints:
    """A set of code points given as ``"hex hex-hex ..."`` ranges."""

    def __init__(self, spec: str):
        self.starts: List[int] = []
        self.ends: List[int] = []
        for item in spec.split():
            lo, _, hi = item.partition("-")
            self.starts.append(int(lo, 16))
            self.ends.append(int(hi or lo, 16))

    def __contains__(self, ch: str) -> bool:
        cp = ord(ch)
        i = bisect.bisect_right(self.starts, cp) - 1
        return i >= 0 and cp <= self.ends[i]


_OTHER = _CodePoints(_OTHER_SPEC)
_MN = _CodePoints(_MN_SPEC)
_PUNCT = _CodePoints(_PUNCT_SPEC)


def is_cjk(ch: str) -> bool:
    """Whether ``ch`` is a CJK ideograph (by tokenizers' block list)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK)


def char_rule(ch: str, lower: bool, strip: bool, cjk: bool):
    """What the normalizer and pre-tokenizer make of one character.

    Returns:
        ``None`` for a word boundary (whitespace); a ``str`` of characters to
        append to the current word (``""`` when the character is removed);
        a 1-tuple ``(word,)`` for a word on its own (punctuation, a CJK
        ideograph); otherwise a tuple mixing both, e.g. ``("a", None, "b")``.
    """
    if ch == "\x00" or ch == "\ufffd" or ch in _OTHER:  # cleaning removes these first ...
        return ""
    if ch in _WHITESPACE:  # ... then turns whitespace into a space
        return None
    out = ch
    if strip:
        out = "".join(c for c in unicodedata.normalize("NFD", out) if c not in _MN)
    if lower:
        out = "".join(c.lower() for c in out)
    parts: list = [None] if cjk and is_cjk(ch) else []
    for c in out:
        if c in _WHITESPACE:
            parts.append(None)
        elif c in _PUNCT:
            parts += [None, c, None]
        elif parts and isinstance(parts[-1], str):
            parts[-1] += c
        else:
            parts.append(c)
    if cjk and is_cjk(ch):
        parts.append(None)
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 3 and parts[0] is None and parts[2] is None and parts[1] is not None:
        return (parts[1],)  # a word on its own: the common case of CJK and punctuation
    return tuple(parts)


class _CharRules(dict):
    """``char -> char_rule(char, ...)``, computed on first use."""

    def __init__(self, lower: bool, strip: bool, cjk: bool):
        super().__init__()
        self.flags = (lower, strip, cjk)

    def __missing__(self, ch: str):
        if len(self) > _CACHE_LIMIT:
            self.clear()
        rule = self[ch] = char_rule(ch, *self.flags)
        return rule

    def __reduce__(self):
        return (_CharRules, self.flags)


_SHARED_RULES: Dict[tuple, _CharRules] = {}


def _special_matcher(special_tokens: Sequence[str]):
    """Leftmost-longest finder of special tokens written in a text (``None`` if there are none)."""
    tokens = sorted({t for t in special_tokens if t}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, tokens))) if tokens else None


# ------------------------------------------------------------------ heads of long texts (truncation)
HEAD_MIN_CHARS = 256  # a first head is 8 characters per kept token plus this
_COUNT_CHUNK_CHARS = 1 << 16  # piece size when only the number of tokens is wanted


def _cut_candidates(cjk: bool) -> "re.Pattern[str]":
    """Characters after which a text may often be cut: whitespace, punctuation, CJK (when split).

    Only a fast pre-filter for :meth:`_HeadEncoder.is_cut`, which checks each
    candidate; a character left out here only means fewer places to cut.
    """
    def span(lo: int, hi: int) -> str:
        return re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"

    parts = [re.escape(c) for c in sorted(_WHITESPACE) if c not in _OTHER]
    parts += [span(lo, hi) for lo, hi in zip(_PUNCT.starts, _PUNCT.ends)]
    if cjk:
        parts += [span(lo, hi) for lo, hi in _CJK]
    return re.compile("[" + "".join(parts) + "]")


class _HeadEncoder:
    """Tokenize only the head of a long text: what truncation keeps, at a cost bounded by it.

    Both backends split a text into words the same way, so a text can be cut
    where a word always ends: right after a character that becomes whitespace,
    punctuation or (when split) a CJK ideograph, and not inside a special token
    written in the text. The tokens (and offsets) of such a head are exactly
    the first tokens of the whole text. Accent stripping decomposes (NFD) the
    whole text, but canonical reordering never moves a mark across such a
    character (its decomposition ends with combining class 0 or 1), so the
    character rules alone decide.

    Users set ``self._rules``, ``self._cut_specials`` (the special tokens) and
    ``self._candidates`` with :meth:`_init_heads`, and provide ``encode``.
    """

    def _init_heads(self, special_tokens: Sequence[str], flags: Tuple[bool, bool, bool]) -> None:
        self._rules = _SHARED_RULES.setdefault(flags, _CharRules(*flags))
        self._cut_specials = tuple(sorted({t for t in special_tokens if len(t) > 1}))
        self._candidates = _cut_candidates(flags[2])

    def is_cut(self, text: str, k: int) -> bool:
        """Whether ``text[:k]`` tokenizes to exactly the tokens of ``text`` that start before ``k``."""
        rule = self._rules[text[k - 1]]
        if not (rule is None or (rule.__class__ is tuple and (len(rule) == 1 or rule[-1] is None))):
            return False
        for t in self._cut_specials:  # a special token written across k would be lost by the cut
            lo = max(0, k - len(t) + 1)
            i = text.find(t, lo, k + len(t) - 1)
            while i != -1:
                if i < k < i + len(t):
                    return False
                i = text.find(t, i + 1, k + len(t) - 1)
        return True

    def _cut_after(self, text: str, start: int, end: int) -> Optional[int]:
        """The first cut ``k`` with ``start < k < end`` (``None`` if there is none)."""
        m = self._candidates.search(text, start, end - 1)
        while m is not None:
            k = m.end()
            if self.is_cut(text, k):
                return k
            m = self._candidates.search(text, k, end - 1)
        return None

    def _cut_before(self, text: str, start: int, end: int) -> Optional[int]:
        """The last cut ``k`` with ``start < k <= end`` (``None`` if there is none)."""
        for lo in (end - 64, end - 1024, start):  # near ``end`` first: usually found at once
            found = [m.end() for m in self._candidates.finditer(text, max(lo, start), end)]
            for k in reversed(found):
                if self.is_cut(text, k):
                    return k
            if lo <= start:
                return None
        return None

    def _head_end(self, text: str, size: int) -> Tuple[int, int]:
        """``(k, size)``: a head ``text[:k]`` of about ``size`` characters or more (``k = len(text)``: all of it).

        ``size`` comes back doubled as often as no cut was found near it.
        """
        n = len(text)
        while size < n:
            k = self._cut_after(text, size - 1, min(n, 2 * size)) or self._cut_before(text, size // 2, size)
            if k is not None:
                return k, size
            size *= 2
        return n, size

    def encode_batch_head(self, texts: Sequence[str], limit: int, with_offsets: bool = False):
        """Tokens of a head of each text with more than ``limit`` tokens, or of all of it.

        A head starts at ``8 * limit + HEAD_MIN_CHARS`` characters and doubles
        until it holds more than ``limit`` tokens, so time and memory follow
        ``limit`` rather than the texts' length; a text is tokenized whole when
        no head is long enough, or when no cut is found (a run without
        whitespace, punctuation or CJK). Heads are tokenized a round at a time,
        together (in parallel on the fast backend).

        Returns:
            ``(ids, offsets or None, complete)``: as :meth:`encode_batch` for
            the heads; ``complete[i]`` is ``True`` when text ``i`` was
            tokenized whole (else ``len(ids[i]) > limit``).
        """
        first = max(16, 8 * limit + HEAD_MIN_CHARS)
        ids: List[Optional[List[int]]] = [None] * len(texts)
        offsets: List[Optional[Offsets]] = [None] * len(texts)
        complete = [True] * len(texts)
        sizes = {i: first for i in range(len(texts))}
        while sizes:
            ends = {i: self._head_end(texts[i], size) for i, size in sizes.items()}
            order = list(ends)
            r_ids, r_offs = self.encode_batch([texts[i][:ends[i][0]] for i in order], with_offsets)
            for j, i in enumerate(order):
                k, size = ends[i]
                if k == len(texts[i]) or len(r_ids[j]) > limit:
                    ids[i], offsets[i] = r_ids[j], (r_offs[j] if with_offsets else None)
                    complete[i] = k == len(texts[i])
                    del sizes[i]
                else:  # too few tokens yet: a longer head next round
                    sizes[i] = 2 * max(size, k)
        return ids, (offsets if with_offsets else None), complete

    def _piece_counts(self, text: str):
        """Token counts of successive pieces of ``text`` (cut as :meth:`is_cut` allows): bounded memory."""
        start, n = 0, len(text)
        while start < n:
            end = start + _COUNT_CHUNK_CHARS
            k = (self._cut_after(text, end - 1, n) if end < n else None) or n
            yield len(self.encode(text[start:k])[0])
            start = k

    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text``, tokenized piece by piece (memory bounded, time linear)."""
        return sum(self._piece_counts(text))

    def first_is_longer(self, a: str, b: str) -> bool:
        """Whether ``a`` has more tokens than ``b``, counting both only as far as the shorter one needs."""
        pieces_a, pieces_b = self._piece_counts(a), self._piece_counts(b)
        na = nb = 0
        done_a = done_b = False
        while True:
            if done_a and (done_b or nb > na):
                return na > nb
            if done_b and na > nb:
                return True
            if not done_a and (done_b or na <= nb):  # advance the one behind
                step = next(pieces_a, None)
                done_a = step is None
                na += step or 0
            else:
                step = next(pieces_b, None)
                done_b = step is None
                nb += step or 0


class PythonWordPiece(_HeadEncoder):
    """Readable pure-Python BERT WordPiece tokenizer with per-character and per-word caches.

    Args:
        vocab: token -> id.
        unk_token: the token for words that cannot be covered (must be in ``vocab``).
        special_tokens: tokens matched verbatim in the input before normalization.
        do_lower_case: lower-case the text.
        strip_accents: strip accents (NFD, drop Mn); ``None`` follows ``do_lower_case``.
        tokenize_chinese_chars: make every CJK ideograph a word of its own.
    """

    def __init__(self, vocab: Dict[str, int], unk_token: str, special_tokens: Sequence[str],
                 do_lower_case: bool = True, strip_accents: Optional[bool] = None,
                 tokenize_chinese_chars: bool = True):
        self.vocab = vocab
        self.unk_id = vocab[unk_token]
        strip = do_lower_case if strip_accents is None else bool(strip_accents)
        key = (bool(do_lower_case), strip, bool(tokenize_chinese_chars))
        self._init_heads(special_tokens, key)  # sets self._rules
        self._specials = {t: vocab[t] for t in special_tokens if t}
        self._special_re = _special_matcher(special_tokens)
        self._words: Dict[str, Tuple[Tuple[int, ...], Tuple[Tuple[int, int], ...]]] = {}
        # Longest piece (in characters) that can match at a word's start / after "##".
        self._max_first = max((len(t) for t in vocab if not t.startswith("##")), default=0)
        self._max_next = max((len(t) - 2 for t in vocab if t.startswith("##")), default=0)

    # --------------------------------------------------------------- words
    def split_words(self, text: str) -> List[Tuple[str, List[int]]]:
        """Normalize and pre-tokenize ``text``.

        Returns:
            ``(word, positions)`` pairs: each normalized word and, for each of
            its characters, the index of the character of ``text`` it came from.
        """
        rules = self._rules
        words: List[Tuple[str, List[int]]] = []
        chars: List[str] = []
        pos: List[int] = []
        for i, ch in enumerate(text):
            rule = rules[ch]
            if rule.__class__ is str:  # part of the current word
                if len(rule) == 1:
                    chars.append(rule)
                    pos.append(i)
                elif rule:
                    chars.append(rule)
                    pos.extend([i] * len(rule))
            elif rule is None:  # a word boundary
                if chars:
                    words.append(("".join(chars), pos))
                    chars, pos = [], []
            elif len(rule) == 1:  # a word on its own
                if chars:
                    words.append(("".join(chars), pos))
                    chars, pos = [], []
                words.append((rule[0], [i] * len(rule[0])))
            else:
                for part in rule:
                    if part is None:
                        if chars:
                            words.append(("".join(chars), pos))
                            chars, pos = [], []
                    else:
                        chars.append(part)
                        pos.extend([i] * len(part))
        if chars:
            words.append(("".join(chars), pos))
        return words

    def wordpiece(self, word: str) -> Tuple[Tuple[int, ...], Tuple[Tuple[int, int], ...]]:
        """Greedy longest-match-first WordPiece of one normalized word.

        Returns:
            ``(ids, spans)``: the piece ids and each piece's ``(start, end)``
            character span in ``word``. A word over 100 characters, or one with
            a part no vocabulary entry covers, is a single ``[UNK]``.
        """
        vocab, n = self.vocab, len(word)
        whole = ((self.unk_id,), ((0, n),))
        if n > MAX_INPUT_CHARS_PER_WORD:
            return whole
        ids, spans, start = [], [], 0
        while start < n:
            end = min(n, start + (self._max_next if start else self._max_first))
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in vocab:
                    ids.append(vocab[piece])
                    spans.append((start, end))
                    break
                end -= 1
            else:
                return whole
            start = end
        return tuple(ids), tuple(spans)

    # -------------------------------------------------------------- encode
    def _encode_plain(self, text: str, base: int, ids: List[int], offsets: Optional[Offsets]) -> None:
        cache = self._words
        for word, pos in self.split_words(text):
            entry = cache.get(word)
            if entry is None:
                if len(cache) > _CACHE_LIMIT:
                    cache.clear()
                entry = cache[word] = self.wordpiece(word)
            ids.extend(entry[0])
            if offsets is not None:
                offsets.extend((base + pos[a], base + pos[b - 1] + 1) for a, b in entry[1])

    def encode(self, text: str, with_offsets: bool = False) -> Tuple[List[int], Optional[Offsets]]:
        """Ids (and character offsets into ``text`` if asked) of one text, no special tokens added."""
        ids: List[int] = []
        offsets: Optional[Offsets] = [] if with_offsets else None
        start = 0
        if self._special_re is not None:
            for m in self._special_re.finditer(text):
                self._encode_plain(text[start:m.start()], start, ids, offsets)
                ids.append(self._specials[m.group()])
                if offsets is not None:
                    offsets.append(m.span())
                start = m.end()
        self._encode_plain(text[start:] if start else text, start, ids, offsets)
        return ids, offsets

    def encode_batch(self, texts: Sequence[str], with_offsets: bool = False):
        """:meth:`encode` for each text: ``(list of ids, list of offsets or None)``."""
        out = [self.encode(t, with_offsets) for t in texts]
        return [o[0] for o in out], ([o[1] for o in out] if with_offsets else None)


class FastWordPiece(_HeadEncoder):
    """The same tokenizer on HuggingFace ``tokenizers`` (Rust, batches run in parallel).

    Same arguments as :class:`PythonWordPiece`, plus ``cls_token`` and
    ``sep_token`` for the ``TemplateProcessing`` post-processor of
    :attr:`tokenizer` (``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]``, types
    0/1), which makes :attr:`tokenizer` a complete BERT tokenizer on its own.

    Raises:
        ImportError: ``tokenizers`` is not installed.
    """

    def __init__(self, vocab: Dict[str, int], unk_token: str, special_tokens: Sequence[str],
                 do_lower_case: bool = True, strip_accents: Optional[bool] = None,
                 tokenize_chinese_chars: bool = True, cls_token: str = "[CLS]", sep_token: str = "[SEP]"):
        from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

        self._args = (vocab, unk_token, special_tokens, do_lower_case, strip_accents, tokenize_chinese_chars)
        self._fallback: Optional[PythonWordPiece] = None
        strip = do_lower_case if strip_accents is None else bool(strip_accents)
        self._init_heads(special_tokens, (bool(do_lower_case), strip, bool(tokenize_chinese_chars)))
        tk = Tokenizer(models.WordPiece(vocab, unk_token=unk_token, continuing_subword_prefix="##",
                                        max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD))
        tk.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=tokenize_chinese_chars,
                                                   strip_accents=strip_accents, lowercase=do_lower_case)
        tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tk.post_processor = processors.TemplateProcessing(
            single=f"{cls_token}:0 $A:0 {sep_token}:0",
            pair=f"{cls_token}:0 $A:0 {sep_token}:0 $B:1 {sep_token}:1",
            special_tokens=[(cls_token, vocab[cls_token]), (sep_token, vocab[sep_token])])
        tk.decoder = decoders.WordPiece(prefix="##", cleanup=True)
        tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens if t])
        self.tokenizer = tk

    def encode(self, text: str, with_offsets: bool = False) -> Tuple[List[int], Optional[Offsets]]:
        """Ids (and character offsets if asked) of one text, no special tokens added."""
        ids, offsets = self.encode_batch([text], with_offsets)
        return ids[0], (offsets[0] if with_offsets else None)

    def encode_batch(self, texts: Sequence[str], with_offsets: bool = False):
        """Ids of many texts at once: ``(list of ids, list of offsets or None)``."""
        try:
            encs = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        except Exception:  # noqa: BLE001 - e.g. lone surrogates, which Rust strings cannot hold
            return self._encode_each(texts, with_offsets)
        ids = [e.ids for e in encs]
        return ids, ([e.offsets for e in encs] if with_offsets else None)

    def _encode_each(self, texts: Sequence[str], with_offsets: bool):
        """Text by text; one Rust cannot take goes through the (identical) Python backend."""
        ids, offsets = [], []
        for text in texts:
            try:
                enc = self.tokenizer.encode(text, add_special_tokens=False)
                i, o = enc.ids, enc.offsets
            except Exception:  # noqa: BLE001
                if self._fallback is None:
                    self._fallback = PythonWordPiece(*self._args)
                i, o = self._fallback.encode(text, True)
            ids.append(i)
            offsets.append(o)
        return ids, (offsets if with_offsets else None)
