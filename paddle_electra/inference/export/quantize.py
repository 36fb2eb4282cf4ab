"""int8 exports: dynamic quantisation of ``model.onnx`` into ``model.int8.onnx``, and its agreement with fp32.

Dynamic quantisation (``onnxruntime.quantization.quantize_dynamic``) stores
the weights of every MatMul / Attention (and the embedding tables) as int8
with one scale per tensor or per output channel; activations are quantised
on the fly, per batch, so no calibration data is needed. It runs through ONNX
Runtime's integer kernels (``MatMulInteger`` / ``DynamicQuantizeMatMul`` /
``QAttention``): VNNI where the CPU has it, plain AVX2 / AVX-512 elsewhere.

Weights use 7 bits (``reduce_range=True``) by default: on x86 CPUs without
VNNI, ONNX Runtime's u8 x s8 kernels add pairs of products in int16, which
saturates for 8-bit weights and changes results; 7-bit weights cannot
saturate, so one file gives the same answers on every CPU kind (AVX2-only
EPYC, AVX-512, VNNI, AMX).

Paddle Inference int8 is not built: see :data:`PADDLE_INT8_STATUS`.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, Optional

import numpy as np

from .manifest import INT8_FILE, ONNX_FILE
from .optimize import quiet_onnxruntime_logs

#: values of ``export(..., quantize=...)`` (besides ``None``: no quantisation)
QUANTIZE_CHOICES = ("int8",)
TOOL = "onnxruntime.quantization.quantize_dynamic"
#: defaults chosen by measurement: see the module docstring (reduce_range) and the export report
PER_CHANNEL = True
REDUCE_RANGE = True
#: op types whose weights are quantised (ORT's names; Gather / EmbedLayerNormalization: the embedding tables)
OP_TYPES = ("MatMul", "Attention", "Gather", "EmbedLayerNormalization")

#: why no Paddle Inference int8 graph is written (tried with Paddle 3.3 on CPU); recorded in the manifest
PADDLE_INT8_STATUS = (
    "not built: Paddle 3.3 has no CPU int8 path for this graph. Paddle Inference runs the PIR program "
    "(inference.json), and its PIR pass list has no oneDNN int8 quantisation pass (cpu_quantize_pass exists "
    "only for the legacy ProgramDesc IR); Config.enable_mkldnn_int8() is accepted but runs the same fp32 "
    "passes and kernels (outputs equal to fp32 to 1e-8), and PIR deletes quantize/dequantize_linear ops "
    "(delete_quant_dequant_linear_op_pass). Dygraph PTQ (paddle.quantization.PTQ) fails on the model: "
    "its observers wrap nn.Linear.forward, which ELECTRA's inference path does not call (fused QKV "
    "weights), so convert() raises AttributeError: 'NoneType' object has no attribute 'dtype'.")


def check_quantize(quantize) -> Optional[str]:
    """``quantize`` checked: ``None`` / ``False`` (none) or one of :data:`QUANTIZE_CHOICES`.

    Raises:
        ValueError: anything else; the message names the allowed values.
    """
    if quantize is None or quantize is False:
        return None
    if isinstance(quantize, str) and quantize.lower() in QUANTIZE_CHOICES:
        return quantize.lower()
    raise ValueError(f"unknown quantize={quantize!r}; allowed: {', '.join(repr(q) for q in QUANTIZE_CHOICES)} "
                     "or None (no quantisation)")


def _import_quantization():
    try:
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise ImportError(f"quantize='int8' needs onnxruntime's quantization tools (onnxruntime, onnx, ml_dtypes): "
                          f"pip install 'paddle_electra[export]' ({e})") from e
    return onnxruntime, QuantType, quantize_dynamic


class _DropMessage(logging.Filter):
    """Drops log records whose message starts with a given text."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def _constants_to_initializers(model) -> int:
    """Move ``Constant`` nodes' tensors into graph initializers (in place); returns how many moved.

    paddle2onnx writes the weights as ``Constant`` nodes; the quantiser only
    quantises MatMul weights that are initializers. The fused graph has them
    already (ORT's basic optimisation), the unfused one (``optimize_onnx=False``) does not.
    """
    graph = model.graph
    moved = 0
    for node in list(graph.node):
        if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or len(node.attribute) != 1 \
                or node.attribute[0].name != "value":
            continue
        tensor = node.attribute[0].t
        tensor.name = node.output[0]
        graph.initializer.append(tensor)
        graph.node.remove(node)
        moved += 1
    return moved


def quantize_int8(folder: str, per_channel: bool = PER_CHANNEL, reduce_range: bool = REDUCE_RANGE) -> Dict[str, Any]:
    """Write ``folder/model.int8.onnx`` from ``folder/model.onnx``; returns the manifest's ``"quantization"``.

    Args:
        folder: the export folder being built (holds ``model.onnx``, fused or not).
        per_channel: one weight scale per output channel (else one per tensor).
        reduce_range: 7-bit weights (see the module docstring).

    Raises:
        ImportError: onnxruntime's quantization tools are missing.
        RuntimeError: the quantiser wrote no file, or quantised no MatMul / Attention.
    """
    ort, QuantType, quantize_dynamic = _import_quantization()
    import onnx

    src, dst = os.path.join(folder, ONNX_FILE), os.path.join(folder, INT8_FILE)
    model = onnx.load(src)
    _constants_to_initializers(model)
    # the quantiser advises its pre-processing (shape inference + graph optimisation) on the root logger:
    # model.onnx is already optimised (optimize.py), so that line is dropped while it runs
    quiet = _DropMessage("Please consider to run pre-processing before quantization")
    logging.getLogger().addFilter(quiet)
    try:
        with quiet_onnxruntime_logs():
            # DefaultTensorType: ONNX shape inference cannot type the outputs of the fused (com.microsoft)
            # ops; every tensor the quantiser asks about there is a float activation
            quantize_dynamic(model, dst, op_types_to_quantize=list(OP_TYPES), per_channel=per_channel,
                             reduce_range=reduce_range, weight_type=QuantType.QInt8,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        logging.getLogger().removeFilter(quiet)
    if not os.path.isfile(dst):
        raise RuntimeError(f"{TOOL} wrote no {INT8_FILE}")
    ops: Dict[str, int] = {}
    for node in onnx.load(dst, load_external_data=False).graph.node:
        if node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "QAttention", "QEmbedLayerNormalization",
                            "DynamicQuantizeLinear", "DequantizeLinear", "QGemm"):
            ops[node.op_type] = ops.get(node.op_type, 0) + 1
    if not any(op in ops for op in ("MatMulInteger", "DynamicQuantizeMatMul", "QAttention")):
        os.remove(dst)  # an "int8" file with fp32 weights would pass every check and mislead
        raise RuntimeError(f"{TOOL} quantised no MatMul or Attention of {ONNX_FILE}, so no {INT8_FILE} was "
                           "written")
    return {"type": "dynamic-int8", "tool": TOOL, "version": ort.__version__, "weights": "QInt8",
            "activations": "QUInt8 (dynamic, per batch)", "per_channel": bool(per_channel),
            "reduce_range": bool(reduce_range), "op_types": list(OP_TYPES), "quantized_ops": dict(sorted(ops.items())),
            "file": INT8_FILE, "fp32_file": ONNX_FILE,
            "size_bytes": os.path.getsize(dst), "fp32_size_bytes": os.path.getsize(src),
            "paddle_inference_int8": PADDLE_INT8_STATUS}


# ------------------------------------------------------------------ agreement with fp32
def _probabilities(task: str, name: str, logits: np.ndarray, mask: np.ndarray):
    """``(probabilities, labels, keep)`` of one output, as the task's pipeline reads it, or None.

    ``keep`` selects the rows / tokens compared (real tokens only for per-token outputs).
    """
    x = logits.astype(np.float64)
    if task == "text-classification":
        keep = np.ones(x.shape[0], bool)
    elif task in ("token-classification", "fill-mask"):
        keep = mask.astype(bool)
    elif task == "replaced-token-detection":  # one logit per token: replaced when > 0
        p = 1.0 / (1.0 + np.exp(-x))
        return np.stack([1 - p, p], -1), (x > 0).astype(np.int64), mask.astype(bool)
    elif task == "question-answering":  # start / end: a distribution over the real tokens of each row
        x = np.where(mask.astype(bool), x, -np.inf)
        keep = np.ones(x.shape[0], bool)
    else:
        return None
    e = np.exp(x - x.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    return p, p.argmax(-1), keep


def agreement(task: str, fp32: Dict[str, np.ndarray], int8: Dict[str, np.ndarray], mask: np.ndarray) -> Dict[str, Any]:
    """How far int8 outputs are from fp32 ones on the same batch.

    Args:
        task: the export's task (decides how logits become labels).
        fp32, int8: ``{output name: array}`` of the two models.
        mask: the batch's attention mask ``[B, L]`` (real tokens).

    Returns:
        ``{"top1_agreement": {output: fraction}, "max_abs_prob_diff": {output: float},
        "max_abs_diff": {output: float}, "compared": {output: count}}``; the
        first two are None for feature extraction (no labels).
    """
    report: Dict[str, Any] = {"top1_agreement": {}, "max_abs_prob_diff": {}, "max_abs_diff": {}, "compared": {}}
    for name, a in fp32.items():
        b = int8[name]
        if a.shape != b.shape:
            raise ValueError(f"int8 output {name!r} has shape {list(b.shape)}, fp32 {list(a.shape)}")
        report["max_abs_diff"][name] = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
        pa, pb = _probabilities(task, name, a, mask), _probabilities(task, name, b, mask)
        if pa is None:
            report["top1_agreement"][name] = report["max_abs_prob_diff"][name] = None
            report["compared"][name] = int(a.shape[0])
            continue
        keep = pa[2]
        report["top1_agreement"][name] = float(np.mean(pa[1][keep] == pb[1][keep]))
        report["max_abs_prob_diff"][name] = float(np.max(np.abs(pa[0][keep] - pb[0][keep])))
        report["compared"][name] = int(keep.sum())
    return report
