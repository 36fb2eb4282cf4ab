"""The report side of :mod:`paddle_electra.bench.train`: the machine description and the results table.

:func:`machine_info` describes where a run happened (CPU model and ISA flags,
versions, threads, load), :func:`geomean` gives the per-kind summary ratio and
:func:`print_table` prints a finished result. Split from :mod:`.train`
to keep that module about building and timing the steps; it imports this
module, never the reverse.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from typing import Dict, Sequence


def machine_info(threads: int) -> Dict:
    """CPU model and ISA flags (:func:`~paddle_electra.inference.export.cpu_info.cpu_info`), versions, threads, load."""
    import paddle
    import torch
    import transformers

    from .. import __version__
    from ..inference.export.cpu_info import cpu_info

    info = cpu_info()  # the first processor of /proc/cpuinfo; flags None where it cannot be read
    flags = info["flags"]
    return {"cpu_model": info["model"] or platform.processor(),
            "cpu_count": os.cpu_count(), "platform": platform.platform(),
            # AMX tiles always come with AMX-INT8 or AMX-BF16, the two cpu_info records
            "isa": {"avx2": bool(flags["avx2"]), "avx512f": bool(flags["avx512f"]),
                    "amx": bool(flags["amx_int8"] or flags["amx_bf16"])},
            "threads": {"requested": threads, "torch": torch.get_num_threads(), "paddle_set": threads,
                        "env": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}},
            "versions": {"python": platform.python_version(), "paddle_electra": __version__,
                         "paddle": paddle.__version__, "torch": torch.__version__,
                         "transformers": transformers.__version__},
            "load_average_start": list(os.getloadavg())}


def geomean(values: Sequence[float]) -> float:
    """The geometric mean of positive ``values`` (the summary of per-shape ratios)."""
    return float(math.exp(sum(math.log(v) for v in values) / len(values)))


def print_table(res: Dict, file=None) -> None:
    """The results as a small text table (ms per step at the median, tokens/s, CPU s per wall s)."""
    file = file or sys.stdout
    m = res["machine"]
    precision = res["config"].get("matmul_precision", "float32")
    print(f"\ntraining steps, {res['config']['threads']} threads, {res['config']['repeats']} repeats, paddle_electra's "
          f"Linear GEMMs in {precision}; "
          f"{m['cpu_model'] or 'unknown CPU'}; paddle {m['versions']['paddle']}, torch {m['versions']['torch']}",
          file=file)
    head = ("kind", "shape", "paddle ms", "tok/s", "cpu/wall", "torch ms", "tok/s", "cpu/wall", "torch/paddle")
    rows = []
    for kind, per_shape in res["results"].items():
        for key, e in per_shape.items():
            p, t = e["paddle_electra"], e["hf_torch"]
            rows.append((kind, key, f"{p['median_ms']:.1f}", f"{p['tokens_per_s']:.0f}", f"{p['cpu_per_wall']:.2f}",
                         f"{t['median_ms']:.1f}", f"{t['tokens_per_s']:.0f}", f"{t['cpu_per_wall']:.2f}",
                         f"{e['ratio']:.2f}"))
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))), file=file)
    print("torch/paddle = paddle_electra's throughput relative to torch (> 1: faster); geometric mean: "
          + ", ".join(f"{k} {v:.2f}" for k, v in res["summary"].items()), file=file)
