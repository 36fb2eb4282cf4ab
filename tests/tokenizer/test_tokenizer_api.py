"""ElectraTokenizer's PaddleNLP 2.8.1 tokenizer API (and HF's where the two agree), on a small English vocabulary.

Every encoding test runs on both backends (``tokenizers`` and pure Python),
which must agree. Folders saved here are read back by HF's
``BertTokenizerFast`` (this venv) and by PaddleNLP's own ``ElectraTokenizer``
(the PaddleNLP 2.8.1 reference venv, ``.venv-paddlenlp``), and folders in
their formats are read by ours.
"""

import inspect
import json
import logging
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import paddle
import pytest
from transformers import BertTokenizerFast, DataCollatorWithPadding

from paddle_electra import ElectraTokenizer
from paddle_electra.loading import registry
from paddle_electra.tokenizer import AddedToken, BatchEncoding, SpecialTokensError, TokenizerInputError, Vocab

REPO = Path(__file__).resolve().parents[2]
BACKENDS = ("fast", "python")
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ",",
         ".", "low", "lowest", "the", "cat", "sat", "on", "mat", "a", "dog", "hello", "world", "!"]
ID = {w: i for i, w in enumerate(WORDS)}
N = len(WORDS)  # the first added token's id


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "vocab"
    path.mkdir()
    (path / "vocab.txt").write_text("".join(w + "\n" for w in WORDS), encoding="utf-8")
    return str(path)


@pytest.fixture(params=BACKENDS)
def tok(folder, request):
    return ElectraTokenizer.from_pretrained(folder, backend=request.param)


def ids(text):
    return [ID[w] for w in text.split()]


# ------------------------------------------------------------------ encode / __call__
def test_encode_returns_the_encoding(tok):
    enc = tok.encode("the cat sat")
    assert isinstance(enc, BatchEncoding) and enc == tok("the cat sat") and enc.data == dict(enc)
    assert enc["input_ids"] == [ID["[CLS]"], *ids("the cat sat"), ID["[SEP]"]] and enc.input_ids is enc["input_ids"]
    bare = tok.encode("the cat", "on a mat", add_special_tokens=False)
    assert bare["input_ids"] == ids("the cat on a mat") and bare["token_type_ids"] == [0] * 5  # PaddleNLP: all 0
    assert tok.encode(["the", "cat"])["input_ids"] == tok.encode("the cat")["input_ids"]  # a list of tokens
    assert tok.encode(ids("the cat"), ids("dog")) == tok.encode("the cat", "dog") == tok.encode_plus("the cat", "dog")
    assert tok.prepare_for_model(ids("the cat"), ids("dog")) == tok("the cat", "dog")
    assert tok.encode("the cat")["token_type_ids"] == [0] * 4 and tok("a", "b")["token_type_ids"] == [0, 0, 0, 1, 1]


def test_bare_max_length_truncates_as_paddlenlp_and_hf(tok):
    text = "the cat sat on a mat"
    with pytest.warns(UserWarning, match="truncates with 'longest_first'"):
        assert tok(text, max_length=5)["input_ids"] == [ID["[CLS]"], *ids("the cat sat"), ID["[SEP]"]]
    assert tok(text, max_seq_len=5) == tok(text, max_length=5, truncation=True)
    padded = tok(text, max_seq_len=10, pad_to_max_seq_len=True)  # PaddleNLP 2.x style
    assert padded["input_ids"][-3:] == [ID["[SEP]"], 0, 0] and padded["attention_mask"] == [1] * 8 + [0] * 2
    assert tok("the cat", pad_to_max_seq_len=True)["input_ids"] == tok("the cat")["input_ids"]  # nothing to pad to
    assert len(tok(text, max_length=5, padding="max_length")["input_ids"]) == 8  # padding alone never cuts
    with pytest.raises(ValueError, match="disagree"):
        tok(text, max_length=4, max_seq_len=5)


def test_lengths_positions_and_multiples(tok):
    one = tok("the cat", padding="max_length", max_length=6, return_length=True, return_position_ids=True)
    assert one["length"] == one["seq_len"] == 6  # one input: after padding (PaddleNLP)
    assert one["position_ids"] == [0, 1, 2, 3, 0, 0]
    batch = tok(["the cat", "a dog sat"], padding=True, return_length=True)
    assert batch["length"] == batch["seq_len"] == [4, 5]  # a batch: before padding (PaddleNLP)
    eight = tok(["", "the cat"], padding=True, pad_to_multiple_of=8, return_special_tokens_mask=True)
    assert {len(row) for rows in eight.values() for row in rows} == {8}
    assert eight["special_tokens_mask"][0] == [1] * 8
    assert len(tok("cat", pad_to_multiple_of=8)["input_ids"]) == 3  # no padding asked
    assert len(tok("cat", padding=True, truncation=True, pad_to_multiple_of=8)["input_ids"]) == 8
    with pytest.raises(ValueError, match="pad_to_multiple_of=8"):
        tok("cat", padding=True, truncation=True, max_length=12, pad_to_multiple_of=8)


def test_model_input_names_decide_the_default_keys(folder):
    tok = ElectraTokenizer.from_pretrained(folder)
    assert tok.model_input_names == ["input_ids", "token_type_ids", "attention_mask"]
    assert list(tok("cat")) == ["input_ids", "token_type_ids", "attention_mask"]
    assert list(tok("cat", return_token_type_ids=False, return_attention_mask=False)) == ["input_ids"]
    assert list(tok("cat", "dog", return_token_type_ids=None, add_special_tokens=False)) == \
        ["input_ids", "token_type_ids", "attention_mask"]
    pnlp = ElectraTokenizer.from_pretrained(folder, model_input_names=["input_ids", "token_type_ids"])
    assert list(pnlp("cat")) == ["input_ids", "token_type_ids"]  # PaddleNLP's default keys
    assert "attention_mask" in pnlp("cat", return_attention_mask=True)
    with pytest.raises(ValueError, match="starting with 'input_ids'"):
        ElectraTokenizer.from_pretrained(folder, model_input_names=["token_type_ids"])


def test_pretokenized_inputs(tok):
    words = ["the", "cat", "unwanted"]
    assert tok(words, is_split_into_words=True) == tok("the cat unwanted")
    assert tok([words, ["dog"]], is_split_into_words=True) == tok(["the cat unwanted", "dog"])
    assert tok(words, ["dog"], is_split_into_words=True) == tok("the cat unwanted", "dog")
    offsets = tok(words, is_split_into_words=True, return_offsets_mapping=True)["offset_mapping"]
    assert offsets == [(0, 0), (0, 3), (0, 3), (0, 2), (2, 6), (6, 8), (0, 0)]  # within each word, as HF
    assert tok(["un", "##want", "##ed"], is_split_into_words="token")["input_ids"] == \
        [ID["[CLS]"], ID["un"], ID["##want"], ID["##ed"], ID["[SEP]"]]
    assert tok.batch_encode([(["the"], ["cat"]), ["dog", "sat"]], is_split_into_words=True)["input_ids"] == \
        [[2, ID["the"], 3, ID["cat"], 3], [2, ID["dog"], ID["sat"], 3]]
    with pytest.raises(ValueError, match="offsets need texts|return_offsets_mapping needs texts"):
        tok.encode(ids("the cat"), return_offsets_mapping=True)


def test_overflowing_tokens_as_paddlenlp(tok):
    six = ids("the cat sat on a mat")
    out = tok("the cat sat on a mat", max_length=4, add_special_tokens=False, stride=1, truncation=True,
              return_overflowing_tokens=True)
    assert out["input_ids"] == six[:4] and out["overflowing_tokens"] == six[-3:] and out["num_truncated_tokens"] == 2
    pair = dict(max_length=5, add_special_tokens=False, stride=1, return_overflowing_tokens=True)
    first = tok("the cat sat", "hello world ! dog", truncation="only_first", **pair)
    assert first["input_ids"] == ids("the hello world ! dog") and first["overflowing_tokens"] == ids("the cat sat")
    second = tok("the cat sat", "hello world ! dog", truncation="only_second", **pair)
    assert second["input_ids"] == ids("the cat sat hello world") and second["overflowing_tokens"] == ids("world ! dog")
    with pytest.raises(ValueError, match="^Not possible to return overflowing tokens for pair of sequences with the "
                                         "`longest_first`"):
        tok("the cat sat", "hello world ! dog", truncation=True, **pair)
    batch = tok(["the cat sat on a mat", "dog"], max_length=5, truncation=True, return_overflowing_tokens=True)
    assert batch["overflowing_tokens"] == [six[3:], []] and batch["num_truncated_tokens"] == [3, -2]


def test_stride_windows_over_batched_pairs(tok):
    out = tok(["the cat"], ["a dog sat on a mat"], stride=2, max_length=8)
    head = [ID["[CLS]"], *ids("the cat"), ID["[SEP]"]]
    assert out["input_ids"] == [head + ids("a dog sat") + [3], head + ids("sat on a") + [3],
                                head + ids("a mat") + [3]]
    assert out["overflow_to_sample"] == [0, 0, 0]
    assert out["offset_mapping"][1] == [(0, 0), (0, 3), (4, 7), (0, 0), (6, 9), (10, 12), (13, 14), (0, 0)]
    assert out["token_type_ids"][2] == [0, 0, 0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="pass max_length"):
        tok(["the cat"], ["a dog"], stride=2)
    with pytest.raises(ValueError, match="stride=2 does nothing here"):
        tok("the cat", "a dog", stride=2, max_length=5)


def test_left_padding_and_truncation(tok, folder):
    tok.padding_side = "left"
    out = tok(["the cat", "a dog sat"], padding=True, return_special_tokens_mask=True, return_offsets_mapping=True)
    assert out["input_ids"][0] == [0, 2, ID["the"], ID["cat"], 3] and out["attention_mask"][0] == [0, 1, 1, 1, 1]
    assert out["special_tokens_mask"][0] == [1, 1, 0, 0, 1] and out["offset_mapping"][0][:2] == [(0, 0), (0, 0)]
    arrays = tok(["the cat", "a dog sat"], padding=True, return_special_tokens_mask=True, return_tensors="np")
    assert arrays["input_ids"].tolist() == out["input_ids"] and arrays["attention_mask"].tolist() == \
        out["attention_mask"] and arrays["special_tokens_mask"].tolist() == out["special_tokens_mask"]
    tok.truncation_side = "left"
    assert tok("the cat sat on a mat", max_length=4, truncation=True)["input_ids"] == [2, *ids("a mat"), 3]
    with pytest.raises(ValueError, match="padding_side must be 'right' or 'left'"):
        tok.padding_side = "middle"
    assert ElectraTokenizer.padding_side == ElectraTokenizer.truncation_side == "right"
    assert ElectraTokenizer.from_pretrained(folder, padding_side="left").padding_side == "left"
    assert ElectraTokenizer.from_pretrained(folder, truncation_side="left").truncation_side == "left"
    for side in ("padding_side", "truncation_side"):
        with pytest.raises(ValueError, match=side):
            ElectraTokenizer.from_pretrained(folder, **{side: "unauthorized"})


def test_pad_serves_collators(tok):
    features = [{"input_ids": [1, 2, 3, 4, 5, 6], "attention_mask": [1, 1, 1, 1, 1, 0], "labels": 1},
                {"input_ids": [1, 2, 3], "attention_mask": [1, 1, 0], "labels": 0}]
    out = tok.pad(features)
    assert out["attention_mask"] == [[1, 1, 1, 1, 1, 0], [1, 1, 0, 0, 0, 0]]
    assert out["input_ids"][1] == [1, 2, 3, 0, 0, 0] and out["labels"] == [1, 0]
    tok.padding_side = "left"
    assert tok.pad(features)["attention_mask"][1] == [0, 0, 0, 1, 1, 0]
    tok.padding_side = "right"
    batch = tok.pad([tok("the cat"), tok("a dog sat on")], return_tensors="pd", pad_to_multiple_of=4)
    assert isinstance(batch["input_ids"], paddle.Tensor) and batch["input_ids"].shape == [2, 8]
    assert batch["input_ids"].dtype == paddle.int64 and batch["token_type_ids"].numpy()[0].tolist() == [0] * 8
    tensors = tok.pad({"input_ids": [paddle.to_tensor([5, 6]), paddle.to_tensor([7])]})  # tensors in, tensors out
    assert isinstance(tensors["input_ids"], paddle.Tensor) and tensors["input_ids"].numpy().tolist() == [[5, 6], [7, 0]]
    single = tok.pad({"input_ids": [5, 6]}, padding="max_length", max_length=4)
    assert single["input_ids"] == [5, 6, 0, 0] and single["attention_mask"] == [1, 1, 0, 0]
    collated = DataCollatorWithPadding(tok, return_tensors="np")([dict(tok(t), label=i)
                                                                  for i, t in enumerate(["the cat", "a dog sat"])])
    assert collated["input_ids"].shape == (2, 5) and collated["labels"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="input_ids"):
        tok.pad({"attention_mask": [1]})


# ------------------------------------------------------------------ added and special tokens
def test_added_tokens(tok):
    assert tok.add_tokens(["New Word", "cat", "new word"]) == 1  # "cat" is known; lower-cased twins count once
    assert tok.added_tokens_encoder == {"new word": N} and tok.added_tokens_decoder == {N: "new word"}
    assert len(tok) == N + 1 and tok.vocab_size == N and tok.get_vocab()["new word"] == N
    assert tok.tokenize("the NEW WORD sat") == ["the", "new word", "sat"]  # kept whole, any case
    assert tok.decode(tok.encode("the new word")["input_ids"]) == "[CLS] the new word [SEP]"
    tok.add_tokens([AddedToken("extra_id_1")])
    tok.add_tokens([AddedToken("extra_id_100")])
    assert tok.tokenize("cat extra_id_100") == ["cat", "extra_id_100"]  # the longest match wins
    tok.add_tokens([AddedToken("KeepCase", normalized=False)])
    assert tok.tokenize("KeepCase keepcase") == ["KeepCase", "[UNK]"]
    tok.add_tokens([AddedToken("xx", single_word=True)])
    assert tok.tokenize("xx cat") == ["xx", "cat"] and "xx" not in tok.tokenize("axx")
    tok.add_tokens(["[SPECIAL_TOKEN_1]"], special_tokens=True)
    assert tok.tokenize("a[SPECIAL_TOKEN_1]b") == ["a", "[SPECIAL_TOKEN_1]", "[UNK]"]
    offsets = tok("the new word!", return_offsets_mapping=True)["offset_mapping"]
    assert offsets == [(0, 0), (0, 3), (4, 12), (12, 13), (0, 0)]
    assert [tok.convert_ids_to_tokens(i) for i in range(N, len(tok))] == list(tok.added_tokens_encoder)
    assert tok.add_tokens("") == 0 and tok.add_tokens([]) == 0
    with pytest.raises(TokenizerInputError):
        tok.add_tokens([3])


def test_never_split_words(folder, tok):
    kept = ElectraTokenizer(os.path.join(folder, "vocab.txt"), never_split=["[keep]"], backend=tok.backend)
    assert kept.tokenize("a [keep]") == ["a", "[UNK]"] and tok.tokenize("a [keep]") == ["a"] + ["[UNK]"] * 3
    assert kept.tokenize("b[keep]") == ["[UNK]"] * 4  # not a whole word: split as usual


def test_special_token_slots(tok):
    assert tok.bos_token is None and tok.eos_token_id is None and tok.additional_special_tokens == []
    assert tok.special_tokens_map == {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                                      "cls_token": "[CLS]", "mask_token": "[MASK]"}
    assert tok.all_special_tokens == ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"] and tok.pad_token_type_id == 0
    added = tok.add_special_tokens({"bos_token": "[BOS]", "eos_token": "[SEP]", "additional_special_tokens": ["<x>"]})
    assert added == 2 and tok.bos_token_id == N and tok.eos_token_id == ID["[SEP]"]  # [SEP] was in the vocabulary
    assert tok.add_special_tokens({"additional_special_tokens": ["<y>"]}, replace_additional_special_tokens=False) == 1
    assert tok.additional_special_tokens == ["<x>", "<y>"] and tok.additional_special_tokens_ids == [N + 1, N + 2]
    tok.add_special_tokens({"additional_special_tokens": ["<x>"]})  # replaces them (PaddleNLP, HF default)
    assert tok.special_tokens_map["additional_special_tokens"] == ["<x>"]
    assert tok.tokenize("a<x>cat<y>[BOS]") == ["a", "<x>", "cat", "<y>", "[BOS]"]  # still never split
    for bad in ({"bogus_token": "x"}, {"additional_special_tokens": "<x>"}, {"cls_token": 5}):
        with pytest.raises(SpecialTokensError) as err:
            tok.add_special_tokens(bad)
        assert isinstance(err.value, ValueError) and isinstance(err.value, AssertionError)  # PaddleNLP asserts
    tok.add_special_tokens({"cls_token": "[SPECIAL]"})
    enc = tok.encode("cat")["input_ids"]
    assert enc[0] == tok.cls_token_id == tok.convert_tokens_to_ids("[SPECIAL]")
    assert "[SPECIAL]" not in tok.decode(enc, skip_special_tokens=True)


def test_token_id_setters(tok):
    for slot in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        setattr(tok, slot + "_id", None)
        assert getattr(tok, slot) is None and getattr(tok, slot + "_id") is None
        setattr(tok, slot + "_id", ID["cat"])
        assert getattr(tok, slot) == "cat" and getattr(tok, slot + "_id") == ID["cat"]
    tok.additional_special_tokens_ids = [ID["dog"]]
    assert tok.additional_special_tokens == ["dog"]
    tok.pad_token = None
    with pytest.raises(ValueError, match="pad token"):
        tok(["a", "a dog"], padding=True)
    with pytest.raises(ValueError, match="pad token"):
        tok.pad([{"input_ids": [1]}, {"input_ids": [1, 2]}])


def test_decode_options(tok):
    row = tok.encode("unwanted, running.")["input_ids"]
    assert tok.decode(row) == "[CLS] unwanted, running. [SEP]"
    assert tok.decode(row, clean_up_tokenization_spaces=False) == "[CLS] unwanted , running . [SEP]"
    assert tok.decode(row, skip_special_tokens=True) == "unwanted, running." and tok.decode(ID["cat"]) == "cat"
    assert tok.batch_decode(np.array([row, row]), skip_special_tokens=True) == ["unwanted, running."] * 2
    tok.add_tokens(["[ABC]", "[DEF]"], special_tokens=True)
    glued = tok.encode("[ABC][DEF]cat", add_special_tokens=False)["input_ids"]
    assert tok.decode(glued) == "[ABC] [DEF] cat"
    assert tok.decode(glued, spaces_between_special_tokens=False) == "[ABC][DEF]cat"
    assert tok.get_special_tokens_mask(ids("the cat"), ids("dog")) == [1, 0, 0, 1, 0, 1]
    assert tok.get_special_tokens_mask([2, ID["the"], ID["[MASK]"], 3], already_has_special_tokens=True) == \
        [1, 0, 0, 1]  # PaddleNLP's ELECTRA rule: [CLS] and [SEP]
    with pytest.raises(ValueError, match="already_has_special_tokens"):
        tok.get_special_tokens_mask([2, 3], [4], already_has_special_tokens=True)


def test_too_long_inputs_warn_once_on_the_paddlenlp_logger(folder, caplog):
    tok = ElectraTokenizer.from_pretrained(folder, model_max_length=4)
    with caplog.at_level(logging.WARNING, logger="PaddleNLP"):
        tok("the cat sat on a mat")
        tok(["the cat sat on a mat"], padding=True)
        tok("the cat sat on a mat", truncation=True)  # fits model_max_length: nothing to say
    records = [r for r in caplog.records if r.name.startswith("PaddleNLP")]
    assert len(records) == 1 and records[0].getMessage().startswith(
        "Token indices sequence length is longer than the specified maximum sequence length for this model (8 > 4)")
    tok.deprecation_warnings = {}
    with caplog.at_level(logging.WARNING, logger="PaddleNLP"):
        tok("the cat sat on a mat", verbose=False)
        tok("the cat sat on a mat")
    assert len([r for r in caplog.records if r.name.startswith("PaddleNLP")]) == 2
    quiet = ElectraTokenizer.from_pretrained(folder, model_max_length=4, verbose=False)
    with caplog.at_level(logging.WARNING, logger="PaddleNLP"):
        quiet("the cat sat on a mat")
    assert len([r for r in caplog.records if r.name.startswith("PaddleNLP")]) == 2


def test_input_errors_are_value_errors(tok, folder):
    with pytest.raises(TokenizerInputError, match="text must be a str") as err:
        tok(3)
    assert isinstance(err.value, TypeError) and isinstance(err.value, ValueError)
    with pytest.raises(ValueError, match="return_dict=False"):
        tok("a", return_dict=False)
    assert tok(["cat", "a dog"], return_dict=False) == [tok("cat"), tok("a dog")]
    with pytest.raises(ValueError, match="add_special_tokens=True needs cls_token"):
        tok.cls_token = None
        tok("cat")
    with pytest.raises(ValueError, match="do_basic_tokenize=False"):
        ElectraTokenizer(os.path.join(folder, "vocab.txt"), do_basic_tokenize=False)
    with pytest.raises(ValueError, match="return_tensors"):
        tok("cat", return_tensors="pt")


# ------------------------------------------------------------------ attributes and name tables
def test_init_kwargs_record_every_argument(folder, tmp_path, caplog):
    tok = ElectraTokenizer.from_pretrained(folder, random_argument=True)
    for name, param in inspect.signature(ElectraTokenizer.__init__).parameters.items():
        if param.default is not inspect.Parameter.empty:
            assert name in tok.init_kwargs, name
    assert tok.init_kwargs["random_argument"] is True and "random_argument=True" in caplog.text  # not silent
    assert tok.init_inputs == () and tok.name_or_path == folder and tok.is_fast is False
    tok.save_pretrained(str(tmp_path / "t"))
    assert ElectraTokenizer.from_pretrained(str(tmp_path / "t")).init_kwargs["random_argument"] is True
    assert ElectraTokenizer.from_pretrained(folder, random_argument=False).init_kwargs["random_argument"] is False
    assert tok.max_len_single_sentence == 510 and tok.max_len_sentences_pair == 509


def test_pretrained_name_tables():
    files = ElectraTokenizer.pretrained_resource_files_map
    names = list(files["vocab_file"])
    assert names[:6] == ["electra-small", "electra-base", "electra-large", "chinese-electra-base",
                         "chinese-electra-small", "ernie-health-chinese"]  # PaddleNLP's order first
    assert set(names) == {n for n in registry.names() if registry.get_entry(n).file("vocab")}
    assert sorted(ElectraTokenizer.max_model_input_sizes) == sorted(names) == \
        sorted(ElectraTokenizer.pretrained_init_configuration)
    assert files["vocab_file"]["electra-small"].endswith("/electra/electra-small-vocab.txt")
    assert ElectraTokenizer.max_model_input_sizes["electra-small"] == 512
    assert ElectraTokenizer.pretrained_init_configuration["electra-small"] == {"do_lower_case": True}
    embedded = files["vocab_file"]["electra-zh-peoples-daily-small-discriminator"]
    assert os.path.isfile(embedded)  # a local path PaddleNLP's loader reads as is
    assert ElectraTokenizer.resource_files_names == {"vocab_file": "vocab.txt"}


def test_vocab_object(tok):
    vocab = tok.vocab
    assert isinstance(vocab, Vocab) and vocab.token_to_idx["cat"] == ID["cat"]
    assert vocab.idx_to_token[ID["cat"]] == "cat"
    assert vocab.to_indices(["cat", "nope"]) == [ID["cat"], ID["[UNK]"]] and vocab["nope"] == ID["[UNK]"]
    assert vocab(["dog"]) == [ID["dog"]] and vocab.to_tokens([ID["cat"], ID["dog"]]) == ["cat", "dog"]
    assert vocab.to_tokens(ID["cat"]) == "cat" and vocab.get_unk_token_id() == ID["[UNK]"]
    assert len(vocab) == N and list(vocab)[:2] == ["[PAD]", "[UNK]"] and "cat" in vocab and "nope" not in vocab
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.to_tokens(999)
    tok.add_tokens(["zebra"])
    assert "zebra" not in tok.vocab and "zebra" in tok.get_vocab()  # added tokens live beside it, as in PaddleNLP


# ------------------------------------------------------------------ save / load
def test_save_and_load_keep_added_and_special_tokens(folder, tmp_path):
    tok = ElectraTokenizer.from_pretrained(folder, model_max_length=42, padding_side="left")
    tok.add_tokens(["bim", "bam bam"])
    tok.add_special_tokens({"additional_special_tokens": ["<new>"], "pad_token": "<pad2>"})
    target = tmp_path / "t"
    files = tok.save_pretrained(str(target))
    assert [os.path.basename(f) for f in files] == ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                                                    "added_tokens.json"]
    special = json.loads((target / "special_tokens_map.json").read_text(encoding="utf-8"))
    assert special["pad_token"] == "<pad2>" and special["additional_special_tokens"] == ["<new>"]
    config = json.loads((target / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "ElectraTokenizer" and config["model_max_length"] == 42
    assert config["padding_side"] == "left" and config["pad_token"] == "[PAD]"  # __init__'s, as PaddleNLP saves
    assert "vocab_file" not in config and "backend" not in config
    again = ElectraTokenizer.from_pretrained(str(target))
    text = ["bim the BAM BAM <new> <pad2>", "cat"]
    assert again(text, padding=True) == tok(text, padding=True) and again.get_vocab() == tok.get_vocab()
    assert (again.pad_token, again.additional_special_tokens, again.model_max_length, again.padding_side) == \
        ("<pad2>", ["<new>"], 42, "left")
    assert ElectraTokenizer.from_pretrained(str(target), model_max_length=43).model_max_length == 43
    assert pickle.loads(pickle.dumps(again))(text, padding=True) == again(text, padding=True)
    ElectraTokenizer.from_pretrained(folder).save_pretrained(str(target))  # no added tokens: the old file goes
    assert sorted(os.listdir(target)) == ["special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]


def test_hf_reads_the_saved_folder(folder, tmp_path):
    tok = ElectraTokenizer.from_pretrained(folder, padding_side="left", model_max_length=64)
    tok.add_tokens(["bim"])
    tok.add_special_tokens({"additional_special_tokens": ["<new>"]})
    tok.save_pretrained(str(tmp_path / "t"))
    hf = BertTokenizerFast.from_pretrained(str(tmp_path / "t"))
    texts = ["the cat bim <new> unwanted", "a dog [MASK] sat, running!"]
    assert hf(texts)["input_ids"] == tok(texts)["input_ids"]
    assert (hf.padding_side, hf.model_max_length, len(hf)) == ("left", 64, len(tok))


def test_loads_hf_and_paddlenlp_file_formats(folder, tmp_path):
    hf_dir, pnlp_dir = tmp_path / "hf", tmp_path / "pnlp"
    for d in (hf_dir, pnlp_dir):
        d.mkdir()
        shutil.copy(os.path.join(folder, "vocab.txt"), d / "vocab.txt")
    (hf_dir / "tokenizer_config.json").write_text(json.dumps({  # HF v5 keeps added tokens in the config
        "tokenizer_class": "BertTokenizer", "model_max_length": 10 ** 30, "clean_up_tokenization_spaces": True,
        "added_tokens_decoder": {"0": {"content": "[PAD]", "special": True}, str(N): {"content": "bim"},
                                 str(N + 1): {"content": "<e>", "special": True}}}))
    hf = ElectraTokenizer.from_pretrained(str(hf_dir))
    assert hf.added_tokens_encoder == {"bim": N, "<e>": N + 1} and hf.model_max_length == 512
    assert hf.init_kwargs["clean_up_tokenization_spaces"] is True  # kept (and saved again), not used
    flags = {"single_word": False, "lstrip": True, "rstrip": False, "normalized": True}
    (pnlp_dir / "tokenizer_config.json").write_text(json.dumps({  # as PaddleNLP 2.8.1 writes them
        "do_lower_case": True, "additional_special_tokens": [{"__type": "AddedToken", "content": "<a>", **flags}],
        "model_max_length": 128, "tokenizer_class": "ElectraTokenizer"}))
    (pnlp_dir / "special_tokens_map.json").write_text(json.dumps({
        "pad_token": {"content": "<p>", **flags}, "additional_special_tokens": ["<a>", {"content": "<b>", **flags}]}))
    (pnlp_dir / "added_tokens.json").write_text(json.dumps({"<a>": N, "<p>": N + 1, "<b>": N + 2}))
    pnlp = ElectraTokenizer.from_pretrained(str(pnlp_dir))
    assert pnlp.pad_token == "<p>" and pnlp.pad_token_id == N + 1 and pnlp.additional_special_tokens == ["<a>", "<b>"]
    assert pnlp(["<b> cat", "<a>"], padding=True)["input_ids"][1] == [2, N, 3, N + 1]
    (pnlp_dir / "added_tokens.json").write_text(json.dumps({"<a>": N + 5}))
    with pytest.raises(ValueError, match="without gaps"):
        ElectraTokenizer.from_pretrained(str(pnlp_dir))


def test_from_pretrained_options(folder, tmp_path):
    assert ElectraTokenizer.from_pretrained(folder, use_fast=False).backend == "python"
    assert ElectraTokenizer.from_pretrained(folder, fast=True).backend == "fast"
    with pytest.raises(ValueError, match="disagree"):
        ElectraTokenizer.from_pretrained(folder, use_fast=True, backend="python")
    tok, where = ElectraTokenizer.from_pretrained(folder, return_tokenizer_file_dir=True)
    assert where == folder and isinstance(tok, ElectraTokenizer)
    parent = Path(folder).parent
    assert ElectraTokenizer.from_pretrained(str(parent), subfolder=Path(folder).name).vocab_size == N
    with pytest.raises(ValueError, match="cache_dir"):
        ElectraTokenizer.from_pretrained(folder, cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="from_hf_hub"):
        ElectraTokenizer.from_pretrained(folder, from_hf_hub=True)


# ------------------------------------------------------------------ PaddleNLP itself
PADDLENLP_SCRIPT = """
import json, sys
from paddlenlp.transformers import ElectraTokenizer
ours, theirs, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tok = ElectraTokenizer.from_pretrained(ours)
out = {"ids": [tok(t)["input_ids"] for t in texts], "padding_side": tok.padding_side, "len": len(tok),
       "max": tok.model_max_length, "additional": tok.additional_special_tokens, "pad": tok.pad_token}
tok.add_tokens(["zebra"])
tok.save_pretrained(theirs)
out["ids_saved"] = [tok(t)["input_ids"] for t in texts + ["a zebra"]]
print(json.dumps(out))
"""


def _paddlenlp_python() -> str:
    path = os.environ.get("PADDLE_ELECTRA_PADDLENLP_PYTHON") or str(REPO / ".venv-paddlenlp" / "bin" / "python")
    if not os.access(path, os.X_OK):
        pytest.fail(f"the PaddleNLP 2.8.1 reference interpreter {path} does not exist; create it with "
                    "`bash tools/make_reference_envs.sh` (or set PADDLE_ELECTRA_PADDLENLP_PYTHON)", pytrace=False)
    return path


def test_paddlenlp_reads_our_folder_and_we_read_theirs(folder, tmp_path):
    tok = ElectraTokenizer.from_pretrained(folder, padding_side="left", model_max_length=64)
    tok.add_tokens(["bim"])
    tok.add_special_tokens({"additional_special_tokens": ["<new>"], "pad_token": "<p>"})
    tok.save_pretrained(str(tmp_path / "ours"))
    texts = ["the cat bim <new> unwanted", "a dog [MASK] sat, running <p>"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([_paddlenlp_python(), "-c", PADDLENLP_SCRIPT, str(tmp_path / "ours"), str(tmp_path / "pnlp"),
                           json.dumps(texts)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert theirs["ids"] == tok(texts)["input_ids"] and theirs["len"] == len(tok)
    assert (theirs["padding_side"], theirs["max"], theirs["additional"], theirs["pad"]) == \
        ("left", 64, ["<new>"], "<p>")
    back = ElectraTokenizer.from_pretrained(str(tmp_path / "pnlp"))
    assert back(texts + ["a zebra"])["input_ids"] == theirs["ids_saved"] and back.pad_token == "<p>"
