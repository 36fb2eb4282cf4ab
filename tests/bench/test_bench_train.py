"""``paddle-electra bench --train``: the training-step benchmark against HF torch (tiny --quick shapes only;
no timing assertions beyond "positive" and the ratio's definition)."""

import io
import json
import math
import sys
import time

import numpy as np
import pytest
import transformers

from paddle_electra.bench import train as bench_train
from paddle_electra.cli.app import main

# the HF classes load lazily (seconds): once, at collection, rather than inside the first test's timing
HF_CLASSES = (transformers.ElectraForMaskedLM, transformers.ElectraForPreTraining,
              transformers.ElectraForSequenceClassification)


def _check_result(res, shapes):
    assert set(res["results"]) == {"pretrain", "finetune"}
    for kind, per_shape in res["results"].items():
        assert set(per_shape) == set(shapes), kind
        for key, e in per_shape.items():
            b, s = map(int, key.split("x"))
            assert e["tokens"] == b * s
            for fw in ("paddle_electra", "hf_torch"):
                r = e[fw]
                assert r["median_ms"] > 0 and 0 < r["min_ms"] <= r["median_ms"], (kind, fw, r)
                assert len(r["times_ms"]) == res["config"]["repeats"]
                assert r["tokens_per_s"] == pytest.approx(b * s / (r["median_ms"] / 1e3))
                assert r["cpu_per_wall"] > 0
                assert math.isfinite(r["loss_first"]) and math.isfinite(r["loss_last"])
            assert e["ratio"] == pytest.approx(e["hf_torch"]["median_ms"] / e["paddle_electra"]["median_ms"])
    m = res["machine"]
    assert set(m["isa"]) == {"avx2", "avx512f", "amx"} and all(isinstance(v, bool) for v in m["isa"].values())
    assert m["versions"]["paddle"] and m["versions"]["torch"] and m["versions"]["transformers"]
    assert "cpu_model" in m and m["threads"]["requested"] == res["config"]["threads"]


def test_run_quick_times_both_frameworks_for_both_steps(tmp_path):
    out = tmp_path / "train.json"
    log = io.StringIO()
    res = bench_train.run(quick=True, threads=1, out=str(out), log=log, settle_s=0.0)
    assert res["config"]["repeats"] == 2 and res["config"]["model"] == bench_train.QUICK_MODEL
    assert res["config"]["settle_s"] == 0.0
    assert res["config"]["torch_process"] == "own" and "worker process" in res["config"]["order"]
    _check_result(res, ["4x16"])
    assert res["machine"]["threads"]["torch"] == 1  # set explicitly
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(json.dumps(res))
    table = log.getvalue()
    assert "torch/paddle" in table and "pretrain  4x16" in table and "finetune  4x16" in table


def test_cli_train_quick_json(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["--threads", "1", "bench", "--train", "--quick", "--json", "--train-shapes", "2x8", "--repeats", "1"])
    captured = capfd.readouterr()
    assert rc == 0, captured.err[-2000:]
    res = json.loads(captured.out)  # stdout holds the JSON alone; progress and table went to stderr
    assert res["config"]["shapes"] == ["2x8"] and res["config"]["repeats"] == 1 and res["config"]["threads"] == 1
    assert res["config"]["settle_s"] == bench_train.SETTLE_S  # the default pause before each timed step
    _check_result(res, ["2x8"])
    assert "torch/paddle" in captured.err
    assert json.loads((tmp_path / "bench-train.json").read_text(encoding="utf-8"))["config"]["shapes"] == ["2x8"]


@pytest.mark.parametrize("argv, words", [
    (["--train", "--train-shapes", "16x"], ["--train-shapes", "'16x'", "BATCHxSEQ"]),
    (["--train", "--train-shapes", "16x64,0x8"], ["--train-shapes", "'0x8'"]),
    (["--train", "--hidden", "30", "--heads", "4"], ["--hidden 30", "--heads 4"]),
    (["--train", "--generator-size", "1.5"], ["--generator-size 1.5"]),
    (["--train", "--repeats", "0"], ["--repeats 0"]),
    (["--train", "--sizes", "small"], ["--sizes", "deployment benchmark"]),
    (["--hidden", "64"], ["--hidden", "only apply with --train"]),
    (["--matmul-precision", "bfloat16"], ["--matmul-precision", "only apply with --train"]),
    (["--train", "--matmul-precision", "bf16"], ["--matmul-precision bf16", "float32, bfloat16"]),
    (["--train", "--out", "no-such-dir/x.json"], ["--out no-such-dir/x.json", "does not exist"]),
])
def test_cli_bad_options_are_one_line_errors_naming_the_flag(argv, words, capfd, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", *argv]) == 2
    err = capfd.readouterr().err
    assert "error:" in err and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    assert not list(tmp_path.iterdir())  # failed before any work or output


def test_run_quick_in_bf16_records_it_and_restores_float32(tmp_path, monkeypatch):
    from paddle_electra import _cpu_ops

    with pytest.raises(ValueError, match="matmul_precision='fp16'"):
        bench_train.run(quick=True, threads=1, matmul_precision="fp16")
    monkeypatch.setattr(_cpu_ops, "bf16_unsupported", lambda: "this CPU (Old CPU) has neither amx_bf16 nor ...")
    with pytest.raises(bench_train.BenchmarkError, match="Old CPU"):
        bench_train.run(quick=True, threads=1, matmul_precision="bfloat16")
    monkeypatch.undo()
    if _cpu_ops.bf16_unsupported() is None:  # a CPU with AMX or AVX512-BF16 (tests/model/test_matmul_precision.py)
        log = io.StringIO()
        res = bench_train.run(quick=True, threads=1, log=log, settle_s=0.0, matmul_precision="bfloat16",
                              train_shapes="4x32", repeats=1)
        assert res["config"]["matmul_precision"] == "bfloat16"
        assert res["config"]["fused_cpu_kernels"]["matmul_precision"] == "bfloat16"
        assert "Linear GEMMs in bfloat16" in log.getvalue()
        _check_result(res, ["4x32"])
    assert _cpu_ops.matmul_precision() == "float32"


def test_missing_transformers_is_an_error_naming_it(capfd, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` now raises ImportError
    assert main(["bench", "--train", "--quick"]) == 2
    err = capfd.readouterr().err
    assert "'transformers'" in err and "pip install" in err


def test_time_pair_alternates_and_idles_before_each_timed_step(monkeypatch):
    calls = []  # (framework, start, end)

    def fake(name, loss):
        def step():
            t = time.perf_counter()
            calls.append((name, t, time.perf_counter()))
            return loss
        return step

    pair = bench_train.StepPair(fake("p", 2.0), fake("t", 3.0), None, None)
    res = bench_train.time_pair(pair, repeats=3, warmup=2, settle_s=0.05)
    order = "".join(c[0] for c in calls)
    assert order == "ptpt" + "pt" + "tp" + "pt"  # warm-up, then the order swaps every round
    timed = calls[4:]
    gaps = [b[1] - a[2] for a, b in zip(calls[3:], timed)]
    assert min(gaps) >= 0.05  # the other runtime's threads get time to stop spinning
    assert len(res["paddle_electra"]["times_ms"]) == 3 and res["hf_torch"]["loss_last"] == 3.0
    assert max(res["paddle_electra"]["times_ms"]) < 40  # the pause is outside the timing
    monkeypatch.setenv("KMP_BLOCKTIME", "1000")
    assert bench_train.default_settle_s() == pytest.approx(1.1)
    monkeypatch.setenv("KMP_BLOCKTIME", "infinite")
    assert bench_train.default_settle_s() == bench_train.SETTLE_S
    bad = bench_train.StepPair(fake("p", float("nan")), fake("t", 1.0), None, None)
    with pytest.raises(bench_train.BenchmarkError, match="paddle_electra step gave a non-finite loss"):
        bench_train.time_pair(bad, repeats=1, warmup=0, settle_s=0)


def test_parse_shapes():
    assert bench_train.parse_shapes("16x64, 32X128") == [(16, 64), (32, 128)]
    assert bench_train.parse_shapes([(2, 8), "4x16"]) == [(2, 8), (4, 16)]
    for bad in ("16x", "x64", "16x64x2", "16*64", "", "4x2", "1x513", [(1.5, 8)]):
        with pytest.raises(ValueError, match="train_shapes"):
            bench_train.parse_shapes(bad)


def test_run_rejects_unknown_model_option():
    with pytest.raises(TypeError, match="hidden_size"):
        bench_train.run(quick=True, hidden_size=64)


def _paddle_params(model):
    return {n: p.numpy().copy() for n, p in model.named_parameters()}


@pytest.mark.parametrize("kind", ["pretrain", "finetune"])
def test_steps_train_both_models(kind):
    model = dict(bench_train.QUICK_MODEL)
    batch = bench_train.make_batch(model["vocab_size"], 2, 8, seed=3)
    assert (batch["generator_labels"] != -100).any(axis=1).all()  # every row has a masked position
    pair = bench_train.BUILDERS[kind](model, batch, seed=3)
    before = _paddle_params(pair.paddle_model)
    t_before = {n: p.detach().clone() for n, p in pair.torch_model.named_parameters()}

    losses = [pair.paddle_electra(), pair.paddle_electra()]
    t_losses = [pair.hf_torch(), pair.hf_torch()]
    assert all(math.isfinite(x) and x > 0 for x in losses + t_losses)
    after = _paddle_params(pair.paddle_model)
    changed = [n for n in before if not np.array_equal(before[n], after[n])]
    t_changed = [n for n, p in pair.torch_model.named_parameters() if not bool((p == t_before[n]).all())]
    # (nearly) every parameter moves: AdamW's first step is ~lr in every coordinate with a gradient
    assert len(changed) >= 0.9 * len(before), sorted(set(before) - set(changed))
    assert len(t_changed) >= 0.9 * len(t_before), sorted(set(t_before) - set(t_changed))
    if kind == "pretrain":  # the discriminator reads the generator's word embedding on both sides
        p, t = pair.paddle_model, pair.torch_model
        assert p.discriminator.electra.embeddings.word_embeddings is p.generator.electra.embeddings.word_embeddings
        assert (t["discriminator"].electra.embeddings.word_embeddings.weight
                is t["generator"].electra.embeddings.word_embeddings.weight)
        assert "generator.electra.embeddings.word_embeddings.weight" in changed


def test_torch_worker_runs_the_step_in_its_own_process(tmp_path):
    """The worker is a separate process with glibc's defaults (it never imports paddle_electra); its steps train
    the same model as the in-process torch step, from the same seed and batch."""
    import os

    model = dict(bench_train.QUICK_MODEL)
    batch = bench_train.make_batch(model["vocab_size"], 2, 8, seed=5)
    local = bench_train.finetune_pair(model, batch, seed=5)
    worker = bench_train.TorchWorker(1, str(tmp_path))
    try:
        remote = bench_train.finetune_pair(model, batch, seed=5, worker=worker)
        assert remote.torch_model is None and remote.hf_attn_implementation
        losses = [remote.hf_torch() for _ in range(3)]
        assert losses == pytest.approx([local.hf_torch() for _ in range(3)], rel=1e-5)  # same model, same steps
        assert remote.hf_torch.cpu_time() > 0  # the worker's CPU clock, not this process's
        maps = open(f"/proc/{worker.proc.pid}/maps").read()
        assert "libpaddle" not in maps and "torch" in maps  # no Paddle in the torch process
        assert worker.proc.pid != os.getpid()
        with pytest.raises(bench_train.BenchmarkError, match="unknown step kind 'nope'"):
            worker.build("nope", {k: 1 for k in bench_train.torch_side.CONFIG_FIELDS}, None, batch, 0)
    finally:
        worker.close()
    assert worker.proc.returncode == 0
    with pytest.raises(bench_train.BenchmarkError, match="the torch worker exited"):
        worker.ask({"cmd": "step"})
    with pytest.raises(ValueError, match="torch_process='elsewhere' must be one of own, same"):
        bench_train.run(quick=True, torch_process="elsewhere")
