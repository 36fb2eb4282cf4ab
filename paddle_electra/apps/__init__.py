"""Applications built on the layers below: HTTP serving, PaddleHub modules, training recipes.

| module | holds |
| --- | --- |
| serving, serving_requests | ``paddle-electra serve``: the ASGI app and server; request parsing, micro-batching |
| hubmodule/ | PaddleHub modules generated from a model or an export folder, and their runtimes |
| train/ | pre-training (``paddle-electra pretrain``) and fine-tuning (``paddle-electra finetune``) |
"""
