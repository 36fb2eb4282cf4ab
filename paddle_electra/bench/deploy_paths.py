"""What the deployment benchmark records per path, from the outputs it collected (numpy only, no Paddle).

:mod:`paddle_electra.bench.deploy` times the paths; :func:`merge_paths` adds
each path's max |Δ| of logits against HF, the reduced-precision paths' (int8,
bf16) agreement with their fp32 path, PaddleNLP's timings, GFLOP/s and % of
sgemm. :func:`skipped_paths` names the paths this CPU cannot run natively.
"""

from __future__ import annotations

from typing import Dict

import numpy as np

PATHS = ("dygraph", "inference", "onnxruntime", "onnx_int8", "inference_bf16", "hf_torch", "paddlenlp")
#: the paths timed in this process on the export: the result's path name -> the pipelines' backend name
EXPORT_PATHS = {"inference": "inference", "onnxruntime": "onnx", "onnx_int8": "onnx-int8",
                "inference_bf16": "inference-bf16"}
#: reduced-precision paths -> (their fp32 path, the suffix of their agreement keys, what runs)
LOW_PRECISION_PATHS = {"onnx_int8": ("onnxruntime", "onnx", "dynamic int8 model.int8.onnx"),
                       "inference_bf16": ("inference", "inference", "Paddle Inference, oneDNN bf16 kernels")}

def export_predictors() -> Dict[str, tuple]:
    """Each export path -> ``(predictor class name, keyword arguments)``, from the pipelines' backend table.

    Imported when the benchmark runs (it loads Paddle): building the CLI parser imports this module.
    """
    from ..inference.pipelines import EXPORT_BACKENDS

    out = {}
    for name, backend in EXPORT_PATHS.items():
        cls, precision = EXPORT_BACKENDS[backend]
        out[name] = (cls, {} if precision == "fp32" else {"precision": precision})
    return out


def skipped_paths() -> Dict[str, str]:
    """The export paths this CPU cannot run natively -> why (bf16 without AVX512-BF16 / AMX)."""
    from ..inference.export.cpu_info import bf16_support

    missing = bf16_support()
    return {"inference_bf16": f"n/a: {missing}"} if missing else {}


def export_info(manifest: Dict) -> Dict:
    """What the export wrote, from its manifest: whether model.onnx is the fused graph, and the int8 model."""
    opt = manifest.get("onnx_optimization") or {}
    q = manifest.get("quantization") or {}
    return {"onnx_fused": bool(opt.get("applied")),
            "onnx_optimization": {k: opt.get(k) for k in ("tool", "version", "applied", "fused",
                                                          "max_abs_diff_vs_unfused", "reason")},
            "quantization": {k: q.get(k) for k in ("type", "tool", "version", "per_channel", "reduce_range",
                                                   "quantized_ops", "size_bytes", "fp32_size_bytes")}}


def merge_paths(res, sizes, keys, outs, ref, pnlp, export_info) -> None:
    """Logit differences against HF, PaddleNLP's timings, GFLOP/s and % of sgemm for every path.

    fp32 paths record max |Δ| of logits vs HF; the int8 path also its top-1
    label agreement with HF and with the fp32 ONNX graph (int8 is measured,
    not held to the fp32 paths' 1e-4).
    """
    for size in sizes:
        pm_res = (pnlp.get("models") or {}).get(size) if pnlp.get("status") == "ok" else None
        res["models"][size]["paddlenlp_weights"] = pm_res["weights"] if pm_res else None
        fused = export_info[size]["onnx_fused"]
        for key in keys:
            sres = res["models"][size]["shapes"][key]
            paths = sres["paths"]
            r_hf = ref.get((size, key))
            ran = [name for name in ("dygraph",) + tuple(EXPORT_PATHS) if (size, key, name) in outs]
            for name in ran:
                paths[name]["max_abs_diff_vs_hf"] = (None if r_hf is None else
                                                     float(np.abs(outs[(size, key, name)] - r_hf).max()))
            paths["onnxruntime"]["graph"] = "fp32 model.onnx, " + ("fused" if fused else "not fused")
            for name, (fp32_name, suffix, what) in LOW_PRECISION_PATHS.items():
                if name not in ran:
                    continue
                low, q, fp32 = paths[name], outs[(size, key, name)], outs[(size, key, fp32_name)]
                low["graph"] = what
                low["accuracy_rule"] = "measured (max |delta| and top-1 agreement), not held to 1e-4"
                low["top1_agreement_vs_hf"] = (None if r_hf is None else
                                               float(np.mean(q.argmax(-1) == r_hf.argmax(-1))))
                low[f"max_abs_diff_vs_fp32_{suffix}"] = float(np.abs(q - fp32).max())
                low[f"top1_agreement_vs_fp32_{suffix}"] = float(np.mean(q.argmax(-1) == fp32.argmax(-1)))
            paths.setdefault("hf_torch", {"status": "not installed (torch + transformers)"})
            if pm_res:
                r = dict(pm_res["shapes"][key])
                logits = np.asarray(r.pop("logits"))
                same = pm_res["weights"].startswith("same") and r_hf is not None
                r["max_abs_diff_vs_hf"] = float(np.abs(logits - r_hf).max()) if same else None
                paths["paddlenlp"] = r
            else:
                paths["paddlenlp"] = {"status": pnlp.get("status")}
            sres["paths"] = {k: paths[k] for k in PATHS}
            for r in sres["paths"].values():
                if "median_ms" in r:
                    r["gflops"] = sres["gflop"] / (r["median_ms"] / 1e3)
                    r["gflops_at_min"] = sres["gflop"] / (r["min_ms"] / 1e3)
                    r["pct_of_sgemm"] = 100.0 * r["gflops"] / res["sgemm"]["gflops"]
