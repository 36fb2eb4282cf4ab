"""Published names -> cache folders: paddle_electra.loading.hub and its plain-URL fetcher.

Everything runs against tests/hub_server.py on 127.0.0.1 (no internet): a
hub-like tree that huggingface_hub downloads from (HF_ENDPOINT) and a
bcebos-like tree of plain files (PADDLE_ELECTRA_MIRROR). The name table is
swapped for tiny entries pointing at the real hosts, which the two environment
variables redirect to the local server.
"""

import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_electra as pe
from paddle_electra.loading import fetch as _fetch, hub, registry
from conftest import make_batch
from hub_server import TINY_HUB_CONFIG as TINY_CFG
from hub_server import TINY_HUB_VOCAB as VOCAB
from hub_server import HubServer, free_port, use_local_hub

ATOL = 1e-5

HUB_ST = "tiny-org/tiny-gen-st"  # hub, model.safetensors, generator
HUB_BIN = "tiny-org/tiny-disc-bin"  # hub, pytorch_model.bin, discriminator
BOS = "tiny-bos"  # bj.bcebos.com, .pdparams with sha256 + size, discriminator
COMMUNITY = "tinyuser/tiny-community-gen"  # paddlenlp.bj.bcebos.com community folder with model_config.json
CONFIG_ONLY = "tiny-config-only"  # no weights, a vocabulary

BOS_DIR = "/paddlenlp/models/transformers/tiny"
BOS_WEIGHTS = f"{BOS_DIR}/tiny-bos.pdparams"
COMMUNITY_DIR = "/paddlenlp/models/transformers/community/tinyuser/tiny-community-gen"


# ---------------------------------------------------------------- fixtures
def _batch():
    ids, types, mask = make_batch(batch=2, seq=8, vocab=TINY_CFG["vocab_size"])
    return ids, types, mask


def _paddle_logits(model):
    ids, types, mask = _batch()
    out = model(input_ids=paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types),
                attention_mask=paddle.to_tensor(mask), return_dict=True)
    return out.logits.numpy()


def _hf_logits(model):
    ids, types, mask = _batch()
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                     attention_mask=torch.tensor(mask)).logits.numpy()


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class Artifacts:
    """Tiny models, the bytes the server publishes, and the outputs each name must reproduce."""

    def __init__(self, root):
        self.plain, self.hub, self.expected = {}, {}, {}
        torch.manual_seed(0)
        hf_cfg = transformers.ElectraConfig(**TINY_CFG)
        gen = transformers.ElectraForMaskedLM(hf_cfg).eval()
        gen.save_pretrained(str(root / "hf_gen"))
        self.hub[(HUB_ST, "model.safetensors")] = _read(root / "hf_gen" / "model.safetensors")
        # a wrong hub config.json (as for hfl/chinese-legal-electra-small-generator): must never be used
        self.hub[(HUB_ST, "config.json")] = json.dumps(dict(TINY_CFG, hidden_size=64)).encode()
        self.hub[(HUB_ST, "vocab.txt")] = VOCAB
        self.expected[HUB_ST] = _hf_logits(gen)

        disc = transformers.ElectraForPreTraining(hf_cfg).eval()
        torch.save(disc.state_dict(), str(root / "pytorch_model.bin"))
        self.hub[(HUB_BIN, "pytorch_model.bin")] = _read(root / "pytorch_model.bin")
        self.hub[(HUB_BIN, "vocab.txt")] = VOCAB
        self.expected[HUB_BIN] = _hf_logits(disc)

        paddle.seed(1)
        pd_disc = pe.ElectraDiscriminator(pe.ElectraConfig(**TINY_CFG))
        pd_disc.eval()
        pd_disc.save_pretrained(str(root / "pd_disc"))
        self.plain[BOS_WEIGHTS] = _read(root / "pd_disc" / "model_state.pdparams")
        self.plain[f"{BOS_DIR}/tiny-bos-vocab.txt"] = VOCAB
        self.expected[BOS] = _paddle_logits(pd_disc)

        paddle.seed(2)
        pd_gen = pe.ElectraGenerator(pe.ElectraConfig(**TINY_CFG))
        pd_gen.eval()
        pd_gen.save_pretrained(str(root / "pd_gen"))
        self.plain[f"{COMMUNITY_DIR}/model_state.pdparams"] = _read(root / "pd_gen" / "model_state.pdparams")
        legacy = {"init_args": [{"init_args": [dict(TINY_CFG)], "init_class": "ElectraModel"}],
                  "init_class": "ElectraGenerator"}
        self.plain[f"{COMMUNITY_DIR}/model_config.json"] = json.dumps(legacy).encode()
        self.plain[f"{COMMUNITY_DIR}/tokenizer_config.json"] = b'{"do_lower_case": false}'
        self.plain[f"{COMMUNITY_DIR}/vocab.txt"] = VOCAB
        self.expected[COMMUNITY] = _paddle_logits(pd_gen)

        self.plain[f"{BOS_DIR}/vocab.txt"] = VOCAB


def _file(role, filename, url, data=None):
    sha = hashlib.sha256(data).hexdigest() if data is not None else None
    return {"role": role, "filename": filename, "url": url, "sha256": sha, "size": len(data) if data else None}


def _entry(name, architecture, source, files, hf_repo=None, tokenizer=None):
    return {"name": name, "architecture": architecture, "language": "en", "domain": "test", "source": source,
            "hf_repo": hf_repo, "config": dict(TINY_CFG), "tokenizer": tokenizer or {"do_lower_case": True,
                                                                                     "model_max_length": 64},
            "files": files}


def _table_entries(art):
    hf = "https://huggingface.co"
    bos = "https://bj.bcebos.com"
    community = "https://paddlenlp.bj.bcebos.com/models/transformers/community/tinyuser/tiny-community-gen"
    return [
        _entry(HUB_ST, "ElectraGenerator", "huggingface", hf_repo=HUB_ST, files=[
            _file("weights", "model.safetensors", f"{hf}/{HUB_ST}/resolve/main/model.safetensors"),
            _file("vocab", "vocab.txt", f"{hf}/{HUB_ST}/resolve/main/vocab.txt")]),
        _entry(HUB_BIN, "ElectraDiscriminator", "huggingface", hf_repo=HUB_BIN, files=[
            _file("weights", "pytorch_model.bin", f"{hf}/{HUB_BIN}/resolve/main/pytorch_model.bin"),
            _file("vocab", "vocab.txt", f"{hf}/{HUB_BIN}/resolve/main/vocab.txt")]),
        _entry(BOS, "ElectraDiscriminator", "bcebos", tokenizer={"do_lower_case": False, "model_max_length": 64},
               files=[_file("weights", "model_state.pdparams", bos + BOS_WEIGHTS, art.plain[BOS_WEIGHTS]),
                      _file("vocab", "vocab.txt", f"{bos}{BOS_DIR}/tiny-bos-vocab.txt", VOCAB)]),
        _entry(COMMUNITY, "ElectraGenerator", "bcebos", files=[
            _file("config", "model_config.json", f"{community}/model_config.json"),
            _file("weights", "model_state.pdparams", f"{community}/model_state.pdparams"),
            _file("tokenizer_config", "tokenizer_config.json", f"{community}/tokenizer_config.json"),
            _file("vocab", "vocab.txt", f"{community}/vocab.txt")]),
        _entry(CONFIG_ONLY, "ElectraGenerator", "none", files=[
            _file("vocab", "vocab.txt", "https://paddlenlp.bj.bcebos.com/models/transformers/tiny/vocab.txt")]),
    ]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    return Artifacts(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="module")
def table(artifacts, tmp_path_factory):
    """Point the registry at a folder of tiny entries for this module."""
    folder = tmp_path_factory.mktemp("table")
    for entry in _table_entries(artifacts):
        with open(folder / (entry["name"].replace("/", "__") + ".json"), "w") as f:
            json.dump(entry, f)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(registry, "_CANDIDATE_DIRS", (str(folder),))
        registry._table.cache_clear()
        yield str(folder)
    registry._table.cache_clear()


@pytest.fixture
def server(artifacts):
    srv = HubServer()
    for path, data in artifacts.plain.items():
        srv.add_file(path, data)
    for (repo, filename), data in artifacts.hub.items():
        srv.add_hub_file(repo, filename, data)
    with srv:
        yield srv


@pytest.fixture
def env(table, server, tmp_path, monkeypatch):
    """A fresh cache, both endpoints on the local server, online, quick retries."""
    use_local_hub(monkeypatch, tmp_path / "cache", server.url)
    return tmp_path / "cache"


def _leftovers(root):
    """Temporary or partial files anywhere under root (lock files are fine)."""
    bad = []
    for folder, _, files in os.walk(root):
        bad += [os.path.join(folder, f) for f in files if f.endswith((".incomplete", ".tmp")) or ".tmp." in f]
    return bad


def _load(cls, name):
    return _paddle_logits(cls.from_pretrained(name))


# ---------------------------------------------------------------- settings
def test_mirror_rule_maps_both_bcebos_spellings_into_one_tree():
    m = "http://127.0.0.1:9/prefix/"
    assert _fetch.mirror_url("https://bj.bcebos.com/paddlenlp/models/a/b.pdparams", m) == \
        "http://127.0.0.1:9/prefix/paddlenlp/models/a/b.pdparams"
    assert _fetch.mirror_url("https://paddlenlp.bj.bcebos.com/models/a/vocab.txt", m) == \
        "http://127.0.0.1:9/prefix/paddlenlp/models/a/vocab.txt"
    assert _fetch.mirror_url("https://example.com/x/y.bin?v=1", "http://m") == "http://m/x/y.bin?v=1"
    assert _fetch.mirror_url("https://bj.bcebos.com/a", None) == "https://bj.bcebos.com/a"


def test_cache_root_offline_switches_and_folder_names(monkeypatch, tmp_path):
    for var in ("PADDLE_ELECTRA_HOME", "XDG_CACHE_HOME", "PADDLE_ELECTRA_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    assert hub.cache_root() == os.path.join(os.path.expanduser("~"), ".cache", "paddle_electra")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.cache_root() == str(tmp_path / "xdg" / "paddle_electra")
    monkeypatch.setenv("PADDLE_ELECTRA_HOME", str(tmp_path / "home"))
    assert hub.cache_root() == str(tmp_path / "home")
    assert hub.model_dir("hfl/chinese-electra-180g-small-discriminator") == \
        str(tmp_path / "home" / "models" / "hfl--chinese-electra-180g-small-discriminator")
    for bad in ("../etc", "a/b/c", "a/..", "/abs"):
        with pytest.raises(ValueError):
            hub.model_dir(bad)
    assert not hub.is_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.is_offline()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("PADDLE_ELECTRA_OFFLINE", "1")
    assert hub.is_offline()


def test_local_folder_is_returned_as_is(tmp_path):
    assert hub.resolve(str(tmp_path)) == str(tmp_path)


# ---------------------------------------------------------------- every format, by name
def test_hub_safetensors_converted_once_and_table_config_wins(env, server, artifacts):
    np.testing.assert_allclose(_load(pe.ElectraGenerator, HUB_ST), artifacts.expected[HUB_ST], atol=ATOL)
    folder = hub.model_dir(HUB_ST)
    assert os.path.basename(folder) == "tiny-org--tiny-gen-st"
    assert sorted(f for f in os.listdir(folder) if not f.endswith(".lock")) == ["config.json",
                                                                                "model_state.pdparams"]
    with open(os.path.join(folder, "config.json")) as f:
        assert json.load(f)["hidden_size"] == TINY_CFG["hidden_size"]  # the table's, not the hub's 64
    assert server.count(path="config.json") == 0
    assert server.count("GET", "model.safetensors") == 1

    weights = os.path.join(folder, "model_state.pdparams")
    before, mtime = server.count(), os.stat(weights).st_mtime_ns
    np.testing.assert_allclose(_load(pe.ElectraGenerator, HUB_ST), artifacts.expected[HUB_ST], atol=ATOL)
    assert server.count() == before  # no request: not re-downloaded
    assert os.stat(weights).st_mtime_ns == mtime  # not re-converted
    assert _leftovers(env) == []


def test_hub_pytorch_model_bin(env, server, artifacts):
    np.testing.assert_allclose(_load(pe.ElectraDiscriminator, HUB_BIN), artifacts.expected[HUB_BIN], atol=ATOL)
    assert server.count("GET", "pytorch_model.bin") == 1


def test_bcebos_pdparams_verified_and_reused(env, server, artifacts):
    np.testing.assert_allclose(_load(pe.ElectraDiscriminator, BOS), artifacts.expected[BOS], atol=1e-6)
    assert server.count("GET", BOS_WEIGHTS) == 1
    before = server.count()
    _load(pe.ElectraDiscriminator, BOS)
    assert server.count() == before
    assert _leftovers(env) == []


def test_community_folder_with_model_config_json(env, server, artifacts):
    np.testing.assert_allclose(_load(pe.ElectraGenerator, COMMUNITY), artifacts.expected[COMMUNITY], atol=1e-6)
    folder = hub.model_dir(COMMUNITY)
    assert os.path.basename(folder) == "tinyuser--tiny-community-gen"
    assert {"model_config.json", "config.json", "model_state.pdparams"} <= set(os.listdir(folder))
    assert server.count(path="vocab.txt") == 0  # the model needs no vocabulary


def test_tokenizer_kind_fetches_the_vocabulary_only(env, server):
    folder = hub.resolve(BOS, kind="tokenizer")
    assert _read(os.path.join(folder, "vocab.txt")) == VOCAB
    with open(os.path.join(folder, "tokenizer_config.json")) as f:
        assert json.load(f) == {"do_lower_case": False, "model_max_length": 64, "tokenizer_class": "ElectraTokenizer"}
    assert os.path.isfile(os.path.join(folder, "config.json"))
    assert server.count(path=".pdparams") == 0

    from paddle_electra.tokenizer import ElectraTokenizer

    tok = ElectraTokenizer.from_pretrained(BOS)  # the consumer of kind="tokenizer"
    assert (tok.do_lower_case, tok.model_max_length, tok.vocab_size) == (False, 64, 99)

    folder = hub.resolve(COMMUNITY, kind="tokenizer")  # the table's tokenizer settings, not the published file
    with open(os.path.join(folder, "tokenizer_config.json")) as f:
        assert json.load(f)["do_lower_case"] is True
    assert server.count(path="tokenizer_config.json") == 0

    folder = hub.resolve(HUB_ST, kind="tokenizer")
    assert _read(os.path.join(folder, "vocab.txt")) == VOCAB
    assert server.count(path="model.safetensors") == 0


def test_config_only_name_has_no_weights_but_a_vocabulary(env, server):
    with pytest.raises(ValueError, match="no published weights") as err:
        hub.resolve(CONFIG_ONLY)
    assert "ElectraConfig.from_pretrained('tiny-config-only')" in str(err.value)
    assert "ElectraGenerator(config)" in str(err.value)
    assert server.count() == 0
    folder = hub.resolve(CONFIG_ONLY, kind="tokenizer")
    assert _read(os.path.join(folder, "vocab.txt")) == VOCAB
    assert pe.ElectraConfig.from_pretrained(CONFIG_ONLY).hidden_size == TINY_CFG["hidden_size"]


# ---------------------------------------------------------------- faults
def test_corrupt_download_never_gets_the_final_name(env, server, artifacts):
    server.add_faults(BOS_WEIGHTS, "corrupt")
    with pytest.raises(hub.ChecksumError, match="sha256 mismatch") as err:
        hub.resolve(BOS)
    assert isinstance(err.value, OSError) and f"{server.url}{BOS_WEIGHTS}" in str(err.value)
    folder = hub.model_dir(BOS)
    assert not os.path.exists(os.path.join(folder, "model_state.pdparams"))
    assert _leftovers(env) == []
    np.testing.assert_allclose(_load(pe.ElectraDiscriminator, BOS), artifacts.expected[BOS], atol=1e-6)


def test_truncated_transfer_fails_then_the_next_call_resumes(env, server, artifacts):
    server.add_faults(BOS_WEIGHTS, *["cut:700"] * _fetch.MAX_ATTEMPTS)
    with pytest.raises(hub.DownloadError, match="gave up after") as err:
        hub.resolve(BOS)
    assert "PADDLE_ELECTRA_MIRROR" in str(err.value)
    final = os.path.join(hub.model_dir(BOS), "model_state.pdparams")
    assert not os.path.exists(final)
    kept = os.path.getsize(final + ".incomplete")
    assert kept == 700 * _fetch.MAX_ATTEMPTS
    assert [r.range for r in server.log(BOS_WEIGHTS)] == [None] + [f"bytes={700 * i}-" for i in range(1, 4)]

    np.testing.assert_allclose(_load(pe.ElectraDiscriminator, BOS), artifacts.expected[BOS], atol=1e-6)
    assert server.log(BOS_WEIGHTS)[-1].range == f"bytes={kept}-"  # resumed, not restarted
    assert _read(final) == artifacts.plain[BOS_WEIGHTS]
    assert _leftovers(env) == []


def test_server_error_mid_file_is_resumed_within_one_call(env, server, artifacts):
    server.add_faults(BOS_WEIGHTS, "cut:1500", "500")
    np.testing.assert_allclose(_load(pe.ElectraDiscriminator, BOS), artifacts.expected[BOS], atol=1e-6)
    assert [r.range for r in server.log(BOS_WEIGHTS)] == [None, "bytes=1500-", "bytes=1500-"]


def test_server_ignoring_range_restarts_from_zero(env, server, artifacts):
    server.add_faults(BOS_WEIGHTS, "cut:1500", "norange")
    hub.resolve(BOS)
    assert _read(os.path.join(hub.model_dir(BOS), "model_state.pdparams")) == artifacts.plain[BOS_WEIGHTS]


def test_complete_partial_file_of_unknown_size_is_not_downloaded_again(env, server, artifacts):
    path = f"{COMMUNITY_DIR}/model_state.pdparams"  # the table lists no size for it
    final = os.path.join(hub.model_dir(COMMUNITY), "model_state.pdparams")
    os.makedirs(os.path.dirname(final))
    with open(final + ".incomplete", "wb") as f:
        f.write(artifacts.plain[path])
    hub.resolve(COMMUNITY)
    assert [r.range for r in server.log(path)] == [f"bytes={len(artifacts.plain[path])}-"]  # answered 416
    assert _read(final) == artifacts.plain[path]


def test_missing_remote_files_are_clear_errors(env, server):
    del server.plain[BOS_WEIGHTS]
    with pytest.raises(hub.DownloadError, match="HTTP 404") as err:
        hub.resolve(BOS)
    assert BOS_WEIGHTS in str(err.value) and "local folder" in str(err.value)
    del server.hub[(HUB_BIN, "main", "pytorch_model.bin")]
    with pytest.raises(hub.DownloadError) as err:
        hub.resolve(HUB_BIN)
    assert f"{HUB_BIN}/resolve/main/pytorch_model.bin" in str(err.value) and "HF_ENDPOINT" in str(err.value)
    assert _leftovers(env) == []


def test_connection_refused_fails_fast(env, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PADDLE_ELECTRA_MIRROR", dead)
    monkeypatch.setenv("HF_ENDPOINT", dead)
    for name, hint in ((BOS, "PADDLE_ELECTRA_MIRROR"), (HUB_ST, "HF_ENDPOINT")):
        start = time.monotonic()
        with pytest.raises(hub.DownloadError) as err:
            hub.resolve(name)
        elapsed = time.monotonic() - start
        assert elapsed < 5, f"{name}: a refused connection took {elapsed:.1f}s to fail"
        assert dead in str(err.value) and hint in str(err.value)


def test_server_that_never_answers_fails_after_the_read_timeout(env, server, monkeypatch):
    monkeypatch.setattr(_fetch, "READ_TIMEOUT", 0.3)
    server.add_faults(BOS_WEIGHTS, "stall:3")
    start = time.monotonic()
    with pytest.raises(hub.DownloadError, match="ReadTimeout"):
        hub.resolve(BOS)
    assert time.monotonic() - start < 2
    assert server.count("GET", BOS_WEIGHTS) == 1


# ---------------------------------------------------------------- offline and warm cache
def test_offline_with_an_empty_cache_names_the_missing_file(env, server, monkeypatch):
    monkeypatch.setenv("PADDLE_ELECTRA_OFFLINE", "1")
    with pytest.raises(hub.OfflineError) as err:
        pe.ElectraDiscriminator.from_pretrained(BOS)
    msg = str(err.value)
    assert BOS in msg and "model_state.pdparams" in msg and "offline" in msg
    assert "local folder" in msg and "PADDLE_ELECTRA_MIRROR" in msg and hub.model_dir(BOS) in msg
    monkeypatch.delenv("PADDLE_ELECTRA_OFFLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(hub.OfflineError) as err:
        pe.ElectraGenerator.from_pretrained(HUB_ST)
    assert "model.safetensors" in str(err.value) and "HF_ENDPOINT" in str(err.value)
    assert server.count() == 0


def test_warm_cache_works_with_the_server_stopped(env, server, artifacts, monkeypatch):
    _load(pe.ElectraGenerator, HUB_ST)
    _load(pe.ElectraDiscriminator, BOS)
    hub.resolve(BOS, kind="tokenizer")
    server.stop()
    for offline in ("0", "1"):
        monkeypatch.setenv("PADDLE_ELECTRA_OFFLINE", offline)
        np.testing.assert_allclose(_load(pe.ElectraGenerator, HUB_ST), artifacts.expected[HUB_ST], atol=ATOL)
        np.testing.assert_allclose(_load(pe.ElectraDiscriminator, BOS), artifacts.expected[BOS], atol=1e-6)
        assert os.path.isfile(os.path.join(hub.resolve(BOS, kind="tokenizer"), "vocab.txt"))
    # a lost conversion is redone offline from huggingface_hub's cache
    os.remove(os.path.join(hub.model_dir(HUB_ST), "model_state.pdparams"))
    np.testing.assert_allclose(_load(pe.ElectraGenerator, HUB_ST), artifacts.expected[HUB_ST], atol=ATOL)


# ---------------------------------------------------------------- names
def test_unknown_name_lists_close_names(env, server):
    with pytest.raises(ValueError, match="did you mean tiny-bos"):
        hub.resolve("tiny-bso")
    with pytest.raises(ValueError, match="tiny-org/tiny-gen-st"):
        pe.ElectraGenerator.from_pretrained("tiny-org/tiny-gen-sf")
    assert server.count() == 0


def test_generator_name_in_discriminator_class_fails_before_any_request(env, server):
    with pytest.raises(ValueError, match="ElectraGenerator.from_pretrained"):
        pe.ElectraDiscriminator.from_pretrained(HUB_ST)
    with pytest.raises(ValueError, match="ElectraDiscriminator.from_pretrained"):
        pe.ElectraGenerator.from_pretrained(BOS)
    assert server.count() == 0
    assert not os.path.exists(env)


def test_progress_is_shown_on_stderr(env, server, monkeypatch, capfd):
    monkeypatch.delenv("PADDLE_ELECTRA_DISABLE_PROGRESS_BARS")
    hub.resolve(BOS)
    hub.resolve(HUB_ST)
    err = capfd.readouterr().err
    assert "tiny-bos: model_state.pdparams" in err and f"converting {HUB_ST} to Paddle" in err


# ---------------------------------------------------------------- processes
_CHILD = r"""
import json, sys
import numpy as np, paddle
from paddle_electra.loading import registry
registry._CANDIDATE_DIRS = (sys.argv[1],)
registry._table.cache_clear()
import paddle_electra as pe
sys.path.insert(0, sys.argv[2])
from conftest import make_batch
ids, types, mask = make_batch(batch=2, seq=8, vocab=99)
out = {}
for cls, name in ((pe.ElectraDiscriminator, "tiny-bos"), (pe.ElectraGenerator, "tiny-org/tiny-gen-st")):
    m = cls.from_pretrained(name)
    out[name] = m(input_ids=paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types),
                  attention_mask=paddle.to_tensor(mask), return_dict=True).logits.numpy().tolist()
print("RESULT" + json.dumps(out))
"""


def test_four_processes_loading_one_name_end_with_one_copy(env, server, table, artifacts):
    server.chunk_delay = 0.03  # slow transfers so the processes overlap
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, table, tests_dir], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(os.environ)) for _ in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err[-3000:]
        got = json.loads(out.split("RESULT", 1)[1])
        np.testing.assert_allclose(np.array(got[BOS]), artifacts.expected[BOS], atol=1e-6)
        np.testing.assert_allclose(np.array(got[HUB_ST]), artifacts.expected[HUB_ST], atol=ATOL)
    assert server.count("GET", BOS_WEIGHTS) == 1
    assert server.count("GET", f"{HUB_ST}/resolve/main/model.safetensors") == 1
    assert _read(os.path.join(hub.model_dir(BOS), "model_state.pdparams")) == artifacts.plain[BOS_WEIGHTS]
    assert _leftovers(env) == []


def test_cache_dir_keyword_downloads_into_that_folder(env, server, artifacts, tmp_path):
    other = tmp_path / "elsewhere"
    logits = _paddle_logits(pe.ElectraDiscriminator.from_pretrained(BOS, cache_dir=str(other)))
    np.testing.assert_allclose(logits, artifacts.expected[BOS], atol=1e-6)
    assert os.path.isfile(other / "models" / BOS / "model_state.pdparams")
    assert not os.path.exists(os.path.join(str(env), "models", BOS))  # the default cache stays untouched
    assert hub.cache_root() == str(env)  # only for that call
