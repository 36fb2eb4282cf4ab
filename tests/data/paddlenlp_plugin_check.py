#!/usr/bin/env python
"""The PaddleNLP 2.8.1 side of tests/loading/test_paddlenlp_plugin.py (run with the PaddleNLP venv's python).

    .venv-paddlenlp/bin/python tests/data/paddlenlp_plugin_check.py REQUEST.json RESPONSE.json
    .venv-paddlenlp/bin/python tests/data/paddlenlp_plugin_check.py glue {plugin|swapped} REQUEST.json RESPONSE.json

REQUEST.json: ``table`` (a folder of name-table entries the registry is pointed at, as
tests/loading/test_hub.py does), ``inputs`` (the fixed batch, .npz), ``served`` (names with their
class and sample texts), ``known`` (names PaddleNLP publishes itself), ``cache_dir``
(a folder for the ``cache_dir=`` check) and ``glue`` (the fine-tuning script and its
arguments). Every check is recorded in RESPONSE.json (errors per job, never raised);
the exit status is non-zero only when the helper itself cannot run.
"""

import contextlib
import io
import json
import logging
import os
import runpy
import sys
import threading
import traceback
import warnings

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
warnings.filterwarnings("ignore", category=DeprecationWarning)

import numpy as np  # noqa: E402
import paddle  # noqa: E402

paddle.set_device("cpu")

import paddlenlp  # noqa: E402
import paddlenlp.transformers as pnlp  # noqa: E402
from paddlenlp.transformers.auto import tokenizer as pnlp_auto_tokenizer  # noqa: E402
from paddlenlp.transformers.electra import modeling as pnlp_electra  # noqa: E402

import paddle_electra as pe  # noqa: E402
from paddle_electra.loading import paddlenlp_plugin as plugin  # noqa: E402
from paddle_electra.loading import registry  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "paddlenlp_helpers"))
import interop_common as common  # noqa: E402

KEY_WARNING_MARKERS = ("not initialized", "not used", "newly initialized", "did not match")


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def paddlenlp_warnings():
    capture = _Capture()
    logger = logging.getLogger("PaddleNLP")
    logger.addHandler(capture)
    try:
        yield capture.messages
    finally:
        logger.removeHandler(capture)


def run_job(response, key, fn):
    try:
        response[key] = fn()
    except Exception as exc:  # recorded per job: one failure must not hide the others
        response[key] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def outputs(model, class_name, batch):
    return common.run_model(model, class_name, batch)


def max_diff(a, b):
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
    return max(float(np.max(np.abs(a[k].astype("float64") - b[k].astype("float64")))) for k in a)


def check_served(spec, batch, out_dir):
    """PaddleNLP's classes on a served name vs paddle_electra's on the same name."""
    name, arch = spec["name"], spec["class"]
    res = {}
    ours = getattr(pe, arch).from_pretrained(name)
    with paddlenlp_warnings() as warned:
        theirs = getattr(pnlp, arch).from_pretrained(name)
    mine = outputs(ours, arch, batch)
    res["own_class"] = {"type": type(theirs).__module__ + "." + type(theirs).__name__,
                        "key_warnings": [m for m in warned if any(k in m for k in KEY_WARNING_MARKERS)],
                        "max_abs_diff": max_diff(outputs(theirs, arch, batch), mine),
                        "max_abs_output": max(float(np.max(np.abs(v))) for v in mine.values())}
    np.savez(os.path.join(out_dir, "own_class.npz"), **outputs(theirs, arch, batch))
    our_encoder = pe.ElectraModel.from_pretrained(name)
    encoder_out = outputs(our_encoder, "ElectraModel", batch)
    for label, load in (("ElectraModel", lambda: pnlp.ElectraModel.from_pretrained(name)),
                        ("AutoModel", lambda: pnlp.AutoModel.from_pretrained(name))):
        model = load()
        res[label] = {"type": type(model).__name__,
                      "max_abs_diff": max_diff(outputs(model, "ElectraModel", batch), encoder_out),
                      "max_abs_output": max(float(np.max(np.abs(v))) for v in encoder_out.values())}
    for label, load in (
        ("ElectraForSequenceClassification",
         lambda: pnlp.ElectraForSequenceClassification.from_pretrained(name, num_classes=3)),
        ("AutoModelForSequenceClassification",
         lambda: pnlp.AutoModelForSequenceClassification.from_pretrained(name, num_classes=3)),
    ):
        model = load()
        model.eval()
        logits = model(paddle.to_tensor(batch["ids"]), paddle.to_tensor(batch["types"]),
                       attention_mask=paddle.to_tensor(batch["mask"]))
        backbone = outputs(model.electra, "ElectraModel", batch)
        res[label] = {"type": type(model).__name__, "logits_shape": list(logits.shape),
                      "backbone_max_abs_diff": max_diff(backbone, encoder_out),
                      "backbone_max_abs_output": max(float(np.max(np.abs(v))) for v in encoder_out.values())}
    our_tok = pe.ElectraTokenizer.from_pretrained(name)
    for label, load in (("ElectraTokenizer", lambda: pnlp.ElectraTokenizer.from_pretrained(name)),
                        ("AutoTokenizer", lambda: pnlp.AutoTokenizer.from_pretrained(name))):
        tok = load()
        res[label] = {"type": type(tok).__name__,
                      "ids": [tok(t)["input_ids"] for t in spec["texts"]],
                      "ours": [our_tok(t)["input_ids"] for t in spec["texts"]]}
    our_cfg = pe.ElectraConfig.from_pretrained(name)
    for label, load in (("ElectraConfig", lambda: pnlp.ElectraConfig.from_pretrained(name)),
                        ("AutoConfig", lambda: pnlp.AutoConfig.from_pretrained(name))):
        cfg = load()
        fields = ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                  "intermediate_size", "max_position_embeddings")
        res[label] = {"type": type(cfg).__name__, "same": all(getattr(cfg, f) == getattr(our_cfg, f) for f in fields),
                      "hidden_size": cfg.hidden_size}
    return res


def check_known(name, what):
    """A name PaddleNLP publishes: its own route (here: its download, which the blocked proxy fails)."""
    res = {}
    loaders = {"model": lambda: pnlp.ElectraModel.from_pretrained(name),
               "tokenizer": lambda: pnlp.ElectraTokenizer.from_pretrained(name),
               "config": lambda: pnlp.ElectraConfig.from_pretrained(name)}
    for kind in what:
        try:
            obj = loaders[kind]()
            res[kind] = {"loaded": type(obj).__name__,
                         "hidden_size": getattr(obj, "hidden_size", None) if kind == "config" else None}
        except Exception as exc:
            res[kind] = {"raised": type(exc).__module__ + "." + type(exc).__name__, "message": str(exc)[:300]}
    return res


def _patched_attributes():
    """What the plugin patches, as the classes' own __dict__ holds it now."""
    from paddlenlp.transformers.auto import configuration as auto_config, modeling as auto_modeling
    from paddlenlp.transformers.electra import configuration as electra_config, tokenizer as electra_tokenizer

    return {
        "ElectraPretrainedModel.from_pretrained": pnlp_electra.ElectraPretrainedModel.__dict__.get("from_pretrained"),
        "ElectraConfig.from_pretrained": electra_config.ElectraConfig.__dict__.get("from_pretrained"),
        "ElectraTokenizer.from_pretrained": electra_tokenizer.ElectraTokenizer.__dict__.get("from_pretrained"),
        "_BaseAutoModelClass._from_pretrained": auto_modeling._BaseAutoModelClass.__dict__.get("_from_pretrained"),
        "AutoTokenizer.from_pretrained": pnlp_auto_tokenizer.AutoTokenizer.__dict__.get("from_pretrained"),
        "AutoConfig.from_pretrained": auto_config.AutoConfig.__dict__.get("from_pretrained"),
    }


ORIGINALS = _patched_attributes()  # before any register()


def check_registration(hub_name):
    res = {}
    registered = _patched_attributes()
    plugin.register()  # a second call changes nothing
    res["idempotent"] = _patched_attributes() == registered
    res["all_patched"] = all(registered[k] is not ORIGINALS[k] for k in ORIGINALS)
    plugin.unregister()
    res["after_unregister"] = {
        "registered": plugin.is_registered(),
        "restored": [k for k, v in _patched_attributes().items() if v is ORIGINALS[k]],
    }
    try:
        pnlp.ElectraGenerator.from_pretrained(hub_name)
        res["after_unregister"]["load"] = "loaded"
    except Exception as exc:
        res["after_unregister"]["load"] = type(exc).__name__
    plugin.register()
    res["re_registered"] = plugin.is_registered()
    return res


def check_hub_in_venv(name, batch, work):
    model = pnlp.ElectraDiscriminator.from_pretrained(name)
    path = os.path.join(work, "hub_in_venv.npz")
    np.savez(path, **outputs(model, "ElectraDiscriminator", batch))
    return {"type": type(model).__name__, "outputs": path}


def check_cache_dir(name, cache_dir):
    model = pnlp.ElectraDiscriminator.from_pretrained(name, cache_dir=cache_dir)
    files = sorted(os.path.relpath(os.path.join(d, f), cache_dir) for d, _, fs in os.walk(cache_dir) for f in fs)
    return {"type": type(model).__name__, "files": files}


def check_force_download(name):
    try:
        pnlp.ElectraDiscriminator.from_pretrained(name, force_download=True)
        return {"loaded": True}
    except ValueError as exc:
        return {"raised": "ValueError", "message": str(exc)}


def run_glue(glue, swapped, out_dir):
    """The fine-tuning script, as written (PaddleNLP classes) or with its model import line swapped."""
    script = glue["script"]
    if swapped:
        with open(script, encoding="utf-8") as f:
            text = f.read()
        line = next(ln for ln in text.splitlines() if ln.rstrip().endswith("# MODEL-IMPORT"))
        text = text.replace(line, "from paddle_electra import ElectraForSequenceClassification, ElectraTokenizer")
        script = os.path.join(out_dir, "run_glue_swapped.py")
        with open(script, "w", encoding="utf-8") as f:
            f.write(text)
    saved_argv = sys.argv
    sys.argv = [script, "--output_dir", out_dir] + glue["args"]
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            runpy.run_path(script, run_name="__main__")
    finally:
        sys.argv = saved_argv
    lines = [ln for ln in buf.getvalue().splitlines() if ln.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):])


def cross_load(folder, batch, loader_name):
    """A folder the script saved, loaded by the other library: same logits as by the library that wrote it."""
    pn = pnlp.ElectraForSequenceClassification.from_pretrained(folder)
    ours = pe.ElectraForSequenceClassification.from_pretrained(folder)
    a = outputs(pn, "ElectraForSequenceClassification", batch)
    b = outputs(ours, "ElectraForSequenceClassification", batch)
    return {"max_abs_diff": max_diff(a, b), "num_labels": [pn.config.num_labels, ours.config.num_labels],
            "variant": loader_name}


def main(request_path, response_path):
    with open(request_path, encoding="utf-8") as f:
        req = json.load(f)
    response = {"versions": {"paddlenlp": paddlenlp.__version__, "paddle": paddle.__version__}}
    run_job(response, "served_names_real", lambda: {k: plugin.served_names(k) for k in plugin.KINDS})
    registry._CANDIDATE_DIRS = (req["table"],)  # the test's tiny name table (see tests/loading/test_hub.py)
    registry._table.cache_clear()
    with np.load(req["inputs"]) as data:
        batch = {k: data[k] for k in data.files}
    plugin.register()
    run_job(response, "served_names", lambda: {k: plugin.served_names(k) for k in plugin.KINDS})
    for spec in req["served"]:
        out_dir = os.path.join(req["work"], "served", spec["name"].replace("/", "--"))
        os.makedirs(out_dir, exist_ok=True)
        run_job(response, "served:" + spec["name"], lambda: check_served(spec, batch, out_dir))
    for name, what in req["known"].items():
        run_job(response, "known:" + name, lambda: check_known(name, what))
    run_job(response, "cache_dir", lambda: check_cache_dir(req["cache_dir_name"], req["cache_dir"]))
    run_job(response, "force_download", lambda: check_force_download(req["cache_dir_name"]))
    run_job(response, "registration", lambda: check_registration(req["served"][0]["name"]))
    run_job(response, "hub_in_venv", lambda: check_hub_in_venv(req["hub_in_venv"], batch, req["work"]))
    with open(response_path, "w", encoding="utf-8") as f:
        json.dump(response, f, indent=1)


def main_glue(variant, request_path, response_path):
    """One run of the fine-tuning script, then its saved folder read by both libraries.

    A process of its own: when the collator fails, Paddle's DataLoader thread dies and the
    training loop would wait for a batch forever; the thread's exception is recorded and
    the process ends (the test also bounds it by a timeout).
    """
    with open(request_path, encoding="utf-8") as f:
        req = json.load(f)
    with np.load(req["inputs"]) as data:
        batch = {k: data[k] for k in data.files}
    response = {}

    def thread_failed(args):  # Paddle's DataLoader thread died: the loop would wait forever, so end here
        response["glue:" + variant] = {"error": f"a DataLoader thread failed: {args.exc_type.__name__}: "
                                                f"{args.exc_value}",
                                       "traceback": "".join(traceback.format_exception(
                                           args.exc_type, args.exc_value, args.exc_traceback))}
        with open(response_path, "w", encoding="utf-8") as f:
            json.dump(response, f, indent=1)
        os._exit(0)

    threading.excepthook = thread_failed
    if variant == "plugin":
        plugin.register()
    folder = os.path.join(req["work"], "glue", variant)
    os.makedirs(folder, exist_ok=True)
    run_job(response, "glue:" + variant, lambda: run_glue(req["glue"], variant == "swapped", folder))
    plugin.unregister()
    run_job(response, "glue_cross_load:" + variant, lambda: cross_load(folder, batch, variant))
    with open(response_path, "w", encoding="utf-8") as f:
        json.dump(response, f, indent=1)


if __name__ == "__main__":
    if sys.argv[1] == "glue":
        main_glue(*sys.argv[2:5])
    else:
        main(sys.argv[1], sys.argv[2])
