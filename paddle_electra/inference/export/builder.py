"""``export()``: build a complete, self-describing deployment folder atomically."""

from __future__ import annotations

import logging
import os
import platform
from typing import Any, Dict, Optional, Sequence

import paddle

from ..._io import atomic_folder, remove_leftovers
from .manifest import (
    CONFIG_FILE,
    FORMAT_VERSION,
    ExportVerificationError,
    file_entries,
    input_specs,
    label_names,
    output_specs,
    read_manifest,
    write_manifest,
)
from .static import check_task, normalize_inputs, resolve_model, save_static

logger = logging.getLogger("paddle_electra.export")


def _check_target(out_dir: str, overwrite: bool) -> None:
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise ValueError(f"export target {out_dir} is a file")
        if os.listdir(out_dir) and not overwrite:
            raise ValueError(f"export target {out_dir} exists and is not empty; pass overwrite=True to replace it")


def _load_tokenizer(tokenizer, model, what: str):
    """``(tokenizer or None, note)``: the given tokenizer, or the one the model was loaded with.

    Args:
        tokenizer: ``export``'s ``tokenizer=``: an ``ElectraTokenizer``, its
            folder / name, ``False`` (export without one, on purpose) or ``None``
            (the model's :attr:`~paddle_electra.ElectraPretrainedModel.tokenizer_source`).
        model: the model as given (before any backbone was taken out of it).
        what: how the model was given, for messages.

    Raises:
        ValueError: ``tokenizer=None`` and the model has no tokenizer to carry
            (built from a config, or loaded from a folder without ``vocab.txt``),
            or its tokenizer source no longer loads. Raised before anything is
            traced, so the fix costs nothing: pass ``tokenizer=``.
    """
    from paddle_electra import ElectraTokenizer

    if tokenizer is False:
        return None, "exported without a tokenizer (tokenizer=False)"
    if tokenizer is True:
        raise ValueError("tokenizer must be an ElectraTokenizer, its folder or name, False (no tokenizer) or None "
                         "(the model's own), got True")
    if tokenizer is not None:
        if isinstance(tokenizer, (str, os.PathLike)):
            return ElectraTokenizer.from_pretrained(tokenizer), f"loaded from {os.fspath(tokenizer)}"
        return tokenizer, "given"
    fix = ("pass tokenizer= (an ElectraTokenizer, or the folder / published name holding its vocab.txt), or "
           "tokenizer=False to export the graph alone")
    source = getattr(model, "tokenizer_source", None)
    if source is None:
        why = ("it was built from a config, not loaded from a folder or name" if what == "in-memory"
               else f"{what} has no vocab.txt")
        raise ValueError(f"the model has no tokenizer to put in the export ({why}), so pipelines could not read "
                         f"it; {fix}")
    try:
        return ElectraTokenizer.from_pretrained(source), f"loaded from {source}"
    except (ValueError, OSError) as e:
        raise ValueError(f"the model's tokenizer could not be loaded from {source}: {e}; {fix}") from e


def export(
    model_or_name,
    out_dir: str,
    task: Optional[str] = None,
    inputs: Sequence[str] = ("input_ids", "token_type_ids", "attention_mask"),
    onnx: Optional[bool] = None,
    opset: int = 17,
    verify: bool = False,
    tokenizer=None,
    overwrite: bool = False,
    atol: float = 1e-4,
    optimize_onnx: Optional[bool] = None,
    quantize: Optional[str] = None,
) -> Dict[str, Any]:
    """Export a model for deployment: Paddle Inference graph (+ ONNX), config, tokenizer, manifest.

    The folder holds ``inference.json`` + ``inference.pdiparams`` (Paddle 3
    PIR program, int64 inputs with dynamic batch and sequence axes, outputs
    named after the task), ``model.onnx`` when ``onnx=True``, ``config.json``,
    the tokenizer's ``vocab.txt`` + ``tokenizer_config.json`` when one is
    available, ``model.int8.onnx`` with ``quantize="int8"``, and ``manifest.json``
    (see docs in :mod:`paddle_electra.export`).
    It is built in a temporary folder next to ``out_dir`` and swapped in whole
    at the end (:func:`~paddle_electra._io.atomic_folder`), so ``out_dir`` holds
    the previous export or the new one, never a mix, even when the process is
    killed; leftovers of a killed export are removed by the next one.

    Args:
        model_or_name: a model instance, a local model folder, or a published name.
        out_dir: the folder to create.
        task: one of :data:`TASKS`; inferred from the model's class when ``None``.
        inputs: graph inputs, starting with ``input_ids``; without
            ``attention_mask`` the graph masks ``config.pad_token_id`` itself.
        onnx: also write ``model.onnx`` (needs paddle2onnx; its own optimizer never runs).
            Default: only when ``quantize`` asks for it.
        opset: ONNX opset.
        verify: compare every backend with the dygraph model on a sample batch
            (report recorded in the manifest); fails the export when off by more than ``atol``.
            With ``quantize``, the int8 model's agreement with fp32 is reported
            too (top-1 labels, max |Δ| of probabilities): measured, not held to ``atol``.
        tokenizer: an ``ElectraTokenizer`` or its folder / name; ``False`` to
            export without one (a pipeline then needs ``tokenizer=``); default:
            the one the model was loaded with (``model.tokenizer_source``: its
            folder or published name).
        overwrite: replace an existing non-empty ``out_dir``.
        atol: tolerance for ``verify`` and for the fused ONNX graph against the unfused one.
        optimize_onnx: fuse ``model.onnx`` with ONNX Runtime's transformer
            optimizer (:mod:`paddle_electra.inference.export.optimize`: Attention,
            SkipLayerNormalization, BiasGelu, ...). The fused graph is kept only
            when it matches the unfused one within ``atol``; otherwise the
            unfused graph stays and ``manifest["onnx_optimization"]["reason"]``
            says why. Default: on whenever ONNX is written.
        quantize: ``"int8"``: also write ``model.int8.onnx``, the dynamic int8
            quantisation of ``model.onnx`` (:mod:`paddle_electra.inference.export.quantize`);
            implies ``onnx=True``. Recorded in ``manifest["quantization"]``
            with the CPU's model and ISA flags (``manifest["cpu"]``).

    Returns:
        The manifest (also written to ``out_dir/manifest.json``).

    Raises:
        ValueError: unknown task, a task that does not fit the model, bad
            ``inputs``, an unknown ``quantize``, ``quantize`` with ``onnx=False``,
            ``optimize_onnx=True`` without ONNX, no tokenizer (none given and the model has none to
            carry: pass ``tokenizer=``), a non-empty ``out_dir`` without ``overwrite``, or an
            ``out_dir`` that is the working directory or a folder above it.
        ExportVerificationError: ``verify=True`` and a backend differs (nothing is written).
    """
    import paddle_electra as pe

    check_task(task)
    inputs = normalize_inputs(inputs)
    onnx, optimize, quantize = _onnx_options(onnx, optimize_onnx, quantize)
    out_dir = os.path.abspath(os.fspath(out_dir))
    remove_leftovers(os.path.dirname(out_dir), os.path.basename(out_dir))  # may restore an interrupted swap
    _check_target(out_dir, overwrite)
    model, task, source = resolve_model(model_or_name, task)
    # an in-memory head exported as its backbone (feature-extraction) keeps the head's tokenizer
    given = model_or_name if isinstance(model_or_name, paddle.nn.Layer) else model
    tok, tok_note = _load_tokenizer(tokenizer, given, source)
    config = model.config
    if tok is not None and len(tok) > config.vocab_size:  # len(tok) counts added tokens too
        raise ValueError(f"the tokenizer has {len(tok)} tokens but the model's vocab_size is "
                         f"{config.vocab_size}; they do not belong together")

    with atomic_folder(out_dir, carry_over=False) as tmp:
        output_names = save_static(model, task, inputs, tmp)
        p2o_version = optimization = quantization = None
        if onnx:
            from .onnx import paddle2onnx_version, save_onnx

            save_onnx(tmp, opset, output_names, inputs)
            p2o_version = paddle2onnx_version()
            optimization = _optimize(tmp, optimize, config, inputs, tok, atol)
            if quantize == "int8":
                from .quantize import quantize_int8

                quantization = quantize_int8(tmp)
        config.copy(architectures=[type(model).__name__]).save_pretrained(tmp)
        tokenizer_files = list(tok.save_pretrained(tmp)) if tok is not None else []
        manifest = {
            "format_version": FORMAT_VERSION,
            "task": task,
            "model_class": type(model).__name__,
            "source": source,
            "inputs": input_specs(inputs),
            "outputs": output_specs(task, config),
            "labels": label_names(task, config),
            "pad_token_id": int(config.pad_token_id),
            "special_token_ids": sorted(int(i) for i in tok.all_special_ids) if tok is not None else None,
            "max_sequence_length": int(config.max_position_embeddings),
            "tokenizer": {"files": [os.path.basename(f) for f in tokenizer_files], "note": tok_note}
            if tok is not None else None,
            "tokenizer_missing": None if tok is not None else tok_note,
            "onnx": {"file": "model.onnx", "opset": opset} if onnx else None,
            "onnx_optimization": optimization,
            "quantization": quantization,
            "cpu": _cpu() if quantization else None,
            "versions": {"paddle_electra": pe.__version__, "paddle": paddle.__version__,
                         "paddle2onnx": p2o_version, "python": platform.python_version()},
            "config_file": CONFIG_FILE,
            "files": file_entries(tmp),
        }
        write_manifest(tmp, manifest)
        if verify:
            from .verification import verify as run_verify

            try:
                run_verify(tmp, model=model, atol=atol)
            except ExportVerificationError as e:
                raise ExportVerificationError(str(e).replace(tmp, out_dir)) from None
            manifest = read_manifest(tmp)
        _check_target(out_dir, overwrite)  # someone may have filled it meanwhile
    logger.info("exported %s (%s) to %s", type(model).__name__, task, out_dir)
    return manifest


def _onnx_options(onnx, optimize_onnx, quantize):
    """``(onnx, optimize, quantize)`` resolved from ``export``'s arguments, checked before any work.

    Raises:
        ValueError: unknown ``quantize``; ``quantize`` with ``onnx=False``;
            ``optimize_onnx=True`` with ``onnx=False``.
    """
    from .quantize import check_quantize

    quantize = check_quantize(quantize)
    if quantize and onnx is False:
        raise ValueError(f"quantize={quantize!r} quantises the ONNX model, so it needs onnx=True (or leave onnx "
                         "unset: quantize implies it)")
    onnx = bool(onnx) or quantize is not None
    if optimize_onnx and not onnx:
        raise ValueError("optimize_onnx=True fuses the ONNX graph: it needs onnx=True (or quantize='int8')")
    return onnx, (onnx if optimize_onnx is None else bool(optimize_onnx)), quantize


def _optimize(folder: str, optimize: bool, config, inputs, tok, atol: float) -> Dict[str, Any]:
    """Run :func:`~paddle_electra.inference.export.optimize.optimize_onnx` (or record that it was turned off)."""
    from .optimize import optimize_onnx, skipped

    if not optimize:
        return skipped("turned off (optimize_onnx=False / --no-optimize-onnx)")
    special = sorted(int(i) for i in tok.all_special_ids) if tok is not None else ()
    return optimize_onnx(folder, config, inputs, special, atol=atol)


def _cpu() -> Dict[str, Any]:
    from .cpu_info import cpu_info

    return cpu_info()
