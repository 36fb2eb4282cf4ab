"""What a serving request goes through before and after the model, with no HTTP framework.

:class:`Limits` and :class:`RequestError` say what the server refuses and how;
:func:`decode_body` and :func:`parse_inputs` turn a request body into texts (or
question/context pairs) and options, or a 4xx naming the problem;
:class:`MicroBatcher` gathers concurrent requests' encodings into batches for one
worker thread; :class:`Service` ties these to a pipeline (encode, batch,
postprocess) and keeps the counters ``/metadata`` reports.

The HTTP app, building the service and running the server are in
:mod:`paddle_electra.apps.serving`, which imports this module (never the reverse). Only
the standard library is imported here, so the CLI can read :class:`Limits` while
building its parser without loading Paddle or starlette.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

# the server's one logger name, as before the split: log settings for "paddle_electra.serving" still catch batch faults
logger = logging.getLogger("paddle_electra.serving")

HUB_KEYS = ("max_seq_len", "batch_size", "use_gpu", "return_prob", "split_char")  # PaddleHub client extras, ignored
TOP_K_TASKS = ("fill-mask", "text-classification")
MAX_TOP_K = 100


@dataclasses.dataclass(frozen=True)
class Limits:
    """Request limits; anything beyond is refused with a 4xx that names the limit.

    Attributes:
        max_body_bytes: request body size (413).
        max_texts: texts (or question/context pairs) per request (413).
        max_chars: characters per text (413); token length is checked against
            the model's ``max_length`` as well (422, unless ``truncation``).
        max_queue: texts waiting for the model across all requests; beyond, 503.
        max_answer_chars: fill-mask answers (413 before the model runs): every
            candidate repeats its text as ``sequence``, so texts of many
            ``[MASK]`` s with a large ``top_k`` would make a 100 kB request
            answer gigabytes. Counted as masks x top_k x (text length + 64).
    """

    max_body_bytes: int = 1 << 20
    max_texts: int = 64
    max_chars: int = 2000
    max_queue: int = 4096
    max_answer_chars: int = 8_000_000

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{f.name} must be a positive int, got {v!r}")


class RequestError(Exception):
    """A request the server refuses: HTTP ``status`` and a message that says what is wrong."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


# ------------------------------------------------------------------ request parsing (pure, no server)
def decode_body(body: bytes) -> Any:
    """The JSON value of a request body.

    Raises:
        RequestError: 400 for an empty body, bytes that are not UTF-8, or text that is not JSON.
    """
    if not body.strip():
        raise RequestError(400, 'empty body; send JSON such as {"texts": ["..."]}')
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RequestError(400, f"body is not UTF-8 (byte {e.start}: {body[e.start:e.start + 1]!r})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise RequestError(400, "body is nested too deeply to be a request") from None
    except ValueError as e:
        raise RequestError(400, f"body is not valid JSON: {e}") from None


def parse_inputs(payload: Any, task: str, limits: Limits) -> Tuple[List[Any], Dict[str, Any]]:
    """The texts (or ``(question, context)`` pairs) and options of a decoded request.

    Returns:
        ``(items, options)``; options may hold ``top_k``.

    Raises:
        RequestError: 422 for a shape or type that is not a request, an empty
            list, an empty text, a bad option; 413 for too many or too long texts.
    """
    options: Dict[str, Any] = {}
    if isinstance(payload, list):
        raw = payload
    elif isinstance(payload, dict):
        keys = [k for k in ("texts", "text", "data") if k in payload]
        if len(keys) != 1:
            found = " and ".join(repr(k) for k in keys) if keys else \
                "none; fields: " + (", ".join(repr(k) for k in list(payload)[:5]) or "none")
            raise RequestError(422, f'send exactly one of "texts", "text" or "data" (found {found}); '
                                    'e.g. {"texts": ["..."]}')
        unknown = sorted(set(payload) - {keys[0], "top_k", *HUB_KEYS})
        if unknown:
            raise RequestError(422, f"unknown field(s) {', '.join(map(repr, unknown))}; "
                                    'send {"texts": [...]} with an optional "top_k"')
        raw = payload[keys[0]]
        if not isinstance(raw, list):
            raise RequestError(422, f'"{keys[0]}" must be a list, got {_kind(raw)}')
        if "top_k" in payload:
            options["top_k"] = _top_k(payload["top_k"], task)
    else:
        raise RequestError(422, f'the body must be a JSON list of texts or an object such as {{"texts": [...]}}, '
                                f"got {_kind(payload)}")
    if not raw:
        raise RequestError(422, "no texts: the list is empty")
    if len(raw) > limits.max_texts:
        raise RequestError(413, f"{len(raw)} texts in one request; the limit is {limits.max_texts} (max_texts)")
    items = [_item(x, i, task, limits) for i, x in enumerate(raw)]
    return items, options


def _kind(value: Any) -> str:
    """How an error message names the JSON type of ``value`` ("an object", "a list", ...)."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _top_k(value: Any, task: str) -> int:
    """A request's ``top_k``, checked against ``task`` and :data:`MAX_TOP_K` (a 422 otherwise)."""
    if task not in TOP_K_TASKS:
        raise RequestError(422, f'"top_k" applies to {" and ".join(TOP_K_TASKS)}, not {task}')
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
        raise RequestError(422, f'"top_k" must be an integer from 1 to {MAX_TOP_K}, got {value!r:.40}')
    return value


def _text(value: Any, where: str, limits: Limits) -> str:
    """``value`` if it is a non-empty, valid-Unicode string within ``max_chars``; ``where`` names it in errors."""
    if not isinstance(value, str):
        raise RequestError(422, f"{where} must be a string, got {_kind(value)}")
    if not value.strip():
        raise RequestError(422, f"{where} is empty; every input needs some text")
    if len(value) > limits.max_chars:
        raise RequestError(413, f"{where} has {len(value)} characters; the limit is {limits.max_chars} (max_chars)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(422, f"{where} holds a lone surrogate (\\ud800-\\udfff): not valid Unicode") from None
    return value


def _item(x: Any, i: int, task: str, limits: Limits):
    """Input ``i`` of a request: a text, or a ``(question, context)`` pair for question-answering."""
    where = f"texts[{i}]"
    if task == "question-answering":
        if isinstance(x, dict):
            missing = [k for k in ("question", "context") if k not in x]
            extra = sorted(set(x) - {"question", "context"})
            if missing or extra:
                raise RequestError(422, f"{where} must be {{\"question\": ..., \"context\": ...}}"
                                        + (f"; missing {missing}" if missing else f"; unknown keys {extra}"))
            q, c = x["question"], x["context"]
        elif isinstance(x, list) and len(x) == 2:  # PaddleHub's [text_a, text_b]
            q, c = x
        else:
            raise RequestError(422, f'{where} must be {{"question": ..., "context": ...}} or [question, context], '
                                    f"got {_kind(x)}")
        return _text(q, f"{where}.question", limits), _text(c, f"{where}.context", limits)
    if isinstance(x, list):  # PaddleHub's {"data": [["text"], ...]}
        if len(x) != 1:
            raise RequestError(422, f"{where} is a list of {len(x)}; {task} takes one text per item "
                                    '(["text"]); text pairs are for question-answering')
        x = x[0]
    return _text(x, where, limits)


# ------------------------------------------------------------------ micro-batching
@dataclasses.dataclass
class _Job:
    """One request's encodings and the future its handler awaits."""

    encoded: list
    future: asyncio.Future


class MicroBatcher:
    """Collect concurrent requests' encodings into batches and run them on one worker thread.

    Args:
        run: ``run(encodings) -> outputs`` (``Pipeline.run``), called in the worker thread.
        batch_size: texts per batch; a request with more texts runs alone.
        max_wait_ms: how long the first request of a batch waits for others.
        max_queue: texts allowed to wait; :meth:`submit` refuses more with a 503.
    """

    def __init__(self, run: Callable[[list], list], batch_size: int = 32, max_wait_ms: float = 2.0,
                 max_queue: int = 4096):
        self.run, self.batch_size, self.max_wait, self.max_queue = run, batch_size, max_wait_ms / 1000.0, max_queue
        self.pending = 0
        self.batches = self.texts = 0
        self._queue: Optional[asyncio.Queue] = None
        self._task: Optional[asyncio.Task] = None
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pe-predictor")

    def start(self) -> None:
        """Start the collecting task on the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop collecting; waiting requests get an error; the worker thread is released."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue is not None and not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(RequestError(503, "the server is shutting down"))
        self._executor.shutdown(wait=True)

    async def submit(self, encoded: list) -> list:
        """The model outputs of ``encoded`` (in order), once its batch has run."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if self.pending + len(encoded) > self.max_queue:
            raise RequestError(503, f"server busy: {self.pending} texts are waiting (max_queue {self.max_queue}); "
                                    "retry later")
        future = asyncio.get_running_loop().create_future()
        self.pending += len(encoded)
        try:
            self._queue.put_nowait(_Job(encoded, future))
            return await future
        finally:
            self.pending -= len(encoded)

    async def _collect(self) -> List[_Job]:
        jobs = [await self._queue.get()]
        n = len(jobs[0].encoded)
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while n < self.batch_size:
            timeout = deadline - asyncio.get_running_loop().time()
            try:
                job = self._queue.get_nowait() if timeout <= 0 else \
                    await asyncio.wait_for(self._queue.get(), timeout)
            except (asyncio.QueueEmpty, asyncio.TimeoutError):
                break
            jobs.append(job)
            n += len(job.encoded)
        return [j for j in jobs if not j.future.done()]  # a client that went away is skipped

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            if not jobs:
                continue
            encoded = [e for j in jobs for e in j.encoded]
            try:
                outs = await loop.run_in_executor(self._executor, self.run, encoded)
            except Exception as e:  # noqa: BLE001 - a model fault: every request of the batch gets it (500)
                logger.exception("batch of %d texts failed", len(encoded))
                for j in jobs:
                    if not j.future.done():
                        j.future.set_exception(e)
                continue
            self.batches += 1
            self.texts += len(encoded)
            start = 0
            for j in jobs:
                if not j.future.done():
                    j.future.set_result(outs[start:start + len(j.encoded)])
                start += len(j.encoded)


# ------------------------------------------------------------------ the service behind the app
class Service:
    """The state behind the app: pipeline, batcher, limits, counters."""

    def __init__(self, pipe, task: str, name: str, limits: Limits, batch_size: int, max_wait_ms: float,
                 metadata: Dict[str, Any]):
        self.pipe, self.task, self.name, self.limits = pipe, task, name, limits
        self.batcher = MicroBatcher(pipe.run, batch_size=batch_size, max_wait_ms=max_wait_ms,
                                    max_queue=limits.max_queue)
        self.metadata = metadata
        self.counts = {"requests": 0, "ok": 0, "client_errors": 0, "server_errors": 0}
        self.started = time.time()

    def encode(self, items: List[Any]) -> Tuple[list, Any]:
        """``(encodings for the model, what postprocessing needs)``; a 422 for input the model cannot take."""
        pipe = self.pipe
        try:
            if self.task == "question-answering":
                # as QuestionAnsweringPipeline: a long context is read in windows, each one model input
                from ..inference import qa
                from ..inference.pipelines import Encoded

                features = qa.build_features(pipe.tokenizer, [q for q, _ in items], [c for _, c in items],
                                             max_length=pipe.max_length, doc_stride=pipe.doc_stride,
                                             max_windows=1 if pipe.truncation else None)
                return [Encoded(input_ids=f.input_ids, token_type_ids=f.token_type_ids) for f in features], features
            texts = list(items)
            encoded = pipe.encode(texts)
            pipe._validate(encoded, texts)  # e.g. fill-mask: a [MASK] in every text
            return encoded, encoded
        except (ValueError, TypeError) as e:
            msg = str(e).replace("pass truncation=True to cut it", "the server cuts such texts only when started "
                                 "with truncation (--truncation)")
            raise RequestError(422, f"texts: {msg}") from None

    def postprocess(self, items: List[Any], prepared: Any, outs: list, options: Dict[str, Any]) -> list:
        """The pipeline's results for ``items`` from the model outputs; a 422 for what it cannot answer."""
        pipe = self.pipe
        try:
            if self.task == "question-answering":
                from ..inference import qa

                answers = qa.postprocess(prepared, [o["start_logits"] for o in outs], [o["end_logits"] for o in outs],
                                         [c for _, c in items], top_k=pipe.top_k, max_answer_len=pipe.max_answer_len,
                                         handle_impossible_answer=pipe.handle_impossible_answer)
                return [a[0] if pipe.top_k == 1 else a for a in answers]
            return [pipe.postprocess(t, enc, out, **options) for t, enc, out in zip(items, prepared, outs)]
        except ValueError as e:
            raise RequestError(422, f"texts: {e}") from None

    def check_answer_size(self, items: List[Any], encoded: list, options: Dict[str, Any]) -> None:
        """A 413 when a fill-mask answer would exceed ``max_answer_chars`` (see :class:`Limits`)."""
        if self.task != "fill-mask":
            return
        top_k, mask_id = options.get("top_k") or self.pipe.top_k, self.pipe.tokenizer.mask_token_id
        size = sum(list(enc["input_ids"]).count(mask_id) * top_k * (len(text) + 64)
                   for text, enc in zip(items, encoded))
        if size > self.limits.max_answer_chars:
            raise RequestError(413, f"the answer would hold about {size} characters ([MASK]s x top_k {top_k} x text "
                                    f"length); the limit is {self.limits.max_answer_chars} (max_answer_chars): "
                                    "send fewer [MASK]s per request or a smaller top_k")

    async def predict(self, payload: Any) -> list:
        """The results for a decoded request body: parse, encode, wait for the batch, postprocess."""
        items, options = parse_inputs(payload, self.task, self.limits)
        encoded, prepared = self.encode(items)
        self.check_answer_size(items, encoded, options)  # before the model runs
        outs = await self.batcher.submit(encoded)
        return self.postprocess(items, prepared, outs, options)

    def info(self) -> Dict[str, Any]:
        """What ``GET /metadata`` answers: the metadata, the limits and the counters so far."""
        b = self.batcher
        stats = dict(self.counts, batches=b.batches, texts=b.texts, waiting_texts=b.pending,
                     mean_batch_texts=round(b.texts / b.batches, 2) if b.batches else None,
                     uptime_s=round(time.time() - self.started, 1))
        return dict(self.metadata, limits=dataclasses.asdict(self.limits), stats=stats)


__all__ = ["HUB_KEYS", "MAX_TOP_K", "TOP_K_TASKS", "Limits", "MicroBatcher", "RequestError", "Service", "decode_body",
           "parse_inputs"]
