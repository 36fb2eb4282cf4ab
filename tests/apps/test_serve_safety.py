"""paddle-electra serve against hostile clients: quiet about clients that leave mid-body, no paths in /metadata.

The server runs in a thread on 127.0.0.1 (``serving.ServerThread``, as in
tests/apps/test_serve.py); the misbehaving clients are raw sockets; every record the
server's loggers (``paddle_electra`` and uvicorn's) emit is captured.
"""

import json
import logging
import os
import socket
import struct
import time

import httpx
import paddle
import pytest

import paddle_electra
from paddle_electra import ElectraConfig, ElectraForSequenceClassification, ElectraTokenizer
from paddle_electra.apps.serving import ServerThread, build_service

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("我爱北京天安门这部电影很好看")


class _Records(logging.Handler):
    """Every log record, at every level, of the loggers it is attached to."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def loud(self):
        """Records a flood of clients could multiply: WARNING and above, or anything with a traceback."""
        return [r for r in self.records if r.levelno >= logging.WARNING or r.exc_info or "Traceback" in r.getMessage()]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A tiny classifier saved as a model folder, and an export of it."""
    root = tmp_path_factory.mktemp("serve-safety")
    (root / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    paddle.seed(3)
    config = ElectraConfig(vocab_size=len(VOCAB), embedding_size=16, hidden_size=32, num_hidden_layers=1,
                           num_attention_heads=4, intermediate_size=37, max_position_embeddings=32, num_labels=2)
    model_dir = root / "tiny-classifier"
    ElectraForSequenceClassification(config).save_pretrained(str(model_dir))
    ElectraTokenizer(str(root / "vocab.txt")).save_pretrained(str(model_dir))
    export_dir = root / "tiny-export"
    paddle_electra.export(str(model_dir), str(export_dir), task="text-classification")
    return root, model_dir, export_dir


@pytest.fixture
def server(folders):
    """A running server on the export, with every record of its loggers captured."""
    service, cleanup = build_service(str(folders[2]), "text-classification")
    records = _Records()
    with ServerThread(service) as running:  # (uvicorn configures its loggers when the server is made)
        loggers = [logging.getLogger(name) for name in ("paddle_electra", "uvicorn", "uvicorn.error", "asyncio")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.addHandler(records)
            lg.setLevel(logging.DEBUG)
        try:
            yield running, records
        finally:
            for lg, level in zip(loggers, levels):
                lg.removeHandler(records)
                lg.setLevel(level)
    cleanup()


def _leave_mid_body(port: int, chunked: bool, reset: bool) -> None:
    """Send headers announcing 1000 bytes (or a chunked body), 10 bytes of it, then close (or reset)."""
    head = "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else "Content-Length: 1000\r\n\r\n"
    body = b"3e8\r\n" + b'{"texts": ' if chunked else b'{"texts": '
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        time.sleep(0.05)  # let the server start reading the body
        if reset:  # an abrupt RST instead of a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
def test_client_leaving_mid_body_is_not_an_error(server, chunked, reset):
    running, records = server
    counts = running.service.counts
    for _ in range(20):  # a small flood
        _leave_mid_body(running.port, chunked, reset)
    assert _wait_for(lambda: counts["requests"] == 20 and counts["client_errors"] + counts["server_errors"] == 20), \
        counts
    time.sleep(0.2)  # anything logged late
    loud = [f"{r.name} {r.levelname}: {r.getMessage()}" for r in records.loud()]
    assert loud == [] and counts["server_errors"] == 0, (loud[:3], counts)
    assert len([r for r in records.records if "disconnected" in r.getMessage()]) == 20  # one DEBUG line each
    r = httpx.post(running.url + "/predict", json=["我爱北京"])
    assert r.status_code == 200 and counts["ok"] == 1  # still serving


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.mark.parametrize("source", ["export-folder", "model-folder"])
def test_metadata_shows_no_paths(folders, tmp_path, source):
    root, model_dir, export_dir = folders
    model = export_dir if source == "export-folder" else model_dir
    service, cleanup = build_service(str(model), "text-classification", export_root=str(tmp_path))
    try:
        with ServerThread(service) as running:
            r = httpx.get(running.url + "/metadata")
            temporary = os.listdir(tmp_path)  # the server's temporary export, while it runs
    finally:
        cleanup()
    assert r.status_code == 200
    meta = r.json()
    for where in (str(root), str(tmp_path), os.path.expanduser("~"), os.getcwd()):
        assert where not in r.text, (where, r.text)
    assert not [s for s in _strings(meta) if os.path.isabs(s) or os.sep in s], meta
    if source == "export-folder":
        assert (meta["source"], meta["export_dir"], meta["temporary_export"]) == ("tiny-export", "tiny-export", False)
        assert temporary == []
    else:
        assert (meta["source"], meta["export_dir"], meta["temporary_export"]) == ("tiny-classifier", None, True)
        assert len(temporary) == 1 and temporary[0] not in r.text  # nor the temporary folder's name
    assert meta["model"] == model.name and json.loads(r.text)["task"] == "text-classification"


@pytest.mark.parametrize("batch_size", [True, 0, -1, "8", 2.0])
def test_a_bad_batch_size_is_refused_before_any_work(tmp_path, batch_size):
    # checked first, so the folder need not exist: nothing is exported or loaded for a request that cannot run
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        build_service(str(tmp_path / "missing"), "text-classification", batch_size=batch_size)
