"""Training metrics: one JSON object per logged step (``metrics.jsonl``), the same as CSV, and a PNG plot."""

from __future__ import annotations

import csv
import json
import logging
import os
from typing import Dict, List, Optional, Sequence

from ..._io import atomic_path

logger = logging.getLogger("paddle_electra.train")


class MetricsLog:
    """Append-only metrics in ``<out>/metrics.jsonl`` (+ ``metrics.csv`` rewritten at :meth:`close`).

    Args:
        out_dir: the run folder.
        resume_step: when resuming, rows of later steps (written after the
            checkpoint by the interrupted run) are dropped, so the file equals
            that of an uninterrupted run.
    """

    def __init__(self, out_dir: str, resume_step: Optional[int] = None):
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, "metrics.jsonl")
        self.rows: List[Dict] = []
        if resume_step is not None and os.path.isfile(self.path):
            with open(self.path, encoding="utf-8") as f:
                self.rows = [r for r in (json.loads(line) for line in f if line.strip()) if r["step"] <= resume_step]
        with atomic_path(self.path) as tmp:  # start clean (fresh run) or truncated (resume)
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows)
        self._f = open(self.path, "a", encoding="utf-8")

    def log(self, row: Dict) -> None:
        self.rows.append(row)
        self._f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()
        if self.rows:
            keys = list(dict.fromkeys(k for r in self.rows for k in r))
            with atomic_path(os.path.join(os.path.dirname(self.path), "metrics.csv")) as tmp:
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    w = csv.DictWriter(f, fieldnames=keys)
                    w.writeheader()
                    w.writerows(self.rows)


def plot_curves(rows: Sequence[Dict], out_file: str, keys=("loss", "gen_loss", "disc_loss"),
                acc_keys=("gen_acc", "disc_acc", "heldout_mlm_top1", "heldout_mlm_top5", "heldout_rtd_auc"),
                ) -> Optional[str]:
    """Loss curves (left) and accuracies / held-out scores (right) against step, as a PNG. Needs matplotlib.

    A key is drawn over the rows that have it (the held-out scores are logged
    every ``eval_every`` steps only); a series that is 0 throughout (the
    discriminator's loss and accuracy in a generator-only stage) is left out.

    Returns:
        ``out_file``, or None when matplotlib is not installed (logged, not an error:
        the numbers are in metrics.jsonl).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: no loss-curve plot (pip install matplotlib)")
        return None
    if not rows:
        return None

    def series(key):
        have = [r for r in rows if r.get(key) is not None]
        return [r["step"] for r in have], [r[key] for r in have]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for k in keys:
        x, y = series(k)
        if y and any(v > 0 for v in y):
            ax1.plot(x, y, label=k)
    ax1.set_xlabel("step")
    ax1.set_ylabel("loss")
    ax1.set_yscale("log")
    ax1.legend()
    for k in acc_keys:
        x, y = series(k)
        if y and any(v for v in y):  # disc_acc of a generator-only stage is 0 throughout: not drawn
            ax2.plot(x, y, label=k.replace("heldout_", "held-out "), marker="o" if len(y) < len(rows) else None)
    ax2.set_xlabel("step")
    ax2.set_ylabel("accuracy / AUC")
    ax2.set_ylim(0, 1)
    ax2.legend()
    fig.tight_layout()
    with atomic_path(out_file) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out_file
