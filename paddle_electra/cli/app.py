"""``paddle-electra``: the command line (``python -m paddle_electra``).

Each subcommand calls one library function and prints its result: a table by
default, JSON with ``--json``. Errors (bad input, a name that cannot be
downloaded, a missing file, and any unexpected exception) print one line to
stderr and exit with status 2, never a traceback (``PADDLE_ELECTRA_TRACEBACK=1``
prints it before that line, for bug reports).

    paddle-electra list
    paddle-electra fill-mask "中国共产党第十五次全国代表大会[MASK]利召开"   (the embedded model, offline)
    paddle-electra fill-mask "经[MASK]审理查明" --model hfl/chinese-legal-electra-small-generator
    paddle-electra detect "我爱北京天安门" --model hfl/chinese-electra-180g-small-discriminator
    paddle-electra classify "这部电影很好看" --model my-classifier/
    paddle-electra ner "张三在北京工作" --model my-ner/
    paddle-electra qa --question "谁在北京工作?" --context "张三在北京工作" --model my-qa/
    paddle-electra classify --model my-classifier/ --input texts.txt   (one text per line; - reads stdin)
    paddle-electra ner --model my-ner/ --input docs.jsonl --jsonl      ({"text": ...} per line in and out)
    paddle-electra convert --tf-checkpoint electra_small/ --out electra-small-paddle
    paddle-electra export --model my-classifier/ --out exported/ [--task TASK] [--onnx] [--verify] [--overwrite]
                          [--no-optimize-onnx] [--quantize int8]

Messages of the library name its Python keywords (``overwrite=True``); the
command line shows them as its flags (``--overwrite``), see :func:`cli_message`.
With ``--json``, stdout holds the JSON and nothing else: whatever else the
command prints (Paddle, paddle2onnx) goes to stderr.

This module builds the parser and runs ``main``; the commands live in one
module per group, each adding its subcommands with ``register(sub, common)``:
:mod:`~paddle_electra.cli.models` (list, fill-mask, detect, classify, ner, qa,
convert, export), :mod:`~paddle_electra.cli.bench` (bench),
:mod:`~paddle_electra.cli.train` (pretrain, finetune) and
:mod:`~paddle_electra.cli.serve` (serve, hub-module). Only this module imports
them; what they share is in :mod:`~paddle_electra.cli.common`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import re
import sys
import traceback
from typing import List, Optional

from . import bench as cli_bench, models as cli_models, serve as cli_serve, train as cli_train
from .common import CLIError, stdout_to_stderr

PROG = "paddle-electra"
NETWORK_HINT = ("Use a local model folder instead (--model DIR), or a mirror: PADDLE_ELECTRA_MIRROR=<base URL> "
                "for the PaddleNLP (bcebos) files, HF_ENDPOINT=<url> for the Hugging Face hub.")
# the command groups, in the order ``--help`` lists their subcommands
GROUPS = (cli_models, cli_bench, cli_train, cli_serve)


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    """The ``paddle-electra`` parser: the options every command takes, then each group's subcommands.

    Building it imports the group modules' argument helpers but not Paddle, so
    ``--help`` stays fast (tests/cli/test_cli_inputs.py checks it).

    Returns:
        The parser; a parsed command's ``func`` runs it and returns what to print.
    """
    from .. import __version__

    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: given before or after the subcommand, the value is kept (no default overwrites it)
    common.add_argument("--threads", type=int, metavar="N", default=argparse.SUPPRESS,
                        help="CPU threads for Paddle (paddle_electra.set_num_threads)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    parser = argparse.ArgumentParser(prog=PROG, parents=[common], description="ELECTRA on PaddlePaddle: "
                                     "list models, run every task, convert and export checkpoints.",
                                     epilog="Exit status: 0 on success, 2 on any error.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in GROUPS:
        module.register(sub, common)
    return parser


# ------------------------------------------------------ messages and main
_VALUE = r"""(?:'[^']*'|"[^"]*"|[^\s,;:)\]]+)"""


def cli_message(text: str, parser: argparse.ArgumentParser) -> str:
    """``text`` with the library's Python keywords written as ``parser``'s flags.

    The library's messages say what to pass in Python (``pass overwrite=True``,
    ``pass generator_config``); on the command line the same advice has to name
    the flag (``--overwrite``, ``--generator-config``). Rewritten: ``name=VALUE``
    and ``name=`` for every option of the command, and a bare ``name`` when it
    contains an underscore (so ordinary words such as "model" stay as they are).
    """
    flagged = [a for a in parser._actions if any(o.startswith("--") for o in a.option_strings)]
    # a dest with both a value option and a --no-X switch (--tokenizer / --no-tokenizer):
    # "name=False" is the switch, any other mention the value option
    switches = {a.dest: a for a in flagged if isinstance(a, argparse._StoreFalseAction)}
    actions = {}
    for a in flagged:
        actions.setdefault(a.dest, a)

    def flag(action, value: Optional[str]) -> str:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if isinstance(action, argparse.BooleanOptionalAction):  # --plot / --no-plot
            return longs[-1] if value == "False" else longs[0]
        if action.nargs == 0 or value is None:  # a switch (--overwrite), or the option itself
            return longs[0]
        return f"{longs[0]} {value.strip(chr(39) + chr(34))}"

    def keyword(m: "re.Match") -> str:
        action = actions.get(m.group(1))
        if m.group(2) == "False" and m.group(1) in switches:
            return switches[m.group(1)].option_strings[0]
        return m.group(0) if action is None else flag(action, m.group(2))

    text = re.sub(r"(?<![\w.\-/])([a-z][a-z0-9_]*)=(" + _VALUE + r")?", keyword, text)
    bare = sorted((d for d in actions if "_" in d), key=len, reverse=True)
    if bare:
        text = re.sub(r"(?<![\w.\-/'\"])(" + "|".join(map(re.escape, bare)) + r")(?![\w=]|\.\w)",
                      lambda m: flag(actions[m.group(1)], None), text)
    return re.sub(r"(--[\w-]+)( [^\s()]+)? \(\1\)", r"\1\2", text)  # "--overwrite (--overwrite)": once


def _one_line(exc: BaseException, limit: int = 2000) -> str:
    """The message on one line, cut to ``limit`` characters (Paddle's can carry a C++ stack)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _import_paddle_quietly() -> None:
    """Import Paddle without its "OMP_NUM_THREADS set to N, not 1 ... WISELY" lecture.

    Paddle prints it on every import when OMP_NUM_THREADS > 1 (about data-parallel
    training, which no paddle-electra command does); whatever else it prints passes.
    """
    if "paddle" in sys.modules:
        return
    caught = io.StringIO()
    root = logging.getLogger()
    before = list(root.handlers)
    with contextlib.redirect_stderr(caught):
        import paddle  # noqa: F401
    # Paddle's import gives the root logger a handler on sys.stderr, which was the buffer just then: every
    # log line after it (--matmul-precision auto's, a time budget's plan) would vanish into it
    for handler in [h for h in root.handlers if h not in before and getattr(h, "stream", None) is caught]:
        root.removeHandler(handler)
    for line in caught.getvalue().splitlines():
        if not line.startswith(("WARNING: OMP_NUM_THREADS set to", "PLEASE USE OMP_NUM_THREADS WISELY")):
            print(line, file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit status (0, or 2 on any error)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors exit 2 through argparse
    args.json = getattr(args, "json", False)
    args.jsonl = getattr(args, "jsonl", False)
    command = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
    from ..loading.hub import DownloadError

    try:
        if getattr(args, "needs_paddle", True):
            _import_paddle_quietly()
        threads = getattr(args, "threads", None)
        if threads is not None:
            from .._cpu import set_num_threads

            set_num_threads(threads)
        with stdout_to_stderr() if (args.json or args.jsonl) and args.command != "serve" else contextlib.nullcontext():
            out = args.func(args)
    except DownloadError as e:
        print(f"{PROG}: error: {cli_message(_one_line(e), command)} {NETWORK_HINT}", file=sys.stderr)
        return 2
    except (CLIError, ValueError, TypeError, OSError) as e:
        print(f"{PROG}: error: {cli_message(_one_line(e), command)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - anything else (a Paddle error, MemoryError, a bug): still one line
        if os.environ.get("PADDLE_ELECTRA_TRACEBACK") == "1":
            traceback.print_exc()
        print(f"{PROG}: error: {type(e).__name__}: {_one_line(e)} (set PADDLE_ELECTRA_TRACEBACK=1 to see where)",
              file=sys.stderr)
        return 2
    if out:
        print(out)
    return 0
