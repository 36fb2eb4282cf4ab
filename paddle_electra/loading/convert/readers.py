"""Read a weights file of any supported format into ``{name: numpy array}``.

Optional libraries are imported only when their format is met, so the core
never needs torch (``pytorch_model.bin`` goes through the restricted reader in
:mod:`paddle_electra.loading.convert.torch_bin`).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Dict, Tuple

import numpy as np

from ...model.config_files import PADDLE_WEIGHTS, SAFETENSORS_WEIGHTS  # the model folder's own; re-exported for the loaders

TORCH_WEIGHTS = "pytorch_model.bin"
TF_H5_WEIGHTS = "tf_model.h5"  # HF transformers 4.x TF models; needs h5py
# The order a folder is searched: safetensors first (it cannot run code, so a
# pickle beside it never shadows it), then Paddle's own pickle (read by a
# restricted unpickler), so a folder converted once is not converted again.
WEIGHT_FILES = (SAFETENSORS_WEIGHTS, PADDLE_WEIGHTS, TORCH_WEIGHTS, TF_H5_WEIGHTS)

# Optimizer / training-state entries that pre-training checkpoints carry next to
# the weights (TF's adam_m/adam_v/global_step, Paddle's moment/beta-pow slots).
_OPTIMIZER_SLOT = re.compile(
    r"(^|[/._])(adam_m|adam_v|global_step|moment1_0|moment2_0|beta1_pow_acc_0|beta2_pow_acc_0|"
    r"learning_rate_0|LR_Scheduler|master_weights)($|[/._])"
)


def find_weights_file(folder: str) -> str:
    """Path of the weights file in ``folder`` (first of :data:`WEIGHT_FILES`)."""
    for name in WEIGHT_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    present = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    raise ValueError(
        f"no weights file in {folder}: expected one of {', '.join(WEIGHT_FILES)}; the folder has "
        f"{', '.join(present) if present else 'no files'}"
    )


def read_state_dict(path: str) -> Dict[str, np.ndarray]:
    """Load a weights file into numpy arrays, choosing the reader by file name.

    Raises:
        ValueError: unknown format, or a file that cannot be parsed (the
            message names the file).
    """
    name = os.path.basename(path)
    try:
        if name.endswith(".pdparams"):
            from ..safety import load_paddle_pickle  # never paddle.load: a pickle can run code

            state = load_paddle_pickle(path)
        elif name.endswith(".safetensors"):
            from safetensors.numpy import load_file

            state = load_file(path)
        elif name.endswith(".bin") or name.endswith(".pt") or name.endswith(".pth"):
            from .torch_bin import load_torch_bin

            state = load_torch_bin(path)
        elif name.endswith(".h5"):
            from .tf_h5 import read_tf_h5

            state = read_tf_h5(path)
        else:
            raise ValueError(f"{path}: unknown weights format (expected .pdparams, .safetensors, .bin or .h5)")
    except ValueError:
        raise
    except Exception as exc:  # corrupt files surface as many exception types
        raise ValueError(f"could not read weights file {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (got {type(state).__name__})")
    return {k: np.asarray(v) for k, v in state.items()}


def drop_optimizer_state(state: Dict[str, np.ndarray]) -> Tuple[Dict[str, np.ndarray], str]:
    """Remove optimizer slots; return the weights and a one-line summary ("" if none)."""
    kept, kinds = {}, Counter()
    for key, value in state.items():
        m = _OPTIMIZER_SLOT.search(key)
        if m:
            kinds[m.group(2)] += 1
        else:
            kept[key] = value
    if not kinds:
        return kept, ""
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return kept, f"skipped {sum(kinds.values())} optimizer-state entries ({detail})"
