"""A model remembers its tokenizer: save_pretrained and export carry it, export fails up front without one.

Issue 13, "Use -> Deploy": ``clf.save_pretrained(d)`` wrote no tokenizer, ``export(d, out)`` succeeded
with only ``manifest.json`` saying ``tokenizer_missing``, and ``pipeline(..., model=out)`` then failed
("no vocab.txt"). Also ``export(..., task="feature-extraction")`` refused a discriminator folder that
``pipeline("feature-extraction")`` runs.
"""

import os

import numpy as np
import paddle
import pytest

import paddle_electra as pe
from conftest import TINY
from paddle_electra.inference.export import ElectraPredictor, export

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "good", "bad", "movie"] + \
    [f"w{i}" for i in range(40)]
TOKENIZER_FILES = {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"}


def make_folder(root, cls_name="ElectraDiscriminator", words=WORDS, seed=0, added=()):
    """A model folder with a tokenizer (``vocab.txt`` + JSON files) beside the weights."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "vocab.txt").write_text("".join(w + "\n" for w in words), encoding="utf-8")
    tok = pe.ElectraTokenizer(str(root / "vocab.txt"))
    if added:
        tok.add_tokens(list(added))
    paddle.seed(seed)
    getattr(pe, cls_name)(pe.ElectraConfig(**TINY)).save_pretrained(str(root))
    tok.save_pretrained(str(root))
    return str(root)


def test_loaded_model_remembers_its_tokenizer_source(tmp_path):
    with_vocab = make_folder(tmp_path / "with")
    assert pe.ElectraDiscriminator.from_pretrained(with_vocab).tokenizer_source == os.path.abspath(with_vocab)
    bare = tmp_path / "bare"
    pe.ElectraDiscriminator(pe.ElectraConfig(**TINY)).save_pretrained(str(bare))
    assert pe.ElectraDiscriminator.from_pretrained(str(bare)).tokenizer_source is None  # no vocab.txt there
    assert pe.ElectraDiscriminator(pe.ElectraConfig(**TINY)).tokenizer_source is None  # built from a config


def test_classifier_save_export_pipeline_flow(tmp_path):
    src = make_folder(tmp_path / "base", added=["newword"])
    clf = pe.ElectraForSequenceClassification.from_pretrained(src, num_labels=2, ignore_mismatched_sizes=True)
    saved = tmp_path / "my-classifier"
    clf.save_pretrained(str(saved))
    names = set(os.listdir(saved))
    assert TOKENIZER_FILES | {"added_tokens.json", "config.json"} <= names
    assert (saved / "vocab.txt").read_text(encoding="utf-8").split() == WORDS
    assert pe.ElectraTokenizer.from_pretrained(str(saved)).get_added_vocab() == {"newword": len(WORDS)}

    out = tmp_path / "deploy"
    manifest = export(str(saved), str(out))
    assert manifest["task"] == "text-classification" and manifest["tokenizer_missing"] is None
    assert TOKENIZER_FILES <= set(manifest["files"])
    pipe = pe.pipeline("text-classification", model=str(out))
    texts = ["hello good movie", "bad world newword"]
    got = pipe(texts)
    assert len(got) == 2 and all(r["label"] in ("LABEL_0", "LABEL_1") for r in got)
    dygraph = pe.pipeline("text-classification", model=str(saved))(texts)
    for a, b in zip(got, dygraph):
        assert a["label"] == b["label"] and abs(a["score"] - b["score"]) < 1e-4


def test_in_memory_loaded_model_export_carries_tokenizer(tmp_path):
    src = make_folder(tmp_path / "disc")
    model = pe.ElectraDiscriminator.from_pretrained(src)
    manifest = export(model, str(tmp_path / "out"))  # in memory, but it remembers where it came from
    assert manifest["source"] == "in-memory" and manifest["tokenizer"]["note"] == f"loaded from {os.path.abspath(src)}"
    assert (tmp_path / "out" / "vocab.txt").read_text(encoding="utf-8").split() == WORDS


def test_export_without_tokenizer_fails_up_front(tmp_path):
    model = pe.ElectraForSequenceClassification(pe.ElectraConfig(**TINY))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"built from a config.*tokenizer="):
        export(model, str(out))
    assert not out.exists()
    bare = tmp_path / "bare"
    model.save_pretrained(str(bare))  # nothing to carry: no tokenizer file appears
    assert "vocab.txt" not in os.listdir(bare)
    with pytest.raises(ValueError, match=r"has no vocab\.txt.*tokenizer="):
        export(str(bare), str(out))
    assert not out.exists()
    # the fixes the message names both work
    manifest = export(model, str(out), tokenizer=False)
    assert manifest["tokenizer"] is None and "tokenizer=False" in manifest["tokenizer_missing"]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(w + "\n" for w in WORDS), encoding="utf-8")
    manifest = export(str(bare), str(tmp_path / "out2"), tokenizer=str(vocab))
    assert TOKENIZER_FILES <= set(manifest["files"])


def test_saving_into_a_folder_with_a_tokenizer_keeps_it(tmp_path):
    src = make_folder(tmp_path / "src")
    model = pe.ElectraDiscriminator.from_pretrained(src)
    other_words = WORDS[:5] + [f"other{i}" for i in range(20)]
    target = make_folder(tmp_path / "target", words=other_words, seed=1)
    before = {n: (tmp_path / "target" / n).read_bytes() for n in TOKENIZER_FILES}
    model.save_pretrained(target)
    assert {n: (tmp_path / "target" / n).read_bytes() for n in TOKENIZER_FILES} == before
    # re-saving into the source folder itself leaves its tokenizer as it was
    mine = {n: (tmp_path / "src" / n).read_bytes() for n in TOKENIZER_FILES}
    model.save_pretrained(src)
    assert {n: (tmp_path / "src" / n).read_bytes() for n in TOKENIZER_FILES} == mine


def test_feature_extraction_export_from_discriminator_folder(tmp_path):
    src = make_folder(tmp_path / "disc")
    out = tmp_path / "features"
    manifest = export(src, str(out), task="feature-extraction", verify=True, atol=1e-4)
    assert manifest["task"] == "feature-extraction" and manifest["model_class"] == "ElectraModel"
    assert manifest["verification"]["passed"] and TOKENIZER_FILES <= set(manifest["files"])
    enc = pe.ElectraTokenizer.from_pretrained(str(out))(["hello world", "good movie w3 w4"], padding=True,
                                                          return_tensors="np")
    got = ElectraPredictor(str(out))(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
    encoder = pe.ElectraModel.from_pretrained(src)
    with paddle.no_grad():
        want = encoder(**{k: paddle.to_tensor(enc[k]) for k in ("input_ids", "token_type_ids", "attention_mask")})
    want = (want[0] if isinstance(want, (tuple, list)) else want).numpy()
    assert got["last_hidden_state"].shape == want.shape
    assert np.abs(got["last_hidden_state"] - want).max() <= 1e-4
    # the export runs in the pipeline like the folder does
    feats = pe.pipeline("feature-extraction", model=str(out))("hello world")
    ref = pe.pipeline("feature-extraction", model=src)("hello world")
    assert np.abs(np.asarray(feats) - np.asarray(ref)).max() <= 1e-4


def test_feature_extraction_export_of_in_memory_head(tmp_path):
    src = make_folder(tmp_path / "gen", cls_name="ElectraGenerator")
    generator = pe.ElectraGenerator.from_pretrained(src)
    manifest = export(generator, str(tmp_path / "out"), task="feature-extraction", onnx=True, verify=True)
    assert manifest["model_class"] == "ElectraModel" and manifest["tokenizer"] is not None
    assert set(manifest["verification"]["max_abs_diff"]) == {"paddle_inference", "onnxruntime"}


def test_cli_export_names_its_tokenizer_flags(tmp_path, capsys):
    from paddle_electra.cli import app as cli

    bare = tmp_path / "bare"
    pe.ElectraForSequenceClassification(pe.ElectraConfig(**TINY)).save_pretrained(str(bare))
    assert cli.main(["export", "--model", str(bare), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "pass --tokenizer (" in err and "--no-tokenizer to export the graph alone" in err
    assert "tokenizer=" not in err
    assert cli.main(["export", "--model", str(bare), "--out", str(tmp_path / "b"), "--no-tokenizer"]) == 0
    assert "no tokenizer in the export: exported without a tokenizer (--no-tokenizer)" in capsys.readouterr().out
    src = make_folder(tmp_path / "src")
    assert cli.main(["export", "--model", str(bare), "--out", str(tmp_path / "c"), "--tokenizer", src]) == 0
    assert TOKENIZER_FILES <= set(os.listdir(tmp_path / "c"))
