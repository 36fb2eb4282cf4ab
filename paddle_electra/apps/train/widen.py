"""Growing a trained discriminator twice as wide without changing what it computes.

Every hidden activation ``x`` of the narrow network becomes ``[x, x]`` in the
wide one: the residual stream, the attention heads (their number doubles, the
size of each stays, so the new heads repeat the old ones and each head's scores
are unchanged), the feed-forward units and the head's dense layer. A weight
that reads a doubled activation is split between the two copies so that their
sum is the old weight; LayerNorm over ``[x, x]`` has the mean and variance of
``x``, so it only needs its scale and shift repeated. The word, position and
token-type embeddings keep their width (``embedding_size``): the generator shares
the word embedding, and an ``embeddings_project`` ``[I, I]`` feeds the wider
encoder where the narrow one had none.

The split is random (each entry ``w * r`` and ``w * (1 - r)``, ``r`` in
``[0.25, 0.75]``), not ``w / 2`` twice: with identical copies every duplicated
unit would get the same gradient for ever and the extra width would stay unused
(Chen et al. 2016, Net2Net, break the tie with noise; a random split breaks it and
keeps the function exact).
"""

from __future__ import annotations

from typing import Dict

import numpy as np

# the sizes that double; embedding_size and everything else stay
WIDENED = ("hidden_size", "num_attention_heads", "intermediate_size")


def widened_sizes(config) -> Dict[str, int]:
    """The sizes of the twice-as-wide discriminator of ``config`` (the head size stays)."""
    return {name: 2 * int(getattr(config, name)) for name in WIDENED}


def widen_state(narrow: Dict[str, np.ndarray], wide_shapes: Dict[str, tuple], seed: int = 0) -> Dict[str, np.ndarray]:
    """The wide discriminator's weights from the narrow one's (``name -> array``, Paddle's ``(in, out)`` layout).

    Args:
        narrow: the trained discriminator's state.
        wide_shapes: every parameter of the wide discriminator with its shape.
        seed: the random split's seed.

    Returns:
        a state for every name of ``wide_shapes``.

    Raises:
        ValueError: a parameter of the wide network that is neither in the
            narrow one with a shape doubled along some axes nor the new
            ``embeddings_project`` (the two networks are not a narrow / wide pair).
    """
    rng = np.random.default_rng(seed)
    wide = {}
    for name, shape in wide_shapes.items():
        shape = tuple(int(n) for n in shape)
        if name not in narrow:
            wide[name] = _new_projection(name, shape)
            continue
        w = np.asarray(narrow[name], dtype=np.float32)
        factors = [n // o if o and n % o == 0 else 0 for n, o in zip(shape, w.shape)]
        if len(shape) != w.ndim or any(f not in (1, 2) for f in factors):
            raise ValueError(f"{name}: {list(w.shape)} does not widen to {list(shape)} (only doubling is possible)")
        if w.ndim == 2 and factors[0] == 2:  # reads a doubled activation: the two copies share the weight
            r = rng.uniform(0.25, 0.75, size=w.shape).astype(np.float32)
            first, second = w * r, w * (1 - r)
            if factors[1] == 2:  # and writes one: the second output copy takes the other split
                first, second = np.concatenate([first, second], 1), np.concatenate([second, first], 1)
            w = np.concatenate([first, second], 0)
        elif factors[-1] == 2:  # writes a doubled activation (a bias, a LayerNorm, a projection from embeddings)
            w = np.concatenate([w, w], -1)
        wide[name] = w
    return wide


def _new_projection(name: str, shape: tuple) -> np.ndarray:
    """``embeddings_project`` where the narrow network had none: ``[I, I]`` (weight) and zeros (bias)."""
    if name.endswith("embeddings_project.weight") and len(shape) == 2 and shape[1] == 2 * shape[0]:
        return np.concatenate([np.eye(shape[0]), np.eye(shape[0])], 1).astype(np.float32)
    if name.endswith("embeddings_project.bias") and len(shape) == 1:
        return np.zeros(shape, np.float32)
    raise ValueError(f"{name} {list(shape)} of the wide network has nothing to start from in the narrow one")


def widen_discriminator(narrow, seed: int = 0):
    """A discriminator twice as wide as ``narrow`` (a loaded model) that gives the same logits.

    Returns a new model of ``narrow``'s class with ``hidden_size``,
    ``num_attention_heads`` and ``intermediate_size`` doubled; its outputs equal
    ``narrow``'s up to float rounding, and training it uses the new width.
    """
    import paddle

    config = narrow.config.copy(**widened_sizes(narrow.config))
    wide = type(narrow)(config)
    shapes = {k: tuple(v.shape) for k, v in wide.state_dict().items()}
    state = widen_state({k: v.numpy() for k, v in narrow.state_dict().items()}, shapes, seed)
    wide.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
    return wide
