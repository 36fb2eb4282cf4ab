"""Load test for ``paddle-electra serve``: valid and malformed requests from concurrent clients, all checked.

    python tools/loadtest.py --model MODEL_OR_EXPORT --task text-classification \\
        [--requests 2000] [--clients 16] [--malformed 0.3] [--time-limit 120] [--out loadtest.json]
        [--backends inference onnx-int8]

The server runs as a separate process (``paddle-electra serve --port 0`` on
127.0.0.1; a model that is not an export folder is exported by the server),
and the expected answer of every text is computed here with
``paddle_electra.pipeline(task, model=<export>, backend="inference")`` on the
same export (made here the way the server makes it, when ``--model`` is not
an export folder: the server's ``/metadata`` shows no paths).
Every valid request must come back 200 with exactly those results (floats
within 1e-5), every malformed one with a 4xx and a JSON ``error``. Prints
requests/s and p50/p99 latency and writes them, with the counts, as JSON.
Exit status 1 when any check fails.

``--backends inference onnx-int8`` (any of inference, onnx, onnx-int8, inference-bf16) runs
the same test once per backend (``serve --backend``), one after the other, on
one export (a model folder is exported here once, with ONNX and int8 as the
backends need) and the same requests, and reports requests/s and p50/p99 side
by side (:func:`run_backends`). Expected answers come from the pipeline on the
backend the server runs; for int8 and bf16 the scores may differ by
:data:`INT8_TOLERANCE` (labels must be equal): dynamic quantisation scales the
activations per batch, so an int8 answer depends on which texts share its
micro-batch (about 2e-3 in ELECTRA-small's logits), and bf16 rounds sums whose
blocking depends on the batch shape.

tests/apps/test_serve.py imports :func:`build_plan`, :func:`fire` and :func:`check`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

SENTENCES = [
    "我爱北京天安门", "张三在北京工作", "这部电影很好看", "中国人民", "今天天气很好，我们去公园散步吧",
    "太差了，再也不会来这家店", "服务态度很好，菜也好吃", "这本书的故事情节非常吸引人", "手机用了一个月就坏了",
    "物流很快，包装也很好", "酒店离地铁站很近，交通方便", "价格有点贵，但是质量不错", "电影的结尾让人很感动",
    "房间很小而且很吵", "老师讲得很清楚", "他在上海的一家公司上班", "李四明天去广州出差", "这个问题很难回答",
    "hello world", "性价比很高，推荐购买", "屏幕很清晰，电池也耐用", "等了一个小时才上菜", "风景美极了",
    "客服一直不回复消息", "孩子们都很喜欢这个玩具", "读完这本书我想了很久", "声音太小了听不清", "好",
]

# (kind, expected status) -> body builder; `limits` are the server's, `max_length` its token limit
MALFORMED_KINDS = ("not-json", "not-utf8", "empty-body", "wrong-type", "empty-list", "empty-string", "blank",
                   "too-many-texts", "text-too-long", "too-many-tokens", "numbers", "null", "null-text",
                   "unknown-field", "pair", "bad-top-k", "lone-surrogate", "deep-nesting", "body-too-big",
                   "two-keys", "object-item")


def malformed_body(kind: str, limits: Dict[str, int], max_length: int) -> bytes:
    """A body of one malformed ``kind`` (see :data:`MALFORMED_KINDS`) for a server with these limits."""
    j = lambda obj: json.dumps(obj, ensure_ascii=False).encode("utf-8")  # noqa: E731
    return {
        "not-json": lambda: b"this is not json",
        "not-utf8": lambda: b'["\xff\xfe\xfa"]',
        "empty-body": lambda: b"",
        "wrong-type": lambda: j({"texts": "a single string"}),
        "empty-list": lambda: b"[]",
        "empty-string": lambda: j([""]),
        "blank": lambda: j({"texts": ["好", "   \n\t"]}),
        "too-many-texts": lambda: j(["好"] * (limits["max_texts"] + 1)),
        "text-too-long": lambda: j(["好" * (limits["max_chars"] + 1)]),
        "too-many-tokens": lambda: j(["好" * min(max_length + 5, limits["max_chars"])]),
        "numbers": lambda: b"[1, 2, 3]",
        "null": lambda: b"null",
        "null-text": lambda: j({"texts": [None]}),
        "unknown-field": lambda: j({"txts": ["好"]}),
        "pair": lambda: j({"data": [["我爱北京", "天安门"]]}),
        "bad-top-k": lambda: j({"texts": ["好"], "top_k": "three"}),
        "lone-surrogate": lambda: b'["\\ud800"]',
        "deep-nesting": lambda: b"[" * 50000,
        "body-too-big": lambda: b'["' + b"a" * (limits["max_body_bytes"] + 10) + b'"]',
        "two-keys": lambda: j({"texts": ["好"], "data": [["好"]]}),
        "object-item": lambda: j([{"text": "好"}]),
    }[kind]()


def build_plan(n: int, malformed_fraction: float, limits: Dict[str, int], max_length: int, name: str,
               seed: int = 0, sentences: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    """``n`` requests: each ``{"path", "body", "texts"}`` (``texts`` None for a malformed one, plus ``kind``).

    Valid requests carry 1-4 texts in one of the accepted shapes (bare list,
    ``texts``, ``text``, PaddleHub's ``data``, PaddleHub's URL); malformed ones
    cycle through :data:`MALFORMED_KINDS` so every kind is sent.
    """
    rng = random.Random(seed)
    pool = sentences or SENTENCES
    n_bad = int(round(n * malformed_fraction))
    bad_slots = set(rng.sample(range(n), n_bad))
    plan, k = [], 0
    for i in range(n):
        if i in bad_slots:
            kind = MALFORMED_KINDS[k % len(MALFORMED_KINDS)]
            k += 1
            plan.append({"path": "/predict", "body": malformed_body(kind, limits, max_length), "texts": None,
                         "kind": kind})
            continue
        texts = [rng.choice(pool) for _ in range(rng.randint(1, 4))]
        shape = rng.choice(("list", "texts", "text", "data", "hub"))
        body = {"list": texts, "texts": {"texts": texts}, "text": {"text": texts},
                "data": {"data": [[t] for t in texts]}, "hub": {"data": [[t] for t in texts]}}[shape]
        plan.append({"path": f"/predict/{name}" if shape == "hub" else "/predict", "kind": shape, "texts": texts,
                     "body": json.dumps(body, ensure_ascii=False).encode("utf-8")})
    return plan


class _Connection:
    """One keep-alive HTTP/1.1 connection: a lean client, so the timings measure the server, not httpx.

    (httpx costs ~3 ms of CPU per request here, as much as the server; on 2 cores that is what a
    load test would mostly measure.)
    """

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self.reader = self.writer = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes):
        """``(status, body bytes)``; one reconnect when the server closed the kept-alive connection."""
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("ascii")
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                self.writer.write(head + body)
                await self.writer.drain()
                return await asyncio.wait_for(self._response(), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError, EOFError):
                self.close()
                if fresh or attempt:
                    raise
        raise AssertionError("unreachable")

    async def _response(self):
        line = await self.reader.readline()
        if not line:
            raise EOFError("the server closed the connection")
        status = int(line.split()[1])
        headers = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, data


async def fire(url: str, plan: List[Dict[str, Any]], clients: int, time_limit: float = 300.0,
               timeout: float = 60.0) -> List[Optional[Dict[str, Any]]]:
    """Send ``plan`` from ``clients`` concurrent connections; one reply per request (None: not sent in time).

    A reply is ``{"status", "latency_s", "json"}`` (``json`` None when the body is not JSON) or
    ``{"exception": "..."}`` when the request failed below HTTP.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    replies: List[Optional[Dict[str, Any]]] = [None] * len(plan)
    next_index = iter(range(len(plan)))
    deadline = time.perf_counter() + time_limit

    async def worker():
        conn = _Connection(parts.hostname, parts.port, timeout)
        try:
            for i in next_index:
                if time.perf_counter() > deadline:
                    return
                start = time.perf_counter()
                try:
                    status, data = await conn.post(plan[i]["path"], plan[i]["body"])
                except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
                    conn.close()
                    replies[i] = {"exception": f"{type(e).__name__}: {e}", "latency_s": time.perf_counter() - start}
                    continue
                latency = time.perf_counter() - start
                try:
                    body = json.loads(data)
                except ValueError:
                    body = None
                replies[i] = {"status": status, "latency_s": latency, "json": body}
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(clients)))
    return replies


def same(a: Any, b: Any, tol: float = 1e-5) -> bool:
    """Equal JSON values, floats within ``tol``."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= tol
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], tol) for k in a)
    return a == b


def check(plan, replies, expected: Dict[str, Any], wall_s: float, clients: int, tol: float = 1e-5) -> Dict:
    """Counts, throughput and latency of a :func:`fire` run, and every request that got a wrong answer."""
    done = [(req, rep) for req, rep in zip(plan, replies) if rep is not None]
    lat = sorted(rep["latency_s"] for _, rep in done)
    pct = lambda q: round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else None  # noqa: E731
    valid_ok = malformed_4xx = 0
    failures: List[Dict[str, Any]] = []
    kinds: Dict[str, int] = {}
    for req, rep in done:
        if req["texts"] is not None:
            want = [expected[t] for t in req["texts"]]
            body = rep.get("json") or {}
            ok = rep.get("status") == 200 and same(body.get("results"), want, tol)
            if ok and req["path"] != "/predict":  # PaddleHub's URL: its envelope
                ok = body.get("status") == "000" and body.get("msg") == ""
            valid_ok += ok
        else:
            status = rep.get("status")
            ok = status is not None and 400 <= status < 500 and isinstance((rep.get("json") or {}).get("error"), str)
            malformed_4xx += ok
            if ok:
                kinds[req["kind"]] = kinds.get(req["kind"], 0) + 1
        if not ok and len(failures) < 10:
            failures.append({"kind": req["kind"], "status": rep.get("status"), "reply": rep.get("json"),
                             "exception": rep.get("exception")})
    n_valid = sum(1 for req, _ in done if req["texts"] is not None)
    return {
        "requests": len(plan), "completed": len(done), "clients": clients, "wall_s": round(wall_s, 2),
        "requests_per_s": round(len(done) / wall_s, 1) if wall_s else None,
        "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0),
        "valid": n_valid, "valid_correct": valid_ok, "malformed": len(done) - n_valid, "malformed_4xx": malformed_4xx,
        "malformed_kinds_4xx": dict(sorted(kinds.items())), "failures": failures,
        "passed": len(done) == len(plan) and valid_ok == n_valid and malformed_4xx == len(done) - n_valid,
    }


#: ``--backends`` choices (``paddle-electra serve --backend``), and the score tolerance of the reduced-precision ones
BACKENDS = ("inference", "onnx", "onnx-int8", "inference-bf16")
INT8_TOLERANCE = 0.01


def expected_answers(export_dir: str, task: str, texts: List[str], backend: str = "inference") -> Dict[str, Any]:
    """``{text: result}`` from the pipeline run directly on the export with ``backend`` (JSON-normalised)."""
    from paddle_electra.inference.pipelines import pipeline

    uniq = sorted(set(texts))
    results = pipeline(task, model=export_dir, backend=backend)(uniq)
    return dict(zip(uniq, json.loads(json.dumps(results, default=lambda o: o.tolist()))))


def start_server(model: str, task: str, extra: List[str], timeout: float = 120.0,
                 env: Optional[Dict[str, str]] = None):
    """``(process, url)``: ``paddle-electra serve --port 0`` on 127.0.0.1, once it prints its ready line."""
    cmd = [sys.executable, "-m", "paddle_electra", "serve", "--model", model, "--task", task, "--host", "127.0.0.1",
           "--port", "0", *extra]
    # stderr to a file, not a pipe nobody reads (a full pipe would block the server)
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    proc.log = log
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("serving ") and " on http://" in line:
            return proc, line.split(" on ", 1)[1].split()[0]
    proc.kill()
    proc.wait(timeout=30)
    log.seek(0)
    raise RuntimeError(f"the server did not start (exit {proc.returncode}): {log.read()[-2000:]}")


def stop_server(proc) -> int:
    """SIGTERM, then wait; returns the exit status."""
    proc.terminate()
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=30)
    finally:
        if proc.stdout:
            proc.stdout.close()
        getattr(proc, "log", None) and proc.log.close()


def run(model: str, task: str = "text-classification", requests: int = 2000, clients: int = 16,
        malformed: float = 0.3, time_limit: float = 300.0, server_args: Optional[List[str]] = None,
        seed: int = 0, env: Optional[Dict[str, str]] = None, backend: str = "inference") -> Dict[str, Any]:
    """Start the server on ``model``, fire the plan, check; returns :func:`check`'s report + server stats.

    The expected answers come from the export the server runs, or for a model that is not an
    export folder, from an export of it made here the same way (``/metadata`` shows no paths),
    through the pipeline on the server's ``backend`` (one of :data:`BACKENDS`).
    """
    import httpx

    if task == "question-answering":
        raise ValueError("the load test sends plain texts; question-answering takes question/context pairs")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if "--backend" in (server_args or []):
        raise ValueError("pass the backend as backend= (--backends), not among the server options")
    proc, url = start_server(model, task, ["--max-body-bytes", "65536", "--backend", backend, *(server_args or [])],
                             env=env)
    try:
        meta = httpx.get(url + "/metadata", timeout=30).json()
        # fill-mask answers texts with a [MASK] only
        pool = [s[:1] + "[MASK]" + s[2:] for s in SENTENCES if len(s) > 2] if task == "fill-mask" else SENTENCES
        plan = build_plan(requests, malformed, meta["limits"], meta["max_length"], meta["model"], seed=seed,
                          sentences=pool)
        texts = [t for req in plan if req["texts"] for t in req["texts"]]
        if meta["temporary_export"]:
            import paddle_electra
            from paddle_electra.inference.pipelines import export_options

            with tempfile.TemporaryDirectory(prefix="loadtest-export-") as tmp:
                export_dir = os.path.join(tmp, "export")
                paddle_electra.export(model, export_dir, task=task, **export_options([backend]))
                expected = expected_answers(export_dir, task, texts, backend)
        else:
            expected = expected_answers(model, task, texts, backend)
        gc.collect()
        gc.freeze()  # this process loaded Paddle for the expected answers: keep GC pauses out of the timings
        start = time.perf_counter()
        replies = asyncio.run(fire(url, plan, clients, time_limit=time_limit))
        from paddle_electra.inference.pipelines import EXPORT_BACKENDS

        tol = 1e-5 if EXPORT_BACKENDS[backend][1] == "fp32" else INT8_TOLERANCE
        report = check(plan, replies, expected, time.perf_counter() - start, clients, tol=tol)
        report.update(backend=backend, tolerance=tol)
        report["server_stats"] = httpx.get(url + "/metadata", timeout=30).json()["stats"]
        report.update(task=task, cpu_count=os.cpu_count(), load_average=[round(x, 2) for x in os.getloadavg()],
                      export_dir=meta["export_dir"], temporary_export=meta["temporary_export"])
    except BaseException:
        stop_server(proc)
        raise
    report["server_exit"] = stop_server(proc)
    return report


def run_backends(model: str, backends: List[str], task: str = "text-classification", **kwargs) -> Dict[str, Any]:
    """:func:`run` once per backend, one after the other, on one export and the same requests; side by side.

    A model that is not an export folder is exported here once (ONNX / int8 as the backends need),
    so every server runs the same weights and none pays for an export. ``kwargs`` go to :func:`run`.
    Returns ``{"backends": {backend: report}, "side_by_side": {backend: requests/s, p50, p99, ratios to
    the first backend}, "passed"}``.
    """
    from paddle_electra.inference.pipelines import export_options, is_export_dir

    if not backends or len(set(backends)) != len(backends) or any(b not in BACKENDS for b in backends):
        raise ValueError(f"backends must be distinct names from {', '.join(BACKENDS)}, got {backends}")
    tmp, export_dir = None, model
    if not is_export_dir(model):
        import paddle_electra

        tmp = tempfile.mkdtemp(prefix="loadtest-export-")
        export_dir = os.path.join(tmp, "export")
        paddle_electra.export(model, export_dir, task=task, **export_options(backends))
    try:
        reports = {b: run(export_dir, task, backend=b, **kwargs) for b in backends}
    finally:
        if tmp:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    base = reports[backends[0]]
    ratio = lambda a, b: round(a / b, 3) if a and b else None  # noqa: E731
    side = {b: {"requests_per_s": r["requests_per_s"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
                "texts_per_batch": r["server_stats"].get("mean_batch_texts"), "passed": r["passed"],
                f"requests_per_s_vs_{backends[0]}": ratio(r["requests_per_s"], base["requests_per_s"]),
                f"p99_vs_{backends[0]}": ratio(r["p99_ms"], base["p99_ms"])} for b, r in reports.items()}
    return {"model": os.path.basename(os.path.normpath(model)), "task": task, "backends": reports,
            "side_by_side": side, "passed": all(r["passed"] for r in reports.values())}


def _summary(report: Dict[str, Any]) -> str:
    return (f"{report['completed']}/{report['requests']} requests from {report['clients']} clients in "
            f"{report['wall_s']} s: {report['requests_per_s']} requests/s, p50 {report['p50_ms']} ms, "
            f"p99 {report['p99_ms']} ms; valid correct {report['valid_correct']}/{report['valid']}, "
            f"malformed answered 4xx {report['malformed_4xx']}/{report['malformed']}; "
            f"server: {report['server_stats']['batches']} batches, "
            f"{report['server_stats']['mean_batch_texts']} texts per batch")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model folder, published name or export folder")
    p.add_argument("--task", default="text-classification")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--malformed", type=float, default=0.3, help="fraction of malformed bodies (default 0.3)")
    p.add_argument("--time-limit", type=float, default=300.0, help="stop sending after this many seconds")
    p.add_argument("--out", help="write the report as JSON here")
    p.add_argument("--backends", nargs="+", choices=BACKENDS, metavar="BACKEND",
                   help=f"serve each of {', '.join(BACKENDS)} in turn (same export, same requests) and report them "
                        "side by side, e.g. --backends inference onnx-int8 (default: inference alone)")
    p.add_argument("server_args", nargs=argparse.REMAINDER, help="after --: extra `paddle-electra serve` options")
    args = p.parse_args(argv)
    extra = [a for a in args.server_args if a != "--"]
    opts = dict(requests=args.requests, clients=args.clients, malformed=args.malformed, time_limit=args.time_limit,
                server_args=extra)
    if args.backends and len(args.backends) > 1:
        report = run_backends(args.model, args.backends, args.task, **opts)
        for b, r in report["backends"].items():
            print(f"[{b}] {_summary(r)}")
            for f in r["failures"]:
                print(f"[{b}] FAILED:", json.dumps(f, ensure_ascii=False)[:300])
        base = args.backends[0]
        print(f"{'backend':10s} {'requests/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s vs ' + base:>18s} "
              f"{'p99 vs ' + base:>16s}")
        for b, r in report["side_by_side"].items():
            cells = [str(r[k]) for k in ("requests_per_s", "p50_ms", "p99_ms", f"requests_per_s_vs_{base}",
                                         f"p99_vs_{base}")]  # str: None where nothing completed
            print(f"{b:10s} {cells[0]:>10s} {cells[1]:>8s} {cells[2]:>8s} {cells[3]:>18s} {cells[4]:>16s}")
    else:
        report = run(args.model, args.task, backend=(args.backends or ["inference"])[0], **opts)
        print(_summary(report))
        for f in report["failures"]:
            print("FAILED:", json.dumps(f, ensure_ascii=False)[:300])
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(report, f, ensure_ascii=False, indent=2)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
