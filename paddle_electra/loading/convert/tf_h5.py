"""HF transformers' TF weights (``tf_model.h5``) read with h5py, without TensorFlow.

transformers 4.x TF models (``TFElectraForPreTraining``, ``TFElectraForMaskedLM``,
``TFElectraModel``, ...) save their weights with Keras 2's ``save_weights`` in
HDF5. Checked against files written by transformers 4.57.6 + tf-keras 2.21
(``tests/tf_helpers/write_hf4_tf_h5.py``) and its sources
(``modeling_tf_electra.py``, ``modeling_tf_utils.load_tf_weights_from_h5``,
``modeling_tf_pytorch_utils.convert_tf_weight_name_to_pt_weight_name``):

* root attributes ``backend``, ``keras_version`` and ``layer_names``: the
  model's top-level layers (``electra``, ``discriminator_predictions`` /
  ``generator_predictions``, ``generator_lm_head``);
* one group per layer with a ``weight_names`` attribute listing full variable
  names such as ``tf_electra_for_pre_training/electra/encoder/layer_._0/attention/self/query/kernel:0``;
  each weight is the dataset at that name inside the layer's group;
* a Keras attribute too large for one HDF5 attribute is split into
  ``layer_names0``, ``layer_names1``, ...;
* the same variable can be listed by two layers (``generator_lm_head`` also
  lists the embeddings it ties to); it is read once;
* sharded checkpoints (``tf_model-0000i-of-0000n.h5``) instead hold one dataset
  per weight at its name without the model prefix, listed in ``layer_names``.

Names become HF PyTorch names the way transformers converts them: drop the
``:0`` suffix and the model-name level, ``_._`` -> ``.`` (Keras lists),
``/`` -> ``.``, and the last component ``kernel`` / ``embeddings`` / ``gamma``
-> ``weight``, ``beta`` -> ``bias``. Keras Dense kernels are ``[in, out]``;
they are transposed to torch's ``[out, in]`` so the result is exactly an HF
PyTorch state dict and :func:`paddle_electra.loading.convert.hf.hf_to_paddle` maps it.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Iterator, List, Tuple

import numpy as np

from ..safety.pickle_guard import CheckpointTooLargeError, max_inflated_bytes

__all__ = ["read_tf_h5", "tf_weight_name_to_hf"]


def _decode(value) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def _keras_attribute(obj, name: str) -> List[str]:
    """A Keras list attribute, joined from its numbered chunks if it was split."""
    if name in obj.attrs:
        return [_decode(v) for v in np.atleast_1d(obj.attrs[name])]
    values: List[str] = []
    chunk = 0
    while f"{name}{chunk}" in obj.attrs:
        values.extend(_decode(v) for v in np.atleast_1d(obj.attrs[f"{name}{chunk}"]))
        chunk += 1
    if not chunk:
        raise KeyError(name)
    return values


def tf_weight_name_to_hf(name: str, strip_model_name: bool = True) -> Tuple[str, bool]:
    """HF PyTorch name of a Keras weight name, and whether the array must be transposed.

    ``tf_electra_for_pre_training/electra/encoder/layer_._0/attention/self/query/kernel:0``
    -> ``("electra.encoder.layer.0.attention.self.query.weight", True)``.

    Args:
        name: the Keras variable name.
        strip_model_name: drop the first level (the Keras model's name); False
            for names stored without it (sharded checkpoints).
    """
    name = re.sub(r":\d+$", "", name)  # the output index of the variable's op
    name = re.sub(r"/[^/]*___([^/]*)/", r"/\1/", name)  # transformers' "a___b" -> "b" alias levels
    name = name.replace("_._", "/")  # Keras lists of layers: layer_._3 -> layer/3
    parts = [p for p in name.split("/") if p]
    if strip_model_name and len(parts) > 1:
        parts = parts[1:]
    transpose = parts[-1] == "kernel"
    parts[-1] = {"kernel": "weight", "embeddings": "weight", "gamma": "weight", "beta": "bias"}.get(
        parts[-1], parts[-1]
    )
    return ".".join(parts), transpose


def _weights(f) -> Iterator[Tuple[str, object, bool]]:
    """(Keras weight name, h5py dataset, name starts with the model name?) for every weight."""
    try:
        layer_names = _keras_attribute(f, "layer_names")
    except KeyError:
        raise ValueError("no 'layer_names' attribute: not a Keras weights file") from None
    for layer_name in layer_names:
        if layer_name not in f:
            raise ValueError(f"layer {layer_name!r} is listed in layer_names but missing from the file")
        obj = f[layer_name]
        if hasattr(obj, "shape"):  # sharded layout: the entry is the weight itself
            yield layer_name, obj, False
            continue
        try:
            weight_names = _keras_attribute(obj, "weight_names")
        except KeyError:
            raise ValueError(f"layer group {layer_name!r} has no 'weight_names' attribute") from None
        for weight_name in weight_names:
            if weight_name not in obj:
                raise ValueError(f"weight {weight_name!r} of layer {layer_name!r} is missing from the file")
            yield weight_name, obj[weight_name], True


def _checked(f, weight_name: str, dataset):
    """``dataset``, once it is a numeric array stored in this file whose size its stored bytes can back.

    HDF5 lets a dataset declare any shape and store nothing (reads return the
    fill value), point at other files (external storage, external links,
    virtual datasets) or hold strings and compounds. A weight is none of these,
    and reading a declared 30000 x 30000 array from a 10 kB file would allocate
    3.6 GB.
    """
    if dataset.file.filename != f.filename or dataset.is_virtual or dataset.external:
        raise ValueError(f"weight {weight_name!r} reads its data from another file; a weight must be stored in "
                         "the file that lists it")
    if dataset.shape is None:  # HDF5's null dataspace: no array at all
        raise ValueError(f"weight {weight_name!r} is an empty HDF5 dataset with no shape")
    if dataset.dtype.kind not in "fiub":
        raise ValueError(f"weight {weight_name!r} has dtype {dataset.dtype!r:.80}, not a number type")
    needed = int(np.prod(dataset.shape, dtype=object)) * dataset.dtype.itemsize
    stored = dataset.id.get_storage_size()
    if needed > max_inflated_bytes(stored):
        raise CheckpointTooLargeError(f"weight {weight_name!r} declares shape {tuple(dataset.shape)!r:.80} "
                                      f"({needed} bytes) but stores only {stored} bytes")
    return dataset


def read_tf_h5(path: str) -> Dict[str, np.ndarray]:
    """Read an HF ``tf_model.h5`` into an HF PyTorch-style state dict (torch layout).

    Args:
        path: the ``.h5`` file written by a transformers 4.x TF model's
            ``save_pretrained`` (or one shard of a sharded save).

    Returns:
        HF PyTorch name -> numpy array, Dense kernels transposed to ``[out, in]``.

    Raises:
        CheckpointTooLargeError: A weight declares more data than the file
            stores (a ``ValueError``).
        ValueError: h5py is not installed, or the file is not a readable Keras
            weights file (the message names the file).
    """
    try:
        import h5py
    except ImportError:
        raise ValueError(
            f"reading {path} needs h5py: pip install h5py (or paddle_electra[tf])"
        ) from None
    if not os.path.isfile(path):
        raise ValueError(f"{path} does not exist")
    out: Dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            for weight_name, dataset, prefixed in _weights(f):
                name, transpose = tf_weight_name_to_hf(weight_name, strip_model_name=prefixed)
                if name in out:
                    if tuple(out[name].shape) != tuple(dataset.shape)[::-1 if transpose else 1]:
                        raise ValueError(f"weight {name} is listed twice with different shapes")
                    continue  # a tied weight listed by a second layer
                value = np.asarray(_checked(f, weight_name, dataset)[()])
                if transpose and value.ndim == 2:
                    value = np.ascontiguousarray(value.T)
                out[name] = value
    except ValueError as exc:  # CheckpointTooLargeError keeps its type; UnicodeDecodeError cannot take one message
        cls = CheckpointTooLargeError if isinstance(exc, CheckpointTooLargeError) else ValueError
        raise cls(f"{path}: {exc}") from None
    except (OSError, KeyError) as exc:
        raise ValueError(f"could not read {path} as a Keras h5 weights file: {exc}") from None
    if not out:
        raise ValueError(f"{path} holds no weights")
    return out
