"""The runtime of a PaddleHub module made from an export folder (fp32, int8 or bf16 deployment).

``make_hub_module(EXPORT_DIR, ...)`` copies the export (Paddle Inference graph,
ONNX models, tokenizer, manifest) into the module's ``export/`` folder and
writes a ``module.py`` whose class subclasses :class:`ElectraExportHubModule`
under ``@moduleinfo`` (PaddleHub's plain ``RunModule``: an export has no
trainable weights, so there is no ``TransformerModule`` / ``hub.Trainer`` side).

The module answers as the dygraph modules do (:mod:`.runtime`): ``predict``
with PaddleHub's arguments, ``get_embedding`` for a feature-extraction export,
``hub serving`` through ``predict_method``. It runs the export through
paddle_electra's predictors, picked by ``backend``:

* ``"inference"``: Paddle Inference fp32 (oneDNN);
* ``"inference-bf16"``: Paddle Inference with oneDNN's bf16 kernels (CPUs with AVX512-BF16 / AMX);
* ``"onnx"``: ONNX Runtime on ``model.onnx``;
* ``"onnx-int8"``: ONNX Runtime on ``model.int8.onnx`` (exports made with ``quantize="int8"``).

The folder is checked against its manifest (sizes and sha256) when the module
loads, so an altered or truncated export is refused, not run.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import numpy as np

from ...inference.export.manifest import INT8_FILE, load_export
from ...inference.export.predictor import ONNX_PRECISIONS
from ...inference.pipeline_base import _softmax, check_batch_size
from ...inference.pipelines import EXPORT_BACKENDS, pipeline
from .runtime import _TASK_ALIASES, _as_pairs, check_predict_options, embedding_row, int_keys, label_row

#: export task -> the PaddleHub task of the module made from it (``None``: embeddings)
HUB_TASKS = {"text-classification": "seq-cls", "token-classification": "token-cls",
             "feature-extraction": None, "fill-mask": "fill-mask"}


def default_backend(manifest: Dict[str, Any]) -> str:
    """The fastest backend an export surely runs: int8 ONNX for a quantised export, else Paddle Inference fp32."""
    return "onnx-int8" if (manifest.get("quantization") and INT8_FILE in (manifest.get("files") or {})) \
        else "inference"


def check_backend(manifest: Dict[str, Any], backend: str, folder: str) -> str:
    """``backend`` if the export can run it; a ``ValueError`` naming what is missing otherwise."""
    if backend not in EXPORT_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; an export module runs one of {', '.join(EXPORT_BACKENDS)}")
    cls, precision = EXPORT_BACKENDS[backend]  # ONNX backends need their model file; every export has the graph
    needed = ONNX_PRECISIONS[precision] if cls == "OnnxPredictor" else None
    if needed and needed not in (manifest.get("files") or {}):
        how = "quantize='int8' (paddle-electra export --quantize int8)" if needed == INT8_FILE else "onnx=True"
        raise ValueError(f"backend={backend!r} runs {needed}, which the export {folder} does not have; export "
                         f"with {how}, or pick another backend")
    return backend


def hub_task(manifest: Dict[str, Any], folder: str) -> Optional[str]:
    """The PaddleHub task of an export (:data:`HUB_TASKS`); a ``ValueError`` for tasks hub modules do not serve."""
    task = manifest.get("task")
    if task not in HUB_TASKS:
        raise ValueError(f"{folder} is an export for {task!r}; a PaddleHub module serves text-classification "
                         "(seq-cls), token-classification (token-cls), feature-extraction (embeddings) or fill-mask "
                         f"exports. Serve this one with: paddle-electra serve --model {folder}")
    return HUB_TASKS[task]


class ElectraExportHubModule:
    """A PaddleHub module running an export folder (see the module docstring).

    Args:
        export_dir: the export folder shipped inside the module.
        task: the module's task; it must be the export's (a new head needs the
            dygraph model: make the module from the model folder instead).
        backend: one of ``pipelines.EXPORT_BACKENDS``; default: :func:`default_backend`.
        threads: CPU threads of the predictor (default: the predictor's default).
        label_map: ``{id: label}`` to rename the export's labels (same count).

    Raises:
        ValueError: a task other than the export's, a backend the export
            cannot run, a ``label_map`` of another size.
        ExportError: the folder does not match its manifest (altered or truncated).
        RuntimeError: ``backend="inference-bf16"`` on a CPU without bf16 instructions.
    """

    TASKS: tuple = ()

    def __init__(self, export_dir: str, task: Optional[str] = None, backend: Optional[str] = None,
                 threads: Optional[int] = None, label_map: Optional[Dict] = None):
        self.manifest = load_export(export_dir)  # sizes and sha256 of every listed file
        own = hub_task(self.manifest, export_dir)
        task = _TASK_ALIASES.get(task, task)
        if task != own:
            raise ValueError(f"this module runs an export made for {self.manifest['task']} (task={own!r}), so it "
                             f"cannot do task={task!r}; a new task needs the model itself: make a module from the "
                             "model folder the export came from")
        self.task, self.source = task, os.fspath(export_dir)
        self.backend = check_backend(self.manifest, backend or default_backend(self.manifest), export_dir)
        self.pipe = pipeline(self.manifest["task"], model=export_dir, backend=self.backend, threads=threads)
        self.label_map = self._label_map(label_map)
        self.num_classes = None if self.label_map is None else len(self.label_map)

    def _label_map(self, label_map: Optional[Dict]) -> Optional[Dict]:
        own = self.pipe.id2label if self.task in ("seq-cls", "token-cls") else None
        if not label_map:
            return dict(own) if own else None
        if own is None:
            raise ValueError(f"label_map is for the classification tasks; this module's task is {self.task!r}")
        label_map = int_keys(label_map)
        if sorted(label_map) != sorted(own):
            raise ValueError(f"label_map must name the export's {len(own)} label ids {sorted(own)}, got "
                             f"{sorted(label_map, key=str)}")
        return label_map

    def _check_device(self, use_gpu: bool) -> None:
        if use_gpu:
            raise RuntimeError(f"this module runs its export on the CPU (backend {self.backend!r}); for a GPU load "
                               "the export with paddle_electra.ElectraPredictor(folder, device='gpu'), or "
                               "make the module from the model folder")

    def _outputs(self, texts: List[str], pairs: Optional[List[str]], max_seq_len: int, batch_size: int):
        """``(encodings, outputs)`` per input, padding removed; over-long inputs are cut to ``max_seq_len``."""
        check_batch_size(batch_size)
        limit = min(int(max_seq_len), self.pipe.max_positions)
        encoded = self.pipe.encode(texts, pairs, max_length=limit, truncation=True)
        return encoded, self.pipe.run(encoded, batch_size)

    def predict(self, data, max_seq_len: int = 128, split_char: str = "\002", batch_size: int = 1,
                use_gpu: bool = False, return_prob: bool = False, top_k: Optional[int] = None):
        """Predict, as the dygraph module's ``predict`` (same arguments, same answers up to the export's precision).

        Raises:
            ValueError / TypeError: malformed ``data``, an option this task does not take.
            RuntimeError: ``use_gpu=True`` (the export runs on the CPU).
        """
        check_predict_options(self.task, return_prob, top_k)
        self._check_device(use_gpu)
        if self.task is None:
            return self.get_embedding(data, max_seq_len=max_seq_len, batch_size=batch_size)
        texts, pairs = _as_pairs(data, False, single=self.task == "fill-mask")
        if not texts:
            return ([], []) if return_prob else []
        if self.task == "fill-mask":
            limit = min(int(max_seq_len), self.pipe.max_positions)
            return self.pipe(texts, batch_size=batch_size, max_length=limit, truncation=True,
                             top_k=5 if top_k is None else top_k)
        if self.task == "token-cls" and split_char:  # pre-split words: a space keeps English words apart
            texts = [t.replace(split_char, " ") for t in texts]
        labels: List[Any] = []
        probs_out: List[Any] = []
        for enc, out in zip(*self._outputs(texts, pairs, max_seq_len, batch_size)):
            label, probs = label_row(self.task, _softmax(np.asarray(out["logits"], dtype="float64")),
                                     enc["special_tokens_mask"], self.label_map)
            labels.append(label)
            probs_out.append(probs)
        return (labels, probs_out) if return_prob else labels

    def get_embedding(self, data, use_gpu: bool = False, max_seq_len: int = 128, batch_size: int = 1):
        """``[cls_vector, token_vectors]`` per input, as the dygraph module's; feature-extraction exports only."""
        self._check_device(use_gpu)
        if self.task is not None:
            raise ValueError(f"this module runs a {self.manifest['task']} export, which outputs no hidden states; "
                             "export the model with task='feature-extraction' for embeddings")
        texts, pairs = _as_pairs(data, False)
        if not texts:
            return []
        _, outs = self._outputs(texts, pairs, max_seq_len, batch_size)
        return [embedding_row(np.asarray(out["last_hidden_state"])) for out in outs]

    def serve(self, data, max_seq_len: int = 128, batch_size: int = 1, use_gpu: bool = False):
        """What ``hub serving`` returns: labels (classification), embeddings (``task=None``), fill-mask candidates."""
        if self.task is None:
            return self.get_embedding(data, use_gpu=use_gpu, max_seq_len=max_seq_len, batch_size=batch_size)
        return self.predict(data, max_seq_len=max_seq_len, batch_size=batch_size, use_gpu=use_gpu)


__all__ = ["ElectraExportHubModule", "HUB_TASKS", "check_backend", "default_backend", "hub_task"]
