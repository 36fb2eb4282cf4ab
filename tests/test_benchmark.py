"""The deployment benchmark: quick runs through tools/benchmark.py and ``paddle-electra bench`` write every
number (no timing assertions), the thread count takes effect, and nothing outside the package is needed."""

import json
import os
import subprocess
import sys

import pytest

from paddle_electra import ElectraTokenizer
from paddle_electra import benchmark as bench
from paddle_electra._bench_workers import generate_vocab

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "tools", "benchmark.py")


def _positive(x):
    return isinstance(x, (int, float)) and x > 0


def _check_paths(res, keys):
    shapes = res["models"]["small"]["shapes"]
    assert set(shapes) == set(keys)
    for key, sres in shapes.items():
        assert _positive(sres["gflop"])
        for path in ("dygraph", "inference", "onnxruntime", "hf_torch"):
            r = sres["paths"][path]
            for k in ("median_ms", "min_ms", "gflops", "pct_of_sgemm", "cpu_per_wall"):
                assert _positive(r[k]), (key, path, k, r)
            assert r["min_ms"] <= r["median_ms"] and len(r["times_ms"]) == 2
            assert r["max_abs_diff_vs_hf"] < 1e-3, (key, path)  # same weights on every path
        assert "skipped" in sres["paths"]["paddlenlp"]["status"]


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

    goals = res["goals"]
    assert len(goals["summary"]) == 4
    assert all(v in (True, False, None) for v in goals["summary"].values())
    assert goals["summary"]["dygraph no slower than PaddleNLP"] is None  # PaddleNLP is skipped in quick mode
    g = goals["per_model"]["small"]
    assert _positive(g["deploy_speedup_vs_hf"]) and _positive(g["deploy_pct_of_sgemm"])

    m = res["machine"]
    assert m["threads"] == 2 and m["cpu_model"] and m["versions"]["paddle"] and len(m["load_average_start"]) == 3
    # the measuring process was started with the thread variables of --threads (default 2)
    tc = res["threads_check"]
    assert tc["env_at_start"] == {v: "2" for v in bench.THREAD_VARS}
    assert tc["hf_worker"]["torch_get_num_threads"] == 2
    assert "Goals:" in p.stdout and "threads in effect" in p.stdout


def test_cli_bench_quick_json_one_thread_generated_vocab(tmp_path):
    out = tmp_path / "b.json"
    p = subprocess.run([sys.executable, "-m", "paddle_electra", "--threads", "1", "bench", "--quick", "--batches", "1",
                        "--e2e-limit", "16", "--vocab", "generated", "--json", "--out", str(out)],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(p.stdout)  # stdout is the JSON alone; the progress and table went to stderr
    assert res == json.loads(out.read_text(encoding="utf-8"))
    assert "Goals:" in p.stderr
    assert res["config"]["threads"] == 1 and res["config"]["vocab"] == "generated"
    _check_paths(res, {"1x32"})
    assert res["e2e"]["n_texts"] == 16 and res["e2e"]["label_agreement"] > 0.9

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
    assert g["summary"] == {"deploy >= 1.3x HF torch eager at batch 32": None, "deploy >= 80% of sgemm GFLOP/s": True,
                            "end-to-end >= 2x HF pipeline": None, "dygraph no slower than PaddleNLP": True}
    assert g["per_model"]["small"]["dygraph_vs_paddlenlp_ratio"] == pytest.approx(10 / 12)
    assert g["per_model"]["small"]["dygraph_vs_paddlenlp_basis"] == "separate runs"
    # the same-process, alternating ratio from the PaddleNLP worker decides when it is there
    paths["paddlenlp"]["paired_ratio"] = 1.1
    g = bench.goals(res, ["small"], [1, 32])
    assert g["per_model"]["small"]["dygraph_vs_paddlenlp_basis"] == "same process, alternating"
    assert g["summary"]["dygraph no slower than PaddleNLP"] is False


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
