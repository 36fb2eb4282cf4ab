"""Compare an export's backends with the dygraph model on one sample batch."""

from __future__ import annotations

import os
from typing import Any, Dict

import numpy as np

from .manifest import INT8_FILE, ONNX_FILE, TASKS, ExportVerificationError, read_manifest, write_manifest


def sample_batch(config, input_names, special_ids=(), batch: int = 3, seq: int = 16, seed: int = 0):
    """A deterministic padded batch: ids drawn from the vocabulary avoiding special ids.

    Row 0 is full, row 1 is padded from ``seq // 2`` + 2, row 2 from ``seq // 4``
    (pad id, mask 0); token types are 1 on the second half where the model has
    two segments.

    Returns:
        ``{name: int64 [batch, seq]}`` for every name in ``input_names``.
    """
    avoid = set(int(i) for i in special_ids) | {int(config.pad_token_id)}
    pool = np.array([i for i in range(config.vocab_size) if i not in avoid], dtype=np.int64)
    rng = np.random.RandomState(seed)
    ids = pool[rng.randint(0, len(pool), (batch, seq))]
    mask = np.ones((batch, seq), np.int64)
    for row, start in ((1, seq // 2 + 2), (2, seq // 4)):
        if row < batch:
            ids[row, start:] = config.pad_token_id
            mask[row, start:] = 0
    types = np.zeros((batch, seq), np.int64)
    if config.type_vocab_size > 1:
        types[:, seq // 2:] = 1
    types *= mask
    full = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
    return {n: full[n] for n in input_names}


def dygraph_outputs(model, feed: Dict[str, np.ndarray], output_names) -> Dict[str, np.ndarray]:
    """Run the dygraph model (eval mode, no grad) on a feed; ``{output name: array}``."""
    import paddle

    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            out = model(**{k: paddle.to_tensor(v) for k, v in feed.items()})
    finally:
        if was_training:
            model.train()
    out = out if isinstance(out, (tuple, list)) else (out,)
    if len(out) != len(output_names):
        raise ExportVerificationError(f"the model returned {len(out)} outputs, the export has {list(output_names)}")
    return {n: t.numpy() for n, t in zip(output_names, out)}


def _load_reference_model(export_dir: str, manifest: Dict[str, Any]):
    import paddle_electra as pe

    source = manifest.get("source")
    if source in (None, "in-memory"):
        raise ValueError(f"{export_dir} was exported from an in-memory model; pass it as verify(..., model=model)")
    cls = getattr(pe, TASKS[manifest["task"]])
    return cls.from_pretrained(source)


def verify(export_dir: str, model=None, atol: float = 1e-4, record: bool = True) -> Dict[str, Any]:
    """Run dygraph, Paddle Inference and (if present) ONNX Runtime on one batch and compare.

    Args:
        export_dir: an export folder.
        model: the dygraph model it was exported from; default: reloaded from
            the manifest's source (a folder or published name).
        atol: largest allowed max |Δ| of any output against dygraph.
        record: write the report into ``manifest.json`` (under
            ``"verification"``), also when verification fails.

    A quantised export (``model.int8.onnx``) is compared with the dygraph
    fp32 model on a larger sample instead (:func:`int8_report`): top-1 label
    agreement and max |Δ| of probabilities, reported under ``"int8"``; only
    non-finite or misshapen int8 outputs fail it (int8 is not held to ``atol``).

    Returns:
        The report: ``{"atol", "batch_shape", "passed", "max_abs_diff":
        {backend: {output: float}}, "int8": {...} or None}``.

    Raises:
        ExportVerificationError: an output of a backend differs by more than
            ``atol`` (names the output and the backend), or the int8 model's
            outputs are not finite.
        ExportError: the folder does not match its manifest.
    """
    from .predictor import ElectraPredictor, OnnxPredictor

    export_dir = os.fspath(export_dir)
    manifest = read_manifest(export_dir)
    if model is None:
        model = _load_reference_model(export_dir, manifest)
    output_names = [o["name"] for o in manifest["outputs"]]
    input_names = [i["name"] for i in manifest["inputs"]]
    feed = sample_batch(model.config, input_names, manifest.get("special_token_ids") or ())
    want = dygraph_outputs(model, feed, output_names)
    backends = {"paddle_inference": lambda: ElectraPredictor(export_dir)}
    if ONNX_FILE in manifest.get("files", {}):
        backends["onnxruntime"] = lambda: OnnxPredictor(export_dir)
    diffs: Dict[str, Dict[str, float]] = {}
    failures = []
    for backend, make in backends.items():
        got = make()(**feed)
        diffs[backend] = {}
        for name in output_names:
            if got[name].shape != want[name].shape:
                failures.append(f"output {name!r} of {backend} has shape {list(got[name].shape)}, dygraph "
                                f"{list(want[name].shape)}")
                diffs[backend][name] = float("inf")
                continue
            d = float(np.max(np.abs(got[name].astype(np.float64) - want[name].astype(np.float64))))
            d = d if np.isfinite(d) else float("inf")
            diffs[backend][name] = d
            if not d <= atol:
                failures.append(f"output {name!r} of {backend}: max |Δ| = {d:.3g} > atol {atol:g}")
    int8 = None
    if INT8_FILE in manifest.get("files", {}):
        int8 = int8_report(export_dir, model, manifest, input_names, output_names)
        failures.extend(int8.pop("failures"))
    report = {"atol": atol, "batch_shape": list(feed["input_ids"].shape), "passed": not failures,
              "max_abs_diff": diffs, "int8": int8}
    if record:
        write_manifest(export_dir, dict(manifest, verification=report))
    if failures:
        raise ExportVerificationError(f"{export_dir}: " + "; ".join(failures))
    return report


#: the int8 comparison's sample: more rows than the fp32 one, so label agreement means something
INT8_SAMPLE = {"batch": 16, "seq": 32, "seed": 1}


def int8_report(export_dir: str, model, manifest: Dict[str, Any], input_names, output_names) -> Dict[str, Any]:
    """Run ``model.int8.onnx`` and the dygraph fp32 model on one sample; their agreement.

    Returns:
        ``{"file", "reference", "batch_shape", "top1_agreement", "max_abs_prob_diff",
        "max_abs_diff", "compared", "failures"}`` (see
        :func:`paddle_electra.inference.export.quantize.agreement`); ``failures`` lists
        non-finite or misshapen outputs (the caller moves them to the report's failures).
    """
    from .predictor import OnnxPredictor
    from .quantize import agreement

    seq = min(INT8_SAMPLE["seq"], int(model.config.max_position_embeddings))
    feed = sample_batch(model.config, input_names, manifest.get("special_token_ids") or (),
                        batch=INT8_SAMPLE["batch"], seq=seq, seed=INT8_SAMPLE["seed"])
    want = dygraph_outputs(model, feed, output_names)
    got = OnnxPredictor(export_dir, precision="int8")(**feed)
    failures = []
    for n in output_names:
        if got[n].shape != want[n].shape:
            failures.append(f"output {n!r} of onnxruntime-int8 has shape {list(got[n].shape)}, dygraph "
                            f"{list(want[n].shape)}")
        elif not np.all(np.isfinite(got[n])):
            failures.append(f"output {n!r} of onnxruntime-int8 is not finite")
    if failures:
        return {"file": INT8_FILE, "reference": "dygraph fp32", "batch_shape": list(feed["input_ids"].shape),
                "failures": failures}
    mask = feed.get("attention_mask")
    if mask is None:
        mask = (feed["input_ids"] != model.config.pad_token_id).astype(np.int64)
    return {"file": INT8_FILE, "reference": "dygraph fp32", "batch_shape": list(feed["input_ids"].shape),
            **agreement(manifest["task"], want, got, mask), "failures": []}
