"""``paddle-electra`` model commands: list, fill-mask, detect, classify, ner, qa, convert, export.

``register(sub, common)`` adds them to the parser built in :mod:`paddle_electra.cli.app`.
Each calls one library function (the name table, a pipeline, the TF1
converter, the exporter) and returns what the command prints: a table, or JSON
with ``--json`` (one object per line with ``--jsonl``).

    paddle-electra fill-mask "经[MASK]审理查明" --model hfl/chinese-legal-electra-small-generator
    paddle-electra classify --model my-classifier/ --input texts.txt
    paddle-electra export --model my-classifier/ --out exported/ --onnx --verify

Only the standard library and the CLI's own helper modules are imported at the
top; the library (and Paddle with it) is imported when a command runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import unicodedata
from typing import Any, Dict, List, Optional

from .common import BACKENDS, DEFAULT_MODELS, TASK_ALIASES, TASKS, native_output_filtered, to_json
from .inputs import add_head_argument, add_input_arguments, jsonl_lines, load_checked, read_records, run_chunked

# fill-mask and detect default to paddle_electra.inference.pipelines.DEFAULT_MODELS: the demo models that ship
# inside the package (People's Daily 1998), so they work offline
MODEL_CARD = "docs/model-card-peoples-daily.md"


# ------------------------------------------------------------------ output
def _width(text: str) -> int:
    """Terminal columns of ``text`` (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(header: List[str], rows: List[List[Any]]) -> str:
    """``rows`` under ``header`` in aligned columns (floats with 4 decimals, CJK characters two columns wide)."""
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
    from ..loading import registry

    if registry.is_known(model) and registry.get_entry(model).source == "embedded":
        return f"model: {model} (the demo model embedded in paddle_electra, offline; demo quality: {MODEL_CARD})"
    return f"model: {model}"


# ---------------------------------------------------------------- commands
# tasks whose head is trained for one use (not pre-trained): a checkpoint without it gets a random head
HEAD_TASKS = ("text-classification", "token-classification", "question-answering")


def _pipe(task: str, args, **kwargs):
    from ..inference.pipelines import is_export_dir, pipeline

    model, tokenizer = args.model, None
    if task in HEAD_TASKS and args.backend in ("auto", "dygraph") and not is_export_dir(model):
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
    from .._io import numpy_json_default

    records = read_records(args, args.command)  # before the model loads: bad input fails at once
    pipe = _pipe(task, args, **kwargs)
    results = run_chunked(pipe, records, lambda p, chunk: p([r["text"] for r in chunk]), args)
    if args.jsonl:
        return jsonl_lines(records, results, numpy_json_default)
    texts = [r["text"] for r in records]
    return to_json(results) if args.json else fmt(texts, results)


def cmd_list(args) -> str:
    from ..loading import registry

    rows = registry.list_pretrained()
    return to_json(rows) if args.json else registry.format_table(rows)


def cmd_fill_mask(args) -> str:
    return _with_model(args, _run_texts("fill-mask", args, _fmt_fill_mask, top_k=args.top_k, targets=args.target))


def cmd_detect(args) -> str:
    return _with_model(args, _run_texts("replaced-token-detection", args, _fmt_detect))


def cmd_classify(args) -> str:
    return _run_texts("text-classification", args, _fmt_classify, top_k=args.top_k)


def cmd_ner(args) -> str:
    return _run_texts("token-classification", args, _fmt_ner)


def cmd_qa(args) -> str:
    from .._io import numpy_json_default

    records = read_records(args, "qa")
    pipe = _pipe("question-answering", args, max_answer_len=args.max_answer_len, doc_stride=args.doc_stride)
    results = run_chunked(pipe, records, lambda p, chunk: p([{"question": r["question"], "context": r["context"]}
                                                             for r in chunk]), args)
    if args.jsonl:
        return jsonl_lines(records, results, numpy_json_default)
    if args.json:
        return to_json(results[0] if len(records) == 1 and not args.input else results)
    return _table(["answer", "start", "end", "score"], [[r["answer"], r["start"], r["end"], r["score"]]
                                                        for r in results])


def cmd_convert(args) -> str:
    from ..loading.convert.tf1 import convert_tf_checkpoint

    written = convert_tf_checkpoint(
        args.tf_checkpoint, args.out, generator_config=args.generator_config,
        discriminator_config=args.discriminator_config, parts=args.parts,
        verify_crc={"auto": None, "yes": True, "no": False}[args.verify_crc], overwrite=args.overwrite,
        safe_serialization=args.safetensors, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.json:
        return to_json(written)
    return "\n".join(f"{part}: {folder}" for part, folder in written.items())


def cmd_export(args) -> str:
    from ..inference.export import export
    from ..inference.pipelines import canonical_task

    task = canonical_task(args.task) if args.task else None  # None: the model's own task (its class)
    logging.getLogger("paddle_electra.export").setLevel(logging.WARNING)  # the line below says it
    with native_output_filtered():
        result = export(args.model, task=task, out_dir=args.out, onnx=args.onnx or None, verify=args.verify,
                        overwrite=args.overwrite, tokenizer=args.tokenizer,
                        optimize_onnx=False if args.no_optimize_onnx else None, quantize=args.quantize)
    if args.json:
        return to_json(result)
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


def _model_options(p: argparse.ArgumentParser, default: Optional[str] = None) -> None:
    """Add ``--model`` (required unless ``default``), ``--backend``, ``--batch-size``, ``--max-length``
    and ``--truncation``: the options of every command that runs a pipeline."""
    p.add_argument("--model", required=default is None, default=default, metavar="NAME_OR_DIR",
                   help="published name, model folder or export folder"
                   + (f" (default: {default})" if default else ""))
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="default: auto")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=None, help="default: the model's max_position_embeddings")
    p.add_argument("--truncation", action="store_true", help="cut over-long texts instead of failing")


def register(sub, common) -> None:
    """Add the model commands to the subcommand parser ``sub``, each with the options of ``common``.

    Args:
        sub: the ``add_subparsers()`` action of the ``paddle-electra`` parser.
        common: the parent parser with ``--threads`` and ``--json``.
    """
    p = sub.add_parser("list", parents=[common], help="the published and embedded names (41)")
    p.set_defaults(func=cmd_list, needs_paddle=False)  # the name table only

    p = sub.add_parser("fill-mask", parents=[common], help="predict the tokens written as [MASK]")
    add_input_arguments(p)
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--target", action="append", default=None, metavar="TOKEN",
                   help="rank only these tokens (repeat the flag: --target 胜 --target 顺), with their probabilities")
    _model_options(p, DEFAULT_MODELS["fill-mask"])
    p.set_defaults(func=cmd_fill_mask)

    p = sub.add_parser("detect", parents=[common], help="replaced-token detection: P(replaced) per token")
    add_input_arguments(p)
    _model_options(p, DEFAULT_MODELS["replaced-token-detection"])
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("classify", parents=[common], help="text classification")
    add_input_arguments(p)
    p.add_argument("--top-k", type=int, default=1, help="labels per text (default 1)")
    _model_options(p)
    add_head_argument(p)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("ner", parents=[common], help="token classification: entities with character spans")
    add_input_arguments(p)
    _model_options(p)
    add_head_argument(p)
    p.set_defaults(func=cmd_ner)

    p = sub.add_parser("qa", parents=[common], help="extractive question answering")
    p.add_argument("--question", help="one question (with --context); many: --input FILE --jsonl")
    p.add_argument("--context", help="the text that holds the answer")
    add_input_arguments(p, texts=False)
    p.add_argument("--max-answer-len", type=int, default=30, help="tokens (default 30)")
    p.add_argument("--doc-stride", type=int, default=None, help="context tokens shared by the windows of a long "
                   "context (default: 128, at most half a window)")
    _model_options(p)
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
