"""Task table, the export folder's ``manifest.json``, and checking a folder against it."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, List, Optional

from ..._io import read_json

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
GRAPH_FILE = "inference.json"
PARAMS_FILE = "inference.pdiparams"
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"  # quantize="int8": dynamic int8 quantisation of model.onnx
CONFIG_FILE = "config.json"

#: task name -> model class name (in ``paddle_electra``)
TASKS: Dict[str, str] = {
    "fill-mask": "ElectraGenerator",
    "replaced-token-detection": "ElectraDiscriminator",
    "text-classification": "ElectraForSequenceClassification",
    "token-classification": "ElectraForTokenClassification",
    "question-answering": "ElectraForQuestionAnswering",
    "feature-extraction": "ElectraModel",
}

def task_for_class(cls) -> str:
    """The export task of a model class (its own name, else the nearest base class in :data:`TASKS`).

    Lets ``paddle-electra export`` / ``serve`` take the task from the model's
    class (its config's ``architectures``) when ``--task`` is omitted.

    Raises:
        ValueError: the class serves no task; the message lists the tasks.
    """
    for klass in getattr(cls, "__mro__", (cls,)):
        for task, name in TASKS.items():
            if klass.__name__ == name:
                return task
    raise ValueError(f"{getattr(cls, '__name__', cls)} has no export task; pass the task (one of "
                     f"{', '.join(TASKS)})")


#: task name -> names of the graph outputs, in the order the model returns them
TASK_OUTPUTS: Dict[str, List[str]] = {
    "fill-mask": ["logits"],
    "replaced-token-detection": ["logits"],
    "text-classification": ["logits"],
    "token-classification": ["logits"],
    "question-answering": ["start_logits", "end_logits"],
    "feature-extraction": ["last_hidden_state"],
}

#: every input an export may take, in graph order; ``input_ids`` is always first
ALL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


class ExportError(ValueError):
    """An export folder is missing a file, was altered, or has a manifest this version cannot read."""


class ExportVerificationError(ValueError):
    """An exported backend's output differs from the dygraph model by more than the tolerance."""


def output_shapes(task: str, config) -> List[List[int]]:
    """Shapes of the task's outputs (``-1`` = dynamic batch / sequence axis).

    Args:
        task: a key of :data:`TASKS`.
        config: the model's :class:`~paddle_electra.ElectraConfig`.

    Returns:
        One shape per name in ``TASK_OUTPUTS[task]``.
    """
    return {
        "fill-mask": [[-1, -1, config.vocab_size]],
        "replaced-token-detection": [[-1, -1]],
        "text-classification": [[-1, config.num_labels]],
        "token-classification": [[-1, -1, config.num_labels]],
        "question-answering": [[-1, -1], [-1, -1]],
        "feature-extraction": [[-1, -1, config.hidden_size]],
    }[task]


def sha256_file(path: str) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entries(folder: str) -> Dict[str, Dict[str, Any]]:
    """``{relative path: {"sha256", "size"}}`` for every file in ``folder`` but the manifest."""
    entries = {}
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            if rel == MANIFEST_FILE:
                continue
            entries[rel] = {"sha256": sha256_file(path), "size": os.path.getsize(path)}
    return dict(sorted(entries.items()))


def write_manifest(folder: str, manifest: Dict[str, Any]) -> str:
    """Write ``manifest.json`` under a temporary name and rename it into place.

    Returns:
        The manifest's path.
    """
    path = os.path.join(folder, MANIFEST_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


def read_manifest(folder: str) -> Dict[str, Any]:
    """Read and version-check ``manifest.json`` (no file checks; see :func:`check_export`).

    Raises:
        ExportError: no manifest, unreadable JSON, or an unknown format version.
    """
    path = os.path.join(os.fspath(folder), MANIFEST_FILE)
    if not os.path.isfile(path):
        raise ExportError(f"{folder} is not a paddle_electra export: {MANIFEST_FILE} is missing")
    try:
        manifest = read_json(path)
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot read {path}: {e}") from e
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        raise ExportError(f"{path}: unknown export format version {version!r}; this paddle_electra reads "
                          f"version {FORMAT_VERSION} (re-export the model, or upgrade paddle_electra)")
    if manifest.get("task") not in TASKS:
        raise ExportError(f"{path}: unknown task {manifest.get('task')!r}")
    return manifest


def check_export(folder: str, verify_hashes: bool = True) -> Dict[str, Any]:
    """Check an export folder against its manifest.

    Args:
        folder: the folder written by :func:`paddle_electra.inference.export.export`.
        verify_hashes: also compare every file's sha256 (else only presence and size).

    Returns:
        The manifest.

    Raises:
        ExportError: unknown manifest version, a listed file missing (named),
            or a file whose size or sha256 differs from the manifest (named).
    """
    folder = os.fspath(folder)
    manifest = read_manifest(folder)
    files = manifest.get("files") or {}
    for required in (GRAPH_FILE, PARAMS_FILE, CONFIG_FILE):
        if required not in files:
            raise ExportError(f"{folder}: the manifest does not list {required}")
    for rel, entry in files.items():
        path = os.path.join(folder, *rel.split("/"))
        if not os.path.isfile(path):
            raise ExportError(f"{folder}: {rel} is missing (listed in {MANIFEST_FILE})")
        size = os.path.getsize(path)
        if size != entry.get("size"):
            raise ExportError(f"{folder}: {rel} has {size} bytes, the manifest says {entry.get('size')}; "
                              f"the file was altered or truncated")
        if verify_hashes and sha256_file(path) != entry.get("sha256"):
            raise ExportError(f"{folder}: sha256 of {rel} does not match the manifest; the file was altered")
    return manifest


def load_export(folder: str) -> Dict[str, Any]:
    """:func:`check_export` the folder and return its manifest with ``"path"`` set to the folder."""
    manifest = check_export(folder)
    return dict(manifest, path=os.path.abspath(os.fspath(folder)))


def input_specs(names) -> List[Dict[str, Any]]:
    """Manifest entries for the graph inputs: int64, shape ``[-1, -1]``."""
    return [{"name": n, "dtype": "int64", "shape": [-1, -1]} for n in names]


def output_specs(task: str, config) -> List[Dict[str, Any]]:
    """Manifest entries for the task's outputs: float32 with :func:`output_shapes`."""
    return [{"name": n, "dtype": "float32", "shape": s}
            for n, s in zip(TASK_OUTPUTS[task], output_shapes(task, config))]


def label_names(task: str, config) -> Optional[List[str]]:
    """``config.id2label`` as a list for the classification tasks (``LABEL_i`` when unset), else ``None``."""
    if task not in ("text-classification", "token-classification"):
        return None
    id2label = config.id2label or {}
    return [id2label.get(i, f"LABEL_{i}") for i in range(config.num_labels)]
