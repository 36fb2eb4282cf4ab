"""tools/benchmark.py --quick runs and writes every number (no timing assertions)."""

import json
import os
import subprocess
import sys


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "tools", "benchmark.py")
VOCAB = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "chinese-bert-vocab.txt"))


def _positive(x):
    return isinstance(x, (int, float)) and x > 0


def test_benchmark_quick(tmp_path):
    # everything the quick run needs is installed by the test extras; shared/ sits beside the checkout
    assert os.path.isfile(VOCAB), f"benchmark vocab {VOCAB} not present"
    out = tmp_path / "bench.json"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    p = subprocess.run([sys.executable, SCRIPT, "--quick", "--out", str(out)], cwd=str(tmp_path), env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(out.read_text(encoding="utf-8"))

    assert res["config"]["quick"] is True
    assert _positive(res["sgemm"]["gflops"])
    shapes = res["models"]["small"]["shapes"]
    assert set(shapes) == {"1x32", "8x32"}
    for key, sres in shapes.items():
        assert _positive(sres["gflop"])
        for path in ("dygraph", "inference", "onnxruntime", "hf_torch"):
            r = sres["paths"][path]
            for k in ("median_ms", "min_ms", "gflops", "pct_of_sgemm"):
                assert _positive(r[k]), (key, path, k, r)
            assert r["min_ms"] <= r["median_ms"]
            assert r["max_abs_diff_vs_hf"] < 1e-3, (key, path)  # same weights on every path
        assert "skipped" in sres["paths"]["paddlenlp"]["status"]

    e2e = res["e2e"]
    assert e2e["n_texts"] == 200
    assert _positive(e2e["paddle_electra"]["texts_per_s"])
    assert _positive(e2e["hf_pipeline"]["texts_per_s"])
    assert _positive(e2e["speedup"])
    assert e2e["label_agreement"] > 0.9  # same weights, same vocab

    goals = res["goals"]
    assert len(goals["summary"]) == 4
    for v in goals["summary"].values():
        assert v in (True, False, None)
    g = goals["per_model"]["small"]
    assert _positive(g["deploy_speedup_vs_hf"]) and _positive(g["deploy_pct_of_sgemm"])

    m = res["machine"]
    assert m["threads"] == 2 and m["cpu_model"] and m["versions"]["paddle"] and len(m["load_average_start"]) == 3
    assert "Goals:" in p.stdout
