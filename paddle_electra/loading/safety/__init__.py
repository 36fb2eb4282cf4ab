"""Reading files from strangers: restricted unpicklers and size limits.

Everything here is pure (no Paddle import) and sits below the loaders: the
weight readers in :mod:`paddle_electra.loading.convert`, the training checkpoints and
``from_pretrained`` call into it, never the other way round.
"""

from ...model.limits import (
    ModelTooLargeError,
    check_config_fits_memory,
    check_config_fits_weights,
    estimate_num_parameters,
)
from .paddle_pickle import load_paddle_pickle
from .pickle_guard import CheckpointTooLargeError, GuardedUnpickler, Inert, UnsafeCheckpointError, prescan, safe_loads

__all__ = [
    "UnsafeCheckpointError",
    "CheckpointTooLargeError",
    "ModelTooLargeError",
    "GuardedUnpickler",
    "Inert",
    "prescan",
    "safe_loads",
    "load_paddle_pickle",
    "estimate_num_parameters",
    "check_config_fits_memory",
    "check_config_fits_weights",
]
