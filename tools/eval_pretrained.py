#!/usr/bin/env python
"""Score a pre-trained generator + discriminator pair on held-out text, and show fill-mask answers.

    python tools/eval_pretrained.py --generator runs/pd/generator --discriminator runs/pd/discriminator \\
        --text runs/pd/heldout.txt [--sentence "中国共产党第十五次全国代表大会[MASK]利召开" ...] [--json]

Held-out scores: masked-LM top-1 / top-5 over 15 % of the positions turned
into [MASK] (fixed seed), and the discriminator's replaced-token AUC on the
generator's own samples there (paddle_electra.apps.train.steps.evaluate_folders).
Each --sentence gets the generator's top 5 for its [MASK]. --repeat N scores
N draws (seeds SEED .. SEED+N-1: other masked positions and other samples) and
prints their mean and spread; --breakdown says where the discriminator loses
(paddle_electra.apps.train.steps.rtd_breakdown).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", required=True, metavar="DIR_OR_NAME")
    parser.add_argument("--discriminator", required=True, metavar="DIR_OR_NAME")
    parser.add_argument("--text", required=True, metavar="FILE", help="held-out lines (a run's heldout.txt)")
    parser.add_argument("--sentence", action="append", default=[], help="a sentence with one [MASK] (repeatable)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1998)
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="score N draws of masks and samples (seeds SEED..SEED+N-1); the first is the one reported "
                             "in the model card")
    parser.add_argument("--breakdown", action="store_true",
                        help="also the AUC against each kind of original and by the generator's probability of its "
                             "sample")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    parser.add_argument("--collapse-check", action="store_true",
                        help="also the spread of the discriminator's [CLS] vector over the first 4 held-out lines, "
                             "next to the same network with random weights")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")

    from paddle_electra import pipeline
    from paddle_electra._cpu import set_num_threads
    from paddle_electra.apps.train.steps import evaluate_folders

    set_num_threads(args.threads)
    draws = [evaluate_folders(args.generator, args.discriminator, args.text, max_length=args.max_length,
                              seed=args.seed + i, collapse_check=args.collapse_check and i == 0,
                              breakdown=args.breakdown)
             for i in range(args.repeat)]
    scores = draws[0]
    if args.repeat > 1:
        aucs = np.array([d["rtd_auc"] for d in draws])
        scores["repeat"] = {"seeds": [args.seed + i for i in range(args.repeat)], "rtd_auc": aucs.tolist(),
                            "rtd_auc_mean": float(aucs.mean()), "rtd_auc_sd": float(aucs.std(ddof=1)),
                            "mlm_top1_mean": float(np.mean([d["mlm_top1"] for d in draws]))}
    answers = []
    if args.sentence:
        fill = pipeline("fill-mask", model=args.generator)
        for sentence in args.sentence:
            top = fill(sentence, top_k=5)
            top = top[0] if top and isinstance(top[0], list) else top  # one list per [MASK]
            answers.append({"sentence": sentence, "top5": [(t["token"], round(float(t["score"]), 4)) for t in top]})
    if args.json:
        print(json.dumps({"heldout": scores, "fill_mask": answers}, ensure_ascii=False, indent=2))
        return 0
    print(f"held-out ({scores['lines']} lines, {scores['masked']} masked positions): masked-LM top-1 "
          f"{scores['mlm_top1']:.4f}, top-5 {scores['mlm_top5']:.4f}; replaced-token AUC {scores['rtd_auc']:.4f} "
          f"({scores['rtd_replaced']:.3f} of positions replaced)")
    if "repeat" in scores:
        r = scores["repeat"]
        print(f"{args.repeat} draws (seeds {r['seeds'][0]}..{r['seeds'][-1]}): replaced-token AUC mean "
              f"{r['rtd_auc_mean']:.4f}, sd {r['rtd_auc_sd']:.4f} (min {min(r['rtd_auc']):.4f}, max "
              f"{max(r['rtd_auc']):.4f}); masked-LM top-1 mean {r['mlm_top1_mean']:.4f}")
    if args.breakdown:
        def auc(value):  # None where a kind of position did not occur in this draw
            return "n/a (none of that kind)" if value is None else f"{value:.4f}"

        print(f"replaced tokens against the never-masked originals: AUC {auc(scores['rtd_auc_vs_unmasked'])}; "
              f"against the masked positions sampled back to the original: "
              f"{auc(scores['rtd_auc_vs_sampled_original'])}")
        print(f"  never-masked originals beside a replaced token: AUC "
              f"{auc(scores['rtd_auc_vs_unmasked_next_to_replaced'])}; elsewhere: "
              f"{auc(scores['rtd_auc_vs_unmasked_elsewhere'])}")
        for low, high, value in scores["rtd_auc_by_sample_prob"]:
            print(f"  replaced tokens the generator sampled with p in [{low:.4f}, {high:.4f}]: AUC {auc(value)} "
                  f"against the never-masked originals")
    if "cls_spread" in scores:
        print(f"[CLS] spread over 4 texts: {scores['cls_spread']:.3f} (random weights "
              f"{scores['cls_spread_random_weights']:.3f}; a collapsed discriminator ~0.01)")
    for a in answers:
        print(a["sentence"], " ".join(f"{t}({s:.2f})" for t, s in a["top5"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
