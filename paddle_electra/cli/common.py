"""What the ``paddle-electra`` command modules share: the error type, JSON output, stream plumbing, task tables.

The command line is one main module (:mod:`paddle_electra.cli.app`: the parser and
``main``) and one module per command group (``models``, ``bench``,
``train``, ``serve``), which the main module alone imports. What more
than one of them needs lives here, so that no group imports another or the main
module and the imports stay a tree.

This module imports only the standard library at the top and nothing of the
CLI: building the parser must not import Paddle (``paddle-electra --help`` stays
fast), and every CLI module imports this one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
from typing import Any

# paddle_electra.inference.pipelines' TASKS, TASK_ALIASES, BACKENDS and DEFAULT_MODELS, repeated so that building the
# parser (``--help``) does not import pipelines.py and Paddle with it; tests/cli/test_cli_inputs.py checks they match
TASKS = ("fill-mask", "replaced-token-detection", "text-classification", "token-classification",
         "question-answering", "feature-extraction")
TASK_ALIASES = ("sentiment-analysis", "seq-cls", "sequence-classification", "ner", "token-cls", "mask-filling",
                "masked-lm", "qa", "rtd", "embeddings")
BACKENDS = ("auto", "dygraph", "inference", "onnx", "onnx-int8", "inference-bf16")
DEFAULT_MODELS = {"fill-mask": "electra-zh-peoples-daily-small-generator",
                  "replaced-token-detection": "electra-zh-peoples-daily-small-discriminator"}

# lines third-party code prints while exporting that say nothing to the user: paddle2onnx's progress and
# Paddle's glog warning about PIR (an internal limitation that does not affect the export)
NATIVE_NOISE = re.compile(r"^\[Paddle2ONNX\]|\[INFO\]\s+ONNX model saved in|^W\d{4} [\d:. ]+\d+ \S+\] .*PIR.*!!!!")


class CLIError(Exception):
    """An error reported as one line and exit status 2."""


def to_json(obj: Any) -> str:
    """``obj`` as indented JSON, non-ASCII text kept as is, numpy scalars and arrays as numbers and lists.

    Args:
        obj: a command's result (dicts, lists, strings, numbers, numpy values).

    Returns:
        The JSON text that ``--json`` prints.
    """
    from .._io import numpy_json_default  # imported on use: the parser is built without it

    return json.dumps(obj, ensure_ascii=False, indent=2, default=numpy_json_default)


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
