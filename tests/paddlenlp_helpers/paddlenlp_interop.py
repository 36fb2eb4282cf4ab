#!/usr/bin/env python
"""The PaddleNLP 2.8.1 side of tests/loading/test_paddlenlp_interop.py (run with the PaddleNLP venv's python).

    .venv-paddlenlp/bin/python tests/paddlenlp_helpers/paddlenlp_interop.py REQUEST.json RESPONSE.json

One launch serves both directions (importing paddlenlp costs 10+ s). REQUEST.json holds

* ``export``: jobs ``{name, class, config, seed, dir, legacy_load_kwargs, batch1}``. Each builds the
  PaddleNLP model (``paddle.seed(seed)``, parameters perturbed), runs the fixed batch and writes
  ``dir/v2.5`` (``save_pretrained``: config.json + model_state.pdparams), ``dir/safetensors``
  (``save_pretrained(safe_serialization=True)``), ``dir/v2.4`` (2.4-era model_config.json + the
  same model_state.pdparams) and ``dir/outputs.npz``; PaddleNLP itself then reloads ``dir/v2.4``
  (proving the legacy folder is one PaddleNLP reads) and its outputs go to ``dir/outputs_v2.4.npz``.
* ``import``: jobs ``{name, class, dir, out}``: PaddleNLP ``from_pretrained(dir)`` on a folder written
  by paddle_electra, with PaddleNLP's log warnings captured; every loaded parameter is compared
  with the weights file; outputs go to ``out``.

RESPONSE.json maps each job name to what happened (errors are recorded per job, not raised).
Exit status is non-zero only when the helper itself cannot run (e.g. paddlenlp is missing).
"""

import json
import logging
import os
import shutil
import sys
import traceback
import warnings

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", category=DeprecationWarning)

import numpy as np  # noqa: E402
import paddle  # noqa: E402

paddle.set_device("cpu")

import paddlenlp  # noqa: E402
from paddlenlp.transformers.electra import modeling as pnlp  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_common as common  # noqa: E402

KEY_WARNING_MARKERS = ("not initialized", "not used", "newly initialized", "did not match", "missing", "unexpected")


class _Capture(logging.Handler):
    """Collects PaddleNLP log records of WARNING and above."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(f"{record.levelname}: {record.getMessage()}")


def load_with_paddlenlp(cls, folder, **kwargs):
    """``cls.from_pretrained(folder)`` with PaddleNLP's logger warnings and Python warnings captured."""
    capture = _Capture()
    pnlp_logger = logging.getLogger("PaddleNLP")
    pnlp_logger.addHandler(capture)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = cls.from_pretrained(folder, **kwargs)
    finally:
        pnlp_logger.removeHandler(capture)
    messages = capture.messages + [f"{w.category.__name__}: {w.message}" for w in caught]
    model.eval()
    return model, messages


def read_weights(folder):
    """The weights file of ``folder`` as numpy arrays (independently of PaddleNLP's loader)."""
    st = os.path.join(folder, "model.safetensors")
    if os.path.exists(st):
        from safetensors.numpy import load_file

        return "model.safetensors", load_file(st)
    pd = os.path.join(folder, "model_state.pdparams")
    return "model_state.pdparams", {k: np.asarray(v) for k, v in paddle.load(pd, return_numpy=True).items()}


def compare_state(model, weights):
    """Keys only on one side, and the largest |loaded - file| over the shared keys."""
    own = {k: v.numpy() for k, v in model.state_dict().items()}
    shared = sorted(set(own) & set(weights))
    diff = max((float(np.max(np.abs(own[k] - weights[k]))) if own[k].shape == weights[k].shape else float("inf"))
               for k in shared) if shared else float("inf")
    return {
        "only_in_model": sorted(set(own) - set(weights)),
        "only_in_file": sorted(set(weights) - set(own)),
        "max_abs_param_diff": diff,
    }


def max_diff(a, b):
    if set(a) != set(b):
        return float("inf")
    return max(float(np.max(np.abs(a[k] - b[k]))) if a[k].shape == b[k].shape else float("inf") for k in a)


def export_job(job, batch):
    cls = getattr(pnlp, job["class"])
    root = job["dir"]
    os.makedirs(root, exist_ok=True)
    paddle.seed(job["seed"])
    model = cls(pnlp.ElectraConfig(**job["config"]))
    common.perturb_parameters(model, job["seed"])
    model.eval()
    outputs = common.run_model(model, job["class"], batch)
    np.savez(os.path.join(root, "outputs.npz"), **outputs)
    result = {"outputs": os.path.join(root, "outputs.npz"), "shapes": {k: list(v.shape) for k, v in outputs.items()}}
    if job.get("batch1"):
        b1 = common.run_model(model, job["class"], batch, rows=slice(0, 1))
        np.savez(os.path.join(root, "outputs_batch1.npz"), **b1)
        result["outputs_batch1"] = os.path.join(root, "outputs_batch1.npz")
        result["shapes_batch1"] = {k: list(v.shape) for k, v in b1.items()}

    v25 = os.path.join(root, "v2.5")
    model.save_pretrained(v25)
    result["v2.5"] = {"dir": v25, "files": sorted(os.listdir(v25))}
    st = os.path.join(root, "safetensors")
    try:
        model.save_pretrained(st, safe_serialization=True)
        result["safetensors"] = {"dir": st, "files": sorted(os.listdir(st))}
    except Exception as exc:  # recorded; the test reports it
        result["safetensors"] = {"error": f"{type(exc).__name__}: {exc}"}

    legacy_cfg = common.legacy_model_config(job["class"], job["config"])
    v24 = os.path.join(root, "v2.4")
    os.makedirs(v24, exist_ok=True)
    with open(os.path.join(v24, "model_config.json"), "w", encoding="utf-8") as fh:
        json.dump(legacy_cfg, fh, ensure_ascii=False)  # 2.4 wrote one line, no indentation
    shutil.copy(os.path.join(v25, "model_state.pdparams"), os.path.join(v24, "model_state.pdparams"))
    result["v2.4"] = {"dir": v24, "files": sorted(os.listdir(v24)), "model_config.json": legacy_cfg}
    try:
        reloaded, messages = load_with_paddlenlp(cls, v24, **job.get("legacy_load_kwargs", {}))
        again = common.run_model(reloaded, job["class"], batch)
        np.savez(os.path.join(root, "outputs_v2.4.npz"), **again)
        result["paddlenlp_reads_v2.4"] = {
            "warnings": messages,
            "max_abs_diff": max_diff(outputs, again),
            "architectures": reloaded.config.architectures,
        }
    except Exception as exc:
        result["paddlenlp_reads_v2.4"] = {"error": f"{type(exc).__name__}: {exc}"}
    return result


def import_job(job, batch):
    cls = getattr(pnlp, job["class"])
    model, messages = load_with_paddlenlp(cls, job["dir"])
    weights_file, weights = read_weights(job["dir"])
    outputs = common.run_model(model, job["class"], batch)
    np.savez(job["out"], **outputs)
    config = model.config
    return {
        "dir": job["dir"],
        "warnings": messages,
        "key_warnings": [m for m in messages if any(s in m.lower() for s in KEY_WARNING_MARKERS)],
        "weights_file": weights_file,
        "state": compare_state(model, weights),
        "outputs": job["out"],
        "config": {
            "architectures": config.architectures,
            **{k: getattr(config, k, None) for k in (
                "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "hidden_act", "max_position_embeddings", "type_vocab_size",
                "layer_norm_eps", "pad_token_id", "num_labels", "num_choices")},
        },
        "layer_norm_eps": sorted({float(l._epsilon) for l in model.sublayers() if isinstance(l, paddle.nn.LayerNorm)}),
    }


def main(request_path, response_path):
    with open(request_path, encoding="utf-8") as fh:
        request = json.load(fh)
    batch = dict(np.load(request["inputs"]))
    response = {
        "versions": {"paddle": paddle.__version__, "paddlenlp": paddlenlp.__version__,
                     "python": sys.version.split()[0]},
        "export": {},
        "import": {},
    }
    for kind, fn in (("export", export_job), ("import", import_job)):
        for job in request.get(kind, []):
            try:
                response[kind][job["name"]] = fn(job, batch)
            except Exception as exc:
                response[kind][job["name"]] = {
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc()[-3000:],
                }
    with open(response_path, "w", encoding="utf-8") as fh:
        json.dump(response, fh, indent=1, default=str)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
