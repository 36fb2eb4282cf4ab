"""HTTP serving: a Starlette (ASGI) app on uvicorn, with Paddle Inference and micro-batching underneath.

    paddle-electra serve --model NAME_OR_DIR --task text-classification --port 8866

``POST /predict`` takes a list of texts (``[...]``, ``{"texts": [...]}``, ``{"text": [...]}``
or PaddleHub serving's ``{"data": [["text"], ...]}``) and answers ``{"results": [...]}``,
each what :func:`paddle_electra.pipeline` returns; ``POST /predict/<name>`` is PaddleHub
serving's URL and envelope; ``GET /health``, ``GET /metadata``. Bad input gets a 4xx with
``{"error": "..."}`` naming the problem, never a 5xx. See docs/serving.md.

Requests are validated and tokenized on the event loop; their encodings wait in a queue
that one collector drains into batches (up to ``batch_size`` texts, waiting at most
``max_wait_ms`` for company), run on the predictor in a single worker thread; results are
post-processed back on the event loop, so predictor and tokenizer each see one thread.

Request limits, parsing, micro-batching and the :class:`Service` behind the app live in
:mod:`paddle_electra.apps.serving_requests` (no HTTP framework); this module is the HTTP
app, building the service and running the server; the public names of both import from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from typing import Any, Callable, Optional, Tuple

from .._io import numpy_json_default
# the split-out half; the names in __all__ import from here (CLI, tests, docs)
from .serving_requests import TOP_K_TASKS, Limits, MicroBatcher, RequestError, Service, decode_body, parse_inputs

logger = logging.getLogger("paddle_electra.serving")


# ------------------------------------------------------------------ the app
def _require_stack():
    """Fail early, naming the extra to install, when starlette or uvicorn is missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise ImportError(f"serving needs starlette and uvicorn ({e}); install them with "
                          "pip install 'paddle_electra[serve]'") from None


async def _read_body(request, limit: int) -> bytes:
    """The request body, refused with a 400 / 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, f"bad Content-Length header {declared!r:.40}")
        if int(declared) > limit:
            raise RequestError(413, f"body of {declared} bytes; the limit is {limit} (max_body_bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():  # also bounds chunked bodies that declare no length
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"body over {limit} bytes (max_body_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(service: Service):
    """The Starlette app serving ``service`` (see the module docstring for the endpoints)."""
    _require_stack()
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect
    from starlette.responses import Response
    from starlette.routing import Route

    def reply(obj: Any, status: int = 200) -> Response:
        body = json.dumps(obj, ensure_ascii=False, default=numpy_json_default, allow_nan=False)
        return Response(body, status_code=status, media_type="application/json")

    async def handle(request, hub: bool):
        service.counts["requests"] += 1
        try:
            if hub and request.path_params["name"] != service.name:
                raise RequestError(404, f"Module {request.path_params['name']} is not available; "
                                        f"this server serves {service.name!r}")
            results = await service.predict(decode_body(await _read_body(request, service.limits.max_body_bytes)))
        except RequestError as e:
            key = "client_errors" if e.status < 500 else "server_errors"
            service.counts[key] += 1
            extra = {"status": "111" if e.status == 404 else "101", "msg": e.message, "results": ""} if hub else {}
            return reply({"error": e.message, **extra}, e.status)
        except ClientDisconnect:  # the client left before its body was complete: no one to answer, no fault
            service.counts["client_errors"] += 1
            # DEBUG, no traceback: anyone can do this, and at a higher level it would flood the log
            logger.debug("client %s disconnected before sending its whole request body", request.client)
            return Response(status_code=400)
        except Exception as e:  # noqa: BLE001 - a fault of the server, not of the request
            service.counts["server_errors"] += 1
            logger.exception("predict failed")
            msg = f"internal server error ({type(e).__name__}); see the server log"
            return reply({"error": msg, **({"status": "101", "msg": msg, "results": ""} if hub else {})}, 500)
        try:
            response = reply({"status": "000", "msg": "", "results": results} if hub else {"results": results})
        except ValueError:  # NaN / infinity from the model: a fault of the model, not of the request
            service.counts["server_errors"] += 1
            logger.exception("non-finite model output")
            return reply({"error": "internal server error: the model produced non-finite numbers"}, 500)
        service.counts["ok"] += 1
        return response

    async def predict(request):
        return await handle(request, hub=False)

    async def predict_hub(request):
        return await handle(request, hub=True)

    async def health(request):
        return reply({"status": "ok", "model": service.name, "task": service.task})

    async def metadata(request):
        return reply(service.info())

    async def index(request):
        return reply({"model": service.name, "task": service.task,
                      "endpoints": ["POST /predict", f"POST /predict/{service.name}", "GET /health",
                                    "GET /metadata"]})

    async def http_error(request, exc: HTTPException):
        return reply({"error": f"{exc.detail}: {request.method} {request.url.path}"}, exc.status_code)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        service.batcher.start()
        try:
            yield
        finally:
            await service.batcher.stop()

    routes = [Route("/", index, methods=["GET"]), Route("/health", health, methods=["GET"]),
              Route("/metadata", metadata, methods=["GET"]), Route("/predict", predict, methods=["POST"]),
              Route("/predict/{name:path}", predict_hub, methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan)


# ------------------------------------------------------------------ building and running
#: ``build_service(backend=...)`` -> the name ``/metadata`` reports
SERVE_BACKENDS = {"inference": "paddle-inference", "onnx": "onnxruntime", "onnx-int8": "onnxruntime-int8",
                  "inference-bf16": "paddle-inference-bf16"}

def build_service(model: str, task: str, batch_size: int = 32, max_wait_ms: float = 2.0,
                  limits: Optional[Limits] = None, max_length: Optional[int] = None, truncation: bool = False,
                  threads: Optional[int] = None, name: Optional[str] = None, top_k: Optional[int] = None,
                  export_root: Optional[str] = None, backend: str = "inference") -> Tuple[Service, Callable[[], None]]:
    """Load ``model`` on Paddle Inference (or ONNX Runtime) for ``task``; returns the service and a cleanup function.

    A model that is not an export folder is exported (``paddle_electra.export``)
    into a temporary folder first (removed by the cleanup function), with
    ONNX / int8 when ``backend`` needs them.

    Args:
        model: an export folder, a model folder or a published name.
        task: a pipeline task (:data:`paddle_electra.inference.pipelines.TASKS`).
        batch_size: texts per forward pass; also the micro-batch size.
        max_wait_ms: how long a request waits for others to share its batch.
        limits: request limits (:class:`Limits` defaults).
        max_length, truncation: as :func:`paddle_electra.pipeline`.
        threads: CPU threads of the predictor.
        name: the model name the server reports (and PaddleHub's URL uses);
            default: the name or folder name.
        top_k: default ``top_k`` (fill-mask, text-classification).
        export_root: where the temporary export goes (default: the system temp folder).
        backend: one of :data:`SERVE_BACKENDS`: ``"inference"`` (Paddle Inference),
            ``"onnx"`` (ONNX Runtime, ``model.onnx``) or ``"onnx-int8"``
            (``model.int8.onnx`` of an export made with ``quantize="int8"``) or
            ``"inference-bf16"`` (Paddle Inference in bfloat16: CPUs with AVX512-BF16 / AMX).

    Raises:
        ValueError: unknown task, a model that does not exist or fit the task, bad settings.
    """
    from ..inference.pipeline_base import check_batch_size
    from ..inference.pipelines import TASKS, export_options, is_export_dir, pipeline

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    if backend not in SERVE_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(SERVE_BACKENDS)}")
    check_batch_size(batch_size)  # before any export work (True is no batch size, as for the pipelines)
    if not isinstance(max_wait_ms, (int, float)) or not 0 <= max_wait_ms <= 1000:
        raise ValueError(f"max_wait_ms must be between 0 and 1000, got {max_wait_ms!r}")
    limits = limits or Limits()
    model = os.fspath(model)
    if not os.path.isdir(model) and (os.path.isabs(model) or model.startswith((".", "~")) or os.path.exists(model)):
        raise ValueError(f"model folder {model} does not exist" if not os.path.exists(model) else
                         f"{model} is a file; pass an export folder, a model folder or a published name")
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if is_export_dir(model):
        export_dir = model
    else:
        from ..inference.export import export

        tmp = tempfile.mkdtemp(prefix="paddle-electra-serve-", dir=export_root)
        export_dir = os.path.join(tmp, "export")
        try:
            export(model, export_dir, task=task, **export_options([backend]))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        cleanup = lambda: shutil.rmtree(tmp, ignore_errors=True)  # noqa: E731
    try:
        kwargs = {"top_k": top_k} if top_k is not None and task in TOP_K_TASKS else {}
        pipe = pipeline(task, model=export_dir, backend=backend, batch_size=batch_size, max_length=max_length,
                        truncation=truncation, threads=threads, **kwargs)
        manifest = dict(getattr(pipe.runner.predictor, "manifest", {}) or {})
        name = name or (os.path.basename(os.path.normpath(model)) if os.path.isdir(model) else model)
        _warm_up(pipe, task)
    except BaseException:
        cleanup()
        raise
    # what /metadata shows anyone who asks: names, never a path of this machine
    metadata = {
        "model": name, "source": _public_name(model) if os.path.isdir(model) else model, "task": task,
        "backend": SERVE_BACKENDS[backend], "model_class": manifest.get("model_class"),
        "labels": manifest.get("labels"), "max_length": pipe.max_length, "truncation": pipe.truncation,
        "batch_size": batch_size, "max_wait_ms": max_wait_ms,
        "outputs": [o.get("name") for o in manifest.get("outputs", [])],
        "versions": manifest.get("versions"),
        "export_dir": _public_name(export_dir) if export_dir == model else None,
        "temporary_export": export_dir != model,
    }
    return Service(pipe, task, name, limits, batch_size, max_wait_ms, metadata), cleanup


def _public_name(folder: str) -> str:
    """The last part of a folder's path: enough to recognise it, nothing about the machine's layout."""
    return os.path.basename(os.path.normpath(os.path.abspath(folder)))


def _warm_up(pipe, task: str) -> None:
    """One forward pass before the first request, so it does not pay for kernel set-up."""
    tok = pipe.tokenizer
    if task == "question-answering":
        pipe({"question": "warm up", "context": "warm up"})
    else:
        pipe(f"warm {tok.mask_token} up" if task == "fill-mask" else "warm up")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port=0``: a free port the OS picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY only on such sockets; without it every
    # response waits ~40 ms for the client's delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_server(app, log_level: str):
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on", timeout_keep_alive=30)
    return uvicorn.Server(config)


def serve(model: str, task: str, host: str = "127.0.0.1", port: int = 8866, log_level: str = "warning",
          announce: Optional[Callable[[str], None]] = None, **kwargs: Any) -> None:
    """Serve ``model`` for ``task`` over HTTP until interrupted (Ctrl-C / SIGTERM).

    Prints ``serving <model> (<task>) on http://HOST:PORT`` once it accepts
    requests (``port=0`` picks a free port; the line tells which).

    Args:
        model, task, kwargs: see :func:`build_service`.
        host: interface to listen on (default 127.0.0.1: this machine only).
        port: TCP port.
        log_level: uvicorn's log level.
        announce: where the ready line goes (default: stdout, flushed).
    """
    _require_stack()
    announce = announce or (lambda line: print(line, flush=True))
    sock = bind_socket(host, port)  # first: a port in use fails before the model is loaded
    try:
        service, cleanup = build_service(model, task, **kwargs)
    except BaseException:
        sock.close()
        raise
    try:
        server = _uvicorn_server(create_app(service), log_level)
        bound = sock.getsockname()[1]
        # Paddle and the model leave ~150k long-lived objects; a full GC pass over them takes ~0.1 s,
        # a pause every request in flight would wait for. Frozen, they are never scanned again.
        gc.collect()
        gc.freeze()

        async def run():
            async def announce_when_started():
                while not server.started:
                    await asyncio.sleep(0.01)
                shown = f"[{host}]" if ":" in host else host
                announce(f"serving {service.name} ({task}) on http://{shown}:{bound}  (POST /predict, "
                         "GET /health, GET /metadata)")

            waiter = asyncio.get_running_loop().create_task(announce_when_started())
            try:
                await server.serve(sockets=[sock])  # handles Ctrl-C / SIGTERM: a graceful stop
            finally:
                waiter.cancel()
            if not server.started:
                raise RuntimeError("the server did not start; see the log above")

        # uvicorn stops gracefully on SIGTERM, then raises it again; by default that would end the process
        # before the temporary export is removed, so it becomes a SystemExit that unwinds through `finally`
        previous = _sigterm_as_exit()
        try:
            asyncio.run(run())
        finally:
            sock.close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    finally:
        cleanup()


def _sigterm_as_exit():
    """Make SIGTERM raise ``SystemExit(143)`` in the main thread; returns the previous handler (or None)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    return signal.signal(signal.SIGTERM, handler)


class ServerThread:
    """Run a service on 127.0.0.1 in a background thread (tests, tools, notebooks).

        with ServerThread(service) as server:
            httpx.post(server.url + "/predict", json={"texts": ["..."]})
    """

    def __init__(self, service: Service, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"):
        self.service, self.host = service, host
        self.sock = bind_socket(host, port)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = _uvicorn_server(create_app(service), log_level)
        self.thread = threading.Thread(target=self._run, name="pe-serve", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise RuntimeError("the server thread did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


__all__ = ["Limits", "RequestError", "MicroBatcher", "Service", "ServerThread", "build_service", "create_app",
           "decode_body", "parse_inputs", "serve", "bind_socket"]
