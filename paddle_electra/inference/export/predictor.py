"""Run an export folder: :class:`ElectraPredictor` (Paddle Inference) and :class:`OnnxPredictor` (ONNX Runtime).

Both take the same arguments and return ``{output name: np.ndarray}``.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import numpy as np

from .manifest import GRAPH_FILE, INT8_FILE, ONNX_FILE, PARAMS_FILE, ExportError, load_export

#: ``OnnxPredictor(precision=...)`` -> the file it runs
ONNX_PRECISIONS = {"fp32": ONNX_FILE, "int8": INT8_FILE}
#: ``ElectraPredictor(precision=...)``: bf16 is a run-time choice (oneDNN's bf16 kernels on the same fp32 files)
INFERENCE_PRECISIONS = ("fp32", "bf16")


class _Predictor:
    """Shared input handling; subclasses implement :meth:`_run`."""

    manifest: Dict[str, Any]
    precision: str = "fp32"

    def _load(self, export_dir: str) -> None:
        self.export_dir = os.path.abspath(os.fspath(export_dir))
        self.manifest = load_export(self.export_dir)
        self.task: str = self.manifest["task"]
        self.input_names: List[str] = [i["name"] for i in self.manifest["inputs"]]
        self.output_names: List[str] = [o["name"] for o in self.manifest["outputs"]]
        self.pad_token_id: int = int(self.manifest["pad_token_id"])

    def prepare(self, input_ids, token_type_ids=None, attention_mask=None) -> Dict[str, np.ndarray]:
        """The graph's feed: int64 [B, L] arrays; missing optional inputs filled in.

        ``token_type_ids`` defaults to zeros and ``attention_mask`` to
        ``input_ids != pad_token_id`` when the graph takes them. A 1-D
        ``input_ids`` is one sequence (batch 1).

        Raises:
            ValueError: an input the export does not take, or shapes that differ.
        """
        given = {"token_type_ids": token_type_ids, "attention_mask": attention_mask}
        extra = [n for n, v in given.items() if v is not None and n not in self.input_names]
        if extra:
            raise ValueError(f"this export takes only {self.input_names}; it cannot use {extra} "
                             f"(re-export with inputs including them)")
        ids = _as_int64(input_ids, "input_ids")
        feed = {"input_ids": ids}
        defaults = {"token_type_ids": lambda: np.zeros_like(ids),
                    "attention_mask": lambda: (ids != self.pad_token_id).astype(np.int64)}
        for name in self.input_names[1:]:
            value = given[name]
            arr = defaults[name]() if value is None else _as_int64(value, name)
            if arr.shape != ids.shape:
                raise ValueError(f"{name} has shape {list(arr.shape)} but input_ids has {list(ids.shape)}")
            feed[name] = arr
        return feed

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None) -> Dict[str, np.ndarray]:
        """Run the model on one batch.

        Args:
            input_ids: int [B, L] (or [L]) token ids, numpy / list / tensor.
            token_type_ids: int [B, L] segment ids; zeros when omitted.
            attention_mask: int [B, L], 1 = keep; ``input_ids != pad_token_id`` when omitted.

        Returns:
            ``{output name: float32 array}`` in :attr:`output_names` order.
        """
        return self._run(self.prepare(input_ids, token_type_ids, attention_mask))

    def _run(self, feed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.export_dir!r}, task={self.task!r}, precision={self.precision!r})"


def _as_int64(value, name: str) -> np.ndarray:
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be [batch, seq_len], got shape {list(arr.shape)}")
    return np.ascontiguousarray(arr, dtype=np.int64)


class ElectraPredictor(_Predictor):
    """Paddle Inference on an export folder.

    Args:
        export_dir: folder written by :func:`paddle_electra.inference.export.export`
            (checked against its manifest on load).
        threads: CPU math threads (default: Paddle's default).
        use_onednn: CPU only: oneDNN kernels (about 4x faster on x86).
        device: ``"cpu"`` or ``"gpu"`` / ``"gpu:N"`` (needs a CUDA build of Paddle).
        use_tensorrt: GPU only: run through TensorRT (needs a TensorRT build).
        trt_shapes: with TensorRT: ``(min, opt, max)`` ``[batch, seq_len]`` for
            the dynamic-shape profile; default ``([1, 1], [8, 128], [64, 512])``.
        gpu_memory_mb: initial GPU memory pool.
        precision: ``"fp32"`` (default) or ``"bf16"``: CPU with oneDNN only;
            matrix products and most other ops in bfloat16 (weights converted
            at load, inputs and outputs stay fp32), on CPUs with AVX512-BF16 or
            AMX. Logits move by ~1e-3; measure the labels on your task
            (``tools/int8_accuracy.py --bf16``).

    Raises:
        ValueError: an unknown ``precision``.
        ExportError: the folder does not match its manifest.
        RuntimeError: GPU or TensorRT asked for but unavailable in this Paddle;
            ``precision="bf16"`` on a GPU, without oneDNN, or on a CPU without
            native bf16 instructions (there oneDNN would emulate it, slower than
            fp32: use ``"fp32"``).
    """

    def __init__(self, export_dir: str, threads: Optional[int] = None, use_onednn: bool = True,
                 device: str = "cpu", use_tensorrt: bool = False, trt_shapes=None, gpu_memory_mb: int = 256,
                 precision: str = "fp32"):
        import paddle
        import paddle.inference as pi

        if precision not in INFERENCE_PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose from "
                             f"{', '.join(repr(p) for p in INFERENCE_PRECISIONS)}")
        kind, _, index = str(device).partition(":")
        if precision == "bf16" and kind == "gpu":
            raise RuntimeError("precision='bf16' is the CPU oneDNN path; on a GPU use fp32 (or TensorRT)")
        self._load(export_dir)
        self.precision = precision
        config = pi.Config(os.path.join(self.export_dir, GRAPH_FILE), os.path.join(self.export_dir, PARAMS_FILE))
        config.disable_glog_info()
        if kind == "gpu":
            if not paddle.is_compiled_with_cuda():
                raise RuntimeError("device='gpu' needs a CUDA build of Paddle (pip install paddlepaddle-gpu); "
                                   "this Paddle is CPU-only")
            config.enable_use_gpu(gpu_memory_mb, int(index or 0))
            if use_tensorrt:
                self._enable_tensorrt(config, pi, trt_shapes)
        elif kind == "cpu":
            if use_tensorrt:
                raise RuntimeError("use_tensorrt=True needs device='gpu'")
            config.disable_gpu()
            if use_onednn:
                config.enable_mkldnn()
            if precision == "bf16":
                _enable_bf16(config, use_onednn)
            if threads is not None:
                config.set_cpu_math_library_num_threads(int(threads))
        else:
            raise ValueError(f"device must be 'cpu', 'gpu' or 'gpu:N', got {device!r}")
        self.device = device
        self._predictor = pi.create_predictor(config)
        got_in = list(self._predictor.get_input_names())
        if got_in != self.input_names:
            raise ExportError(f"{self.export_dir}: graph inputs {got_in} differ from the manifest's {self.input_names}")
        self._fetch = list(self._predictor.get_output_names())
        if sorted(self._fetch) != sorted(self.output_names):
            raise ExportError(f"{self.export_dir}: graph outputs {self._fetch} differ from the manifest's "
                              f"{self.output_names}")

    def _enable_tensorrt(self, config, pi, trt_shapes) -> None:
        version = tuple(pi.get_trt_compile_version()) if hasattr(pi, "get_trt_compile_version") else (0,)
        if not any(version):
            raise RuntimeError("use_tensorrt=True needs a Paddle build with TensorRT; this one has none")
        config.enable_tensorrt_engine(workspace_size=1 << 30, max_batch_size=1, min_subgraph_size=3,
                                      precision_mode=pi.PrecisionType.Float32, use_static=False,
                                      use_calib_mode=False)
        lo, opt, hi = trt_shapes or ([1, 1], [8, 128], [64, 512])
        config.set_trt_dynamic_shape_info({n: list(lo) for n in self.input_names},
                                          {n: list(hi) for n in self.input_names},
                                          {n: list(opt) for n in self.input_names})

    def _run(self, feed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        for name in self.input_names:
            self._predictor.get_input_handle(name).copy_from_cpu(feed[name])
        self._predictor.run()
        out = {n: self._predictor.get_output_handle(n).copy_to_cpu() for n in self._fetch}
        return {n: out[n] for n in self.output_names}


def _enable_bf16(config, use_onednn: bool) -> None:
    """Switch a CPU ``paddle.inference.Config`` to oneDNN's bf16 kernels, or say why it cannot be."""
    from .cpu_info import bf16_support

    if not use_onednn:
        raise RuntimeError("precision='bf16' runs oneDNN's bf16 kernels: it needs use_onednn=True")
    missing = bf16_support()
    if missing:
        # Paddle itself would only log this and stay in fp32, or oneDNN would emulate bf16 slower than fp32
        raise RuntimeError(f"precision='bf16': {missing}; use precision='fp32' (or the int8 ONNX model)")
    enable = getattr(config, "enable_onednn_bfloat16", None) or config.enable_mkldnn_bfloat16
    enable()


class OnnxPredictor(_Predictor):
    """ONNX Runtime (CPU) on an export folder's ``model.onnx`` (or ``model.int8.onnx``).

    Args:
        export_dir: folder written by ``export(..., onnx=True)`` (checked on load).
        threads: ``intra_op_num_threads`` (default: ONNX Runtime's default).
        providers: execution providers (default ``["CPUExecutionProvider"]``).
        precision: ``"fp32"`` (``model.onnx``, fused when the export fused it)
            or ``"int8"`` (``model.int8.onnx``, written by ``export(..., quantize="int8")``).

    Raises:
        ValueError: an unknown ``precision`` (the message lists them).
        ExportError: the folder does not match its manifest, or has no model of that precision.
        ImportError: onnxruntime is not installed.
    """

    def __init__(self, export_dir: str, threads: Optional[int] = None, providers=None, precision: str = "fp32"):
        if precision not in ONNX_PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose from "
                             f"{', '.join(repr(p) for p in ONNX_PRECISIONS)}")
        self._load(export_dir)
        self.precision = precision
        name = ONNX_PRECISIONS[precision]
        path = os.path.join(self.export_dir, name)
        if name not in self.manifest["files"]:
            how = "onnx=True" if precision == "fp32" else "quantize='int8' (paddle-electra export --quantize int8)"
            raise ExportError(f"{self.export_dir} has no {name}; export with {how}")
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ImportError("OnnxPredictor needs onnxruntime: pip install 'paddle_electra[export]'") from e
        options = ort.SessionOptions()
        options.log_severity_level = 3  # paddle2onnx leaves unused initializers; ORT warns about each
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(path, sess_options=options,
                                             providers=list(providers or ["CPUExecutionProvider"]))
        got_in = [i.name for i in self._session.get_inputs()]
        got_out = [o.name for o in self._session.get_outputs()]
        if got_in != self.input_names or got_out != self.output_names:
            raise ExportError(f"{path}: inputs {got_in} / outputs {got_out} differ from the manifest's "
                              f"{self.input_names} / {self.output_names}")

    def _run(self, feed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return dict(zip(self.output_names, self._session.run(self.output_names, feed)))
