"""The loading layer: names to files, files to weights, never trusting what it reads.

| module | holds |
| --- | --- |
| registry | the name table (``pretrained_configs/``): every published name, its config and files |
| hub, fetch | names -> cached files (Hugging Face Hub, bcebos, mirrors); bounded, checked downloads |
| model_files | the work behind ``from_pretrained`` / ``save_pretrained`` / ``load_weights`` |
| convert/ | readers and converters: safetensors, Paddle pickles, ``pytorch_model.bin``, TF 1 / H5 |
| safety/ | restricted unpicklers: a weights file never runs code |
| auto | ``AutoConfig`` and the ``AutoModel...`` classes |
| paddlenlp_plugin | serving our names to PaddleNLP's own loaders |
"""
