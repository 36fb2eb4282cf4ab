"""paddle_electra.loading.paddlenlp_plugin: PaddleNLP's own classes load the names only paddle_electra serves.

One launch of tests/data/paddlenlp_plugin_check.py under the PaddleNLP 2.8.1 venv
(``PADDLE_ELECTRA_PADDLENLP_PYTHON`` may point at another interpreter) serves every test.
Its registry is pointed at a tiny name table written here (as tests/loading/test_hub.py does):

* ``hfl/chinese-legal-electra-small-generator`` (hub, ``pytorch_model.bin``) and
  ``hfl/chinese-electra-180g-small-discriminator`` (hub, ``model.safetensors``): real names,
  tiny models made here with HF transformers, served by tests/hub_server.py on 127.0.0.1
  through ``HF_ENDPOINT``;
* ``electra-small-generator``: a name whose config PaddleNLP lists without weights;
* ``tiny-bos-electra-discriminator``: a bcebos name PaddleNLP never heard of
  (``PADDLE_ELECTRA_MIRROR``);
* ``electra-small`` and ``junnyu/hfl-chinese-legal-electra-small-generator``: names PaddleNLP
  publishes itself, listed here with tiny files on the local server, so that serving them
  by mistake would succeed where PaddleNLP's own download (blocked: every proxy points at a
  closed port) fails;
* the two models that ship inside paddle_electra (offline).

PaddleNLP's outputs are compared with paddle_electra's on the same name (|Δ| ≤ 1e-6 × max(1, largest |output|)) and,
for the hub names, with HF transformers' (≤ 1e-5). The same launch runs the fine-tuning
script of docs/migration-from-paddlenlp.md (tests/data/run_glue_electra.py) twice: unchanged
with the plugin registered, and with its model import line swapped to paddle_electra.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_electra as pe
from paddle_electra.loading import registry
from hub_server import TINY_HUB_CONFIG as TINY_CFG
from hub_server import TINY_HUB_VOCAB as VOCAB
from hub_server import HubServer

HERE = Path(__file__).resolve().parents[1]
REPO = HERE.parent
HELPER = HERE / "data" / "paddlenlp_plugin_check.py"
GLUE_SCRIPT = HERE / "data" / "run_glue_electra.py"
sys.path.insert(0, str(HERE / "paddlenlp_helpers"))
import interop_common as common  # noqa: E402

TOL, HF_TOL = 1e-6, 1e-5
TINY_TEXTS = ["w1 w2 w3", "W10 [MASK] w93 unknownword"]
ZH_TEXTS = ["中国共产党第十五次全国代表大会[MASK]利召开", "今天天气很好，我们去公园散步。"]

HF = "https://huggingface.co"
HUB_GEN = "hfl/chinese-legal-electra-small-generator"
HUB_DISC = "hfl/chinese-electra-180g-small-discriminator"
HUB_IN_VENV = "hfl/chinese-electra-small-ex-discriminator"  # downloaded by the PaddleNLP venv itself
GOOGLE_GEN = "electra-small-generator"
BOS = "tiny-bos-electra-discriminator"
BOS_DIR = "/paddlenlp/models/transformers/tiny-bos"
KNOWN = "electra-small"
KNOWN_DIR = "/paddlenlp/models/transformers/electra"
COMMUNITY = "junnyu/hfl-chinese-legal-electra-small-generator"
COMMUNITY_DIR = "/paddlenlp/models/transformers/community/" + COMMUNITY
EMBEDDED = ["electra-zh-peoples-daily-small-generator", "electra-zh-peoples-daily-small-discriminator"]
SERVED = {HUB_GEN: "ElectraGenerator", HUB_DISC: "ElectraDiscriminator", GOOGLE_GEN: "ElectraGenerator",
          BOS: "ElectraDiscriminator", EMBEDDED[0]: "ElectraGenerator", EMBEDDED[1]: "ElectraDiscriminator"}
GLUE_TRAIN = [(1, "这部电影很好看"), (0, "太差了，浪费时间"), (1, "演员表演非常精彩"), (0, "剧情无聊又拖沓"),
              (1, "我很喜欢这个故事"), (0, "画面粗糙，声音难听"), (1, "值得一看的好电影"), (0, "看了一半就走了"),
              (1, "音乐和画面都很美"), (0, "非常失望"), (1, "今天心情很好"), (0, "服务态度很差")]
GLUE_DEV = [(1, "故事很感人"), (0, "真是糟糕的体验"), (1, "非常好看"), (0, "一点意思都没有")]


# ---------------------------------------------------------------- artifacts
def _hf_model(cls_name, seed):
    torch.manual_seed(seed)
    model = getattr(transformers, cls_name)(transformers.ElectraConfig(**TINY_CFG)).eval()
    with torch.no_grad():
        for p in model.parameters():  # off their init values, so every weight shows in the outputs
            p.add_(torch.randn_like(p) * 0.05)
    return model


def _hf_logits(model, batch):
    with torch.no_grad():
        return model(input_ids=torch.tensor(batch["ids"]), token_type_ids=torch.tensor(batch["types"]),
                     attention_mask=torch.tensor(batch["mask"])).logits.numpy()


def _file(role, filename, url, data=None):
    sha = hashlib.sha256(data).hexdigest() if data is not None else None
    return {"role": role, "filename": filename, "url": url, "sha256": sha, "size": len(data) if data else None}


def _entry(name, architecture, source, files, hf_repo=None, alias_of=None):
    return {"name": name, "architecture": architecture, "language": "en", "domain": "test", "source": source,
            "hf_repo": hf_repo, "alias_of": alias_of, "config": dict(TINY_CFG),
            "tokenizer": {"do_lower_case": True, "model_max_length": 64}, "files": files}


class World:
    """The tiny table, the files the local server publishes, and the outputs each name must give."""

    def __init__(self, root, batch):
        self.root, self.hub, self.plain, self.expected, entries = root, {}, {}, {}, []
        for seed, (name, cls_name, fmt) in enumerate([(HUB_GEN, "ElectraForMaskedLM", "pytorch_model.bin"),
                                                      (HUB_DISC, "ElectraForPreTraining", "model.safetensors"),
                                                      (GOOGLE_GEN, "ElectraForMaskedLM", "pytorch_model.bin"),
                                                      (HUB_IN_VENV, "ElectraForPreTraining", "model.safetensors")]):
            model = _hf_model(cls_name, seed)
            folder = root / "hf" / name.replace("/", "--")
            if fmt == "model.safetensors":
                model.save_pretrained(str(folder))
            else:
                folder.mkdir(parents=True)
                torch.save(model.state_dict(), str(folder / fmt))
            repo = name if "/" in name else f"google/{name}"
            self.hub[(repo, fmt)] = (folder / fmt).read_bytes()
            self.hub[(repo, "vocab.txt")] = VOCAB
            self.expected[name] = _hf_logits(model, batch)
            arch = "ElectraGenerator" if cls_name == "ElectraForMaskedLM" else "ElectraDiscriminator"
            entries.append(_entry(name, arch, "huggingface", hf_repo=repo, files=[
                _file("weights", fmt, f"{HF}/{repo}/resolve/main/{fmt}"),
                _file("vocab", "vocab.txt", f"{HF}/{repo}/resolve/main/vocab.txt")]))
        for seed, (name, url_dir, base_url, files) in enumerate([
            (BOS, BOS_DIR, "https://bj.bcebos.com", ("model_state.pdparams", "vocab.txt")),
            (KNOWN, KNOWN_DIR, "https://bj.bcebos.com", ("electra-small.pdparams", "electra-small-vocab.txt")),
            (COMMUNITY, COMMUNITY_DIR, "https://paddlenlp.bj.bcebos.com",
             ("model_state.pdparams", "vocab.txt")),
        ]):
            paddle.seed(seed)
            arch = "ElectraGenerator" if name == COMMUNITY else "ElectraDiscriminator"
            model = getattr(pe, arch)(pe.ElectraConfig(**TINY_CFG))
            common.perturb_parameters(model, seed)
            model.eval()
            model.save_pretrained(str(root / "pd" / name.replace("/", "--")))
            weights = (root / "pd" / name.replace("/", "--") / "model_state.pdparams").read_bytes()
            self.plain[f"{url_dir}/{files[0]}"], self.plain[f"{url_dir}/{files[1]}"] = weights, VOCAB
            path = url_dir[len("/paddlenlp"):] if base_url.startswith("https://paddlenlp.") else url_dir
            entries.append(_entry(name, arch, "bcebos", alias_of=HUB_GEN if name == COMMUNITY else None, files=[
                _file("weights", "model_state.pdparams", f"{base_url}{path}/{files[0]}", weights),
                _file("vocab", "vocab.txt", f"{base_url}{path}/{files[1]}", VOCAB)]))
            self.expected[name] = common.run_model(model, arch, batch)["out"]
        self.table = root / "table"
        self.table.mkdir()
        for entry in entries:
            (self.table / (entry["name"].replace("/", "__") + ".json")).write_text(json.dumps(entry))
        for name in EMBEDDED:  # the shipped models: their rows as they are
            fn = name + ".json"
            shutil.copy(os.path.join(registry.table_dir(), fn), self.table / fn)


def _paddlenlp_python() -> str:
    path = os.environ.get("PADDLE_ELECTRA_PADDLENLP_PYTHON") or str(REPO / ".venv-paddlenlp" / "bin" / "python")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"the PaddleNLP 2.8.1 reference interpreter {path} does not exist; create it with "
                    "`bash tools/make_reference_envs.sh` (or set PADDLE_ELECTRA_PADDLENLP_PYTHON)", pytrace=False)
    return path


class Run:
    def __init__(self, response, server_log, world, work):
        self.response, self.server_log, self.world, self.work = response, server_log, world, work

    def job(self, key):
        res = self.response[key]
        if isinstance(res, dict) and "error" in res:
            pytest.fail(f"{key}: {res['error']}\n{res.get('traceback', '')}", pytrace=False)
        return res

    def requests(self, fragment):
        return [r for r in self.server_log if fragment in r.path]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    python = _paddlenlp_python()
    root = tmp_path_factory.mktemp("paddlenlp_plugin")
    batch = common.make_batch(TINY_CFG["vocab_size"])
    np.savez(root / "inputs.npz", **batch)
    world = World(root, batch)
    for split, rows in (("train", GLUE_TRAIN), ("dev", GLUE_DEV)):
        (root / f"{split}.tsv").write_text("".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
    request = {
        "table": str(world.table), "inputs": str(root / "inputs.npz"), "work": str(root / "work"),
        "served": [{"name": n, "class": c, "texts": ZH_TEXTS if n in EMBEDDED else TINY_TEXTS}
                   for n, c in SERVED.items()],
        "known": {KNOWN: ["config", "model", "tokenizer"], COMMUNITY: ["model", "tokenizer"]},
        "cache_dir": str(root / "own_cache_dir"), "cache_dir_name": BOS, "hub_in_venv": HUB_IN_VENV,
        "glue": {"script": str(GLUE_SCRIPT), "args": [
            "--model_name_or_path", EMBEDDED[1], "--train_file", str(root / "train.tsv"),
            "--dev_file", str(root / "dev.tsv"), "--max_seq_length", "32", "--batch_size", "4",
            "--num_train_epochs", "2"]},
    }
    (root / "request.json").write_text(json.dumps(request, indent=1))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    for var in ("PADDLE_ELECTRA_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "from_modelscope"):
        env.pop(var, None)
    closed = "http://127.0.0.1:9"  # every download that is not for the local server fails at once
    env.update(CUDA_VISIBLE_DEVICES="", PADDLE_ELECTRA_HOME=str(root / "cache"), PPNLP_HOME=str(root / "ppnlp"),
               HF_HOME=str(root / "hf_home"), PADDLE_ELECTRA_DISABLE_PROGRESS_BARS="1",
               HTTP_PROXY=closed, HTTPS_PROXY=closed, http_proxy=closed, https_proxy=closed,
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    server = HubServer()
    for path, data in world.plain.items():
        server.add_file(path, data)
    for (repo, filename), data in world.hub.items():
        server.add_hub_file(repo, filename, data)
    with server:
        env.update(HF_ENDPOINT=server.url, PADDLE_ELECTRA_MIRROR=server.url)
        _prefetch(world, env, PREFETCHED)
        response = _helper(python, [str(root / "request.json")], root / "response.json", env, 300)
        log = server.log()
    assert response["versions"]["paddlenlp"].startswith("2.8.1"), response["versions"]
    for variant in ("plugin", "swapped"):  # offline: the shipped discriminator
        try:
            response.update(_helper(python, ["glue", variant, str(root / "request.json")],
                                    root / f"glue_{variant}.json", env, GLUE_TIMEOUT))
        except subprocess.TimeoutExpired as exc:
            tail = (exc.stdout or b"")[-3000:].decode("utf-8", "replace")
            response["glue:" + variant] = {"error": f"the fine-tuning script did not finish within {GLUE_TIMEOUT} s "
                                                    "(a DataLoader worker thread failed?)", "traceback": tail}
    return Run(response, log, world, root)


GLUE_TIMEOUT = 180
# Hub names downloaded by this (main-venv) process into the cache the helper uses, so that the plugin's
# checks do not depend on paddle_electra's hub route working under the PaddleNLP venv's huggingface_hub
# (0.25); test_hub_download_inside_the_paddlenlp_venv checks that route on HUB_IN_VENV.
PREFETCHED = (HUB_GEN, HUB_DISC, GOOGLE_GEN)


def _prefetch(world, env, names):
    import huggingface_hub.constants

    from paddle_electra.loading import hub

    with pytest.MonkeyPatch.context() as mp:
        for var in ("PADDLE_ELECTRA_HOME", "HF_ENDPOINT", "PADDLE_ELECTRA_MIRROR", "NO_PROXY", "no_proxy",
                    "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "PADDLE_ELECTRA_DISABLE_PROGRESS_BARS"):
            mp.setenv(var, env[var])
        for var in ("PADDLE_ELECTRA_OFFLINE", "HF_HUB_OFFLINE"):
            mp.delenv(var, raising=False)
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        mp.setattr(registry, "_CANDIDATE_DIRS", (str(world.table),))
        registry._table.cache_clear()
        try:
            for name in names:
                hub.resolve(name, kind="model")
                hub.resolve(name, kind="tokenizer")
        finally:
            registry._table.cache_clear()


def _helper(python, args, response_path, env, timeout):
    proc = subprocess.run([python, str(HELPER), *args, str(response_path)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if proc.returncode != 0 or not response_path.exists():
        pytest.fail(f"the PaddleNLP plugin helper {args[:2]} failed (exit {proc.returncode})\n--- output (tail) ---\n"
                    f"{proc.stdout[-4000:].decode('utf-8', 'replace')}", pytrace=False)
    return json.loads(response_path.read_text())


# ---------------------------------------------------------------- which names are served
def test_served_names_are_the_ones_paddlenlp_lacks(run):
    served = run.job("served_names")
    assert set(served["model"]) == {HUB_GEN, HUB_DISC, HUB_IN_VENV, GOOGLE_GEN, BOS, *EMBEDDED}
    assert set(served["tokenizer"]) == set(served["model"])
    # PaddleNLP lists electra-small-generator's config itself: only its weights and vocabulary are ours
    assert set(served["config"]) == set(served["model"]) - {GOOGLE_GEN}
    for name in (KNOWN, COMMUNITY):
        assert all(name not in names for names in served.values())


def test_real_table_served_names(run):
    """On the real table: the 22 hfl names, the shipped models and the Google generator/discriminator weights."""
    served = run.job("served_names_real")
    hfl = {n for n in registry.names() if n.startswith("hfl/")}
    google = {f"electra-{size}-{kind}" for size in ("small", "base", "large") for kind in ("generator",
                                                                                          "discriminator")}
    assert len(hfl) == 22
    assert set(served["model"]) == hfl | google | set(EMBEDDED)
    assert set(served["config"]) == hfl | set(EMBEDDED)
    assert set(served["tokenizer"]) == hfl | google | set(EMBEDDED) | {"ernie-health-chinese-generator",
                                                                       "ernie-health-chinese-discriminator"}


# ---------------------------------------------------------------- PaddleNLP's classes on served names
@pytest.mark.parametrize("name", list(SERVED))
def test_paddlenlp_class_loads_a_served_name_with_our_outputs(run, name, record_property):
    res = run.job("served:" + name)
    own = res["own_class"]
    assert own["type"] == f"paddlenlp.transformers.electra.modeling.{SERVED[name]}"
    assert own["key_warnings"] == [], own["key_warnings"]
    record_property("max_abs_diff", own["max_abs_diff"])
    # float32 rounding grows with the outputs: a trained generator's vocabulary logits reach ~20
    assert own["max_abs_diff"] <= TOL * max(1.0, own["max_abs_output"]), own
    if name in run.world.expected:  # the tiny models made here: HF's (or our own) outputs, through PaddleNLP
        with np.load(run.work / "work" / "served" / name.replace("/", "--") / "own_class.npz") as data:
            theirs = data["out"]
        diff = float(np.max(np.abs(theirs - run.world.expected[name])))
        assert diff <= HF_TOL, f"{name}: PaddleNLP vs the source model: {diff:.3g}"
    for label in ("ElectraModel", "AutoModel"):
        assert res[label]["type"] == "ElectraModel"  # PaddleNLP's AutoModel gives the encoder
        assert res[label]["max_abs_diff"] <= TOL * max(1.0, res[label]["max_abs_output"]), (label, res[label])
    for label in ("ElectraForSequenceClassification", "AutoModelForSequenceClassification"):
        assert res[label]["type"] == "ElectraForSequenceClassification"
        assert res[label]["logits_shape"] == [common.BATCH, 3]  # num_classes=3 honoured by PaddleNLP
        assert res[label]["backbone_max_abs_diff"] <= TOL * max(1.0, res[label]["backbone_max_abs_output"]), label


@pytest.mark.parametrize("name", list(SERVED))
def test_paddlenlp_tokenizers_and_configs_of_served_names(run, name):
    res = run.job("served:" + name)
    for label in ("ElectraTokenizer", "AutoTokenizer"):
        assert res[label]["type"] == "ElectraTokenizer"
        assert res[label]["ids"] == res[label]["ours"]
        assert all(ids[0] == 2 and ids[-1] == 3 for ids in res[label]["ids"])  # [CLS] ... [SEP]
    for label in ("ElectraConfig", "AutoConfig"):
        assert res[label]["type"] == "ElectraConfig"
        if name == GOOGLE_GEN:  # PaddleNLP lists this config itself (hidden 256); only the weights are ours
            assert res[label]["hidden_size"] == 256 and not res[label]["same"]
        else:
            assert res[label]["same"], res[label]


def test_hub_download_inside_the_paddlenlp_venv(run):
    """A hub name fetched by paddle_electra's hub route under the PaddleNLP venv's own huggingface_hub."""
    res = run.job("hub_in_venv")
    assert res["type"] == "ElectraDiscriminator"
    with np.load(res["outputs"]) as data:
        diff = float(np.max(np.abs(data["out"] - run.world.expected[HUB_IN_VENV])))
    assert diff <= HF_TOL


def test_each_file_is_downloaded_once_and_only_for_served_names(run):
    for repo, filename in run.world.hub:
        if repo == HUB_IN_VENV:
            continue
        gets = [r for r in run.requests(f"/{repo}/resolve/") if r.path.endswith(filename) and r.method == "GET"]
        assert len(gets) == 1, (repo, filename, gets)
    assert run.requests(BOS_DIR) and all(r.method in ("GET", "HEAD") for r in run.requests(BOS_DIR))
    assert run.requests(KNOWN_DIR) == [] and run.requests("community") == []


# ---------------------------------------------------------------- names PaddleNLP knows stay PaddleNLP's
def test_names_paddlenlp_publishes_keep_its_behaviour(run):
    known = run.job("known:" + KNOWN)
    assert known["config"] == {"loaded": "ElectraConfig", "hidden_size": 256}  # PaddleNLP's table, not ours (32)
    for kind in ("model", "tokenizer"):  # PaddleNLP's own download, which the closed proxy fails
        assert known[kind]["raised"] in ("builtins.OSError", "builtins.EnvironmentError"), known[kind]
        assert "paddle_electra" not in known[kind]["message"]
    community = run.job("known:" + COMMUNITY)
    for kind in ("model", "tokenizer"):
        assert "raised" in community[kind], community[kind]
    cache = run.work / "cache" / "models"
    assert not (cache / KNOWN).exists() and not (cache / COMMUNITY.replace("/", "--")).exists()


# ---------------------------------------------------------------- keyword arguments, registration
def test_cache_dir_is_honoured_and_force_download_refused(run):
    res = run.job("cache_dir")
    assert res["type"] == "ElectraDiscriminator"
    assert f"models/{BOS}/model_state.pdparams" in res["files"]
    forced = run.job("force_download")
    assert forced["raised"] == "ValueError" and "force_download=True" in forced["message"]
    assert "delete" in forced["message"]


def test_register_is_idempotent_and_unregister_restores_paddlenlp(run):
    res = run.job("registration")
    assert res["idempotent"] and res["all_patched"]
    after = res["after_unregister"]
    assert not after["registered"]
    assert sorted(after["restored"]) == sorted(["ElectraPretrainedModel.from_pretrained",
                                                "ElectraConfig.from_pretrained", "ElectraTokenizer.from_pretrained",
                                                "_BaseAutoModelClass._from_pretrained",
                                                "AutoTokenizer.from_pretrained", "AutoConfig.from_pretrained"])
    assert after["load"] == "OSError"  # PaddleNLP again: it cannot find the hfl name
    assert res["re_registered"]


# ---------------------------------------------------------------- the migration guide's script
def _check_glue(run, variant, model_module):
    res = run.job("glue:" + variant)
    assert res["model_class"] == f"{model_module}.ElectraForSequenceClassification"
    assert res["num_classes"] == 2
    losses = res["train_losses"]
    assert len(losses) == 2 * 3 and all(np.isfinite(losses))  # 12 examples, batch 4, 2 epochs
    assert 0.0 <= res["dev_acc"] <= 1.0 and np.isfinite(res["dev_loss"])
    saved = Path(res["output_dir"])
    assert {"config.json", "vocab.txt", "tokenizer_config.json"} <= set(os.listdir(saved))
    assert json.loads((saved / "config.json").read_text()).get("num_labels", 2) == 2  # PaddleNLP omits defaults
    cross = run.job("glue_cross_load:" + variant)
    assert cross["num_labels"] == [2, 2]
    assert cross["max_abs_diff"] <= TOL  # the saved folder gives the same logits in both libraries


def test_glue_script_unchanged_runs_on_paddlenlp_with_the_plugin(run):
    _check_glue(run, "plugin", "paddlenlp.transformers.electra.modeling")


def test_glue_script_runs_with_the_import_swapped_to_paddle_electra(run):
    """Needs ElectraTokenizer(max_seq_len=...) / .pad (DataCollatorWithPadding) and num_classes in paddle_electra."""
    _check_glue(run, "swapped", "paddle_electra.model.modeling")


# ---------------------------------------------------------------- without PaddleNLP (this venv)
def test_register_without_paddlenlp_says_what_to_install(monkeypatch):
    from paddle_electra.loading import paddlenlp_plugin as plugin

    monkeypatch.setitem(sys.modules, "paddlenlp", None)  # import paddlenlp -> ImportError
    with pytest.raises(ImportError, match=r"needs PaddleNLP \(pip install paddlenlp\)"):
        plugin.register()
    assert not plugin.is_registered()
    with pytest.raises(ValueError, match="kind must be one of"):
        plugin.local_folder(EMBEDDED[0], kind="weights")


def test_local_folders_offline(tmp_path, monkeypatch):
    """A shipped model becomes a float32 PaddleNLP folder once; a config needs no download."""
    from paddle_electra.loading import hub, paddlenlp_plugin as plugin
    from paddle_electra.loading.convert.readers import read_state_dict

    monkeypatch.setenv("PADDLE_ELECTRA_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PADDLE_ELECTRA_OFFLINE", "1")
    folder = Path(plugin.local_folder(EMBEDDED[1], "model"))
    assert folder == tmp_path / "cache" / "models" / EMBEDDED[1]
    assert {"config.json", "model_state.pdparams", "vocab.txt", "tokenizer_config.json"} <= set(os.listdir(folder))
    ours = read_state_dict(str(folder / "model_state.pdparams"))
    shipped = read_state_dict(os.path.join(hub.EMBEDDED_DIR, EMBEDDED[1], "model.safetensors"))
    assert sorted(ours) == sorted(shipped)
    for key, value in shipped.items():
        assert value.dtype == np.float16 and ours[key].dtype == np.float32
        np.testing.assert_array_equal(ours[key], value.astype(np.float32))
    mtime = (folder / "model_state.pdparams").stat().st_mtime_ns
    assert plugin.local_folder(EMBEDDED[1], "model") == str(folder)
    assert (folder / "model_state.pdparams").stat().st_mtime_ns == mtime  # made once
    (folder / "paddle_electra_source.json").write_text('{"sha256": "an older package"}\n')
    plugin.local_folder(EMBEDDED[1], "model")
    assert (folder / "model_state.pdparams").stat().st_mtime_ns != mtime  # a new package version: rebuilt
    cfg_folder = Path(plugin.local_folder(HUB_GEN, "config", cache_dir=str(tmp_path / "other")))
    assert cfg_folder == tmp_path / "other" / "models" / HUB_GEN.replace("/", "--")
    assert os.listdir(cfg_folder) == ["config.json"]
    assert json.loads((cfg_folder / "config.json").read_text())["architectures"] == ["ElectraGenerator"]
    assert os.environ["PADDLE_ELECTRA_HOME"] == str(tmp_path / "cache")  # cache_dir= lasted one call


def test_redirect_leaves_paddlenlp_its_own_sources(tmp_path):
    from paddle_electra.loading import paddlenlp_plugin as plugin

    never = lambda name: False  # noqa: E731 - PaddleNLP "knows" nothing
    for kwargs in ({"from_hf_hub": True}, {"from_aistudio": True}):
        assert plugin._redirect(HUB_GEN, "model", kwargs, never) == HUB_GEN
    assert plugin._redirect(str(tmp_path), "model", {}, never) == str(tmp_path)  # a local path
    assert plugin._redirect("someone/some-bert", "model", {}, never) == "someone/some-bert"  # not in our table
    assert plugin._redirect(HUB_GEN, "model", {}, lambda name: True) == HUB_GEN  # PaddleNLP publishes it
    assert plugin._redirect("junnyu/hfl-chinese-legal-electra-small-generator", "model", {}, never) == \
        "junnyu/hfl-chinese-legal-electra-small-generator"  # a PaddleNLP community upload
    assert plugin._redirect("ernie-health-chinese-generator", "model", {}, never) == \
        "ernie-health-chinese-generator"  # no weights to serve
    with pytest.raises(ValueError, match="force_download=True"):
        plugin._redirect(HUB_GEN, "model", {"force_download": True}, never)
