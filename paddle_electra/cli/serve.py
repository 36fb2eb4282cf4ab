"""``paddle-electra`` subcommands: serve, hub-module.

``register(sub, common)`` adds them to the parser built in :mod:`paddle_electra.cli.app`.

    paddle-electra serve --model NAME_OR_DIR [--task text-classification] --port 8866
    paddle-electra hub-module --model NAME_OR_DIR --out my-module/ [--name NAME] [--no-weights]
"""

from __future__ import annotations

# the task tables of cli/common.py, not pipelines': building the parser must not import Paddle
from .common import TASK_ALIASES, TASKS, CLIError, native_output_filtered, to_json


def model_task(model: str) -> str:
    """The task of an export folder (its manifest) or a model folder / name (its config's class)."""
    from ..inference.pipelines import is_export_dir

    if is_export_dir(model):
        from ..inference.export.manifest import read_manifest

        return read_manifest(model)["task"]
    from ..loading.auto import AutoModel
    from ..inference.export.manifest import task_for_class

    return task_for_class(AutoModel.class_for(model))


def cmd_serve(args) -> str:
    import logging

    from ..inference.pipelines import canonical_task

    task = canonical_task(args.task) if args.task else model_task(args.model)

    try:
        from ..apps.serving import Limits, serve
    except ImportError as e:  # pragma: no cover - serving.py itself imports only the standard library
        raise CLIError(str(e)) from None
    limits = Limits(max_body_bytes=args.max_body_bytes, max_texts=args.max_texts, max_chars=args.max_chars,
                    max_queue=args.max_queue, max_answer_chars=args.max_answer_chars)
    logging.getLogger("paddle_electra.export").setLevel(logging.WARNING)  # a model folder is exported first
    try:
        with native_output_filtered(stdout=False):  # Paddle's PIR warning while exporting; stdout untouched
            serve(args.model, task, host=args.host, port=args.port, log_level=args.log_level,
                  batch_size=args.batch_size, max_wait_ms=args.max_wait_ms, limits=limits,
                  max_length=args.max_length, truncation=args.truncation, threads=getattr(args, "threads", None),
                  name=args.name, top_k=args.top_k, backend=args.backend)
    except ImportError as e:  # starlette / uvicorn missing: say which extra to install
        raise CLIError(str(e)) from None
    return ""


def cmd_hub_module(args) -> str:
    from ..apps.hubmodule import make_hub_module

    info = make_hub_module(args.model, args.out, name=args.name, version=args.version, summary=args.summary,
                           author=args.author, author_email=args.author_email, weights=not args.no_weights,
                           overwrite=args.overwrite, backend=args.backend)
    if args.json:
        return to_json(info)
    tasks = ", ".join("None" if t is None else t for t in info["tasks"])
    runs = f"; export run by {info['backend']}" if info["backend"] else ""
    return (f"wrote PaddleHub module {info['name']} {info['version']} ({info['model_class']}; tasks: {tasks}{runs}) "
            f"to {info['dir']}\nload it with: hub.Module(directory={info['dir']!r})")


def _positive(value: str) -> int:
    import argparse

    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def _port(value: str) -> int:
    import argparse

    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value!r}") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (0: any free port), got {n}")
    return n


def register(sub, common) -> None:
    """Add ``serve`` and ``hub-module`` to the subcommand parser ``sub``."""
    from ..apps.serving import SERVE_BACKENDS, Limits

    d = Limits()
    p = sub.add_parser("serve", parents=[common], help="HTTP server (POST /predict, GET /health, GET /metadata)",
                       description="Serve a model over HTTP on Paddle Inference with micro-batching. A model that "
                       "is not an export folder is exported to a temporary folder first.")
    p.add_argument("--model", required=True, metavar="NAME_OR_DIR", help="export folder, model folder or name")
    p.add_argument("--task", choices=TASKS + TASK_ALIASES, metavar="TASK",
                   help=f"{', '.join(TASKS)} (or an alias); default: the export's task (manifest.json) or the "
                   "model's own (its config)")
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=8866, help="TCP port (default 8866; 0: a free one, printed)")
    p.add_argument("--name", help="model name reported and used in /predict/<name> (default: from --model)")
    p.add_argument("--backend", choices=tuple(SERVE_BACKENDS), default="inference",
                   help="inference (Paddle Inference, default), onnx (ONNX Runtime) or onnx-int8 (the int8 model "
                   "of an export made with --quantize int8; a model folder is exported with it first) or "
                   "inference-bf16 (Paddle Inference in bfloat16, on CPUs with AVX512-BF16 or AMX)")
    p.add_argument("--batch-size", type=_positive, default=32, help="texts per forward pass (default 32)")
    p.add_argument("--max-wait-ms", type=float, default=2.0,
                   help="how long a request waits for others to share its batch (default 2)")
    p.add_argument("--max-length", type=int, default=None, help="tokens per text (default: the model's maximum)")
    p.add_argument("--truncation", action="store_true", help="cut over-long texts instead of answering 422")
    p.add_argument("--top-k", type=_positive, default=None, help="fill-mask / text-classification default top_k")
    p.add_argument("--max-texts", type=_positive, default=d.max_texts,
                   help=f"texts per request (default {d.max_texts})")
    p.add_argument("--max-chars", type=_positive, default=d.max_chars,
                   help=f"characters per text (default {d.max_chars})")
    p.add_argument("--max-body-bytes", type=_positive, default=d.max_body_bytes,
                   help=f"request body size (default {d.max_body_bytes})")
    p.add_argument("--max-answer-chars", type=_positive, default=d.max_answer_chars,
                   help=f"fill-mask answer size: [MASK]s x top_k x text length (default {d.max_answer_chars})")
    p.add_argument("--max-queue", type=_positive, default=d.max_queue,
                   help=f"texts waiting before the server answers 503 (default {d.max_queue})")
    p.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("hub-module", parents=[common], help="write a PaddleHub module folder for a model",
                       description="Write a PaddleHub 2.x module (module.py with @moduleinfo and the "
                       "TransformerModule interface, README, requirements, weights) for hub.Module(directory=...).")
    p.add_argument("--model", required=True, metavar="NAME_OR_DIR",
                   help="model folder, published name, or export folder (the module then runs the export)")
    p.add_argument("--out", required=True, metavar="DIR", help="module folder to create")
    p.add_argument("--name", help="module name (default: the model's)")
    p.add_argument("--version", default="1.0.0", help="module version (default 1.0.0)")
    p.add_argument("--summary", help="module summary (default: describes the model)")
    p.add_argument("--author", help="module author (default: paddle_electra)")
    p.add_argument("--author-email", help="author e-mail")
    p.add_argument("--no-weights", action="store_true",
                   help="published names only: leave the weights out; the module downloads them at first use")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    p.add_argument("--backend", choices=tuple(SERVE_BACKENDS),
                   help="export folders only: how the module runs the export by default (default: onnx-int8 for "
                   "a quantised export, else inference)")
    p.set_defaults(func=cmd_hub_module)
