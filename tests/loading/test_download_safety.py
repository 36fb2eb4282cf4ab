"""Downloads against broken and hostile servers: nothing corrupt is kept, every transfer is bounded.

Both routes run against tests/hub_server.py on 127.0.0.1: plain URLs
(``_fetch.fetch``, through PADDLE_ELECTRA_MIRROR) and the Hugging Face hub route
(``hf_hub_download`` into ``<cache>/hf``, through HF_ENDPOINT). The name table
is swapped for two tiny entries, one per route.
"""

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from safetensors.numpy import save as save_safetensors

from paddle_electra.loading import fetch as _fetch, hub, registry
from paddle_electra.cli.app import main as cli_main
from hub_server import TINY_HUB_CONFIG as TINY_CFG
from hub_server import TINY_HUB_VOCAB as VOCAB
from hub_server import HubServer, use_local_hub

PICKLE = pickle.dumps({"w": np.arange(6000, dtype="float32")}, protocol=4)  # what paddle.save writes: a pickle
SAFETENSORS = save_safetensors({"w": np.arange(6000, dtype="float32")})

PLAIN = "t-plain"  # bcebos-like: model_state.pdparams + vocab.txt
HUB = "t-org/t-hub"  # hub: model.safetensors + vocab.txt
PLAIN_WEIGHTS = "/paddlenlp/models/t/t-plain.pdparams"
PLAIN_VOCAB = "/paddlenlp/models/t/vocab.txt"
PLAIN_FILES = {PLAIN_WEIGHTS: ("model", "model_state.pdparams", PICKLE), PLAIN_VOCAB: ("tokenizer", "vocab.txt", VOCAB)}
HUB_FILES = {"model.safetensors": ("model", SAFETENSORS), "vocab.txt": ("tokenizer", VOCAB)}


def _hub_path(filename):
    return f"/{HUB}/resolve/main/{filename}"


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")

    def entry(name, source, files, hf_repo=None):
        return {"name": name, "architecture": "ElectraGenerator", "language": "en", "domain": "test",
                "source": source, "hf_repo": hf_repo, "config": dict(TINY_CFG), "files": files,
                "tokenizer": {"do_lower_case": True, "model_max_length": 64}}

    def file(role, filename, url):
        return {"role": role, "filename": filename, "url": url, "sha256": None, "size": None}

    hf = f"https://huggingface.co/{HUB}/resolve/main"
    entries = [
        entry(PLAIN, "bcebos", [file("weights", "model_state.pdparams", "https://bj.bcebos.com" + PLAIN_WEIGHTS),
                                file("vocab", "vocab.txt", "https://bj.bcebos.com" + PLAIN_VOCAB)]),
        entry(HUB, "huggingface", [file("weights", "model.safetensors", f"{hf}/model.safetensors"),
                                   file("vocab", "vocab.txt", f"{hf}/vocab.txt")], hf_repo=HUB),
    ]
    for e in entries:
        (folder / (e["name"].replace("/", "__") + ".json")).write_text(json.dumps(e))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(registry, "_CANDIDATE_DIRS", (str(folder),))
        registry._table.cache_clear()
        yield str(folder)
    registry._table.cache_clear()


@pytest.fixture
def server():
    srv = HubServer()
    for path, (_, _, data) in PLAIN_FILES.items():
        srv.add_file(path, data)
    for filename, (_, data) in HUB_FILES.items():
        srv.add_hub_file(HUB, filename, data)
    with srv:
        yield srv


@pytest.fixture
def env(table, server, tmp_path, monkeypatch):
    """A fresh cache, both endpoints on the local server, online, quick retries, default limits."""
    use_local_hub(monkeypatch, tmp_path / "cache", server.url)
    return tmp_path / "cache"


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _kept(root):
    """Every file under root but locks, refs and config files we write ourselves: what a failure may not leave."""
    ours = ("config.json", "tokenizer_config.json", "main", "CACHEDIR.TAG")
    out = []
    for folder, _, files in os.walk(root):
        out += [os.path.join(folder, f) for f in files if not f.endswith(".lock") and f not in ours]
    return sorted(out)


def _kept_hub_files(root):
    """What huggingface_hub's cache holds of the test repo: blobs, snapshot links, partial files."""
    repo = os.path.join(root, "hf", "models--" + HUB.replace("/", "--"))
    return [p for p in _kept(repo) if os.sep + "blobs" + os.sep in p or os.sep + "snapshots" + os.sep in p]


# ---------------------------------------------------------------- validate_download
def _torch_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", PICKLE)
    return buf.getvalue()


ZIP = _torch_zip()
H5 = b"\x89HDF\r\n\x1a\n" + bytes(200)
HTML = b"  <!DOCTYPE html><html><body>502 Bad Gateway</body></html>"

VALIDATION_CASES = [  # filename, content, size_confirmed, expected problem (None: accepted)
    ("model_state.pdparams", PICKLE, False, None),
    ("model_state.pdparams", PICKLE[:-1], True, "STOP"),
    ("model_state.pdparams", b"\x00" + PICKLE[1:], True, "PROTO"),
    ("opt.pdopt", HTML, True, "HTML page"),
    ("pytorch_model.bin", ZIP, False, None),
    ("pytorch_model.bin", ZIP[:-30], True, "central directory"),
    ("pytorch_model.bin", PICKLE, True, None),  # the legacy torch format
    ("pytorch_model.bin", PICKLE, False, "no Content-Length"),
    ("pytorch_model.bin", b"GIF89a" + bytes(50), True, "neither a zip"),
    ("model.safetensors", SAFETENSORS, False, None),
    ("model.safetensors", SAFETENSORS[:-10], True, "cut off"),
    ("model.safetensors", (10 ** 9).to_bytes(8, "little") + SAFETENSORS[8:], True, "header length"),
    ("model.safetensors", len(b"[1, 2]").to_bytes(8, "little") + b"[1, 2]", True, "not a JSON object"),
    ("model.safetensors", HTML, True, "HTML page"),
    ("tf_model.h5", H5, True, None),
    ("tf_model.h5", H5, False, "no Content-Length"),
    ("tf_model.h5", b"\x89PNG\r\n\x1a\n" + bytes(200), True, "HDF5 signature"),
    ("vocab.txt", VOCAB, True, None),
    ("vocab.txt", VOCAB, False, "no Content-Length"),
    ("vocab.txt", VOCAB + b"\xff\xfe", True, "not UTF-8"),
    ("vocab.txt", HTML, True, "HTML page"),
    ("vocab.txt", b"", True, "empty"),
    ("model_config.json", b'{"a": [1, 2]}', False, None),
    ("model_config.json", b'{"a": [1, ', True, "JSON"),
    ("notes.md", HTML, False, None),  # not a format the package checks
]


@pytest.mark.parametrize("filename,content,confirmed,problem", VALIDATION_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(VALIDATION_CASES)])
def test_validate_download_checks_the_format_its_name_implies(tmp_path, filename, content, confirmed, problem):
    path = tmp_path / "download.part"
    path.write_bytes(content)
    if problem is None:
        _fetch.validate_download(str(path), filename, size_confirmed=confirmed)
        return
    with pytest.raises(_fetch.DownloadError, match=problem) as err:
        _fetch.validate_download(str(path), filename, size_confirmed=confirmed)
    assert filename in str(err.value)


def test_validate_download_checks_size_and_sha256(tmp_path):
    path = tmp_path / "x.pdparams"
    path.write_bytes(PICKLE)
    _fetch.validate_download(str(path), size=len(PICKLE), sha256=hashlib.sha256(PICKLE).hexdigest().upper())
    with pytest.raises(_fetch.ChecksumError, match="expected 5"):
        _fetch.validate_download(str(path), size=5)
    with pytest.raises(_fetch.ChecksumError, match="sha256 mismatch"):
        _fetch.validate_download(str(path), sha256="0" * 64)


# ---------------------------------------------------------------- corrupt bodies, plain route
@pytest.mark.parametrize("path", [PLAIN_WEIGHTS, PLAIN_VOCAB])
@pytest.mark.parametrize("fault", ["short", "nolength", "html"])
def test_plain_route_never_keeps_a_corrupt_file_and_a_retry_succeeds(env, server, path, fault):
    kind, local, data = PLAIN_FILES[path]
    if fault == "short":  # (a) fewer bytes than Content-Length, every attempt
        server.add_faults(path, *[f"cut:{len(data) // 10}"] * _fetch.MAX_ATTEMPTS)
    else:  # (b) no Content-Length and a dropped connection; (c) 200 with an HTML error page
        server.set_mode(path, "html" if fault == "html" else f"nolength:{len(data) // 2}")
    with pytest.raises(hub.DownloadError) as err:
        hub.resolve(PLAIN, kind=kind)
    first_line = str(err.value).splitlines()[0]
    assert f"{server.url}{path}" in first_line
    assert {"short": "gave up", "nolength": "pickle STOP" if kind == "model" else "no Content-Length",
            "html": "text/html"}[fault] in first_line
    final = os.path.join(hub.model_dir(PLAIN), local)
    # only a partial file with a stated length is kept, under the .incomplete name, for resuming
    assert _kept(env) == ([final + ".incomplete"] if fault == "short" else [])

    server.clear_modes()
    hub.resolve(PLAIN, kind=kind)
    assert _read(final) == data


# ---------------------------------------------------------------- corrupt bodies, hub route
@pytest.mark.parametrize("filename", list(HUB_FILES))
@pytest.mark.parametrize("fault", ["nolength", "html"])
def test_hub_route_removes_a_corrupt_file_from_the_hf_cache_and_a_retry_succeeds(env, server, filename, fault):
    kind, data = HUB_FILES[filename]
    server.set_mode(_hub_path(filename), "html" if fault == "html" else f"nolength:{len(data) // 2}")
    with pytest.raises(hub.DownloadError, match="removed it from the Hugging Face cache") as err:
        hub.resolve(HUB, kind=kind)
    assert {"nolength": "cut off" if kind == "model" else "no Content-Length", "html": "HTML page"}[fault] \
        in str(err.value)
    assert _kept(env) == []  # no blob, no snapshot link, no partial file, nothing converted

    server.clear_modes()
    folder = hub.resolve(HUB, kind=kind)
    if kind == "tokenizer":
        assert _read(os.path.join(folder, "vocab.txt")) == VOCAB
    else:
        assert os.path.isfile(os.path.join(folder, "model_state.pdparams"))
    assert len(_kept_hub_files(env)) == 2  # the good blob and its link


def test_hub_route_resumes_a_body_shorter_than_content_length(env, server):
    server.add_faults(_hub_path("vocab.txt"), f"cut:{len(VOCAB) // 2}")  # huggingface_hub retries it itself
    folder = hub.resolve(HUB, kind="tokenizer")
    assert _read(os.path.join(folder, "vocab.txt")) == VOCAB
    assert server.count("GET", _hub_path("vocab.txt")) == 2
    assert len(_kept_hub_files(env)) == 2


def test_a_bad_file_already_in_the_hf_cache_is_replaced(env, server):
    server.set_mode(_hub_path("vocab.txt"), f"nolength:{len(VOCAB) // 2}")
    with pytest.raises(hub.DownloadError):
        hub.resolve(HUB, kind="tokenizer")
    server.clear_modes()
    hub.resolve(HUB, kind="tokenizer")
    # an older version kept the page: corrupt the cached blob behind the package's back
    blob = next(p for p in _kept_hub_files(env) if os.sep + "blobs" + os.sep in p)
    with open(blob, "wb") as f:
        f.write(HTML)
    os.remove(os.path.join(hub.model_dir(HUB), "vocab.txt"))
    folder = hub.resolve(HUB, kind="tokenizer")
    assert _read(os.path.join(folder, "vocab.txt")) == VOCAB


# ---------------------------------------------------------------- size cap
def test_endless_body_stops_at_the_size_cap_on_the_plain_route(env, server, monkeypatch):
    monkeypatch.setenv("PADDLE_ELECTRA_MAX_DOWNLOAD_BYTES", str(2 << 20))
    server.set_mode(PLAIN_WEIGHTS, "endless")
    start = time.monotonic()
    with pytest.raises(hub.DownloadError, match=f"larger than {2 << 20} bytes") as err:
        hub.resolve(PLAIN)
    assert time.monotonic() - start < 5
    assert "PADDLE_ELECTRA_MAX_DOWNLOAD_BYTES" in str(err.value)
    assert _kept(env) == []
    assert server.count("GET", PLAIN_WEIGHTS) == 1  # not retried


def test_the_table_size_is_the_cap(env, server, tmp_path):
    dest = str(tmp_path / "x.pdparams")
    with pytest.raises(hub.DownloadError, match="announces 24.* more than 1000 .the size the name table lists"):
        _fetch.fetch(server.url + PLAIN_WEIGHTS, dest, size=1000)
    server.set_mode(PLAIN_WEIGHTS, "endless")  # no length announced: stopped while reading
    with pytest.raises(hub.DownloadError, match="larger than 1000 bytes"):
        _fetch.fetch(server.url + PLAIN_WEIGHTS, dest, size=1000)
    assert os.listdir(tmp_path) == ["x.pdparams.lock"]


def test_size_cap_on_the_hub_route(env, server, monkeypatch):
    monkeypatch.setenv("PADDLE_ELECTRA_MAX_DOWNLOAD_BYTES", "1000")
    with pytest.raises(hub.DownloadError, match="larger than 1000 bytes"):  # the size the HEAD announces
        hub.resolve(HUB)
    assert server.count("GET", _hub_path("model.safetensors")) == 0
    monkeypatch.setenv("PADDLE_ELECTRA_MAX_DOWNLOAD_BYTES", str(2 << 20))
    server.set_mode(_hub_path("model.safetensors"), "endless")  # no size announced
    start = time.monotonic()
    with pytest.raises(hub.DownloadError, match=f"larger than {2 << 20} bytes"):
        hub.resolve(HUB)
    assert time.monotonic() - start < 10
    assert _kept(env) == []


# ---------------------------------------------------------------- stall timeout and deadline
def test_stall_timeout_from_the_environment(env, server, monkeypatch):
    monkeypatch.setenv("PADDLE_ELECTRA_STALL_TIMEOUT", "0.3")
    server.add_faults(PLAIN_WEIGHTS, "stall:3")
    start = time.monotonic()
    with pytest.raises(hub.DownloadError, match="ReadTimeout"):
        hub.resolve(PLAIN)
    assert time.monotonic() - start < 2


def test_dripping_body_stops_at_the_deadline_and_the_next_call_resumes(env, server, monkeypatch):
    monkeypatch.setenv("PADDLE_ELECTRA_DOWNLOAD_DEADLINE", "1.5")
    server.set_mode(PLAIN_WEIGHTS, "drip:0.05")
    start = time.monotonic()
    with pytest.raises(hub.DownloadError, match=r"not finished within 1.5 s \(PADDLE_ELECTRA_DOWNLOAD_DEADLINE\)"):
        hub.resolve(PLAIN)
    elapsed = time.monotonic() - start
    assert 1.4 < elapsed < 2.5, elapsed
    final = os.path.join(hub.model_dir(PLAIN), "model_state.pdparams")
    assert not os.path.exists(final)

    server.clear_modes()
    hub.resolve(PLAIN)  # waits for the abandoned worker to let go, then resumes its bytes
    assert _read(final) == PICKLE
    assert server.log(PLAIN_WEIGHTS)[-1].range not in (None, "bytes=0-")


def test_dripping_body_stops_at_the_deadline_on_the_hub_route(env, server, monkeypatch):
    monkeypatch.setenv("PADDLE_ELECTRA_DOWNLOAD_DEADLINE", "2")
    server.set_mode(_hub_path("vocab.txt"), "drip:0.05")
    start = time.monotonic()
    with pytest.raises(hub.DownloadError, match="not finished within 2 s"):
        hub.resolve(HUB, kind="tokenizer")
    assert time.monotonic() - start < 3.5
    assert _kept(env) == []  # the killed download's partial blob is gone
    server.clear_modes()
    assert _read(os.path.join(hub.resolve(HUB, kind="tokenizer"), "vocab.txt")) == VOCAB


def test_limits_from_the_environment_are_checked(monkeypatch):
    for var, bad in (("PADDLE_ELECTRA_STALL_TIMEOUT", "soon"), ("PADDLE_ELECTRA_DOWNLOAD_DEADLINE", "-1"),
                     ("PADDLE_ELECTRA_MAX_DOWNLOAD_BYTES", "nan")):
        monkeypatch.setenv(var, bad)
        with pytest.raises(ValueError, match=var):
            _fetch.limits()
        monkeypatch.delenv(var)
    assert _fetch.limits(123, max_bytes=5).max_bytes == 123  # the table's size wins
    bounds = _fetch.limits(max_bytes=5, stall_timeout=1, deadline=2)
    assert (bounds.max_bytes, bounds.stall, bounds.deadline) == (5, 1.0, 2.0)
    with pytest.raises(ValueError, match="deadline"):
        _fetch.limits(deadline=0)


# ---------------------------------------------------------------- redirect loops
def test_redirect_loop_is_a_one_line_download_error(env, server):
    server.set_mode("*", "loop")
    for name in (PLAIN, HUB):
        with pytest.raises(hub.DownloadError) as err:
            hub.resolve(name)
        first_line, hint = str(err.value).split("\n")
        assert "redirect" in first_line.lower() and server.url in first_line, first_line
        assert "Traceback" not in str(err.value) and "local folder" in hint


def test_cli_redirect_loop_exits_2_with_one_line(env, server, capfd):
    server.set_mode("*", "loop")
    assert cli_main(["fill-mask", "--model", PLAIN, "w1 [MASK] w2"]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("paddle-electra: error: could not download"), err
    assert "TooManyRedirects" in err


# ---------------------------------------------------------------- offline
_OFFLINE_CHILD = r"""
import sys
from paddle_electra.loading import registry
registry._CANDIDATE_DIRS = (sys.argv[1],)
import paddle_electra as pe
try:
    pe.ElectraGenerator.from_pretrained(sys.argv[2])
except pe.OfflineError as exc:
    print("OFFLINE", str(exc).splitlines()[0])
"""


def test_offline_sends_no_request_at_all(env, server, table):
    child_env = dict(os.environ, PADDLE_ELECTRA_OFFLINE="1")
    for var in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        child_env.pop(var, None)  # only the package's own switch
    out = subprocess.run([sys.executable, "-c", _OFFLINE_CHILD, table, HUB], env=child_env, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.startswith(f"OFFLINE {HUB}: model.safetensors is not in the cache"), out.stderr[-2000:]
    assert server.log() == []


def test_offline_switched_on_after_import_sends_no_request_either(env, server, monkeypatch):
    monkeypatch.setenv("PADDLE_ELECTRA_OFFLINE", "1")  # huggingface_hub's own switch stays off (see env)
    with pytest.raises(hub.OfflineError, match="vocab.txt is not in the cache"):
        hub.resolve(HUB, kind="tokenizer")
    assert server.log() == []
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE is False  # held on only while the package calls it
