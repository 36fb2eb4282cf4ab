"""Inputs of the ``paddle-electra`` text commands: arguments, files, stdin, JSONL; a progress bar; head checks.

    paddle-electra classify --model my-classifier/ --input reviews.txt          one text per line
    cat reviews.txt | paddle-electra classify --model my-classifier/ -          ``-``: stdin
    paddle-electra ner --model my-ner/ --input docs.jsonl --jsonl > ents.jsonl  {"text": ...} per line in,
                                                                                {..., "result": ...} per line out
    paddle-electra qa --model my-qa/ --input qa.jsonl --jsonl                   {"question": ..., "context": ...}

Blank lines are skipped. A JSONL object's other keys (an ``"id"``) come back in
its output line, so results can be matched to inputs. The texts run through the
pipeline in chunks of a few batches (the pipeline sorts each chunk by length and
pads per batch), which is what the progress bar (tqdm, on stderr) counts.

This module imports only the standard library at the top, and nothing of the CLI (models.py imports
it): building the parser must not import Paddle (``paddle-electra --help`` stays fast).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any, Callable, List, Tuple

#: more texts than this, and stderr a terminal: a progress bar (``--progress`` shows it always)
PROGRESS_MIN_TEXTS = 256
#: texts per pipeline call, in batches: small enough for the bar to move, large enough to keep batches full
CHUNK_BATCHES = 8
#: the fields a JSONL object needs, per command
FIELDS = {"qa": ("question", "context")}
DEFAULT_FIELDS = ("text",)


class RandomHeadError(ValueError):
    """The model's task head is not in its checkpoint (random weights) and ``--allow-random-head`` was not given."""


class Record(dict):
    """One input: its fields (``text`` or ``question``/``context``, plus any others of a JSONL object)
    and ``origin``, where it came from ("argument 2", "stdin line 5", "reviews.txt line 12")."""

    origin: str = ""


def add_input_arguments(parser: argparse.ArgumentParser, texts: bool = True) -> None:
    """``TEXT... | -``, ``--input FILE``, ``--jsonl``, ``--progress`` (and ``--allow-random-head`` elsewhere)."""
    if texts:
        parser.add_argument("texts", nargs="*", metavar="TEXT",
                            help="texts to run; - reads stdin (one text per line, or JSONL with --jsonl)")
    parser.add_argument("--input", metavar="FILE", help="read inputs from FILE (- for stdin): one per line; "
                        "blank lines are skipped")
    parser.add_argument("--jsonl", action="store_true",
                        help="inputs from --input / stdin are JSON objects, one per line, with "
                        + ("'question' and 'context'" if not texts else "'text'")
                        + " (other keys are copied to the output); output: one JSON object per line "
                        "with the input's keys and 'result'")
    parser.add_argument("--progress", action="store_true",
                        help=f"always show a progress bar on stderr (default: for more than {PROGRESS_MIN_TEXTS} "
                        "texts when stderr is a terminal)")


def add_head_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-random-head", action="store_true",
                        help="run a model whose task head is not in its checkpoint (random weights, "
                        "meaningless predictions); without it that is an error")


def _parse_line(line: str, origin: str, jsonl: bool, fields: Tuple[str, ...], command: str) -> Record:
    if not jsonl:
        if fields != DEFAULT_FIELDS:
            raise ValueError(f"{command} reads JSONL from --input / stdin ({', '.join(fields)} per line): "
                             "pass --jsonl")
        rec = Record(text=line)
    else:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{origin}: not valid JSON ({e.msg} at column {e.colno}); with --jsonl every "
                             "non-blank line is one JSON object (plain text, one per line: leave out --jsonl)") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{origin}: expected a JSON object with {', '.join(map(repr, fields))}, "
                             f"got {type(obj).__name__}")
        missing = [f for f in fields if not isinstance(obj.get(f), str)]
        if missing:
            raise ValueError(f"{origin}: needs {' and '.join(map(repr, missing))} as a string (keys: "
                             f"{', '.join(map(repr, obj)) or 'none'})")
        if "result" in obj:
            raise ValueError(f"{origin}: the key 'result' is where the output goes; rename it in the input")
        if "text_pair" in obj:  # the pipelines take single texts; a pair silently dropped would be a wrong answer
            raise ValueError(f"{origin}: 'text_pair' is not supported: the {command} pipeline takes single texts")
        rec = Record(obj)
    rec.origin = origin
    return rec


def _read_stream(stream, name: str, jsonl: bool, fields, command: str) -> List[Record]:
    out = []
    for n, line in enumerate(stream, start=1):
        line = line.rstrip("\r\n")
        if line.strip():
            out.append(_parse_line(line, f"{name} line {n}", jsonl, fields, command))
    return out


def _read_source(path: str, jsonl: bool, fields, command: str) -> List[Record]:
    if path == "-":
        return _read_stream(sys.stdin, "stdin", jsonl, fields, command)
    try:
        with open(path, encoding="utf-8") as f:
            return _read_stream(f, path, jsonl, fields, command)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"--input {path}: no such file") from None


def read_records(args, command: str) -> List[Record]:
    """Every input of the command, in order: TEXT arguments (``-`` = stdin), then ``--input``."""
    fields = FIELDS.get(command, DEFAULT_FIELDS)
    records: List[Record] = []
    if command == "qa":
        given = [f for f in fields if getattr(args, f, None) is not None]
        if given and len(given) < len(fields):
            raise ValueError(f"qa needs both --question and --context (only --{given[0]} was given)")
        if given:
            rec = Record(question=args.question, context=args.context)
            rec.origin = "--question/--context"
            records.append(rec)
    for i, text in enumerate(getattr(args, "texts", None) or []):
        if text == "-":
            records.extend(_read_source("-", args.jsonl, fields, command))
        else:
            rec = Record(text=text)
            rec.origin = f"argument {i + 1}"
            records.append(rec)
    if args.input:
        records.extend(_read_source(args.input, args.jsonl, fields, command))
    if not records:
        how = "--question and --context" if command == "qa" else "TEXT arguments, - (stdin)"
        raise ValueError(f"{command}: no input; give {how} or --input FILE (one input per line)")
    return records


def show_progress(args, n: int) -> bool:
    from ..loading.fetch import progress_disabled

    if args.progress:
        return True
    return n > PROGRESS_MIN_TEXTS and sys.stderr.isatty() and not progress_disabled()


_INDEXED = re.compile(r"\b(text|input|question|context) (\d+)\b")


def run_chunked(pipe, records: List[Record], call: Callable[[Any, List[Record]], list], args) -> list:
    """``call(pipe, chunk)`` over chunks of ``records``, with a progress bar; the results in input order.

    A chunk's error names its input by its index in the chunk; the message is
    rewritten to the index in all the inputs and where that input came from.
    """
    from tqdm.auto import tqdm

    size = max(1, args.batch_size) * CHUNK_BATCHES
    results: list = []
    with tqdm(total=len(records), unit="text", file=sys.stderr, disable=not show_progress(args, len(records)),
              dynamic_ncols=True) as bar:
        for start in range(0, len(records), size):
            chunk = records[start:start + size]
            try:
                results.extend(call(pipe, chunk))
            except (ValueError, TypeError) as e:
                def where(m: "re.Match", start: int = start) -> str:
                    i = start + int(m.group(2))
                    origin = f" ({records[i].origin})" if i < len(records) and records[i].origin else ""
                    return f"{m.group(1)} {i}{origin}"

                raise type(e)(_INDEXED.sub(where, str(e), count=1)) from None
            bar.update(len(chunk))
    return results


def jsonl_lines(records: List[Record], results: list, default: Callable) -> str:
    """One JSON object per input: its keys and ``"result"``."""
    return "\n".join(json.dumps({**rec, "result": res}, ensure_ascii=False, default=default)
                     for rec, res in zip(records, results))


# --------------------------------------------------------------- heads
def load_checked(task: str, model: str, allow_random_head: bool) -> Any:
    """The dygraph model of ``task`` from ``model`` (a name or folder), refusing one with a random head.

    ``from_pretrained(..., output_loading_info=True)`` reports the weights the
    checkpoint lacked (or had in another shape), left randomly initialised: a
    discriminator checkpoint loaded for classification gets a random
    ``classifier``. Its predictions are noise, so the command stops (exit 2)
    unless ``--allow-random-head``; with it, a warning goes to stderr.
    """
    import logging

    from ..inference.pipelines import TASK_CLASSES

    cls = TASK_CLASSES[task]
    # the load report's log record (a paragraph) is said here in one line instead; other records pass
    def drop_report(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(f"{cls.__name__}: loaded ")

    logger = logging.getLogger("paddle_electra")
    logger.addFilter(drop_report)
    try:
        model_obj, report = cls.from_pretrained(os.fspath(model), output_loading_info=True)
    finally:
        logger.removeFilter(drop_report)
    random = report.newly_initialized
    if random:
        what = f"{model} has no trained {task} head: {', '.join(random)} not in its checkpoint, randomly initialised"
        if not allow_random_head:
            raise RandomHeadError(f"{what}, so its predictions are meaningless; pass a fine-tuned model (paddle-electra "
                           "finetune), or --allow-random-head to run it anyway")
        print(f"warning: {what}; its predictions are meaningless (--allow-random-head)", file=sys.stderr)
    return model_obj
