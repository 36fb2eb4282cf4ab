"""The PaddleNLP / HF model API every ELECTRA model has, beyond a Paddle layer.

:class:`ModelAPI` is a mixin of :class:`~paddle_electra.model.base.ElectraPretrainedModel`:
PaddleNLP's class attributes built from the name table (``pretrained_init_configuration``,
``pretrained_resource_files_map``, ``model_name_list``), ``base_model``,
``constructed_from_pretrained_config()``, ``resize_token_embeddings`` and building a
head PaddleNLP 2.4 style from an ``ElectraModel`` (:meth:`ModelAPI.resolve_config`).
"""

from __future__ import annotations

import copy
from typing import Dict, Optional, Tuple

import numpy as np
import paddle
import paddle.nn as nn

from .configuration import SIZE_LIMITS, ElectraConfig
from .config_files import PADDLE_WEIGHTS


class _NameTable:
    """Class attribute built from the name table (:mod:`paddle_electra.loading.registry`), PaddleNLP's
    ``pretrained_init_configuration`` / ``pretrained_resource_files_map``: the published names
    this class can load (a generator name is not offered to a discriminator class, and back)."""

    def __init__(self, what: str):
        self.what = what

    def __get__(self, obj, owner=None):
        from ..loading import registry  # the name table is loading's; read when the attribute is

        owner = owner or type(obj)
        entries = []
        for name in registry.names():
            entry = registry.get_entry(name)
            try:
                _check_architecture(owner, entry)
            except ValueError:
                continue
            entries.append(entry)
        if self.what == "configs":
            return {e.name: copy.deepcopy(e.config) for e in entries}
        if self.what == "names":
            return [e.name for e in entries]
        return {"model_state": {e.name: e.file("weights").url for e in entries if e.has_weights}}


class ModelAPI:
    """PaddleNLP's and HF's model methods and class attributes (a mixin; needs ``self.config``)."""

    resource_files_names = {"model_state": PADDLE_WEIGHTS}
    pretrained_init_configuration = _NameTable("configs")
    pretrained_resource_files_map = _NameTable("files")
    model_name_list = _NameTable("names")
    # PaddleNLP 2.4 head arguments -> the config fields they set (Head(electra, num_classes=3, dropout=0.2))
    legacy_init_kwargs: Dict[str, str] = {}

    @staticmethod
    def resolve_config(owner: str, config, **changes) -> Tuple[ElectraConfig, Optional["ModelAPI"]]:
        """``(config, backbone)`` for a head built from a config or, PaddleNLP 2.4 style, from an ElectraModel.

        Given an ``ElectraModel`` instance, the head uses that very instance (its
        weights are kept) and its config; ``changes`` (``num_labels=3`` ...,
        None = not given) are applied to that config, which the two then share.

        Raises:
            ValueError: ``config`` is neither an ElectraConfig nor a bare ElectraModel.
        """
        backbone = None
        if isinstance(config, ModelAPI):
            if type(config).__name__ != "ElectraModel":
                raise ValueError(f"{owner} takes an ElectraConfig or an ElectraModel (its backbone), "
                                 f"got an {type(config).__name__}")
            backbone, config = config, config.config
            backbone._adopted = True  # its weights stay as they are (see _finish_init)
        elif not isinstance(config, ElectraConfig):
            raise ValueError(f"{owner} needs an ElectraConfig (or an ElectraModel), got {type(config).__name__}")
        changes = {k: v for k, v in changes.items() if v is not None}
        if changes:
            config = config.copy(**changes)
            if backbone is not None:
                backbone.config = config
        return config, backbone

    @classmethod
    def constructed_from_pretrained_config(cls, init_func=None) -> bool:
        """True: every model here is built from an :class:`ElectraConfig` (PaddleNLP's check)."""
        return True

    @property
    def base_model(self) -> "ModelAPI":
        """The ``ElectraModel`` inside a head (``self.<base_model_prefix>``), or the model itself."""
        return getattr(self, self.base_model_prefix, self)

    def get_input_embeddings(self) -> nn.Embedding:
        """The word embedding layer (of the backbone)."""
        base = self.base_model
        if base is self:
            raise NotImplementedError(f"{type(self).__name__} has no word embedding")
        return base.get_input_embeddings()

    def get_output_embeddings(self):
        """The LM output embedding (tied heads return the word embedding); None for other heads."""
        return None

    @classmethod
    def from_config(cls, config: ElectraConfig, dtype=None, **kwargs):
        """``cls(config, **kwargs)`` with fresh weights, in ``dtype`` when given (HF / PaddleNLP)."""
        model = cls(config, **kwargs)
        return model if dtype is None else model.to(dtype=_dtype_name(dtype))

    def resize_token_embeddings(self, new_num_tokens: Optional[int] = None) -> nn.Embedding:
        """Give the word embedding ``new_num_tokens`` rows; return the (new) embedding layer.

        The first ``min(old, new)`` rows are kept, new rows are drawn from
        Normal(0, initializer_range). ``config.vocab_size`` follows, and so do the
        vocabulary-sized weights of the heads (the tied LM head's bias: new
        entries 0). ``None`` (or the current size) changes nothing.

        Raises:
            ValueError: a size that is not an integer above ``pad_token_id``
                (and within :data:`~paddle_electra.model.configuration.SIZE_LIMITS`).
        """
        old = self.get_input_embeddings()
        if not new_num_tokens or new_num_tokens == old.weight.shape[0]:
            return old
        n = new_num_tokens
        limit = SIZE_LIMITS["vocab_size"]
        if not isinstance(n, int) or isinstance(n, bool) or not self.config.pad_token_id < n <= limit:
            raise ValueError(f"resize_token_embeddings needs an integer above pad_token_id="
                             f"{self.config.pad_token_id} and at most {limit}, got {n!r}")
        rows, width = old.weight.shape
        new = nn.Embedding(n, width)
        keep = min(rows, n)
        value = paddle.normal(0.0, self.config.initializer_range, [n, width]).astype(old.weight.dtype)
        value[:keep] = old.weight.detach()[:keep]
        new.weight.set_value(value)
        new.to(dtype=old.weight.dtype)
        for layer in self.sublayers(include_self=True):
            if getattr(layer, "word_embeddings", None) is old:  # every user of the one shared table
                layer.word_embeddings = new
        configs = {}
        for layer in self.sublayers(include_self=True):
            if isinstance(layer, ModelAPI):
                configs[id(layer.config)] = layer.config
                layer._resize_vocab_weights(rows, n)
        for config in configs.values():
            config.vocab_size = n
        return new

    def _resize_vocab_weights(self, old: int, new: int) -> None:
        """Heads with vocabulary-sized weights of their own (LM biases) resize them here."""

    def _resize_bias(self, name: str, new: int) -> None:
        """Replace the [V] / [V, 1] parameter ``name`` by one of ``new`` rows: old rows kept, new ones 0."""
        param = getattr(self, name)
        shape = [new] + list(param.shape[1:])
        value = paddle.zeros(shape, dtype=param.dtype)
        keep = min(new, param.shape[0])
        value[:keep] = param.detach()[:keep]
        fresh = self.create_parameter(shape, dtype=param.dtype, is_bias=True)
        fresh.set_value(value)
        setattr(self, name, fresh)


def _check_architecture(cls, entry) -> None:
    """A generator name loaded into a discriminator class (or the reverse) is an error.

    Args:
        cls: the model class asked to load ``entry``.
        entry: the name table's ``PretrainedEntry``.
    """
    from ..loading import registry  # the name table is loading's
    wanted, published = cls.__name__, entry.architecture
    pairs = (registry.GENERATOR_CLASSES, registry.DISCRIMINATOR_CLASSES)
    for mine, theirs in (pairs, pairs[::-1]):
        if wanted in mine and published in theirs:
            raise ValueError(
                f"{entry.name} is an {published} checkpoint, not an {wanted}; load it with "
                f"{published}.from_pretrained({entry.name!r}) (or ElectraModel for the encoder alone)"
            )


def require_tied_embeddings(owner: str, config: ElectraConfig) -> None:
    """The LM heads here always reuse the word embedding; a config asking otherwise is refused."""
    if not config.tie_word_embeddings:
        raise ValueError(f"{owner} ties its output embedding to the word embedding; "
                         "config.tie_word_embeddings=False is not supported")


# dtypes a model may be loaded in; CPU kernels exist for all, float16 / bfloat16 are for accelerators
_DTYPES = ("float32", "float16", "bfloat16", "float64")


def _dtype_name(dtype) -> str:
    """``"float16"`` for ``"float16"`` / ``paddle.float16`` / ``np.float16``; ValueError for anything else."""
    name = str(dtype).replace("paddle.", "")
    if isinstance(dtype, type) and issubclass(dtype, np.generic):
        name = np.dtype(dtype).name
    if name not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_DTYPES)} (or the paddle dtype), got {dtype!r}")
    return name
