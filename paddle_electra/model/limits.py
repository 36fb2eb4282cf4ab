"""Size limits checked before a model is allocated.

A config is a few bytes of JSON, but ``vocab_size: 5e7`` asks for gigabytes of
embeddings and ``num_hidden_layers: 1e6`` for a build that never ends. The
checks here compare what a config declares with what can back it — the weights
file it comes with, or this machine's memory — using arithmetic only.
"""

from __future__ import annotations

import os
from typing import Optional

__all__ = ["ModelTooLargeError", "estimate_num_parameters", "check_config_fits_weights", "check_config_fits_memory"]

# Below this many parameters (512 MB of float32) a config never needs backing:
# random-init experiments and small heads on small checkpoints stay free.
_UNCHECKED_PARAMETERS = 1 << 27


class ModelTooLargeError(ValueError):
    """A config declares a model larger than its weights file or this machine's memory."""


def estimate_num_parameters(config) -> int:
    """Parameters a config describes, by arithmetic (``ElectraConfig.estimate_num_parameters``)."""
    return config.estimate_num_parameters()


def _physical_memory() -> Optional[int]:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: no bound known
        return None


def check_config_fits_memory(config, bytes_per_parameter: int = 4) -> None:
    """Refuse a config whose parameters alone would not fit in this machine's memory.

    Raises:
        ModelTooLargeError: naming the estimate and the memory.
    """
    n = estimate_num_parameters(config)
    memory = _physical_memory()
    if n <= _UNCHECKED_PARAMETERS or memory is None:
        return
    need = n * bytes_per_parameter
    if need > memory:
        raise ModelTooLargeError(
            f"this config describes a model of about {n:,} parameters ({need / 2**30:.1f} GiB), more than "
            f"this machine's {memory / 2**30:.1f} GiB of memory; check vocab_size ({config.vocab_size}), "
            f"hidden_size ({config.hidden_size}), num_hidden_layers ({config.num_hidden_layers}) and "
            f"intermediate_size ({config.intermediate_size})"
        )


def check_config_fits_weights(config, weight_elements: int, source: str) -> None:
    """Refuse a config far larger than the weights file that should fill it.

    Called after the file is read (its size bounds that) and before the model
    is built, so a tiny ``config.json`` next to a small file cannot make the
    build allocate gigabytes that the shape check would then reject anyway.

    Args:
        config: the model's config.
        weight_elements: total number of elements in the checkpoint's arrays.
        source: the weights file, for the message.

    Raises:
        ModelTooLargeError: the config declares more than twice the file's
            parameters (and more than 2**27 of them; the estimate includes the
            largest head, which a checkpoint may lack).
    """
    n = estimate_num_parameters(config)
    if n > max(2 * weight_elements, _UNCHECKED_PARAMETERS):
        raise ModelTooLargeError(
            f"the config declares about {n:,} parameters but {source} holds {weight_elements:,}: the config "
            f"does not describe these weights (check vocab_size={config.vocab_size}, "
            f"hidden_size={config.hidden_size}, num_hidden_layers={config.num_hidden_layers})"
        )
    check_config_fits_memory(config)
