"""Resolve a model and its task, trace it to a Paddle 3 (PIR) static graph and save it."""

from __future__ import annotations

import json
import os
from typing import List, Optional, Sequence, Tuple

import paddle
from paddle.static import InputSpec

from .manifest import ALL_INPUTS, GRAPH_FILE, PARAMS_FILE, TASK_OUTPUTS, TASKS


# One wrapper per input combination: ``paddle.jit.to_static`` reads ``forward``'s source and
# binds the input specs positionally, so every graph signature is spelled out here.
class _Ids(paddle.nn.Layer):
    """Graph inputs: ``input_ids`` (padding masked from ``config.pad_token_id``)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids)


class _IdsTypes(paddle.nn.Layer):
    """Graph inputs: ``input_ids``, ``token_type_ids``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, token_type_ids):
        return self.model(input_ids, token_type_ids=token_type_ids)


class _IdsMask(paddle.nn.Layer):
    """Graph inputs: ``input_ids``, ``attention_mask``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids, attention_mask=attention_mask)


class _IdsTypesMask(paddle.nn.Layer):
    """Graph inputs: ``input_ids``, ``token_type_ids``, ``attention_mask``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, token_type_ids, attention_mask):
        return self.model(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)


_WRAPPERS = {
    ("input_ids",): _Ids,
    ("input_ids", "token_type_ids"): _IdsTypes,
    ("input_ids", "attention_mask"): _IdsMask,
    ("input_ids", "token_type_ids", "attention_mask"): _IdsTypesMask,
}


def normalize_inputs(inputs: Sequence[str]) -> Tuple[str, ...]:
    """Check the requested graph inputs and return them in graph order.

    Raises:
        ValueError: ``input_ids`` not first, an unknown or repeated name.
    """
    if isinstance(inputs, str):
        inputs = (inputs,)
    inputs = tuple(inputs)
    unknown = [n for n in inputs if n not in ALL_INPUTS]
    if unknown:
        raise ValueError(f"unknown export inputs {unknown}; choose from {list(ALL_INPUTS)}")
    if not inputs or inputs[0] != "input_ids":
        raise ValueError(f"export inputs must start with 'input_ids', got {list(inputs)}")
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"export inputs repeat a name: {list(inputs)}")
    return tuple(n for n in ALL_INPUTS if n in inputs)


def task_for_model(model) -> str:
    """The task whose class ``model`` is (exact class first, then subclasses).

    Raises:
        ValueError: the class serves no exportable task.
    """
    import paddle_electra as pe

    for task, cls_name in TASKS.items():
        if type(model) is getattr(pe, cls_name):
            return task
    for task, cls_name in TASKS.items():
        if isinstance(model, getattr(pe, cls_name)):
            return task
    raise ValueError(f"{type(model).__name__} has no export task; exportable classes: "
                     + ", ".join(f"{c} ({t})" for t, c in TASKS.items()))


def check_task(task: Optional[str]) -> None:
    """Raise ``ValueError`` naming the known tasks when ``task`` is not one of them (``None`` passes)."""
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")


def resolve_model(model_or_name, task: Optional[str]):
    """Turn a model instance, a folder or a published name into ``(model, task, source)``.

    Args:
        model_or_name: an ``ElectraPretrainedModel``, a local model folder, or
            a published name.
        task: a key of :data:`TASKS`, or ``None`` to infer it from the class.
            ``"feature-extraction"`` takes the encoder of any model (a folder
            loads into ``ElectraModel``; an in-memory head gives its ``base_model``).

    Returns:
        The model, the task, and the source recorded in the manifest: the
        folder's absolute path, the name, or ``"in-memory"``.

    Raises:
        ValueError: unknown task, or a task that does not fit the model's class.
    """
    import paddle_electra as pe
    from paddle_electra.loading.auto import AutoModel

    check_task(task)
    if isinstance(model_or_name, paddle.nn.Layer):
        model, source = model_or_name, "in-memory"
        if task == "feature-extraction" and not isinstance(model, pe.ElectraModel):
            # a head's encoder gives the hidden states, as pipeline("feature-extraction", model=head) does
            backbone = getattr(model, "base_model", None)
            if isinstance(backbone, pe.ElectraModel):
                model = backbone
    else:
        source = os.fspath(model_or_name)
        cls = AutoModel.class_for(source)
        if task == "feature-extraction" and not issubclass(cls, pe.ElectraModel):
            # any checkpoint's encoder (a discriminator, generator or classifier folder) loads into
            # ElectraModel, which is what pipeline("feature-extraction", model=folder) runs
            cls = pe.ElectraModel
        if task is not None and not issubclass(cls, getattr(pe, TASKS[task])):
            raise ValueError(f"task {task!r} needs {TASKS[task]}, but {source} holds {cls.__name__} "
                             f"(task {_task_name(cls)!r}); load it into the class you want and pass the model")
        model = cls.from_pretrained(source)
        if os.path.isdir(source):
            source = os.path.abspath(source)
    found = task_for_model(model)
    if task is not None and task != found:
        raise ValueError(f"task {task!r} needs {TASKS[task]}, but the model is {type(model).__name__} "
                         f"(task {found!r})")
    return model, found, source


def _task_name(cls) -> Optional[str]:
    for task, name in TASKS.items():
        if cls.__name__ == name:
            return task
    return None


def save_static(model, task: str, inputs: Sequence[str], folder: str) -> List[str]:
    """Trace ``model`` with dynamic batch and sequence axes and write ``inference.json`` + ``.pdiparams``.

    The graph's fetch names are set to the task's output names, so Paddle
    Inference and ONNX both expose ``logits`` / ``start_logits`` / ...

    Args:
        model: the model (switched to eval mode while tracing, restored after).
        task: its task.
        inputs: graph inputs in graph order (see :func:`normalize_inputs`).
        folder: an existing folder to write into.

    Returns:
        The output names written into the graph.
    """
    spec = [InputSpec([None, None], "int64", name=n) for n in inputs]
    was_training = model.training
    model.eval()
    try:
        static = paddle.jit.to_static(_WRAPPERS[tuple(inputs)](model), input_spec=spec, full_graph=True)
        paddle.jit.save(static, os.path.join(folder, os.path.splitext(GRAPH_FILE)[0]))
    finally:
        if was_training:
            model.train()
    graph = os.path.join(folder, GRAPH_FILE)
    if not (os.path.isfile(graph) and os.path.isfile(os.path.join(folder, PARAMS_FILE))):
        raise RuntimeError(f"paddle.jit.save did not write {GRAPH_FILE} + {PARAMS_FILE} (a PIR program); "
                           f"Paddle {paddle.__version__} is not supported by paddle_electra.export")
    names = TASK_OUTPUTS[task]
    rename_fetches(graph, names)
    return names


def rename_fetches(graph_path: str, names: Sequence[str]) -> None:
    """Set the ``name`` attribute of the PIR program's fetch ops (column ``i`` -> ``names[i]``).

    ``paddle.jit.save`` names unnamed outputs ``fetch_name_<i>``; Paddle
    Inference and paddle2onnx take output names from this attribute.

    Raises:
        RuntimeError: the program's fetch ops do not match ``names`` one to one.
    """
    with open(graph_path, encoding="utf-8") as f:
        program = json.load(f)
    seen = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("#") == "1.fetch":
                attrs = {a.get("N"): a for a in node.get("A", [])}
                col = attrs["col"]["AT"]["D"]
                if not 0 <= col < len(names):
                    raise RuntimeError(f"the traced graph has more outputs than {list(names)}")
                attrs["name"]["AT"]["D"] = names[col]
                seen.append(col)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(program)
    if sorted(seen) != list(range(len(names))):
        raise RuntimeError(f"the traced graph's outputs (columns {sorted(seen)}) do not match {list(names)}")
    tmp = graph_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(program, f, separators=(",", ":"))
    os.replace(tmp, graph_path)
