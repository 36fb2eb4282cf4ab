"""The model layer: config, encoder, heads, pre-training and ERNIE-Health classes, outputs, losses.

No file I/O and no imports from the layers above at import time. ``from_pretrained`` /
``save_pretrained`` / ``ElectraConfig.from_pretrained(name)`` reach the loaders
(:mod:`paddle_electra.loading`) when they are called.

| module | holds |
| --- | --- |
| configuration, config_files | ``ElectraConfig``; reading the three config-file layouts |
| base, model_api | ``ElectraPretrainedModel`` (init once, save/load entry points); PaddleNLP's / HF's model API |
| backbone, fast_paths, kv_cache, inputs | the encoder in reading order; its dygraph speed paths; masks and KV cache; input checks |
| modeling | the task heads (PaddleNLP's ``electra.modeling`` names) |
| pretraining, ernie_health, causal_lm | generator + discriminator training; ERNIE-Health; the causal-LM head |
| outputs, losses, limits | output dataclasses; losses; config size limits checked before allocating |
"""
