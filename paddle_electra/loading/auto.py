"""Auto classes: pick the ELECTRA class from the name table or a folder's config.

``AutoConfig`` and one ``AutoModel...`` class per task (``AutoTokenizer`` is the tokenizer's), with the
names PaddleNLP and HF transformers use. Which class a name or folder loads into is
decided offline, from the name table (:mod:`paddle_electra.loading.registry`) or the folder's
``config.json`` / PaddleNLP 2.4 ``model_config.json``, before anything is downloaded:
:func:`model_class_for` answers that question alone.

* ``AutoModel`` loads the class the weights were saved from (the ``architectures``
  of the config, or the name table's class): a generator name gives an
  :class:`ElectraGenerator`, an ERNIE-Health discriminator folder an
  :class:`ErnieHealthDiscriminator`. PaddleNLP's and HF's ``AutoModel`` give the bare
  encoder instead; ``task="Model"`` asks for that.
* ``AutoModelFor<Task>`` loads the task's class whatever the checkpoint holds (a new
  head is initialised where the checkpoint has none); the pre-training tasks pick the
  ERNIE-Health classes for ERNIE-Health checkpoints.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

from . import registry
from ..model.configuration import ElectraConfig
from ..model.ernie_health import ErnieHealthDiscriminator, ErnieHealthForTotalPretraining
from ..model.modeling import (
    ElectraDiscriminator,
    ElectraForMultipleChoice,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraGenerator,
    ElectraModel,
)
from ..model.pretraining import ElectraForTotalPretraining


try:
    from ..model.causal_lm import ElectraForCausalLM
except ModuleNotFoundError as _exc:  # a version of the package without ELECTRA as a decoder
    if _exc.name != f"{__package__}.causal_lm":
        raise
    ElectraForCausalLM = None

MODEL_CLASSES: Dict[str, type] = {
    cls.__name__: cls
    for cls in (
        ElectraModel,
        ElectraGenerator,
        ElectraDiscriminator,
        ElectraForSequenceClassification,
        ElectraForTokenClassification,
        ElectraForQuestionAnswering,
        ElectraForMultipleChoice,
        ElectraForTotalPretraining,
        ErnieHealthDiscriminator,
        ErnieHealthForTotalPretraining,
    )
}
# names other libraries write into config.json "architectures" (HF: ForMaskedLM / ForPreTraining;
# PaddleNLP: ElectraForPretraining is its generator + discriminator pre-training model)
MODEL_CLASSES.update(
    ElectraForMaskedLM=ElectraGenerator,
    ElectraForPreTraining=ElectraDiscriminator,
    ElectraForPretraining=ElectraForTotalPretraining,
)
if ElectraForCausalLM is not None:
    MODEL_CLASSES["ElectraForCausalLM"] = ElectraForCausalLM

_ERNIE_HEALTH = (ErnieHealthDiscriminator, ErnieHealthForTotalPretraining)

# task -> (ELECTRA class, ERNIE-Health class or None). The keys are PaddleNLP's task names
# (its AutoModel.from_pretrained(name, task=...) and its Auto class names) plus HF's "ForPreTraining".
TASKS: Dict[str, tuple] = {
    "Model": (ElectraModel, None),
    "ForMaskedLM": (ElectraGenerator, None),
    "Generator": (ElectraGenerator, None),
    "ForPreTraining": (ElectraDiscriminator, ErnieHealthDiscriminator),
    "Discriminator": (ElectraDiscriminator, ErnieHealthDiscriminator),
    "ForPretraining": (ElectraForTotalPretraining, ErnieHealthForTotalPretraining),
    "ForSequenceClassification": (ElectraForSequenceClassification, None),
    "ForTokenClassification": (ElectraForTokenClassification, None),
    "ForQuestionAnswering": (ElectraForQuestionAnswering, None),
    "ForMultipleChoice": (ElectraForMultipleChoice, None),
}
if ElectraForCausalLM is not None:
    TASKS["ForCausalLM"] = (ElectraForCausalLM, None)


# ---------------------------------------------------------------- resolution
def architectures_of(name_or_path: str) -> list:
    """The ``architectures`` a folder's config lists, or ``[<class>]`` for a published name (offline).

    Raises:
        ValueError: a folder without a readable config, or an unknown name (the
            message lists the closest names).
    """
    path = os.fspath(name_or_path)
    if os.path.isdir(path):
        return list(ElectraConfig.from_pretrained(path).architectures or [])
    if os.path.exists(path):
        raise ValueError(f"{path} is a file; pass a model folder (config.json + weights) or a published name")
    return [registry.get_entry(path).architecture]


def model_class_for(name_or_path: str, task: Optional[str] = None) -> type:
    """The class ``name_or_path`` loads into: for ``task=None`` the one its weights were saved from.

    Nothing is downloaded: a name is looked up in the name table, a folder's
    config is read.

    Args:
        name_or_path: a published name or a model folder (any layout
            ``from_pretrained`` reads).
        task: ``None`` (the checkpoint's own class; ``ElectraModel`` when a
            folder's config names none), or one of :data:`TASKS`
            (``"ForSequenceClassification"``, ``"Model"`` for the bare encoder, ...).

    Raises:
        ValueError: an unknown task, name or architecture, or a folder without a config.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; paddle_electra's tasks are {', '.join(TASKS)}")
    archs = architectures_of(name_or_path)
    known = [MODEL_CLASSES[a] for a in archs if a in MODEL_CLASSES]
    if task is not None:
        electra, ernie_health = TASKS[task]
        return ernie_health if ernie_health is not None and known and known[0] in _ERNIE_HEALTH else electra
    if known:
        return known[0]
    if not archs:
        return ElectraModel
    raise ValueError(
        f"{name_or_path}: architectures {archs} are not ELECTRA classes paddle_electra knows "
        f"({', '.join(sorted(MODEL_CLASSES))}); load it with the class you want "
        "(e.g. ElectraModel.from_pretrained for the encoder alone)"
    )


# ---------------------------------------------------------------- models
class _AutoModelBase:
    """Shared code of the ``AutoModel...`` classes; ``_task`` names the task (None: the checkpoint's class)."""

    _task: Optional[str] = None

    def __init__(self, *args, **kwargs):
        raise TypeError(f"use {type(self).__name__}.from_pretrained(name_or_path) or "
                        f"{type(self).__name__}.from_config(config)")

    @classmethod
    def class_for(cls, name_or_path: str) -> type:
        """The model class ``from_pretrained(name_or_path)`` builds (offline)."""
        return model_class_for(name_or_path, cls._task)

    @classmethod
    def from_pretrained(cls, name_or_path: str, **kwargs):
        """``class_for(name_or_path).from_pretrained(name_or_path, **kwargs)``.

        ``kwargs`` go to that class's ``from_pretrained`` (config fields such as
        ``num_labels`` / ``num_classes``, ``ignore_mismatched_sizes``, ...).
        """
        return cls.class_for(name_or_path).from_pretrained(name_or_path, **kwargs)

    @classmethod
    def from_config(cls, config: ElectraConfig):
        """A randomly initialised model for ``config``: its ``architectures`` class, or this task's class."""
        if not isinstance(config, ElectraConfig):
            raise ValueError(f"{cls.__name__}.from_config needs an ElectraConfig, got {type(config).__name__}")
        archs = config.architectures or []
        own = next((MODEL_CLASSES[a] for a in archs if a in MODEL_CLASSES), None)
        if cls._task is None:
            if own is None and archs:
                raise ValueError(f"config architectures {archs} are not ELECTRA classes paddle_electra knows")
            return (own or ElectraModel)(config)
        electra, ernie_health = TASKS[cls._task]
        return (ernie_health if ernie_health is not None and own in _ERNIE_HEALTH else electra)(config)


class AutoModel(_AutoModelBase):
    """Load any ELECTRA checkpoint into the class its weights were saved from.

    ``AutoModel.from_pretrained("hfl/chinese-legal-electra-small-generator")``
    returns an :class:`ElectraGenerator`; a folder's ``config.json``
    ``architectures`` decides for local folders (``ElectraModel`` when absent).
    ``task=`` (PaddleNLP's argument: ``"Model"``, ``"ForSequenceClassification"``,
    ...) picks the class of a task instead.
    """

    @classmethod
    def class_for(cls, name_or_path: str, task: Optional[str] = None) -> type:
        """The model class ``from_pretrained(name_or_path, task=task)`` builds (offline)."""
        return model_class_for(name_or_path, task)

    @classmethod
    def from_pretrained(cls, name_or_path: str, task: Optional[str] = None, **kwargs):
        """``class_for(name_or_path, task).from_pretrained(name_or_path, **kwargs)``."""
        return cls.class_for(name_or_path, task).from_pretrained(name_or_path, **kwargs)


def _task_class(class_name: str, task: str, doc: str) -> type:
    return type(class_name, (_AutoModelBase,), {"_task": task, "__doc__": doc, "__module__": __name__})


AutoModelForMaskedLM = _task_class(
    "AutoModelForMaskedLM", "ForMaskedLM", "Loads :class:`ElectraGenerator` (masked-LM head).")
AutoGenerator = _task_class(
    "AutoGenerator", "Generator", "PaddleNLP's name for :class:`AutoModelForMaskedLM`.")
AutoModelForPreTraining = _task_class(
    "AutoModelForPreTraining", "ForPreTraining",
    "HF's name: loads the replaced-token discriminator, :class:`ElectraDiscriminator` "
    "(:class:`ErnieHealthDiscriminator` for ERNIE-Health checkpoints).")
AutoDiscriminator = _task_class(
    "AutoDiscriminator", "Discriminator", "PaddleNLP's name for :class:`AutoModelForPreTraining`.")
AutoModelForPretraining = _task_class(
    "AutoModelForPretraining", "ForPretraining",
    "PaddleNLP's name (lower-case t): loads generator + discriminator, :class:`ElectraForTotalPretraining` "
    "(:class:`ErnieHealthForTotalPretraining` for ERNIE-Health checkpoints).")
AutoModelForSequenceClassification = _task_class(
    "AutoModelForSequenceClassification", "ForSequenceClassification",
    "Loads :class:`ElectraForSequenceClassification` (``num_labels`` / ``num_classes`` set the head).")
AutoModelForTokenClassification = _task_class(
    "AutoModelForTokenClassification", "ForTokenClassification", "Loads :class:`ElectraForTokenClassification`.")
AutoModelForQuestionAnswering = _task_class(
    "AutoModelForQuestionAnswering", "ForQuestionAnswering", "Loads :class:`ElectraForQuestionAnswering`.")
AutoModelForMultipleChoice = _task_class(
    "AutoModelForMultipleChoice", "ForMultipleChoice", "Loads :class:`ElectraForMultipleChoice`.")
if ElectraForCausalLM is not None:
    AutoModelForCausalLM = _task_class(
        "AutoModelForCausalLM", "ForCausalLM", "Loads ``ElectraForCausalLM`` (ELECTRA as a decoder).")

AUTO_MODEL_CLASSES = tuple(
    c for c in (AutoModel, AutoModelForMaskedLM, AutoGenerator, AutoModelForPreTraining, AutoDiscriminator,
                AutoModelForPretraining, AutoModelForSequenceClassification, AutoModelForTokenClassification,
                AutoModelForQuestionAnswering, AutoModelForMultipleChoice, globals().get("AutoModelForCausalLM"))
    if c is not None
)


# ---------------------------------------------------------------- config
class AutoConfig:
    """``AutoConfig.from_pretrained(name_or_path)`` is :meth:`ElectraConfig.from_pretrained` (offline for names)."""

    def __init__(self, *args, **kwargs):
        raise TypeError("use AutoConfig.from_pretrained(name_or_path)")

    @staticmethod
    def from_pretrained(name_or_path: str, **kwargs) -> ElectraConfig:
        """The config of a name (from the name table), a folder (any layout) or a config file."""
        return ElectraConfig.from_pretrained(os.fspath(name_or_path), **kwargs)
