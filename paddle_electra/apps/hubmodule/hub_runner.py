"""Run calls on PaddleHub modules from a JSON request, inside an environment that has PaddleHub.

    python -m paddle_electra.apps.hubmodule.hub_runner request.json response.json

tests/apps/test_hub_module.py runs this under the PaddleHub 2.4 reference
interpreter and compares the answers with paddle_electra run directly in the
test's own environment. It is also a quick way to check a module folder in a
PaddleHub install. The request::

    {"jobs": [
      {"id": "emb", "dir": "/path/module", "init": {"task": null},
       "ops": [{"op": "call", "method": "get_embedding", "kwargs": {"data": [["text"]]}},
               {"op": "serving", "input": {"data": [["text"]]}},          # hub serving's predict_v2
               {"op": "hub_tokenize", "texts": ["text"], "max_seq_len": 16}, # TransformerModule's own tokenizing
               {"op": "training_step", "batch": [[[101, 102]], [[0, 0]], [1]]},
               {"op": "save_state", "path": "/tmp/x.pdparams"}]},
      {"id": "shipped", "dir": "/path/module", "inspect_only": true}]}

The response holds, per job id, the module's ``info`` and one result per op
(``{"error": ...}`` for an op that raised), plus the library versions.
"""

from __future__ import annotations

import json
import sys
import traceback


def _jsonable(value):
    import numpy as np

    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _class_info(cls) -> dict:
    import inspect

    default_task = inspect.signature(cls.__init__).parameters.get("task")
    return {"name": cls.name, "version": str(cls.version), "type": cls.type, "summary": cls.summary,
            "author": cls.author, "author_email": cls.author_email, "class": cls.__name__,
            "mro": [c.__name__ for c in cls.__mro__], "tasks": list(getattr(cls, "TASKS", ())),
            "default_task": None if default_task is None else default_task.default}


def _op(module, op: dict):
    kind = op["op"]
    if kind == "call":
        return getattr(module, op["method"])(**op.get("kwargs", {}))
    if kind == "serving":  # exactly what `hub serving` does with a POST body
        from paddlehub.serving.app_compat import predict_v2

        return predict_v2({"method_name": module.serving_func_name, "module": module, "predict_args": {}},
                          op["input"])
    if kind == "hub_tokenize":  # PaddleHub's own TransformerModule code, fed by module.get_tokenizer()
        from paddlehub.module.nlp_module import TransformerModule

        return TransformerModule._convert_text_to_input(module, module.get_tokenizer(), list(op["texts"]),
                                                        op.get("max_seq_len", 128), op.get("split_char", "\002"))
    if kind == "training_step":
        import paddle

        module.train()
        out = module.training_step([paddle.to_tensor(x) for x in op["batch"]], 0)
        module.eval()
        return {"loss": float(out["loss"]), "metrics": out["metrics"]}
    if kind == "save_state":
        import paddle

        paddle.save(module.state_dict(), op["path"])
        return op["path"]
    raise ValueError(f"unknown op {kind!r}")


def run(request: dict) -> dict:
    """Answer a request (see the module docstring)."""
    import paddle
    import paddlehub as hub
    from paddlehub.module.module import Module

    import paddle_electra

    versions = {"paddlehub": hub.__version__, "paddle": paddle.__version__,
                "paddle_electra": paddle_electra.__version__, "paddle_electra_file": paddle_electra.__file__}
    response = {"versions": versions, "jobs": {}}
    for job in request["jobs"]:
        out: dict = {"ops": []}
        response["jobs"][job["id"]] = out
        try:
            if job.get("inspect_only"):  # import the class only: nothing is built or downloaded
                out["info"] = _class_info(Module.load(job["dir"]))
                out["module_info"] = dict(Module.load_module_info(job["dir"]))
                continue
            module = hub.Module(directory=job["dir"], **job.get("init", {}))
            out["info"] = dict(_class_info(type(module)), task=module.task,
                               serving_func_name=module.serving_func_name,
                               label_map=_jsonable(getattr(module, "label_map", None)),
                               is_layer=isinstance(module, paddle.nn.Layer))
        except Exception as e:  # noqa: BLE001 - reported to the caller, which fails the test with it
            out["error"] = f"{type(e).__name__}: {e}"
            out["traceback"] = traceback.format_exc()
            continue
        for op in job.get("ops", []):
            try:
                out["ops"].append({"result": _jsonable(_op(module, op))})
            except Exception as e:  # noqa: BLE001
                out["ops"].append({"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
    return response


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m paddle_electra.apps.hubmodule.hub_runner request.json response.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        request = json.load(f)
    response = run(request)
    with open(argv[1], "w", encoding="utf-8") as f:
        json.dump(response, f, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
