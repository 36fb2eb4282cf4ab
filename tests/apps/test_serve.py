"""paddle-electra serve: answers equal the pipeline's, malformed bodies get a 4xx, micro-batching, limits, load.

Functional tests run the app in a thread on 127.0.0.1 (``serving.ServerThread``); the load
test runs ``paddle-electra serve --port 0`` as a process and fires 2,000 mixed valid and
malformed requests from 16 clients (tools/loadtest.py), bounded in time.
"""

import asyncio
import dataclasses
import importlib.util
import json
import os
import threading
from pathlib import Path

import httpx
import paddle
import pytest

import paddle_electra
from paddle_electra import (
    ElectraConfig,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraGenerator,
    ElectraModel,
    ElectraTokenizer,
)
from paddle_electra.cli.app import main as cli_main
from paddle_electra.inference.pipelines import pipeline
from paddle_electra.apps.serving import Limits, MicroBatcher, RequestError, ServerThread, build_service

REPO = Path(__file__).resolve().parents[2]
VOCAB = REPO.parent / "shared" / "data" / "chinese-bert-vocab.txt"
SMALL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("我爱北京天安门张三在工作谁的是中国人民很好看电影这部")
TEXTS = ["我爱北京天安门", "张三在北京工作", "这部电影很好看", "中国人民"]
LABELS = {0: "negative", 1: "positive", 2: "neutral"}

_spec = importlib.util.spec_from_file_location("loadtest", REPO / "tools" / "loadtest.py")
loadtest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(loadtest)


# ----------------------------------------------------------------------------- models, exports, servers
@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-models")
    if VOCAB.is_file():
        tok = ElectraTokenizer(str(VOCAB))
    else:
        (root / "vocab.txt").write_text("\n".join(SMALL_VOCAB) + "\n", encoding="utf-8")
        tok = ElectraTokenizer(str(root / "vocab.txt"))
    kw = dict(vocab_size=tok.vocab_size, embedding_size=16, hidden_size=32, num_hidden_layers=2,
              num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)
    specs = {"text-classification": (ElectraForSequenceClassification, dict(num_labels=3, id2label=LABELS)),
             "fill-mask": (ElectraGenerator, {}), "question-answering": (ElectraForQuestionAnswering, {}),
             "feature-extraction": (ElectraModel, {})}
    out = {}
    for i, (task, (cls, extra)) in enumerate(specs.items()):
        paddle.seed(70 + i)
        folder = root / task
        cls(ElectraConfig(**kw, **extra)).save_pretrained(str(folder))
        tok.save_pretrained(str(folder))
        out[task] = str(folder)
    return out


@pytest.fixture(scope="module")
def exports(models, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-exports")
    return {task: (paddle_electra.export(folder, str(root / task), task=task), str(root / task))[1]
            for task, folder in models.items()}


def _direct(exports, task, inputs, **kwargs):
    """The pipeline's answer on the same export, as JSON (what the server must return)."""
    out = pipeline(task, model=exports[task], backend="inference", **kwargs)(inputs)
    return json.loads(json.dumps(out, default=lambda o: o.tolist()))


@pytest.fixture(scope="module")
def cls_server(exports):
    service, cleanup = build_service(exports["text-classification"], "text-classification", name="tiny-cls")
    with ServerThread(service) as server:
        yield server
    cleanup()


def _serve(exports, task, **kwargs):
    service, _ = build_service(exports[task], task, **kwargs)
    return ServerThread(service)


# ----------------------------------------------------------------------------- answers
@pytest.mark.parametrize("shape", ["list", "texts", "text", "data", "hub-url", "data-of-strings"])
def test_request_shapes_answer_like_the_pipeline(cls_server, exports, shape):
    want = _direct(exports, "text-classification", TEXTS)
    body = {"list": TEXTS, "texts": {"texts": TEXTS}, "text": {"text": TEXTS}, "data": {"data": [[t] for t in TEXTS]},
            "hub-url": {"data": [[t] for t in TEXTS], "max_seq_len": 128, "batch_size": 1},
            "data-of-strings": {"data": TEXTS}}[shape]
    path = "/predict/tiny-cls" if shape == "hub-url" else "/predict"
    r = httpx.post(cls_server.url + path, json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert loadtest.same(got["results"], want), (got, want)
    if shape == "hub-url":  # PaddleHub serving's envelope
        assert got["status"] == "000" and got["msg"] == ""


def test_top_k_option(cls_server, exports):
    r = httpx.post(cls_server.url + "/predict", json={"texts": TEXTS[:2], "top_k": 2})
    assert r.status_code == 200
    assert loadtest.same(r.json()["results"], _direct(exports, "text-classification", TEXTS[:2], top_k=2))


def test_fill_mask(exports):
    texts = ["我爱北京天[MASK]门", "[MASK]部电影很[MASK]看"]
    with _serve(exports, "fill-mask", top_k=3) as server:
        r = httpx.post(server.url + "/predict", json=texts)
        assert r.status_code == 200 and loadtest.same(r.json()["results"],
                                                      _direct(exports, "fill-mask", texts, top_k=3))
        r = httpx.post(server.url + "/predict", json={"texts": [texts[0], "没有掩码"]})
        assert r.status_code == 422 and "[MASK]" in r.json()["error"] and "text 1" in r.json()["error"]


def test_fill_mask_answer_size_is_bounded_before_the_model_runs(exports):
    # every candidate repeats its text: 64 texts of 62 [MASK]s at top_k 100 would answer ~170 M characters
    # from a 25 kB request, so the server refuses it before any batch runs
    with _serve(exports, "fill-mask") as server:
        r = httpx.post(server.url + "/predict", json={"texts": ["[MASK]" * 62] * 64, "top_k": 100})
        assert r.status_code == 413, r.text
        assert "the limit is 8000000 (max_answer_chars)" in r.json()["error"]
        assert httpx.get(server.url + "/metadata").json()["stats"]["batches"] == 0
    text = "我爱[MASK]京"  # 1 [MASK] x top_k 3 x (9 characters + 64) = 219
    for limit, status in ((218, 413), (219, 200)):
        with _serve(exports, "fill-mask", top_k=3, limits=Limits(max_answer_chars=limit)) as server:
            assert httpx.post(server.url + "/predict", json=[text]).status_code == status


def test_question_answering(exports):
    q, c = "谁在北京工作", "张三在北京工作"
    with _serve(exports, "question-answering") as server:
        want = _direct(exports, "question-answering", [{"question": q, "context": c}])
        for body in ([{"question": q, "context": c}], {"data": [[q, c]]}):
            r = httpx.post(server.url + "/predict", json=body)
            assert r.status_code == 200 and loadtest.same(r.json()["results"], want), r.text
        r = httpx.post(server.url + "/predict", json=[{"question": q}])
        assert r.status_code == 422 and "missing ['context']" in r.json()["error"]
        r = httpx.post(server.url + "/predict", json=[{"question": q, "context": ""}])
        assert r.status_code == 422 and "texts[0].context is empty" in r.json()["error"]


def test_feature_extraction(exports):
    with _serve(exports, "feature-extraction") as server:
        r = httpx.post(server.url + "/predict", json=TEXTS[:2])
        assert r.status_code == 200
        assert loadtest.same(r.json()["results"], _direct(exports, "feature-extraction", TEXTS[:2]))


# ----------------------------------------------------------------------------- bad input: always a 4xx
MALFORMED = {  # kind -> (status, words the error must contain)
    "not-json": (400, "not valid JSON"), "not-utf8": (400, "not UTF-8"), "empty-body": (400, "empty body"),
    "wrong-type": (422, '"texts" must be a list, got a string'), "empty-list": (422, "the list is empty"),
    "empty-string": (422, "texts[0] is empty"), "blank": (422, "texts[1] is empty"),
    "too-many-texts": (413, "the limit is 64"), "text-too-long": (413, "the limit is 2000"),
    "too-many-tokens": (422, "more than max_length=64"), "numbers": (422, "texts[0] must be a string, got a number"),
    "null": (422, "got null"), "null-text": (422, "texts[0] must be a string, got null"),
    "unknown-field": (422, "'txts'"), "pair": (422, "takes one text per item"),
    "bad-top-k": (422, '"top_k" must be an integer'), "lone-surrogate": (422, "lone surrogate"),
    "deep-nesting": (400, "nested too deeply"), "body-too-big": (413, "max_body_bytes"),
    "two-keys": (422, "exactly one of"), "object-item": (422, "got an object"),
}


def test_every_malformed_kind_is_covered():
    assert sorted(MALFORMED) == sorted(loadtest.MALFORMED_KINDS)


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_body_gets_4xx_naming_the_problem(cls_server, kind):
    limits = dataclasses.asdict(Limits())
    body = loadtest.malformed_body(kind, limits, 64)
    status, words = MALFORMED[kind]
    r = httpx.post(cls_server.url + "/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and r.headers["content-type"] == "application/json", (r.status_code, r.text)
    assert words in r.json()["error"], r.json()
    assert httpx.post(cls_server.url + "/predict", json=TEXTS[:1]).status_code == 200  # still serving


def test_hub_url_errors_keep_the_envelope(cls_server):
    r = httpx.post(cls_server.url + "/predict/tiny-cls", json={"data": []})
    assert r.status_code == 422 and r.json()["status"] == "101" and r.json()["msg"] == r.json()["error"]
    r = httpx.post(cls_server.url + "/predict/other-module", json={"data": [["好"]]})
    assert r.status_code == 404 and r.json()["status"] == "111" and "tiny-cls" in r.json()["error"]


def test_health_metadata_and_unknown_routes(cls_server):
    assert httpx.get(cls_server.url + "/health").json() == {"status": "ok", "model": "tiny-cls",
                                                             "task": "text-classification"}
    meta = httpx.get(cls_server.url + "/metadata").json()
    assert meta["backend"] == "paddle-inference" and meta["labels"] == [LABELS[i] for i in range(3)]
    assert meta["limits"] == {"max_body_bytes": 1 << 20, "max_texts": 64, "max_chars": 2000, "max_queue": 4096,
                              "max_answer_chars": 8_000_000}
    assert meta["max_length"] == 64 and meta["temporary_export"] is False and meta["stats"]["server_errors"] == 0
    r = httpx.get(cls_server.url + "/predict")
    assert r.status_code == 405 and "error" in r.json()
    r = httpx.post(cls_server.url + "/nowhere", json=[])
    assert r.status_code == 404 and "error" in r.json()


def test_limits_are_configurable(exports):
    limits = Limits(max_texts=2, max_chars=5, max_body_bytes=200)
    with _serve(exports, "text-classification", limits=limits) as server:
        r = httpx.post(server.url + "/predict", json=["好"] * 3)
        assert r.status_code == 413 and "3 texts in one request; the limit is 2" in r.json()["error"]
        r = httpx.post(server.url + "/predict", json=["好好好好好好"])
        assert r.status_code == 413 and "6 characters; the limit is 5" in r.json()["error"]
        r = httpx.post(server.url + "/predict", content=json.dumps(["好"] * 100))
        assert r.status_code == 413 and "the limit is 200" in r.json()["error"]
        assert httpx.post(server.url + "/predict", json=["好好"]).status_code == 200


def test_truncation_option(exports):
    long_text = "我" * 100  # 102 tokens > max_position_embeddings 64
    with _serve(exports, "text-classification", truncation=True) as server:
        r = httpx.post(server.url + "/predict", json=[long_text])
        assert r.status_code == 200
        want = pipeline("text-classification", model=exports["text-classification"], truncation=True)([long_text])
        assert loadtest.same(r.json()["results"], want)


def test_server_fault_is_a_500_and_the_server_recovers(exports):
    service, _ = build_service(exports["text-classification"], "text-classification")
    real = service.batcher.run
    calls = []

    def broken_once(encoded):
        calls.append(len(encoded))
        if len(calls) == 1:
            raise RuntimeError("simulated predictor failure")
        return real(encoded)

    service.batcher.run = broken_once
    with ServerThread(service) as server:
        r = httpx.post(server.url + "/predict", json=TEXTS[:1])
        assert r.status_code == 500 and "internal server error (RuntimeError)" in r.json()["error"]
        assert httpx.post(server.url + "/predict", json=TEXTS[:1]).status_code == 200
        assert httpx.get(server.url + "/metadata").json()["stats"]["server_errors"] == 1


# ----------------------------------------------------------------------------- micro-batching
def test_concurrent_requests_share_batches(exports):
    want = _direct(exports, "text-classification", TEXTS)
    with _serve(exports, "text-classification", max_wait_ms=300, batch_size=64) as server:
        barrier = threading.Barrier(16)
        replies = [None] * 16

        def client(i):
            barrier.wait()
            replies[i] = httpx.post(server.url + "/predict", json=[TEXTS[i % 4]], timeout=60)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = httpx.get(server.url + "/metadata").json()["stats"]
    assert all(r.status_code == 200 for r in replies)
    assert all(loadtest.same(r.json()["results"], [want[i % 4]]) for i, r in enumerate(replies))
    assert stats["texts"] == 16 and stats["batches"] <= 8, stats  # 16 requests in a few forward passes


def test_batcher_routes_results_and_refuses_overflow():
    async def scenario():
        batches = []
        gate = threading.Event()

        def run(encoded):
            gate.wait(10)
            batches.append(list(encoded))
            return [x * 10 for x in encoded]

        b = MicroBatcher(run, batch_size=4, max_wait_ms=50, max_queue=6)
        b.start()
        tasks = [asyncio.ensure_future(b.submit([i, i + 100])) for i in range(3)]
        await asyncio.sleep(0.1)  # first batch taken: [0, 100, 1, 101]; job 2 waits
        with pytest.raises(RequestError) as over:
            await b.submit([7, 8, 9])  # 2 queued + 3 > ... the running batch still counts as pending
        gate.set()
        results = await asyncio.gather(*tasks)
        await b.stop()
        return batches, results, over.value

    batches, results, over = asyncio.run(scenario())
    assert results == [[0, 1000], [10, 1010], [20, 1020]]  # each request gets its own outputs, in order
    assert batches == [[0, 100, 1, 101], [2, 102]]  # two requests shared one batch (batch_size 4)
    assert over.status == 503 and "server busy" in over.message


# ----------------------------------------------------------------------------- building, CLI
@pytest.mark.parametrize("case", ["missing", "wrong-task", "unknown-task", "bad-wait"])
def test_build_service_errors(tmp_path, exports, case):
    model, task, kwargs, words = exports["text-classification"], "text-classification", {}, ""
    if case == "missing":
        model, words = str(tmp_path / "nope"), "does not exist"
    elif case == "wrong-task":
        task, words = "fill-mask", "was exported for task 'text-classification'"
    elif case == "unknown-task":
        task, words = "summarize", "unknown task"
    else:
        kwargs, words = {"max_wait_ms": -1}, "max_wait_ms"
    with pytest.raises(ValueError, match=words):
        build_service(model, task, **kwargs)


def test_cli_serve_errors(tmp_path, capsys):
    assert cli_main(["serve", "--model", str(tmp_path / "nope"), "--task", "text-classification"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    with pytest.raises(SystemExit) as e:
        cli_main(["serve", "--model", "x", "--task", "text-classification", "--port", "70000"])
    assert e.value.code == 2 and "port must be 0-65535" in capsys.readouterr().err


# ----------------------------------------------------------------------------- load
def test_load_2000_requests_16_clients(models, tmp_path, record_property):
    """The CLI server on a model folder (exported to a temporary folder under TMPDIR), 2,000 requests, 30% malformed."""
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(REPO))
    report = loadtest.run(models["text-classification"], "text-classification", requests=2000, clients=16,
                          malformed=0.3, time_limit=150, env=env)
    summary = {k: report[k] for k in ("requests", "completed", "clients", "wall_s", "requests_per_s", "p50_ms",
                                      "p99_ms", "valid", "valid_correct", "malformed", "malformed_4xx")}
    print("load test:", json.dumps(summary), "server:", json.dumps(report["server_stats"]))
    for k, v in summary.items():
        record_property(k, v)
    assert report["completed"] == 2000, "not every request was sent within the time limit"
    assert report["valid_correct"] == report["valid"] > 1000, report["failures"]
    assert report["malformed_4xx"] == report["malformed"] == 600, report["failures"]
    assert sorted(report["malformed_kinds_4xx"]) == sorted(loadtest.MALFORMED_KINDS)
    assert report["server_stats"]["server_errors"] == 0
    assert report["server_stats"]["batches"] < report["valid"]  # concurrent requests were batched
    assert report["temporary_export"] and report["server_exit"] == 143  # SIGTERM: a clean stop
    assert report["export_dir"] is None and os.listdir(tmp_path) == []  # temporary export removed (and not shown)
