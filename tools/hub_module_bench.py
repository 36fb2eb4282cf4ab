"""PaddleHub modules on the real sentiment test set: the dygraph module vs modules made from its export.

    python tools/hub_module_bench.py --model runs/ft/sentiment-dapt/best --out runs/hub-bench [--threads 1]

Exports the fine-tuned classifier with ``--quantize int8`` (into ``OUT/export``),
writes a module from it (``OUT/module``), then runs ``predict`` over all test
reviews (batch 32) with the dygraph module (``ElectraHubLayer`` on the model
folder) and the export module on each backend, alternating, twice; the faster
pass counts. Prints and writes ``OUT/hub_module_bench.json``: seconds, texts/s,
test accuracy, label agreement with the dygraph module. bf16 is reported as
``n/a`` on CPUs without AVX512-BF16 / AMX.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a fine-tuned text-classification model folder")
    parser.add_argument("--out", required=True, help="folder for the export, the module and the JSON")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of every runner (default 1)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="first N test reviews only (smoke runs)")
    args = parser.parse_args(argv)

    from paddle_electra.inference import export
    from paddle_electra._cpu import set_num_threads
    from paddle_electra.inference.export.cpu_info import bf16_support
    from paddle_electra.apps.hubmodule import make_hub_module
    from paddle_electra.apps.hubmodule.export_runtime import ElectraExportHubModule
    from paddle_electra.apps.hubmodule.runtime import ElectraHubLayer
    from paddle_electra.inference.pipelines import EXPORT_BACKENDS
    from paddle_electra.apps.train.corpora import sentiment_reviews

    set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    export_dir, module_dir = os.path.join(args.out, "export"), os.path.join(args.out, "module")
    export(args.model, export_dir, task="text-classification", quantize="int8", overwrite=True)
    make_hub_module(export_dir, module_dir, name="sentiment-export", overwrite=True)
    test = sentiment_reviews()["test"][:args.limit]
    data = [[r["text"]] for r in test]

    layer = ElectraHubLayer(args.model, task="seq-cls")
    runners = {"dygraph module": layer}
    skipped = {}
    for backend in EXPORT_BACKENDS:
        if backend == "inference-bf16" and bf16_support() is not None:
            skipped[f"export module {backend}"] = f"n/a: {bf16_support()}"
            continue
        runners[f"export module {backend}"] = ElectraExportHubModule(
            os.path.join(module_dir, "export"), task="seq-cls", backend=backend, threads=args.threads)
    seconds, preds = {}, {}
    for _ in range(2):  # alternating passes: a slow moment of the machine hits every runner alike
        for name, runner in runners.items():
            start = time.perf_counter()
            preds[name] = runner.predict(data, batch_size=args.batch_size, max_seq_len=128)
            seconds[name] = min(seconds.get(name, float("inf")), time.perf_counter() - start)
    gold = [layer.label_map[r["label"]] for r in test]
    ref = preds["dygraph module"]
    report = {name: {"seconds": round(seconds[name], 3), "texts_per_s": round(len(data) / seconds[name], 1),
                     "accuracy": round(100 * sum(p == g for p, g in zip(preds[name], gold)) / len(gold), 2),
                     "agree_with_dygraph": round(100 * sum(p == r for p, r in zip(preds[name], ref)) / len(ref), 2)}
              for name in runners}
    report.update(skipped)
    result = {"model": args.model, "reviews": len(data), "threads": args.threads, "batch_size": args.batch_size,
              "results": report}
    with open(os.path.join(args.out, "hub_module_bench.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
