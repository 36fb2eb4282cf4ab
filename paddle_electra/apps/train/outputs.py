"""A pre-training run's model folders: the final ``generator/`` and ``discriminator/`` (optionally float16),
and the same folders made from any saved checkpoint.

:mod:`.pretrain` writes them at the end of a run and re-exports these names
(``paddle_electra.apps.train.pretrain.split_checkpoint`` is the documented one).
"""

from __future__ import annotations

import os
from typing import Dict

import numpy as np


def fit_tokenizer(tokenizer, config):
    """Cap ``tokenizer.model_max_length`` at ``config.max_position_embeddings``, in place.

    A fresh tokenizer says 512, but a model with fewer positions (the shipped
    People's Daily pair has 256) fails on the longer ids that
    ``truncation=True`` would still let through. Saving the model's own limit
    makes ``truncation=True`` cut to what the model can take.

    Returns:
        The same tokenizer.
    """
    limit = config.max_position_embeddings
    if tokenizer.model_max_length > limit:
        tokenizer.model_max_length = limit
    return tokenizer


def save_split(model, tokenizer, out_dir: str, dtype: str = "float32") -> Dict[str, str]:
    """Write ``out_dir/generator`` and ``out_dir/discriminator``, each with the vocab.

    ``dtype="float16"`` stores the weights as float16 safetensors (half the
    size; ``from_pretrained`` loads them back as float32). Each folder is
    swapped in whole (:func:`~paddle_electra._io.atomic_folder`): a run killed
    mid-save leaves the previous model folder or the new one, never a mix.
    """
    from ..._io import atomic_folder

    paths = {}
    for part in ("generator", "discriminator"):
        folder = os.path.join(out_dir, part)
        with atomic_folder(folder) as tmp:
            getattr(model, part).save_pretrained(tmp, safe_serialization=dtype == "float16")
            if dtype == "float16":
                to_float16(tmp)
            fit_tokenizer(tokenizer, getattr(model, part).config).save_pretrained(tmp)
        paths[part] = folder
    return paths


def to_float16(folder: str) -> str:
    """Rewrite ``folder/model.safetensors`` with float16 tensors (atomically)."""
    from safetensors.numpy import load_file, save_file

    from ..._io import atomic_path

    path = os.path.join(folder, "model.safetensors")
    state = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in load_file(path).items()}
    with atomic_path(path) as tmp:
        save_file(state, tmp, metadata={"format": "np"})
    return path


def split_checkpoint(checkpoint: str, out_dir: str, dtype: str = "float32") -> Dict[str, str]:
    """Turn a pre-training checkpoint folder into generator/ and discriminator/ model folders."""
    from ... import ElectraTokenizer
    from ...model.configuration import ElectraConfig
    from ...model.pretraining import ElectraForTotalPretraining
    from ...loading.safety import load_paddle_pickle
    from .checkpoint import read_state

    state = read_state(checkpoint)
    if "discriminator_config" not in state:
        raise ValueError(f"{checkpoint} is not a pre-training checkpoint (no discriminator_config)")
    model = ElectraForTotalPretraining.build(ElectraConfig.from_dict(state["discriminator_config"]), initialize=False,
                                             generator_config=ElectraConfig.from_dict(state["generator_config"]))
    model.set_state_dict(load_paddle_pickle(os.path.join(checkpoint, "model.pdparams")))
    return save_split(model, ElectraTokenizer(os.path.join(checkpoint, "vocab.txt")), out_dir, dtype)

