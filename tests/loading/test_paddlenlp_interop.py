"""Interoperability with the real PaddleNLP 2.8.1, in both directions.

PaddleNLP runs in its own virtual environment (``tools/make_reference_envs.sh`` makes
``.venv-paddlenlp``; ``PADDLE_ELECTRA_PADDLENLP_PYTHON`` may point at another interpreter).
One launch of ``tests/paddlenlp_helpers/paddlenlp_interop.py`` serves every test: this module
writes a request (JSON) plus the fixed batch (``.npz``) and our saved models into a temp dir;
the helper answers with a response JSON, PaddleNLP's folders and ``.npz`` outputs.

PaddleNLP -> paddle_electra
    For every class and both ``embedding_size != hidden_size`` and ``==`` the helper builds the
    PaddleNLP model (seeded, then every parameter perturbed so biases and LayerNorm weights
    matter), runs the batch and saves it three ways: ``save_pretrained`` (2.5+: config.json +
    model_state.pdparams), ``save_pretrained(safe_serialization=True)`` (model.safetensors) and a
    2.4-era folder (``model_config.json`` with nested ``init_args`` / ``init_class`` + the same
    model_state.pdparams; PaddleNLP itself reloads that folder to prove it is one it reads).
    We load each with our matching class: no missing / unexpected / mismatched keys, and outputs
    within 1e-6.

paddle_electra -> PaddleNLP
    We build, perturb, run and save each model (model_state.pdparams, and model.safetensors);
    PaddleNLP's ``from_pretrained`` loads it with no warning (its missing / unexpected-key
    messages are captured), every parameter equals the file, the config reads back, and its
    outputs match ours within 1e-6. A 2.4 folder read by us and saved again must read in
    PaddleNLP as the same class.

PaddleNLP 2.8.1 quirks these tests work around, each documented where it matters:

* its discriminator heads ``squeeze()`` the [B, L, 1] logits, so a batch of one gives [L]
  (ours gives [1, L]); comparisons use batch 3, :func:`test_discriminator_batch_of_one` pins the
  difference;
* a float 0/1 ``attention_mask`` is *added* to the scores as if it were an additive mask,
  so the batch carries an int64 1/0 mask (converted to 0 / -1e9 by Paddle's transformer);
* LayerNorm epsilon: the encoder LayerNorms get ``config.layer_norm_eps`` only through
  ``init_weights`` (1e-5 with ``low_cpu_mem_usage=True``), and the generator head's LayerNorm is
  always 1e-12, so the ELECTRA cases use ``layer_norm_eps=1e-12``, where every reading agrees;
  the ERNIE-Health case (no generator head) uses ernie-health-chinese's 1e-5;
* 2.4's ``ErnieHealthDiscriminator`` had a fixed 128-way CSP head and no ``num_classes``
  argument, so its ``model_config.json`` carries no label count: both libraries need
  ``num_labels=128`` passed when loading such a folder.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

import paddle_electra
from paddle_electra import ElectraConfig

REPO = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).resolve().parents[1] / "paddlenlp_helpers"
HELPER = HELPERS / "paddlenlp_interop.py"
sys.path.insert(0, str(HELPERS))
import interop_common as common  # noqa: E402

TOL = 1e-6
CONTROL_JOB = "control/ElectraModel-into-ElectraForSequenceClassification"
MAKE_ENVS = "tools/make_reference_envs.sh"

BASE = dict(
    vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    intermediate_size=37, hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
    max_position_embeddings=64, type_vocab_size=2, initializer_range=0.02, pad_token_id=0,
    layer_norm_eps=1e-12, num_labels=3, num_choices=2,
)
VARIANTS = {"E16_H32": BASE, "E32_H32": dict(BASE, embedding_size=32)}
ELECTRA_CLASSES = (
    "ElectraModel",
    "ElectraGenerator",
    "ElectraDiscriminator",
    "ElectraForSequenceClassification",
    "ElectraForTokenClassification",
    "ElectraForQuestionAnswering",
    "ElectraForMultipleChoice",
)


def _cases():
    cases = {}
    for i, cls in enumerate(ELECTRA_CLASSES):
        for j, (variant, cfg) in enumerate(VARIANTS.items()):
            cases[f"{cls}-{variant}"] = dict(cls=cls, config=dict(cfg), seed=10 * i + j, load_kwargs={})
    # ERNIE-Health needs E == H; as ernie-health-chinese: layer_norm_eps 1e-5 and (for its 2.4
    # folder, which records no label count) a 128-way CSP head, passed again when loading.
    cases["ErnieHealthDiscriminator-E32_H32"] = dict(
        cls="ErnieHealthDiscriminator",
        config=dict(VARIANTS["E32_H32"], layer_norm_eps=1e-5, num_labels=common.ERNIE_HEALTH_LEGACY_CSP_OUTPUTS),
        seed=99,
        load_kwargs={"v2.4": {"num_labels": common.ERNIE_HEALTH_LEGACY_CSP_OUTPUTS}},
    )
    return cases


CASES = _cases()


# ----------------------------------------------------------------------------- running PaddleNLP
def _paddlenlp_python() -> str:
    path = os.environ.get("PADDLE_ELECTRA_PADDLENLP_PYTHON") or str(REPO / ".venv-paddlenlp" / "bin" / "python")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"the PaddleNLP 2.8.1 reference interpreter {path} does not exist; create it with "
            f"`bash {MAKE_ENVS}` (or set PADDLE_ELECTRA_PADDLENLP_PYTHON to a python with "
            "paddlepaddle==3.3.1 and paddlenlp==2.8.1)",
            pytrace=False,
        )
    return path


def _our_model(case):
    paddle.seed(case["seed"])
    model = getattr(paddle_electra, case["cls"])(ElectraConfig(**case["config"]))
    common.perturb_parameters(model, case["seed"])
    model.eval()
    return model


class Interop:
    """Everything one helper run produced, plus our side's outputs."""

    def __init__(self, root, batch, response, ours):
        self.root, self.batch, self.response, self.ours = root, batch, response, ours

    def export(self, case):
        res = self.response["export"][case]
        if "error" in res:
            pytest.fail(f"PaddleNLP side failed for {case}: {res['error']}\n{res.get('traceback', '')}", pytrace=False)
        return res

    def imported(self, job):
        return self.response["import"][job]


@pytest.fixture(scope="module")
def interop(tmp_path_factory):
    python = _paddlenlp_python()
    root = tmp_path_factory.mktemp("paddlenlp_interop")
    batch = common.make_batch(BASE["vocab_size"])
    np.savez(root / "inputs.npz", **batch)

    ours, import_jobs, export_jobs = {}, [], []
    for name, case in CASES.items():
        cls = case["cls"]
        export_jobs.append({
            "name": name, "class": cls, "config": case["config"], "seed": case["seed"],
            "dir": str(root / "paddlenlp" / name), "legacy_load_kwargs": case["load_kwargs"].get("v2.4", {}),
            "batch1": cls == "ElectraDiscriminator",
        })
        model = _our_model(case)
        ours[name] = common.run_model(model, cls, batch)
        mine = root / "ours" / name
        model.save_pretrained(str(mine / "pdparams"))
        model.save_pretrained(str(mine / "safetensors"), safe_serialization=True)
        # a 2.4 folder read by paddle_electra and saved again
        legacy = mine / "v2.4"
        legacy.mkdir(parents=True)
        (legacy / "model_config.json").write_text(json.dumps(common.legacy_model_config(cls, case["config"])))
        paddle.save(model.state_dict(), str(legacy / "model_state.pdparams"))
        resaved = getattr(paddle_electra, cls).from_pretrained(str(legacy), **case["load_kwargs"].get("v2.4", {}))
        resaved.save_pretrained(str(mine / "from_v2.4"))
        for fmt in ("pdparams", "safetensors", "from_v2.4"):
            import_jobs.append({"name": f"{name}/{fmt}", "class": cls, "dir": str(mine / fmt),
                                "out": str(mine / f"{fmt}.npz")})
    # control: a bare-encoder folder into a head must make PaddleNLP warn (proves the capture works)
    import_jobs.append({"name": CONTROL_JOB, "class": "ElectraForSequenceClassification",
                        "dir": str(root / "ours" / "ElectraModel-E16_H32" / "pdparams"),
                        "out": str(root / "control.npz")})

    request = {"inputs": str(root / "inputs.npz"), "export": export_jobs, "import": import_jobs}
    (root / "request.json").write_text(json.dumps(request, indent=1))

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["CUDA_VISIBLE_DEVICES"] = ""
    try:
        proc = subprocess.run(
            [python, str(HELPER), str(root / "request.json"), str(root / "response.json")],
            capture_output=True, text=True, env=env, timeout=900,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the PaddleNLP helper under {python} ran past 900 s", pytrace=False)
    if proc.returncode != 0 or not (root / "response.json").exists():
        pytest.fail(
            f"the PaddleNLP helper failed (exit {proc.returncode}) under {python}; is the reference venv complete? "
            f"re-run `bash {MAKE_ENVS}`.\n--- stderr (tail) ---\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    response = json.loads((root / "response.json").read_text())
    assert response["versions"]["paddlenlp"].startswith("2.8.1"), response["versions"]
    return Interop(root, batch, response, ours)


# ----------------------------------------------------------------------------- helpers
def _load_npz(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _assert_close(ours, theirs, what, record_property=None):
    """Same output structure, same shapes, max |diff| <= TOL; returns the max |diff|."""
    assert sorted(ours) == sorted(theirs), f"{what}: output structure differs: ours {sorted(ours)} vs {sorted(theirs)}"
    worst = 0.0
    for key in sorted(ours):
        assert ours[key].shape == theirs[key].shape, f"{what}: {key}: {ours[key].shape} vs {theirs[key].shape}"
        worst = max(worst, float(np.max(np.abs(ours[key].astype("float64") - theirs[key].astype("float64")))))
    if record_property is not None:
        record_property("max_abs_diff", worst)
    print(f"{what}: max |diff| = {worst:.3g}")
    assert worst <= TOL, f"{what}: max |diff| {worst:.3g} > {TOL}"
    return worst


def _metadata(folder):
    from safetensors import safe_open

    with safe_open(os.path.join(folder, "model.safetensors"), framework="np") as f:
        return f.metadata() or {}


# ----------------------------------------------------------------------------- PaddleNLP -> ours
@pytest.mark.parametrize("fmt", ["v2.5", "v2.4", "safetensors"])
@pytest.mark.parametrize("case", list(CASES))
def test_paddlenlp_checkpoint_loads_in_paddle_electra(interop, case, fmt, record_property):
    spec = CASES[case]
    exp = interop.export(case)
    assert "error" not in exp[fmt], f"PaddleNLP could not write the {fmt} folder: {exp[fmt].get('error')}"
    folder = exp[fmt]["dir"]
    cls = getattr(paddle_electra, spec["cls"])
    model, report = cls.from_pretrained(folder, output_loading_info=True, **spec["load_kwargs"].get(fmt, {}))
    assert not report.missing and not report.unexpected and not report.mismatched, report.summary()
    assert report.converted_from is None
    if fmt != "v2.4":  # 2.4's init_class: see test_legacy_init_class_read_as_architectures
        assert model.config.architectures == [spec["cls"]]
    for key in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "layer_norm_eps"):
        assert getattr(model.config, key) == spec["config"][key], key
    ours = common.run_model(model, spec["cls"], interop.batch)
    _assert_close(ours, _load_npz(exp["outputs"]), f"PaddleNLP {fmt} -> paddle_electra {case}", record_property)


@pytest.mark.parametrize("case", list(CASES))
def test_legacy_folder_is_one_paddlenlp_reads(interop, case):
    """The 2.4-era folder we feed paddle_electra is read by PaddleNLP 2.8.1 itself, same outputs."""
    exp = interop.export(case)
    legacy = exp["v2.4"]["model_config.json"]
    assert legacy["init_class"] == CASES[case]["cls"]
    if CASES[case]["cls"] != "ElectraModel":
        assert legacy["init_args"][0]["init_class"] == "ElectraModel"
    res = exp["paddlenlp_reads_v2.4"]
    assert "error" not in res, res.get("error")
    assert res["warnings"] == [], res["warnings"]
    assert res["architectures"] == [CASES[case]["cls"]]
    assert res["max_abs_diff"] == 0.0


@pytest.mark.parametrize("case", list(CASES))
def test_legacy_init_class_read_as_architectures(interop, case):
    """2.4's ``init_class`` (outer: the class, inner: the backbone) is PaddleNLP's ``architectures``."""
    spec = CASES[case]
    exp = interop.export(case)
    config = ElectraConfig.from_pretrained(exp["v2.4"]["dir"], **spec["load_kwargs"].get("v2.4", {}))
    assert "init_class" not in config.extra
    assert config.architectures == [spec["cls"]]
    assert "init_args" not in config.extra


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_discriminator_batch_of_one(interop, variant):
    """PaddleNLP's ``squeeze()`` turns a batch of one into [L] (its bug); ours keeps [1, L]."""
    case = f"ElectraDiscriminator-{variant}"
    exp = interop.export(case)
    theirs = _load_npz(exp["outputs_batch1"])["out"]
    assert theirs.shape == (common.SEQ,)  # documents the PaddleNLP quirk
    model = paddle_electra.ElectraDiscriminator.from_pretrained(exp["v2.5"]["dir"])
    ours = common.run_model(model, "ElectraDiscriminator", interop.batch, rows=slice(0, 1))["out"]
    assert ours.shape == (1, common.SEQ)
    assert float(np.max(np.abs(ours[0] - theirs))) <= TOL


# ----------------------------------------------------------------------------- ours -> PaddleNLP
def _check_imported(interop, case, fmt, record_property):
    spec = CASES[case]
    res = interop.imported(f"{case}/{fmt}")
    assert "error" not in res, f"PaddleNLP could not load our {fmt} folder: {res['error']}\n{res.get('traceback', '')}"
    assert res["key_warnings"] == [], res["key_warnings"]
    assert res["warnings"] == [], res["warnings"]
    state = res["state"]
    assert state["only_in_model"] == [] and state["only_in_file"] == [], state
    assert state["max_abs_param_diff"] == 0.0, state
    # PaddleNLP reads back what our config.json says (a 2.4 head-less layout carries no label count,
    # so there both sides fall back to the default num_labels)
    written = json.loads((Path(res["dir"]) / "config.json").read_text())
    config = res["config"]
    for key in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "hidden_act", "max_position_embeddings", "type_vocab_size",
                "pad_token_id", "num_labels", "num_choices", "layer_norm_eps"):
        assert config[key] == written[key], (key, config[key], written[key])
        if fmt != "from_v2.4" or key not in ("num_labels", "num_choices"):
            assert written[key] == spec["config"][key], (key, written[key], spec["config"][key])
    assert res["layer_norm_eps"] == [spec["config"]["layer_norm_eps"]]
    _assert_close(interop.ours[case], _load_npz(res["outputs"]), f"paddle_electra {fmt} -> PaddleNLP {case}",
                  record_property)
    return res


@pytest.mark.parametrize("case", list(CASES))
def test_paddle_electra_pdparams_loads_in_paddlenlp(interop, case, record_property):
    res = _check_imported(interop, case, "pdparams", record_property)
    assert res["config"]["architectures"] == [CASES[case]["cls"]]


@pytest.mark.parametrize("case", list(CASES))
def test_paddle_electra_safetensors_loads_in_paddlenlp(interop, case, record_property):
    folder = interop.root / "ours" / case / "safetensors"
    res = interop.imported(f"{case}/safetensors")
    # PaddleNLP 2.8.1's load_state_dict accepts only metadata format "np" (what its own save_pretrained writes)
    assert _metadata(folder).get("format") == "np"
    assert "error" not in res, res.get("error")
    res = _check_imported(interop, case, "safetensors", record_property)
    assert res["weights_file"] == "model.safetensors"
    assert res["config"]["architectures"] == [CASES[case]["cls"]]


@pytest.mark.parametrize("case", list(CASES))
def test_legacy_folder_resaved_by_paddle_electra_loads_in_paddlenlp(interop, case, record_property):
    """2.4 model_config.json -> paddle_electra -> save_pretrained -> PaddleNLP: same class, same outputs."""
    saved = json.loads((interop.root / "ours" / case / "from_v2.4" / "config.json").read_text())
    res = _check_imported(interop, case, "from_v2.4", record_property)
    # PaddleNLP's flatten_model_config would turn a config.json "init_class" into architectures
    assert "init_class" not in saved
    assert "init_args" not in saved
    assert res["config"]["architectures"] == [CASES[case]["cls"]]


# ----------------------------------------------------------------------------- controls
def test_controls_warning_capture_sees_paddlenlp_key_warnings(interop):
    """The checks above see "no warnings" because there are none, not because capture is broken."""
    res = interop.imported(CONTROL_JOB)
    assert "error" not in res, res.get("error")
    assert res["key_warnings"], res["warnings"]
    assert any(k.startswith("classifier.") for k in res["state"]["only_in_model"]), res["state"]


def test_controls_comparison_detects_a_small_weight_change(interop):
    """Nudging one entry of one encoder LayerNorm bias by 1e-3 breaks the 1e-6 match."""
    case = "ElectraForSequenceClassification-E16_H32"
    exp = interop.export(case)
    theirs = _load_npz(exp["outputs"])
    model = paddle_electra.ElectraForSequenceClassification.from_pretrained(exp["v2.5"]["dir"])
    bias = model.electra.encoder.layers[0].norm1.bias
    nudged = bias.numpy()
    nudged[0] += 1e-3
    bias.set_value(nudged)
    ours = common.run_model(model, CASES[case]["cls"], interop.batch)
    moved = max(float(np.max(np.abs(ours[k] - theirs[k]))) for k in ours)
    print(f"one LayerNorm bias entry + 1e-3 moves the logits by {moved:.3g}")
    assert moved > 10 * TOL
    assert all(float(np.max(np.abs(v))) > 1e-2 for v in theirs.values())  # outputs are not trivially ~0
