"""Where a discriminator loses replaced-token AUC (steps.rtd_breakdown, evaluate_heldout(breakdown=True))."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import pair_count_auc as _pair_auc, pair_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _synthetic(n=600, seed=0):
    rs = np.random.RandomState(seed)
    masked = rs.rand(n) < 0.3
    replaced = masked & (rs.rand(n) < 0.7)
    prob = np.where(masked, rs.rand(n), np.nan)
    # unlikely samples stand out, likely ones look like the originals
    scores = np.round(rs.randn(n) + 2.0 * replaced * (1.0 - np.nan_to_num(prob)), 1)
    return scores, replaced, masked, prob


def test_breakdown_counts_the_pairs_of_each_kind():
    from paddle_electra.apps.train.steps import rtd_breakdown

    s, y, m, p = _synthetic()
    out = rtd_breakdown(s, y, m, p, bins=3)
    assert abs(out["rtd_auc_vs_unmasked"] - _pair_auc(s[y], s[~m])) < 1e-12
    assert abs(out["rtd_auc_vs_sampled_original"] - _pair_auc(s[y], s[m & ~y])) < 1e-12
    edges = np.quantile(p[y], [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose([b[:2] for b in out["rtd_auc_by_sample_prob"]], np.stack([edges[:-1], edges[1:]], 1))
    seen = 0
    for i, (low, high, auc) in enumerate(out["rtd_auc_by_sample_prob"]):
        inside = y & (p >= low) & ((p < high) if i < 2 else (p <= high))
        seen += inside.sum()
        assert abs(auc - _pair_auc(s[inside], s[~m])) < 1e-12
    assert seen == y.sum()  # every replaced token in exactly one bin
    # the made-up discriminator finds unlikely samples easier, and the breakdown shows it
    aucs = [b[2] for b in out["rtd_auc_by_sample_prob"]]
    assert aucs[0] > aucs[-1] + 0.1
    assert "rtd_auc_vs_unmasked_elsewhere" not in out
    # no masked position sampled back: that part has no pairs to count, and says so with None
    assert rtd_breakdown(s, y, y, p)["rtd_auc_vs_sampled_original"] is None
    beside = np.random.RandomState(1).rand(len(s)) < 0.2
    split = rtd_breakdown(s, y, m, p, bins=3, next_to_replaced=beside)
    assert abs(split["rtd_auc_vs_unmasked_next_to_replaced"] - _pair_auc(s[y], s[~m & beside])) < 1e-12
    assert abs(split["rtd_auc_vs_unmasked_elsewhere"] - _pair_auc(s[y], s[~m & ~beside])) < 1e-12


def test_next_to_flags_both_neighbours_in_the_same_row_only():
    from paddle_electra.apps.train.steps import next_to

    flags = np.array([[0, 0, 1, 0, 0], [1, 0, 0, 0, 1]], bool)
    np.testing.assert_array_equal(next_to(flags), [[0, 1, 0, 1, 0], [0, 1, 0, 1, 0]])


def test_sample_probabilities_follow_the_row_major_order_of_the_masked_rows():
    from paddle_electra.apps.train.steps import sample_probabilities

    masked = np.array([[False, True, True], [True, False, False]])
    sampled = np.array([[9, 2, 0], [1, 9, 9]])
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2], [0.6, 0.4, 0.0]])  # rows: (0,1), (0,2), (1,0)
    got = sample_probabilities(probs, sampled, masked)
    np.testing.assert_allclose(got[masked], [0.7, 0.5, 0.4])
    assert np.isnan(got[~masked]).all()
    with pytest.raises(ValueError, match="2 rows of probabilities for 3 masked positions"):
        sample_probabilities(probs[:2], sampled, masked)


def test_heldout_breakdown_adds_up_to_the_reported_auc(trained_pair):
    from paddle_electra.apps.train.data import pack_blocks, read_lines
    from paddle_electra.apps.train.steps import evaluate_heldout, heldout_collator

    text, run = trained_pair
    tokenizer, model = pair_model(run)
    blocks = pack_blocks(read_lines([text])[:40], tokenizer, 32)
    plain = evaluate_heldout(model, blocks, heldout_collator(tokenizer), seed=3)
    out = evaluate_heldout(model, blocks, heldout_collator(tokenizer), seed=3, breakdown=True)
    assert out["rtd_auc"] == plain["rtd_auc"] and out["mlm_top1"] == plain["mlm_top1"]  # same draws
    assert "rtd_auc_vs_unmasked" not in plain
    # every original is either never masked or sampled back, so the overall AUC is the two parts weighted by
    # how many originals of each kind there are: it only adds up if the masked flags line up with the scores
    n = int((np.asarray(blocks) != tokenizer.pad_token_id).sum())  # the positions that count
    replaced = round(out["rtd_replaced"] * n)
    masked = out["masked"]
    kept, unmasked = masked - replaced, n - masked
    assert kept > 0 and unmasked > 0
    mix = (unmasked * out["rtd_auc_vs_unmasked"] + kept * out["rtd_auc_vs_sampled_original"]) / (unmasked + kept)
    assert abs(mix - out["rtd_auc"]) < 1e-9
    bins = out["rtd_auc_by_sample_prob"]
    assert len(bins) == 4 and all(0.0 <= lo <= hi <= 1.0 and 0.0 <= auc <= 1.0 for lo, hi, auc in bins)
    assert 0.0 <= out["rtd_auc_vs_unmasked_next_to_replaced"] <= 1.0 and 0.0 <= out["rtd_auc_vs_unmasked_elsewhere"] <= 1.0
    with pytest.raises(ValueError, match="generator_only does not run it"):
        evaluate_heldout(model, blocks, heldout_collator(tokenizer), generator_only=True, breakdown=True)


def test_eval_tool_repeats_and_breaks_down(trained_pair, tmp_path):
    text, run = trained_pair
    heldout = tmp_path / "heldout.txt"
    heldout.write_text("\n".join(open(text, encoding="utf-8").read().splitlines()[:30]), encoding="utf-8")
    cmd = [sys.executable, os.path.join(REPO, "tools", "eval_pretrained.py"), "--generator",
           os.path.join(run, "generator"), "--discriminator", os.path.join(run, "discriminator"), "--text",
           str(heldout), "--max-length", "32", "--threads", "1"]
    res = subprocess.run(cmd + ["--repeat", "2", "--breakdown"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "2 draws (seeds 1998..1999): replaced-token AUC mean" in res.stdout
    assert res.stdout.count("replaced tokens the generator sampled with p in") == 4
    assert "never-masked originals beside a replaced token: AUC" in res.stdout
    bad = subprocess.run(cmd + ["--repeat", "0"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--repeat must be >= 1, got 0" in bad.stderr
