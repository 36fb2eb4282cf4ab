"""shuffle_lines: each epoch packs the training lines in its own seeded order (data.LineBlocks)."""

import json

import numpy as np
import pytest

from paddle_electra import ElectraTokenizer
from paddle_electra.apps.train import corpora, data
from paddle_electra.apps.train.pretrain import PretrainConfig, pretrain

from conftest import tiny_cfg

PAD, CLS, SEP = 0, 2, 3


def _lines_of(blocks):
    """The lines a packing holds, as tuples of ids, in the order it holds them."""
    stream = blocks[:, 1:-1].reshape(-1).tolist()
    out, cur = [], []
    for t in stream:
        if t == SEP or t == PAD:
            if cur:
                out.append(tuple(cur))
            cur = []
        else:
            cur.append(t)
    return out + ([tuple(cur)] if cur else [])


@pytest.fixture(scope="module")
def lines_and_tok(slice_files):
    text, vocab = slice_files
    return open(text, encoding="utf-8").read().split("\n")[:80], ElectraTokenizer(vocab)


def test_unshuffled_blocks_are_the_packed_corpus_every_epoch(lines_and_tok):
    lines, tok = lines_and_tok
    packed = data.LineBlocks(data.line_ids(lines, tok), tok.get_vocab(), 16)
    want = data.pack_blocks(lines, tok, max_length=16)
    for epoch in (0, 1, 5):
        blocks, starts = packed.for_epoch(epoch)
        assert np.array_equal(blocks, want) and starts is None
    assert len(packed) == len(want)


def test_each_epoch_has_its_own_order_of_the_same_lines(lines_and_tok):
    lines, tok = lines_and_tok
    ids = data.line_ids(lines, tok)
    packed = data.LineBlocks(ids, tok.get_vocab(), 16, shuffle_seed=11)
    plain = data.pack_blocks(lines, tok, max_length=200)
    epochs = [packed.for_epoch(e)[0] for e in range(3)]
    for blocks in epochs:
        assert blocks.shape == (len(packed), 16) and (blocks[:, 0] == CLS).all()
        assert sorted(blocks[blocks > SEP].tolist()) == sorted(plain[plain > SEP].tolist())
        assert (blocks == SEP).sum() == (plain == SEP).sum() + len(blocks) - len(plain)
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    # the order is a function of (seed, epoch): another instance gives the same blocks, another seed others
    again = data.LineBlocks(ids, tok.get_vocab(), 16, shuffle_seed=11)
    assert np.array_equal(again.for_epoch(2)[0], epochs[2])
    assert not np.array_equal(data.LineBlocks(ids, tok.get_vocab(), 16, shuffle_seed=12).for_epoch(2)[0],
                              epochs[2])
    # whole lines move: each epoch holds every line once (the blocks' bodies are one stream), reordered
    order0, order1 = _lines_of(epochs[0]), _lines_of(epochs[1])
    assert sorted(order0) == sorted(tuple(i.tolist()) for i in ids) == sorted(order1)
    assert order0 != order1


def test_a_batch_across_an_epoch_boundary_takes_each_block_from_its_epoch(lines_and_tok):
    lines, tok = lines_and_tok
    packed = data.LineBlocks(data.line_ids(lines, tok), tok.get_vocab(), 16, shuffle_seed=5)
    n = len(packed)
    size = next(b for b in (3, 4, 5, 7) if n % b)  # a batch size that does not divide the epoch
    sampler, step = data.BlockSampler(n, size, seed=5), n // size  # the step that starts in epoch 0, ends in 1
    epochs, picked = sampler.picks(step)
    assert picked.tolist() == sampler.indices(step).tolist()
    assert len(set(epochs.tolist())) == 2, "the step chosen must straddle two epochs"
    blocks, starts = packed.batch(sampler, step)
    want = np.stack([packed.for_epoch(int(e))[0][i] for e, i in zip(epochs, picked)])
    assert np.array_equal(blocks, want) and starts is None
    assert not np.array_equal(packed.for_epoch(0)[0], packed.for_epoch(1)[0])


def test_word_starts_move_with_their_line(slice_files):
    tok = ElectraTokenizer(slice_files[1])
    word_lines = corpora.peoples_daily_words()[:60]
    ids, starts = data.word_line_ids(word_lines, tok)
    shuffled = data.LineBlocks(ids, tok.get_vocab(), 16, starts=starts, shuffle_seed=3)
    plain_blocks, plain_starts = data.pack_word_blocks(word_lines, tok, max_length=16)
    blocks, flags = shuffled.for_epoch(1)
    assert flags.shape == blocks.shape and not np.array_equal(blocks, plain_blocks)
    # each line's flags travel with it: walk the stream line by line (the blocks' bodies are one stream)
    per_line = {tuple(i.tolist()): s.tolist() for i, s in zip(ids, starts)}
    body, body_flags = blocks[:, 1:-1].reshape(-1).tolist(), flags[:, 1:-1].reshape(-1).tolist()
    at, seen = 0, []
    for line in _lines_of(blocks):
        assert tuple(body[at:at + len(line)]) == line and body_flags[at:at + len(line)] == per_line[line]
        at += len(line) + 1  # and its [SEP]
        seen.append(line)
    assert sorted(seen) == sorted(per_line) and seen != list(per_line)
    assert sorted(zip(blocks[blocks > SEP].tolist(), flags[blocks > SEP].tolist())) == sorted(
        zip(plain_blocks[plain_blocks > SEP].tolist(), plain_starts[plain_blocks > SEP].tolist()))
    with pytest.raises(ValueError, match="one flag per token"):
        data.LineBlocks(ids, tok.get_vocab(), 16, starts=[s[:-1] for s in starts])


def test_shuffled_run_trains_differently_and_resumes_exactly(tmp_path, slice_files):
    """Off is the corpus's order (the runs before the option, unchanged); on, a run still resumes exactly."""
    kw = dict(max_steps=10, save_every=4, max_lines=120, batch_size=8)
    plain = pretrain(tiny_cfg(tmp_path / "plain", slice_files, **kw))
    full = pretrain(tiny_cfg(tmp_path / "full", slice_files, shuffle_lines=True, **kw))
    pretrain(tiny_cfg(tmp_path / "part", slice_files, shuffle_lines=True, stop_after=6, **kw))
    part = pretrain(tiny_cfg(tmp_path / "part", slice_files, shuffle_lines=True, resume="auto", **kw))

    def losses(run):
        return [json.loads(r)["loss"] for r in open(run / "metrics.jsonl", encoding="utf-8")]

    a, b, c = losses(tmp_path / "full"), losses(tmp_path / "part"), losses(tmp_path / "plain")
    assert len(a) == len(b) == len(c) == 10
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert a[0] != c[0]  # other blocks from the first step on
    assert plain["finished"] and full["finished"] and part["finished"]


def test_shuffle_lines_must_be_a_bool(tmp_path):
    cfg = PretrainConfig(corpus="peoples-daily", out_dir=str(tmp_path), shuffle_lines="no")
    with pytest.raises(ValueError, match="shuffle_lines must be true or false, got 'no'"):
        cfg.validate()
    with pytest.raises(ValueError, match="freeze_generator must be true or false, got 0"):
        PretrainConfig(corpus="peoples-daily", out_dir=str(tmp_path), freeze_generator=0).validate()
