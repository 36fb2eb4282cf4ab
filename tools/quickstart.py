"""Build a small ELECTRA, run every head on a padded batch, save and reload it.

The README's main job until the `paddle-electra` CLI exists:

    python tools/quickstart.py            # prints a table of heads and output shapes
    python tools/quickstart.py --json     # the same as JSON
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import paddle

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import paddle_electra as pe  # noqa: E402

HEADS = [
    ("ElectraModel", "sequence output [B, L, H]"),
    ("ElectraGenerator", "MLM scores [B, L, V]"),
    ("ElectraDiscriminator", "replaced-token logits [B, L]"),
    ("ElectraForSequenceClassification", "logits [B, num_labels]"),
    ("ElectraForTokenClassification", "logits [B, L, num_labels]"),
    ("ElectraForQuestionAnswering", "(start, end) logits [B, L] each"),
    ("ElectraForMultipleChoice", "logits [B, num_choices]"),
]


def run(seed: int = 0) -> list:
    """Run every head once on a padded batch of 2 and after a save/load round trip."""
    paddle.seed(seed)
    config = pe.ElectraConfig(vocab_size=21128, embedding_size=128, hidden_size=256, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=1024, num_labels=3, num_choices=2)
    rng = np.random.RandomState(seed)
    ids = rng.randint(106, config.vocab_size, (2, 16)).astype("int64")
    ids[:, 0], ids[0, -1], ids[1, 9] = 101, 102, 102  # [CLS] ... [SEP]
    ids[1, 10:] = 0  # [PAD]
    mask = (ids != 0).astype("int64")
    rows = []
    for name, meaning in HEADS:
        model = getattr(pe, name)(config).eval()
        x = paddle.to_tensor(ids if name != "ElectraForMultipleChoice" else np.stack([ids, ids[::-1]], 1))
        m = paddle.to_tensor(mask if name != "ElectraForMultipleChoice" else np.stack([mask, mask[::-1]], 1))
        start = time.perf_counter()
        out = model(x, attention_mask=m)
        ms = (time.perf_counter() - start) * 1e3
        outs = out if isinstance(out, tuple) else (out,)
        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder)
            again = getattr(pe, name).from_pretrained(folder)
            back = again(x, attention_mask=m)
            back = back if isinstance(back, tuple) else (back,)
        same = all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(outs, back))
        rows.append({"head": name, "returns": meaning, "shapes": [list(o.shape) for o in outs],
                     "ms": round(ms, 1), "reload_identical": same})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = run(args.seed)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"paddle_electra {pe.__version__} on Paddle {paddle.__version__} "
              "(ELECTRA-small widths, 2 layers, random weights)")
        print(f"{'head':34} {'output shapes':28} {'ms':>7}  reload")
        for r in rows:
            shapes = " ".join(str(s) for s in r["shapes"])
            print(f"{r['head']:34} {shapes:28} {r['ms']:7.1f}  {'identical' if r['reload_identical'] else 'DIFFERS'}")
    return 0 if all(r["reload_identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
