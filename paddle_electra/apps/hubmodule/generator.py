"""``make_hub_module``: write a PaddleHub module folder for a published name or a local model.

The folder::

    <out_dir>/
      module.py          @moduleinfo(...) class Electra(ElectraHubLayer), meta=TransformerModule
      __init__.py        empty, as PaddleHub's own modules
      README.md          what it is, tasks, how to load and serve it
      requirements.txt   paddle_electra (the module runs on it)
      model/             the weights (config.json, model_state.pdparams, vocab.txt, tokenizer_config.json);
                         absent with weights=False: the module downloads the published name at first use

From an export folder (``paddle_electra.export``, fp32 or int8) the module is a
deployment: ``export/`` holds the export's files (checked against its manifest)
and ``module.py`` subclasses :class:`~.export_runtime.ElectraExportHubModule`
(PaddleHub's plain ``RunModule``), which predicts through a predictor
(Paddle Inference fp32 / bf16, ONNX Runtime fp32 / int8) and does not train.

It is built in a temporary folder next to ``out_dir`` and swapped in whole at
the end (:func:`~paddle_electra._io.atomic_folder`), so ``out_dir`` holds the
previous module or the new one, never a mix, even when the process is killed;
leftovers of a killed run are removed by the next one.
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
import textwrap
from typing import Any, Dict, Optional, Tuple

from ...loading import registry
from ..._io import atomic_folder, remove_leftovers
from ...loading.auto import AutoModel
from ...model.configuration import ElectraConfig
from . import templates
from .runtime import ENCODER_TASKS, GENERATOR_TASKS

DEFAULT_VERSION = "1.0.0"
DEFAULT_AUTHOR = "paddle_electra"
WEIGHTS_DIR = "model"
EXPORT_DIR = "export"  # modules made from an export folder
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_GENERATORS = ("ElectraGenerator", "ElectraForMaskedLM")
_HEADS = {"ElectraForSequenceClassification": "seq-cls", "ElectraForTokenClassification": "token-cls"}
_UNSUPPORTED = ("ElectraForTotalPretraining", "ElectraForPretraining", "ErnieHealthForTotalPretraining")


@dataclasses.dataclass(frozen=True)
class ShippedModule:
    """One module source kept in the repository's ``hub_modules/`` folder (weights downloaded by name)."""

    name: str
    model: str
    folder: str
    author: str = "HFL (ymcui), paddle_electra"
    author_email: str = "ymcui@ir.hit.edu.cn"


SHIPPED = (
    ShippedModule("chinese-electra-small", "chinese-electra-small", "chinese_electra_small"),
    ShippedModule("chinese-electra-base", "chinese-electra-base", "chinese_electra_base"),
    ShippedModule("chinese-legal-electra-small-generator", "hfl/chinese-legal-electra-small-generator",
                  "chinese_legal_electra_small_generator"),
)


def _resolve(model: str) -> Tuple[str, str, ElectraConfig]:
    """``(kind, architecture, config)`` of a model folder or a published name; ``kind`` is "folder" or "name"."""
    if not isinstance(model, (str, os.PathLike)) or not os.fspath(model):
        raise ValueError(f"model must be a model folder or a published name, got {model!r}")
    model = os.fspath(model)
    if os.path.isdir(model):
        kind = "folder"
    elif registry.is_known(model):
        kind = "name"
    elif os.path.exists(model):
        raise ValueError(f"{model} is a file; pass a model folder (config.json + weights) or a published name")
    elif os.path.isabs(model) or model.startswith((".", "~")) or os.path.isdir(os.path.dirname(model) or "\0"):
        raise ValueError(f"model folder {model} does not exist")
    else:
        registry.get_entry(model)  # an unknown name: raises, listing the closest names
        kind = "name"
    arch = AutoModel.class_for(model).__name__
    if arch in _UNSUPPORTED or arch.startswith("ErnieHealth"):
        raise ValueError(f"{model} holds a {arch}; a hub module is made from an ELECTRA encoder, discriminator, "
                         "generator or fine-tuned classifier: save that part with save_pretrained and pass its folder")
    return kind, arch, ElectraConfig.from_pretrained(model)


def _default_name(model: str, kind: str) -> str:
    base = os.path.basename(os.path.normpath(model)) if kind == "folder" else model.rsplit("/", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-._").lower()
    return name or "electra-module"


def _role(arch: str) -> str:
    return {"ElectraGenerator": "generator", "ElectraForMaskedLM": "generator", "ElectraModel": "encoder",
            "ElectraDiscriminator": "discriminator", "ElectraForPreTraining": "discriminator",
            "ElectraForSequenceClassification": "sequence classifier",
            "ElectraForTokenClassification": "token classifier",
            "ElectraForQuestionAnswering": "question-answering model",
            "ElectraForMultipleChoice": "multiple-choice model"}.get(arch, arch)


def _export_spec(folder: str, weights: bool, backend: Optional[str]) -> Tuple[Dict[str, Any], str, ElectraConfig]:
    """``(fields, arch, config)`` of an export folder's module; the backend is checked against its files."""
    from ...inference.export.manifest import TASKS as EXPORT_TASKS
    from ...inference.export.manifest import read_manifest
    from .export_runtime import check_backend, default_backend, hub_task

    if not weights:
        raise ValueError(f"{folder} is an export folder: its files go into the module (weights=False is for "
                         "published names, downloaded when the module is first loaded)")
    manifest = read_manifest(folder)  # the files are checked against it when they are copied
    task = hub_task(manifest, folder)
    backend = check_backend(manifest, backend or default_backend(manifest), folder)
    fields = dict(tasks=(task,), default_task=task, backend=backend,
                  quantization=(manifest.get("quantization") or {}).get("type"),
                  onnx=any(f.endswith(".onnx") for f in manifest.get("files") or {}))
    return fields, EXPORT_TASKS[manifest["task"]], ElectraConfig.from_pretrained(folder)


def module_spec(model: str, name: Optional[str] = None, version: str = DEFAULT_VERSION,
                summary: Optional[str] = None, author: Optional[str] = None, author_email: Optional[str] = None,
                weights: bool = True, backend: Optional[str] = None) -> Dict[str, Any]:
    """Everything the module's files are rendered from; reads configs only, downloads nothing.

    Raises:
        ValueError: not a folder nor a published name, an unsupported class, a
            bad module name or version, ``weights=False`` for a local folder,
            ``backend`` for a model (it is for export folders) or one the export
            cannot run, an export of a task hub modules do not serve.
    """
    from ...inference.pipelines import is_export_dir

    model = os.fspath(model) if isinstance(model, (str, os.PathLike)) else model
    if is_export_dir(model):
        kind = "export"
        fields, arch, config = _export_spec(model, weights, backend)
    else:
        if backend is not None:
            raise ValueError(f"backend={backend!r} picks how an export folder runs; {model} is a model (make an "
                             "export with paddle-electra export, or leave backend out)")
        kind, arch, config = _resolve(model)
        generator = arch in _GENERATORS
        fields = dict(tasks=GENERATOR_TASKS if generator else ENCODER_TASKS,
                      default_task="fill-mask" if generator else _HEADS.get(arch), backend=None, quantization=None)
    if not weights and kind == "folder":
        raise ValueError(f"{model} is a local folder: its weights must go into the module (weights=False is for "
                         "published names, downloaded when the module is first loaded)")
    name = name or _default_name(model, kind)
    if not _NAME_RE.match(name):
        raise ValueError(f"module name {name!r} must be letters, digits, '-', '_' or '.' (at most 100, "
                         "starting with a letter or digit)")
    if not isinstance(version, str) or not re.match(r"^\d+(\.\d+){0,3}$", version):
        raise ValueError(f"version must look like 1.0.0, got {version!r}")
    n_params = registry.count_parameters(dataclasses.asdict(config), arch)
    shape = (f"{config.num_hidden_layers}-layer, {config.hidden_size}-hidden, {config.num_attention_heads}-heads, "
             f"{n_params / 1e6:.1f}M parameters")
    if summary is None:
        how = f" export ({fields['backend']})" if kind == "export" else ""
        summary = f"{name}, ELECTRA {_role(arch)}{how}, {shape}, on paddle_electra"
    default_task = fields["default_task"]
    return dict(name=name, version=version, summary=" ".join(str(summary).split()),
                author=author or DEFAULT_AUTHOR, author_email=author_email or "", source=model, source_kind=kind,
                arch=arch, weights=bool(weights),
                labels=config.id2label if default_task in ("seq-cls", "token-cls") else None, **fields)


def _docstring_text(text: str) -> str:
    """``text`` wrapped at 100 columns, safe inside a triple-quoted docstring."""
    return textwrap.fill(text.replace("\\", "/").replace('"' * 3, "'" * 3), width=100)


_EXPORT_EXAMPLES = {
    "seq-cls": 'labels, probs = module.predict([["这部电影很好看"], ["太差了"]], return_prob=True)',
    "token-cls": 'module.predict([["张三在北京工作"]])   # per text: the label of each token',
    "fill-mask": 'module.predict([["经[MASK]审理查明"]], top_k=5)   # per text, per [MASK]: the candidates',
    None: 'cls_vector, token_vectors = module.get_embedding([["这部电影很好看"]])[0]   # [H], [n_tokens, H]',
}


def _render_export(spec: Dict[str, Any], folder: str) -> Dict[str, str]:
    """The text files of a module made from an export folder (see :mod:`.export_runtime`)."""
    import paddle_electra

    from ...inference.pipelines import EXPORT_BACKENDS

    task = spec["default_task"]
    values = dict(
        pe_version=paddle_electra.__version__, name=spec["name"], name_lit=repr(spec["name"]),
        version=spec["version"], version_lit=repr(spec["version"]), summary=spec["summary"],
        summary_lit=repr(spec["summary"]), summary_doc=_docstring_text(spec["summary"]),
        author_lit=repr(spec["author"]), author_email_lit=repr(spec["author_email"]),
        arch=spec["arch"], arch_note=f"An export of {spec['arch']} from {spec['source']}.",
        tasks_doc="None (embeddings)" if task is None else repr(task), tasks_lit=repr(tuple(spec["tasks"])),
        default_task_lit=repr(task), backend=spec["backend"], backend_lit=repr(spec["backend"]),
        backends_doc=", ".join(repr(b) for b in EXPORT_BACKENDS),
        quantization=spec["quantization"] or "none (fp32)", source=spec["source"], folder=folder,
        use_example=_EXPORT_EXAMPLES[task], onnxruntime=" onnxruntime" if spec["onnx"] else "",
    )
    requirements = string.Template(templates.REQUIREMENTS_TXT).substitute(values)
    if spec["onnx"]:  # the ONNX backends run on ONNX Runtime (the paddle_electra[export] extra has it)
        requirements += "onnxruntime>=1.20\n"
    return {
        "module.py": string.Template(templates.EXPORT_MODULE_PY).substitute(values),
        "__init__.py": "",
        "README.md": string.Template(templates.EXPORT_README_MD).substitute(values),
        "requirements.txt": requirements,
    }


def render(spec: Dict[str, Any], folder: str) -> Dict[str, str]:
    """The text files of the module (file name -> content); ``folder`` is how the README refers to it."""
    import paddle_electra

    if spec["source_kind"] == "export":
        return _render_export(spec, folder)

    name, tasks = spec["name"], spec["tasks"]
    tasks_doc = ", ".join("None (embeddings)" if t is None else repr(t) for t in tasks)
    if spec["weights"]:
        model_comment = (f"# the weights ship in ./{WEIGHTS_DIR} (config.json, model_state.pdparams, vocab.txt):\n"
                         "# loading needs no network")
        model_expr = f'os.path.join(os.path.dirname(os.path.abspath(__file__)), "{WEIGHTS_DIR}")'
        weights_note = f"The weights are in `{WEIGHTS_DIR}/`: loading needs no network."
        serve_model = f"{folder}/{WEIGHTS_DIR}"
    else:
        model_comment = ("# a published name: paddle_electra downloads it at first use and caches it\n"
                         "# (PADDLE_ELECTRA_HOME; mirrors: PADDLE_ELECTRA_MIRROR, HF_ENDPOINT)")
        model_expr = repr(spec["source"])
        weights_note = (f"The weights are not in the folder: paddle_electra downloads `{spec['source']}` the first "
                        "time the module is loaded and caches it.")
        serve_model = spec["source"]
    example_text = "经[MASK]审理查明" if spec["default_task"] == "fill-mask" else "这部电影很好看"
    if "fill-mask" in tasks:
        task_examples = ("```python\n"
                         f'fill = hub.Module(directory="{folder}", task="fill-mask")\n'
                         'fill.predict([["经[MASK]审理查明"]], top_k=5)   # per text, per [MASK]: '
                         "[{token, token_id, score, sequence}, ...]\n```")
        example, serve_task = "   # task=\"fill-mask\" by default", "fill-mask"
    else:
        task_examples = ("```python\n"
                         f'clf = hub.Module(directory="{folder}", task="seq-cls", '
                         'label_map={0: "negative", 1: "positive"})\n'
                         'labels, probs = clf.predict([["这部电影很好看"], ["太差了"]], return_prob=True)\n'
                         f'ner = hub.Module(directory="{folder}", task="token-cls", '
                         'label_map={0: "O", 1: "B-PER", 2: "I-PER"})\n'
                         'ner.predict([["张三在北京工作"]])         # per text: the label of each token\n'
                         f'match = hub.Module(directory="{folder}", task="text-matching")\n'
                         'match.predict([["今天天气怎么样", "今天天气如何"]])\n'
                         "```\n\nA new head (`seq-cls` / `token-cls` on a pre-trained encoder, `text-matching`) "
                         "starts from random weights: fine-tune it with `hub.Trainer`, then pass "
                         "`load_checkpoint=` the saved `model.pdparams`.")
        example = f"   # task={spec['default_task']!r}" if spec["default_task"] else ""
        serve_task = {"seq-cls": "text-classification", "token-cls": "token-classification"}.get(
            spec["default_task"], "feature-extraction")
    values = dict(
        pe_version=paddle_electra.__version__, name=name, name_lit=repr(name), version=spec["version"],
        version_lit=repr(spec["version"]), summary=spec["summary"], summary_lit=repr(spec["summary"]),
        summary_doc=_docstring_text(spec["summary"]),
        author_lit=repr(spec["author"]), author_email_lit=repr(spec["author_email"]),
        model_comment=model_comment, model_expr=model_expr, arch=spec["arch"],
        os_import="import os\n" if spec["weights"] else "",
        arch_note=f"{spec['arch']} from {spec['source']}, with PaddleHub's TransformerModule interface.",
        tasks_doc=tasks_doc, tasks_lit=repr(tuple(tasks)), default_task=spec["default_task"],
        default_task_lit=repr(spec["default_task"]), source=spec["source"], weights_note=weights_note,
        folder=folder, example=example, example_text=example_text, task_examples=task_examples,
        serve_line=f"paddle-electra serve --model {serve_model} --task {serve_task} --port 8866   "
                   "# paddle_electra's own server (Paddle Inference, micro-batching)",
    )
    return {
        "module.py": string.Template(templates.MODULE_PY).substitute(values),
        "__init__.py": "",
        "README.md": string.Template(templates.README_MD).substitute(values),
        "requirements.txt": string.Template(templates.REQUIREMENTS_TXT).substitute(values),
    }


def _check_target(out_dir: str, overwrite: bool) -> None:
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise ValueError(f"output {out_dir} is a file, not a folder")
        if os.listdir(out_dir) and not overwrite:
            raise ValueError(f"output folder {out_dir} exists and is not empty; pass overwrite=True "
                             "(--overwrite) to replace it")


def _copy_export(source: str, target: str) -> None:
    """Copy the files an export's manifest lists (and the manifest), then check the copy against it."""
    import shutil

    from ...inference.export.manifest import MANIFEST_FILE, check_export, read_manifest

    manifest = read_manifest(source)
    for rel in [MANIFEST_FILE, *(manifest.get("files") or {})]:
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts) or os.path.isabs(rel):
            raise ValueError(f"{source}: the manifest lists {rel!r}, a path outside the export folder")
        dst = os.path.join(target, *parts)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(source, *parts), dst)
    check_export(target)  # sizes and sha256: what was copied is what the manifest describes


def make_hub_module(model: str, out_dir: str, name: Optional[str] = None, version: str = DEFAULT_VERSION,
                    summary: Optional[str] = None, author: Optional[str] = None, author_email: Optional[str] = None,
                    weights: bool = True, overwrite: bool = False, backend: Optional[str] = None) -> Dict[str, Any]:
    """Write a PaddleHub module folder for ``model`` (see the module docstring).

    Args:
        model: a model folder (any format paddle_electra reads), a published
            name, or an export folder (``paddle_electra.export``; fp32 or int8):
            its files are copied into ``out_dir/export`` and the module runs them
            through a predictor (:mod:`.export_runtime`; it predicts, it does not train).
        out_dir: the module folder to create.
        name: the module's name (``hub.Module(name=...)``); default: the model's.
        version: module version, ``1.0.0`` style.
        summary, author, author_email: ``@moduleinfo`` fields (defaults describe the model).
        weights: copy the weights into ``out_dir/model`` (offline loading; a
            published name is downloaded now). ``False`` (published names only):
            the module downloads the name when first loaded.
        overwrite: replace an existing non-empty ``out_dir``.
        backend: export folders only: how the module runs it by default
            (``"inference"``, ``"inference-bf16"``, ``"onnx"``, ``"onnx-int8"``);
            default ``"onnx-int8"`` for a quantised export, else ``"inference"``.

    Returns:
        ``{"name", "version", "dir", "tasks", "default_task", "model_class", "source", "files"}``.

    Raises:
        ValueError: see :func:`module_spec`; ``out_dir`` is a file or a non-empty
            folder without ``overwrite``.
        DownloadError: a published name that cannot be downloaded (``weights=True``).
    """
    out_dir = os.path.abspath(os.fspath(out_dir))
    remove_leftovers(os.path.dirname(out_dir), os.path.basename(out_dir))  # may restore an interrupted swap
    _check_target(out_dir, overwrite)
    spec = module_spec(model, name=name, version=version, summary=summary, author=author,
                       author_email=author_email, weights=weights, backend=backend)
    files = render(spec, os.path.basename(out_dir))
    with atomic_folder(out_dir, carry_over=False) as tmp:
        for fname, text in files.items():
            with open(os.path.join(tmp, fname), "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
        if spec["source_kind"] == "export":
            _copy_export(spec["source"], os.path.join(tmp, EXPORT_DIR))
        elif weights:
            from ...tokenizer import ElectraTokenizer

            target = os.path.join(tmp, WEIGHTS_DIR)
            AutoModel.from_pretrained(spec["source"]).save_pretrained(target)
            ElectraTokenizer.from_pretrained(spec["source"]).save_pretrained(target)
        _check_target(out_dir, overwrite)  # someone may have filled it meanwhile
    written = sorted(os.path.relpath(os.path.join(root, f), out_dir)
                     for root, _, names in os.walk(out_dir) for f in names)
    return {"name": spec["name"], "version": spec["version"], "dir": out_dir,
            "tasks": [t for t in spec["tasks"]], "default_task": spec["default_task"],
            "model_class": spec["arch"], "source": spec["source"], "backend": spec["backend"], "files": written}


def make_shipped_sources(root: str, overwrite: bool = True) -> Dict[str, str]:
    """(Re)write the module sources of :data:`SHIPPED` under ``root`` (the repository's ``hub_modules/``)."""
    out = {}
    for m in SHIPPED:
        folder = os.path.join(root, m.folder)
        make_hub_module(m.model, folder, name=m.name, author=m.author, author_email=m.author_email,
                        weights=False, overwrite=overwrite)
        out[m.name] = folder
    return out
