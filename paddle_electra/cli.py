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
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import re
import sys
import threading
import traceback
import unicodedata
from typing import Any, Dict, List, Optional

PROG = "paddle-electra"
# fill-mask and detect default to paddle_electra.pipelines.DEFAULT_MODELS: the demo models that ship
# inside the package (People's Daily 1998), so they work offline
MODEL_CARD = "docs/model-card-peoples-daily.md"
# lines third-party code prints while exporting that say nothing to the user: paddle2onnx's progress and
# Paddle's glog warning about PIR (an internal limitation that does not affect the export)
NATIVE_NOISE = re.compile(r"^\[Paddle2ONNX\]|\[INFO\]\s+ONNX model saved in|^W\d{4} [\d:. ]+\d+ \S+\] .*PIR.*!!!!")
NETWORK_HINT = ("Use a local model folder instead (--model DIR), or a mirror: PADDLE_ELECTRA_MIRROR=<base URL> "
                "for the PaddleNLP (bcebos) files, HF_ENDPOINT=<url> for the Hugging Face hub.")


# paddle_electra.pipelines' TASKS, TASK_ALIASES, BACKENDS and DEFAULT_MODELS, repeated so that building the
# parser (``--help``) does not import pipelines.py and Paddle with it; tests/test_cli_inputs.py checks they match
TASKS = ("fill-mask", "replaced-token-detection", "text-classification", "token-classification",
         "question-answering", "feature-extraction")
TASK_ALIASES = ("sentiment-analysis", "seq-cls", "sequence-classification", "ner", "token-cls", "mask-filling",
                "masked-lm", "qa", "rtd", "embeddings")
BACKENDS = ("auto", "dygraph", "inference", "onnx", "onnx-int8", "inference-bf16")
DEFAULT_MODELS = {"fill-mask": "electra-zh-peoples-daily-small-generator",
                  "replaced-token-detection": "electra-zh-peoples-daily-small-discriminator"}


class CLIError(Exception):
    """An error reported as one line and exit status 2."""


# ------------------------------------------------------------------ output
def _to_json(obj: Any) -> str:
    from ._io import numpy_json_default

    return json.dumps(obj, ensure_ascii=False, indent=2, default=numpy_json_default)


def _width(text: str) -> int:
    """Terminal columns of ``text`` (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(header: List[str], rows: List[List[Any]]) -> str:
    cells = [[f"{c:.4f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max([_width(h)] + [_width(r[i]) for r in cells]) for i, h in enumerate(header)]

    def line(row):
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths)).rstrip()

    return "\n".join([line(header)] + [line(r) for r in cells])


def _fmt_fill_mask(texts, results) -> str:
    blocks = []
    for text, per_mask in zip(texts, results):
        for m, cands in enumerate(per_mask):
            title = text if len(per_mask) == 1 else f"{text}  ([MASK] {m + 1} of {len(per_mask)})"
            rows = [[r + 1, c["token"], c["score"], c["sequence"]] for r, c in enumerate(cands)]
            blocks.append(title + "\n" + _table(["rank", "token", "score", "sequence"], rows))
    return "\n\n".join(blocks)


def _fmt_detect(texts, results) -> str:
    return "\n\n".join(
        text + "\n" + _table(["token", "start", "end", "replaced_probability"],
                             [[t["token"], t["start"], t["end"], t["replaced_probability"]] for t in toks])
        for text, toks in zip(texts, results))


def _fmt_classify(texts, results) -> str:
    rows = []
    for text, res in zip(texts, results):
        for r in (res if isinstance(res, list) else [res]):
            rows.append([text, r["label"], r["score"]])
    return _table(["text", "label", "score"], rows)


def _fmt_ner(texts, results) -> str:
    return "\n\n".join(
        text + "\n" + (_table(["entity", "text", "start", "end", "score"],
                              [[e["entity"], e["text"], e["start"], e["end"], e["score"]] for e in ents])
                       if ents else "(no entities)")
        for text, ents in zip(texts, results))


def _fmt_verification(report: Dict[str, Any]) -> str:
    """The ``verify`` report of a manifest: max |Δ| per backend and output (and the int8 model's agreement)."""
    rows = [[backend, name, f"{diff:.2e}"] for backend, outs in (report.get("max_abs_diff") or {}).items()
            for name, diff in outs.items()]
    shape = " x ".join(str(n) for n in report.get("batch_shape") or ())
    text = (f"verified against the dygraph model on a {shape} batch (tolerance {report.get('atol')}): "
            f"{'passed' if report.get('passed') else 'FAILED'}\n" + _table(["backend", "output", "max |Δ|"], rows))
    int8 = report.get("int8")
    if int8 and int8.get("top1_agreement") is not None:
        shape = " x ".join(str(n) for n in int8.get("batch_shape") or ())
        fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731 - feature extraction has no labels
        rows = [[name, fmt(int8["top1_agreement"][name], ".2%"), fmt(int8["max_abs_prob_diff"][name], ".2e"),
                 f"{int8['max_abs_diff'][name]:.2e}", int8["compared"][name]] for name in int8["max_abs_diff"]]
        text += (f"\nint8 ({int8.get('file')}) against fp32 on a {shape} batch (agreement, not a tolerance):\n"
                 + _table(["output", "top-1 agreement", "max |Δ| prob", "max |Δ| logits", "compared"], rows))
    return text


def model_label(model: str) -> str:
    """``model: NAME`` for the output, saying when NAME is the demo model embedded in the package."""
    from . import registry

    if registry.is_known(model) and registry.get_entry(model).source == "embedded":
        return f"model: {model} (the demo model embedded in paddle_electra, offline; demo quality: {MODEL_CARD})"
    return f"model: {model}"


# ---------------------------------------------------------------- commands
# tasks whose head is trained for one use (not pre-trained): a checkpoint without it gets a random head
HEAD_TASKS = ("text-classification", "token-classification", "question-answering")


def _pipe(task: str, args, **kwargs):
    from .pipelines import is_export_dir, pipeline

    model, tokenizer = args.model, None
    if task in HEAD_TASKS and args.backend in ("auto", "dygraph") and not is_export_dir(model):
        from .cli_inputs import load_checked

        model, tokenizer = load_checked(task, args.model, args.allow_random_head), args.model
    pipe = pipeline(task, model=model, tokenizer=tokenizer, backend=args.backend, batch_size=args.batch_size,
                    max_length=args.max_length, truncation=args.truncation, threads=getattr(args, "threads", None),
                    **kwargs)
    pipe.model_name = os.fspath(args.model)
    return pipe


def _with_model(args, table: str) -> str:
    """The table under a line naming the model (on stderr with ``--json`` / ``--jsonl``, so stdout stays JSON)."""
    if args.json or args.jsonl:
        print(model_label(args.model), file=sys.stderr)
        return table
    return model_label(args.model) + "\n\n" + table


def _run_texts(task: str, args, fmt, **kwargs) -> str:
    """A text command: its inputs (arguments, ``-``, ``--input``) through the pipeline in chunks, then printed."""
    from ._io import numpy_json_default
    from .cli_inputs import jsonl_lines, read_records, run_chunked

    records = read_records(args, args.command)  # before the model loads: bad input fails at once
    pipe = _pipe(task, args, **kwargs)
    results = run_chunked(pipe, records, lambda p, chunk: p([r["text"] for r in chunk]), args)
    if args.jsonl:
        return jsonl_lines(records, results, numpy_json_default)
    texts = [r["text"] for r in records]
    return _to_json(results) if args.json else fmt(texts, results)


def cmd_list(args) -> str:
    from . import registry

    rows = registry.list_pretrained()
    return _to_json(rows) if args.json else registry.format_table(rows)


def cmd_fill_mask(args) -> str:
    return _with_model(args, _run_texts("fill-mask", args, _fmt_fill_mask, top_k=args.top_k))


def cmd_detect(args) -> str:
    return _with_model(args, _run_texts("replaced-token-detection", args, _fmt_detect))


def cmd_classify(args) -> str:
    return _run_texts("text-classification", args, _fmt_classify, top_k=args.top_k)


def cmd_ner(args) -> str:
    return _run_texts("token-classification", args, _fmt_ner)


def cmd_qa(args) -> str:
    from ._io import numpy_json_default
    from .cli_inputs import jsonl_lines, read_records, run_chunked

    records = read_records(args, "qa")
    pipe = _pipe("question-answering", args, max_answer_len=args.max_answer_len, doc_stride=args.doc_stride)
    results = run_chunked(pipe, records, lambda p, chunk: p([{"question": r["question"], "context": r["context"]}
                                                             for r in chunk]), args)
    if args.jsonl:
        return jsonl_lines(records, results, numpy_json_default)
    if args.json:
        return _to_json(results[0] if len(records) == 1 and not args.input else results)
    return _table(["answer", "start", "end", "score"], [[r["answer"], r["start"], r["end"], r["score"]]
                                                        for r in results])


def cmd_convert(args) -> str:
    from .convert.tf1 import convert_tf_checkpoint

    written = convert_tf_checkpoint(
        args.tf_checkpoint, args.out, generator_config=args.generator_config,
        discriminator_config=args.discriminator_config, parts=args.parts,
        verify_crc={"auto": None, "yes": True, "no": False}[args.verify_crc], overwrite=args.overwrite,
        safe_serialization=args.safetensors, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.json:
        return _to_json(written)
    return "\n".join(f"{part}: {folder}" for part, folder in written.items())


def cmd_export(args) -> str:
    from .export import export
    from .pipelines import canonical_task

    task = canonical_task(args.task) if args.task else None  # None: the model's own task (its class)
    logging.getLogger("paddle_electra.export").setLevel(logging.WARNING)  # the line below says it
    with native_output_filtered():
        result = export(args.model, task=task, out_dir=args.out, onnx=args.onnx or None, verify=args.verify,
                        overwrite=args.overwrite, tokenizer=args.tokenizer,
                        optimize_onnx=False if args.no_optimize_onnx else None, quantize=args.quantize)
    if args.json:
        return _to_json(result)
    lines = [f"exported {args.model} ({result['task']}) to {args.out}"]
    if result.get("tokenizer_missing"):
        why = result["tokenizer_missing"].replace("tokenizer=False", "--no-tokenizer")  # the CLI's spelling
        lines.append(f"warning: no tokenizer in the export: {why}")
    fusion = result.get("onnx_optimization")
    if fusion and fusion.get("applied"):
        lines.append("fused ONNX graph: " + ", ".join(f"{op} {n}" for op, n in fusion["fused"].items()))
    elif fusion and result.get("onnx"):
        lines.append(f"ONNX graph not fused: {fusion.get('reason')}")
    if result.get("quantization"):
        q = result["quantization"]
        lines.append(f"int8: {q['file']} ({q['size_bytes'] / 1e6:.1f} MB; fp32 {q['fp32_size_bytes'] / 1e6:.1f} MB)")
    if result.get("verification"):
        lines.append(_fmt_verification(result["verification"]))
    return "\n".join(lines)


# ------------------------------------------------------------------ parser
def add_convert_arguments(parser: argparse.ArgumentParser, require_out: bool = True) -> None:
    """The TF1 conversion options, shared by ``paddle-electra convert`` and tools/convert_tf_checkpoint.py."""
    parser.add_argument("--tf-checkpoint", required=True, metavar="PREFIX",
                        help="checkpoint prefix, its .index file, or its folder")
    parser.add_argument("--out", required=require_out, metavar="DIR",
                        help="output folder" + ("" if require_out else " (required unless --list)"))
    parser.add_argument("--generator-config", metavar="JSON", help="generator config: JSON file, folder or name")
    parser.add_argument("--discriminator-config", metavar="JSON",
                        help="discriminator config: JSON file, folder or name")
    parser.add_argument("--parts", nargs="+", choices=("generator", "discriminator"),
                        help="networks to write (default: each one the checkpoint holds)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    parser.add_argument("--safetensors", action="store_true", help="write model.safetensors instead of .pdparams")
    parser.add_argument("--verify-crc", choices=("auto", "yes", "no"), default="auto",
                        help="check tensor checksums: auto = when google-crc32c/crc32c is installed (default)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .cli_inputs import add_head_argument, add_input_arguments

    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: given before or after the subcommand, the value is kept (no default overwrites it)
    common.add_argument("--threads", type=int, metavar="N", default=argparse.SUPPRESS,
                        help="CPU threads for Paddle (paddle_electra.set_num_threads)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    def model_opts(p, default: Optional[str] = None):
        p.add_argument("--model", required=default is None, default=default, metavar="NAME_OR_DIR",
                       help="published name, model folder or export folder"
                       + (f" (default: {default})" if default else ""))
        p.add_argument("--backend", choices=BACKENDS, default="auto", help="default: auto")
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--max-length", type=int, default=None, help="default: the model's max_position_embeddings")
        p.add_argument("--truncation", action="store_true", help="cut over-long texts instead of failing")

    parser = argparse.ArgumentParser(prog=PROG, parents=[common], description="ELECTRA on PaddlePaddle: "
                                     "list models, run every task, convert and export checkpoints.",
                                     epilog="Exit status: 0 on success, 2 on any error.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", parents=[common], help="the published and embedded names (41)")
    p.set_defaults(func=cmd_list, needs_paddle=False)  # the name table only

    p = sub.add_parser("fill-mask", parents=[common], help="predict the tokens written as [MASK]")
    add_input_arguments(p)
    p.add_argument("--top-k", type=int, default=5)
    model_opts(p, DEFAULT_MODELS["fill-mask"])
    p.set_defaults(func=cmd_fill_mask)

    p = sub.add_parser("detect", parents=[common], help="replaced-token detection: P(replaced) per token")
    add_input_arguments(p)
    model_opts(p, DEFAULT_MODELS["replaced-token-detection"])
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("classify", parents=[common], help="text classification")
    add_input_arguments(p)
    p.add_argument("--top-k", type=int, default=1, help="labels per text (default 1)")
    model_opts(p)
    add_head_argument(p)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("ner", parents=[common], help="token classification: entities with character spans")
    add_input_arguments(p)
    model_opts(p)
    add_head_argument(p)
    p.set_defaults(func=cmd_ner)

    p = sub.add_parser("qa", parents=[common], help="extractive question answering")
    p.add_argument("--question", help="one question (with --context); many: --input FILE --jsonl")
    p.add_argument("--context", help="the text that holds the answer")
    add_input_arguments(p, texts=False)
    p.add_argument("--max-answer-len", type=int, default=30, help="tokens (default 30)")
    p.add_argument("--doc-stride", type=int, default=None, help="context tokens shared by the windows of a long "
                   "context (default: 128, at most half a window)")
    model_opts(p)
    add_head_argument(p)
    p.set_defaults(func=cmd_qa)

    p = sub.add_parser("convert", parents=[common], help="TF1 checkpoint -> Paddle generator/discriminator folders")
    add_convert_arguments(p)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("export", parents=[common], help="export for Paddle Inference (and ONNX)")
    p.add_argument("--model", required=True, metavar="NAME_OR_DIR")
    p.add_argument("--task", choices=TASKS + TASK_ALIASES, metavar="TASK",
                   help=f"{', '.join(TASKS)} (or an alias: {', '.join(TASK_ALIASES)}); "
                   "default: the model's own, from its config")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (fused with ONNX Runtime's "
                   "transformer optimizer when it verifies)")
    p.add_argument("--no-optimize-onnx", action="store_true",
                   help="keep paddle2onnx's plain graph (no Attention / LayerNorm / GELU fusion)")
    p.add_argument("--quantize", choices=("int8",), default=None,
                   help="also write model.int8.onnx (dynamic int8 quantisation; implies --onnx)")
    p.add_argument("--verify", action="store_true",
                   help="check the export against the dygraph model and print the max |Δ| of every output")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    tok = p.add_mutually_exclusive_group()
    tok.add_argument("--tokenizer", metavar="DIR_OR_NAME",
                     help="the tokenizer to ship with the export (default: the one the model was loaded with)")
    tok.add_argument("--no-tokenizer", dest="tokenizer", action="store_false",
                     help="export the graph alone, without a tokenizer")
    p.set_defaults(func=cmd_export)

    # subcommands kept in their own cli_*.py modules: register(sub, common) adds each one
    from . import cli_bench, cli_serve, cli_train

    for module in (cli_bench, cli_train, cli_serve):
        module.register(sub, common)
    return parser


# ------------------------------------------------------- messages and streams
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


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to stdout, by Python or native code, to stderr during the block.

    ``--json`` promises JSON on stdout: paddle2onnx and Paddle print to file
    descriptor 1 directly, so ``sys.stdout`` alone is not enough.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def native_output_filtered(noise: "re.Pattern" = NATIVE_NOISE, stdout: bool = True):
    """During the block, drop the lines of stderr (and of stdout, unless ``stdout=False``; file
    descriptors 2 and 1) that match ``noise``; the other lines, and progress bars, go to stderr as they come."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    read_end, write_end = os.pipe()

    def pump() -> None:
        pending = b""
        while True:
            chunk = os.read(read_end, 65536)
            pending += chunk
            # complete segments end with \n or \r (a progress bar redraws with \r)
            parts = re.split(rb"(?<=[\r\n])", pending)
            pending = b"" if not chunk else parts.pop()
            for part in parts:
                if part and not noise.search(part.decode("utf-8", "replace")):
                    os.write(saved_err, part)
            if not chunk:
                return

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        if stdout:
            os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        os.close(write_end)
        with contextlib.redirect_stdout(sys.stderr) if stdout else contextlib.nullcontext():
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)  # the last write ends are closed: the pump reads to the end
        thread.join(timeout=10)
        for fd in (read_end, saved_out, saved_err):
            os.close(fd)


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
    with contextlib.redirect_stderr(caught):
        import paddle  # noqa: F401
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
    from .hub import DownloadError

    try:
        if getattr(args, "needs_paddle", True):
            _import_paddle_quietly()
        threads = getattr(args, "threads", None)
        if threads is not None:
            from ._cpu import set_num_threads

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
