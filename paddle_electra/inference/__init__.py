"""The inference layer: pipelines, question-answering windows, export and predictors.

| module | holds |
| --- | --- |
| pipelines, pipeline_base | ``paddle_electra.pipeline(task, model)`` over a dygraph model or an export folder |
| qa | long-context question answering: windows, span search |
| export/ | static graphs, ONNX, int8 / bf16, the manifest, verification, Paddle Inference / ONNX Runtime predictors |
"""
