"""Whole-word masking: blocks that keep where each word starts, a collator that masks words whole,
and a pre-training run that uses the corpus's own segmentation; the sampling temperature of a run."""

import numpy as np
import pytest

from paddle_electra import ElectraTokenizer
from paddle_electra.apps.train import corpora, data
from paddle_electra.apps.train.collator import IGNORE_INDEX, MaskingCollator
from paddle_electra.apps.train.pretrain import pretrain

from conftest import tiny_cfg


def _words_of(row_ids, row_starts):
    """Split a row's positions into words (a start opens one), as lists of positions."""
    words = []
    for i, start in enumerate(row_starts):
        if start or not words:
            words.append([])
        words[-1].append(i)
    return words


def test_word_blocks_equal_the_plain_blocks_and_mark_each_words_first_token(slice_files):
    tok = ElectraTokenizer(slice_files[1])
    word_lines = corpora.peoples_daily_words()[:60]
    assert ["".join(w) for w in word_lines] == corpora.peoples_daily_text()[:60]
    blocks, starts = data.pack_word_blocks(word_lines, tok, max_length=16)
    assert np.array_equal(blocks, data.pack_blocks(["".join(w) for w in word_lines], tok, max_length=16))
    assert starts.shape == blocks.shape and starts.dtype == bool
    special = np.isin(blocks, [0, 2, 3])
    assert starts[special].all()
    # rebuild each word from the flags over the stream (blocks' bodies, [SEP]s included)
    body_ids, body_starts = blocks[:, 1:-1].reshape(-1), starts[:, 1:-1].reshape(-1)
    stream_words = []
    for pos in _words_of(body_ids, body_starts):
        if body_ids[pos[0]] in (0, 3):
            continue
        stream_words.append("".join(t[2:] if t.startswith("##") else t
                                    for t in tok.convert_ids_to_tokens(body_ids[pos].tolist())))
    expected = [w.lower() for line in word_lines for w in line]
    assert stream_words == expected[:len(stream_words)] and len(stream_words) == len(expected)
    # a multi-character word continues over the cut between two blocks: found at least once here
    assert (~starts[:, 1]).any()


def test_collator_masks_whole_words_at_the_asked_share():
    rng = np.random.default_rng(0)
    vocab, n = 500, 64
    ids = rng.integers(5, vocab, size=(400, n))
    ids[:, 0], ids[:, -1] = 2, 3
    starts = rng.random(ids.shape) < 0.55  # words of ~2 tokens
    starts[:, 0] = starts[:, -1] = True
    starts[:, 1] = False  # every row starts in the middle of a word (a block cut inside it)
    col = MaskingCollator(vocab, mask_token_id=4, pad_token_id=0, special_ids=[0, 1, 2, 3, 4], mask_prob=0.15,
                          replace_prob=1.0, random_prob=0.0)
    out = col(ids, np.random.default_rng(1), word_starts=starts)
    chosen = out["generator_labels"] != IGNORE_INDEX
    assert not chosen[:, [0, -1]].any()
    assert abs(chosen[:, 1:-1].mean() - 0.15) < 0.01
    assert (out["input_ids"][chosen] == 4).all() and (out["generator_labels"][chosen] == ids[chosen]).all()
    split_words = 0
    for r in range(len(ids)):
        row_starts = starts[r].copy()
        row_starts[1] = True  # the collator opens a word after [CLS]
        for pos in _words_of(ids[r], row_starts):
            picks = chosen[r, pos]
            split_words += int(picks.any() and not picks.all())
    assert split_words == 0  # every word is chosen whole or not at all
    # the same rows without word starts: single tokens are chosen, so some words get split
    single = col(ids, np.random.default_rng(1))["generator_labels"] != IGNORE_INDEX
    assert any(single[r, p].any() and not single[r, p].all() for r in range(50) for p in _words_of(ids[r], starts[r]))
    # half the rows by words: the share of tokens stays, and only some rows keep every word whole
    half = MaskingCollator(vocab, 4, 0, [0, 1, 2, 3, 4], replace_prob=1.0, random_prob=0.0, whole_word_share=0.5)
    mixed = half(ids, np.random.default_rng(2), word_starts=starts)["generator_labels"] != IGNORE_INDEX
    assert abs(mixed[:, 1:-1].mean() - 0.15) < 0.01
    whole_rows = [all(not (mixed[r, p].any() and not mixed[r, p].all()) for p in _words_of(ids[r], starts[r]))
                  for r in range(len(ids))]
    assert 0.4 < np.mean(whole_rows) < 0.75  # half chosen by words, plus token rows that split no word by chance
    with pytest.raises(ValueError, match="whole_word_share"):
        MaskingCollator(vocab, 4, 0, [0], whole_word_share=1.5)
    with pytest.raises(ValueError, match="word_starts has shape"):
        col(ids, np.random.default_rng(1), word_starts=starts[:, :10])


def test_whole_word_pretraining_run_and_its_checks(tmp_path, slice_files, monkeypatch):
    seen = []
    real_call = MaskingCollator.__call__

    def spy(self, input_ids, rng, attention_mask=None, word_starts=None):
        seen.append(word_starts)
        return real_call(self, input_ids, rng, attention_mask, word_starts)

    monkeypatch.setattr(MaskingCollator, "__call__", spy)
    cfg = tiny_cfg(tmp_path / "w", slice_files, train_files=[], corpus="peoples-daily", max_lines=200,
                   whole_word_masking=1.0, disc_weight=0.0, mask_token_prob=1.0, random_token_prob=0.0,
                   holdout_every=10, eval_every=3, eval_blocks=4, max_steps=3, save_every=0, plot=False)
    result = pretrain(cfg)
    assert result["last"]["loss"] > 0
    train = [s for s in seen if s is not None]
    assert len(train) == 3 and all(s.shape == (8, 32) and not s.all() for s in train)
    # held-out scoring stays single characters, as for every recipe
    assert any(s is None for s in seen)
    held = (tmp_path / "w" / "heldout.txt").read_text(encoding="utf-8").split("\n")
    assert held[0] == corpora.peoples_daily_text()[9]
    with pytest.raises(ValueError, match="whole_word_masking needs word boundaries"):
        tiny_cfg(tmp_path / "x", slice_files, whole_word_masking=0.5).validate()
    with pytest.raises(ValueError, match="share of the blocks"):
        tiny_cfg(tmp_path / "x", slice_files, train_files=[], corpus="peoples-daily", whole_word_masking=2).validate()


def test_sampling_temperature_reaches_training_and_not_the_heldout_scores(tmp_path, slice_files, monkeypatch):
    """The replacements of training steps are drawn at the run's temperature; held-out scores sample at 1."""
    from paddle_electra.model import pretraining

    temperatures = []
    real = pretraining.gumbel_sample

    def spy(logits, temperature=1.0):
        temperatures.append(temperature)
        return real(logits, temperature)

    monkeypatch.setattr(pretraining, "gumbel_sample", spy)
    cfg = tiny_cfg(tmp_path / "t", slice_files, sampling_temperature=0.5, holdout_every=10, eval_every=2,
                   eval_blocks=4, max_steps=2, save_every=0, plot=False)
    pretrain(cfg)
    # two training steps at 0.5; the held-out scoring at step 2 samples (one batch of 4 blocks) at 1
    assert temperatures == [0.5, 0.5, 1.0]
    with pytest.raises(ValueError, match="sampling_temperature"):
        tiny_cfg(tmp_path / "x", slice_files, sampling_temperature=0).validate()


def test_cli_flags(tmp_path, slice_files):
    import subprocess
    import sys

    base = [sys.executable, "-m", "paddle_electra", "pretrain", "--quick", "--threads", "1"]
    ok = subprocess.run(base + ["--corpus", "peoples-daily", "--whole-word-masking", "0.5", "--sampling-temperature",
                                "0.8", "--out-dir", str(tmp_path / "q")], capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr[-2000:]
    bad = subprocess.run(base + ["--train-files", slice_files[0], "--whole-word-masking", "0.5", "--out-dir",
                                 str(tmp_path / "b")], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--whole-word-masking needs word boundaries" in bad.stderr
    assert not (tmp_path / "b").exists() and not (tmp_path / "b-quick").exists()
