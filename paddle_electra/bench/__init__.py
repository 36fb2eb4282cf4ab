"""Benchmarks, outside the core import path (``paddle-electra bench`` imports them when it runs).

| module | holds |
| --- | --- |
| deploy, deploy_paths, deploy_goals, deploy_workers | deployment: dygraph / Paddle Inference / ONNX Runtime / int8 / bf16 vs HF torch and PaddleNLP |
| train, train_report, train_torch | training steps vs HF torch (``bench --train``); torch runs in a worker process |
"""
