"""Deployment export: Paddle Inference graph (+ ONNX), manifest, verification and predictors.

``export(model_or_name, out_dir, task=None, onnx=None, verify=False, optimize_onnx=None, quantize=None)`` writes::

    out_dir/
      inference.json, inference.pdiparams   Paddle 3 (PIR) program, dynamic [batch, seq] int64 inputs
      model.onnx                            onnx=True: paddle2onnx's graph, fused by ONNX Runtime's transformer
                                            optimizer when the fused graph matches it within atol
                                            (optimize_onnx=False: unfused); see :mod:`.optimize`
      model.int8.onnx                       quantize="int8" (implies onnx=True): dynamic int8 quantisation of
                                            model.onnx; see :mod:`.quantize`
      config.json                           the model's config
      vocab.txt, tokenizer_config.json,     the tokenizer: given as tokenizer=, or the one the model was
      special_tokens_map.json               loaded with; none is an error up front (tokenizer=False
                                            exports the graph alone)
      manifest.json                         task, inputs/outputs, labels, versions, sha256 of every file,
                                            verification report

Outputs are named per task (:data:`TASK_OUTPUTS`), e.g. ``logits`` or
``start_logits`` / ``end_logits``. :class:`ElectraPredictor` (Paddle
Inference, oneDNN on CPU) and :class:`OnnxPredictor` (ONNX Runtime;
``precision="int8"`` runs ``model.int8.onnx``) share one interface:
``predictor(input_ids, token_type_ids=None, attention_mask=None)``
-> ``{output name: np.ndarray}``. paddle2onnx and onnxruntime are imported
only when used.
"""

from .builder import export
from .manifest import (
    FORMAT_VERSION,
    TASK_OUTPUTS,
    TASKS,
    ExportError,
    ExportVerificationError,
    check_export,
    load_export,
)
from .predictor import ElectraPredictor, OnnxPredictor
from .verification import verify

__all__ = [
    "export",
    "verify",
    "check_export",
    "load_export",
    "ElectraPredictor",
    "OnnxPredictor",
    "ExportError",
    "ExportVerificationError",
    "TASKS",
    "TASK_OUTPUTS",
    "FORMAT_VERSION",
]


class _CallableModule(__import__("types").ModuleType):
    """Lets ``paddle_electra.export(...)`` call :func:`export` while ``paddle_electra.inference.export.verify``
    and the other names stay reachable as attributes of the subpackage."""

    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
