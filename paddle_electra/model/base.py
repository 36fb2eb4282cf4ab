"""The base class of every ELECTRA model: holds the config, initialises weights once.

``save_pretrained`` / ``from_pretrained`` / ``load_weights`` are documented
here, where users look for them; the work is done by
:mod:`paddle_electra.loading.model_files`, imported when they are called, so the
model layer imports nothing from the loaders at import time.
"""

from __future__ import annotations

import contextvars
import functools
from typing import TYPE_CHECKING, Dict, Optional

import numpy as np
import paddle
import paddle.nn as nn
from paddle.nn import initializer

from .configuration import ATTRIBUTE_DEFAULTS, ElectraConfig
from .model_api import ModelAPI
from .limits import check_config_fits_memory

if TYPE_CHECKING:  # for the annotation only: the loaders import this module
    from ..loading.model_files import LoadReport

# Set while the outermost model is being built ("init" or "load"), so nested
# models (a backbone inside a head) leave initialisation to it.
_BUILDING: contextvars.ContextVar = contextvars.ContextVar("paddle_electra_building", default=None)


class ElectraPretrainedModel(ModelAPI, nn.Layer):
    """Base class: holds ``config``, initialises weights, saves and loads folders.

    The PaddleNLP / HF model API (``base_model``, ``resize_token_embeddings``,
    ``model_name_list``, building a head from an ``ElectraModel`` ...) comes
    from :class:`~paddle_electra.model.model_api.ModelAPI`.
    """

    config_class = ElectraConfig
    base_model_prefix = "electra"
    #: where this model's tokenizer lives: the folder (absolute path) or published name that
    #: :meth:`from_pretrained` loaded it from, when that source has a vocabulary; ``None`` for a
    #: model built from a config. :meth:`save_pretrained` and ``paddle_electra.export`` carry it
    #: along, so a saved or exported model keeps the tokenizer it was trained with.
    tokenizer_source: Optional[str] = None

    def __init__(self, config: ElectraConfig):
        super().__init__()
        if not isinstance(config, ElectraConfig):
            raise ValueError(f"{type(self).__name__} needs an ElectraConfig, got {type(config).__name__}")
        check_config_fits_memory(config)  # before any layer allocates
        self.config = config

    # ------------------------------------------------------------ init
    def __init_subclass__(cls, **kwargs):
        """Wrap every subclass ``__init__`` so the outermost one initialises once.

        While the outermost model is being built, Paddle's global initializer is
        set to Normal(0, initializer_range) / zero bias, so every weight is drawn
        once at creation instead of Xavier first and Normal again; LayerNorms are
        fixed up afterwards. ``from_pretrained`` builds under a constant
        initializer instead (no random draws for weights about to be loaded) and
        initialises only what the checkpoint lacks.
        """
        super().__init_subclass__(**kwargs)
        original = cls.__init__

        @functools.wraps(original)
        def __init__(self, *args, **kw):
            if _BUILDING.get() is not None:  # an inner model, or under from_pretrained
                return original(self, *args, **kw)
            std = _initializer_range(args, kw)
            token = _BUILDING.set("init")
            initializer.set_global_initializer(initializer.Normal(0.0, std), initializer.Constant(0.0))
            try:
                original(self, *args, **kw)
            finally:
                initializer.set_global_initializer(None, None)
                _BUILDING.reset(token)
            self._finish_init()

        cls.__init__ = __init__

    @classmethod
    def build(cls, config: ElectraConfig, initialize: bool = True, **kwargs):
        """``cls(config, **kwargs)``; with ``initialize=False`` every weight is 0 (no random draws).

        The uninitialised form is what :meth:`from_pretrained` loads into, and is
        a fast way to inspect a large architecture.
        """
        if initialize:
            return cls(config, **kwargs)
        token = _BUILDING.set("load")
        initializer.set_global_initializer(initializer.Constant(0.0), initializer.Constant(0.0))
        try:
            return cls(config, **kwargs)
        finally:
            initializer.set_global_initializer(None, None)
            _BUILDING.reset(token)

    def _finish_init(self) -> None:
        """Fix-ups after building under the Normal global initializer (an adopted backbone is left alone)."""
        adopted = [layer for layer in self.sublayers() if getattr(layer, "_adopted", False)]
        skip = {id(sub) for layer in adopted for sub in layer.sublayers(include_self=True)}
        for layer in adopted:
            layer._adopted = False
        for layer in self.sublayers(include_self=True):
            if id(layer) in skip:
                continue
            if isinstance(layer, nn.LayerNorm):
                layer.weight.set_value(paddle.ones_like(layer.weight))
                layer.bias.set_value(paddle.zeros_like(layer.bias))
            if hasattr(layer, "_init_extra"):
                layer._init_extra()

    def init_weights(self, only: Optional[set] = None) -> None:
        """Draw fresh weights: Normal(0, initializer_range), zero biases, unit LayerNorms.

        Args:
            only: parameter names (``state_dict`` keys) to initialise; default all.
        """
        std = self.config.initializer_range
        for prefix, layer in self.named_sublayers(include_self=True):
            for pname, param in layer.named_parameters(include_sublayers=False):
                key = f"{prefix}.{pname}" if prefix else pname
                if only is not None and key not in only:
                    continue
                if isinstance(layer, nn.LayerNorm) and pname == "weight":
                    value = paddle.ones_like(param)
                elif isinstance(layer, (nn.Linear, nn.Embedding)) and pname == "weight":
                    value = paddle.normal(0.0, std, param.shape).astype(param.dtype)
                else:  # biases, LayerNorm shifts, free-standing bias parameters
                    value = paddle.zeros_like(param)
                param.set_value(value)

    # ------------------------------------------------------------ save and load
    def save_pretrained(self, save_directory: str, safe_serialization: bool = False, format: str = "paddle") -> None:
        """Write ``config.json`` and the weights into ``save_directory``.

        Args:
            save_directory: the folder (created if needed).
            safe_serialization: Paddle format only: ``model.safetensors`` in
                Paddle layout instead of ``model_state.pdparams``.
            format: ``"paddle"`` (PaddleNLP's names and layout, loadable by
                PaddleNLP) or ``"hf"``: ``config.json`` + ``model.safetensors``
                with HF names and torch layout, loadable by HF transformers'
                matching class (``ElectraGenerator`` -> ``ElectraForMaskedLM``,
                ``ElectraDiscriminator`` -> ``ElectraForPreTraining``).

        The folder is written beside ``save_directory`` and swapped in whole
        (:func:`~paddle_electra._io.atomic_folder`), so a save killed at any
        moment leaves the old model or the new one, never new weights with an old
        config. Other files already in the folder (a tokenizer's, subfolders) are
        kept; a weights file of the other format left from an earlier save is
        removed, so the folder holds one model.

        The tokenizer comes along: a model loaded by :meth:`from_pretrained`
        from a folder or name that has a vocabulary (:attr:`tokenizer_source`)
        writes that tokenizer's files (``vocab.txt``, ``tokenizer_config.json``,
        ``special_tokens_map.json``, ``added_tokens.json``) into the same
        atomic folder, unless ``save_directory`` already holds a ``vocab.txt``,
        which is kept as it is.

        Raises:
            ValueError: a bad ``format``, ``save_directory`` is a file, or it is
                the current working directory or a folder above it.
        """
        from ..loading import model_files  # the loaders sit above the model layer

        model_files.save_pretrained(self, save_directory, safe_serialization=safe_serialization, format=format)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str,
        config: Optional[ElectraConfig] = None,
        ignore_mismatched_sizes: bool = False,
        output_loading_info: bool = False,
        dtype=None,
        cache_dir: Optional[str] = None,
        **config_overrides,
    ):
        """Build the model from a folder or a published name and load its weights.

        The folder holds ``config.json`` (HF or PaddleNLP) or PaddleNLP 2.4's
        ``model_config.json``, and one of ``model_state.pdparams``,
        ``model.safetensors`` (Paddle or HF layout) or ``pytorch_model.bin``
        (read without torch, refusing pickles that could run code). HF weights
        are renamed and transposed on the fly.

        Args:
            pretrained_model_name_or_path: a model folder, or a published name
                from the name table (downloaded once into the cache, see
                :mod:`paddle_electra.loading.hub`).
            config: use this config instead of the folder's.
            ignore_mismatched_sizes: leave weights whose shapes differ from the
                model's randomly initialised instead of raising (e.g. a new
                ``num_labels``).
            output_loading_info: also return the
                :class:`~paddle_electra.loading.model_files.LoadReport`.
            dtype: ``"float32"`` (default), ``"float16"``, ``"bfloat16"`` or
                ``"float64"`` (or the paddle dtype): the parameters' dtype.
            cache_dir: cache root for a published name instead of
                ``PADDLE_ELECTRA_HOME`` (PaddleNLP's and HF's keyword).
            **config_overrides: config fields to change (``num_labels=3``, or
                PaddleNLP's ``num_classes=3``), the head's PaddleNLP 2.4 arguments
                (``dropout=``), or attributes the config already has.

        Raises:
            ValueError: a keyword that is none of these, no folder / config /
                weights, an unreadable or unsafe weights file, a checkpoint of the
                other pre-training head, shape mismatches (unless ignored), or a
                backbone that does not load.
        """
        from ..loading import model_files  # the loaders sit above the model layer

        return model_files.from_pretrained(
            cls, pretrained_model_name_or_path, config=config, ignore_mismatched_sizes=ignore_mismatched_sizes,
            output_loading_info=output_loading_info, dtype=dtype, cache_dir=cache_dir,
            config_overrides=config_overrides)

    @classmethod
    def _config_overrides(cls, config: ElectraConfig, kwargs: Dict) -> Dict:
        """``from_pretrained``'s extra keywords as config changes; any other keyword is an error."""
        known = set(ElectraConfig.field_names()) | set(ElectraConfig.attribute_map) | {"layer_norm_epsilon"}
        known |= set(ATTRIBUTE_DEFAULTS) | set(config.extra)
        out = {}
        for key, value in kwargs.items():
            name = cls.legacy_init_kwargs.get(key, key)
            if name not in known:
                raise ValueError(
                    f"{cls.__name__}.from_pretrained got an unexpected keyword argument {key!r}: it is neither a "
                    "loading option (config, ignore_mismatched_sizes, output_loading_info, dtype, cache_dir), an "
                    "ElectraConfig "
                    f"field, nor an attribute this config has{_legacy_hint(cls)}")
            out[name] = value
        return out

    @classmethod
    def _config_from_checkpoint(cls, config: ElectraConfig, state: Dict[str, np.ndarray], stated: set):
        """The config with what its file does not state (``stated`` lists what it does) taken from the weights."""
        return config

    def load_weights(self, state: Dict[str, np.ndarray], source: str = "<state dict>",
                     ignore_mismatched_sizes: bool = False) -> "LoadReport":
        """Load a state dict of any supported naming into this model and report.

        HF names are converted, optimizer slots dropped, and the backbone
        prefix (``electra.``) added or removed to fit this class.
        """
        from ..loading import model_files  # the loaders sit above the model layer

        return model_files.load_weights(self, state, source=source, ignore_mismatched_sizes=ignore_mismatched_sizes)


def _legacy_hint(cls) -> str:
    names = sorted(cls.legacy_init_kwargs)
    return f" (or one of {cls.__name__}'s PaddleNLP 2.4 arguments: {', '.join(names)})" if names else ""


def _initializer_range(args, kwargs) -> float:
    """``initializer_range`` of what a model is being built from: a config, a backbone or config fields."""
    source = args[0] if args else kwargs.get("config")
    if isinstance(source, ElectraPretrainedModel):
        source = source.config
    if isinstance(source, ElectraConfig):
        return source.initializer_range
    return kwargs.get("initializer_range", 0.02)
