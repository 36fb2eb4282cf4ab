"""Convert the saved PIR graph to ONNX with paddle2onnx (imported only here, only when asked)."""

from __future__ import annotations

import os
from typing import Sequence

from .manifest import GRAPH_FILE, ONNX_FILE, PARAMS_FILE

#: never run paddle2onnx's optimizers: "polygraphy" (its default) pip-installs packages at run time
OPTIMIZE_TOOL = "None"


def _import_paddle2onnx():
    try:
        import paddle2onnx
    except ImportError as e:
        raise ImportError("onnx=True needs paddle2onnx: pip install 'paddle_electra[export]' "
                          "(paddle2onnx==2.1.0, onnxruntime, onnx)") from e
    return paddle2onnx


def paddle2onnx_version() -> str:
    """paddle2onnx's version, or ``None`` when it is not installed."""
    try:
        return _import_paddle2onnx().__version__
    except ImportError:
        return None


def save_onnx(folder: str, opset: int, output_names: Sequence[str], input_names: Sequence[str]) -> str:
    """Convert ``folder/inference.json`` + ``.pdiparams`` to ``folder/model.onnx``.

    Args:
        folder: the export folder being built.
        opset: ONNX opset version.
        output_names: expected graph output names (checked).
        input_names: expected graph input names (checked).

    Returns:
        The ONNX file's path.

    Raises:
        RuntimeError: conversion failed or the ONNX graph's inputs / outputs
            differ from the expected names.
    """
    paddle2onnx = _import_paddle2onnx()
    path = os.path.join(folder, ONNX_FILE)
    paddle2onnx.export(os.path.join(folder, GRAPH_FILE), os.path.join(folder, PARAMS_FILE), path,
                       opset_version=opset, optimize_tool=OPTIMIZE_TOOL)
    if not os.path.isfile(path):
        raise RuntimeError(f"paddle2onnx wrote no {ONNX_FILE}")
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    got_in = [i.name for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    got_out = [o.name for o in graph.output]
    if got_in != list(input_names) or got_out != list(output_names):
        raise RuntimeError(f"{ONNX_FILE} has inputs {got_in} and outputs {got_out}; expected "
                           f"{list(input_names)} and {list(output_names)}")
    return path
