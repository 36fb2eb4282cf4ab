"""``AutoModel``: pick the model class from the name table or a folder's config."""

from __future__ import annotations

import os

from . import registry
from .configuration import ElectraConfig
from .ernie_health import ErnieHealthDiscriminator, ErnieHealthForTotalPretraining
from .modeling import (
    ElectraDiscriminator,
    ElectraForMultipleChoice,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraGenerator,
    ElectraModel,
)
from .pretraining import ElectraForTotalPretraining

MODEL_CLASSES = {
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
# names other libraries write into config.json "architectures"
MODEL_CLASSES.update(
    ElectraForMaskedLM=ElectraGenerator,
    ElectraForPreTraining=ElectraDiscriminator,
    ElectraForPretraining=ElectraForTotalPretraining,
)


class AutoModel:
    """Load any ELECTRA checkpoint into the class its weights were saved from.

    ``AutoModel.from_pretrained("hfl/chinese-legal-electra-small-generator")``
    returns an :class:`ElectraGenerator`; a folder's ``config.json``
    ``architectures`` decides for local folders (``ElectraModel`` when absent).
    """

    def __init__(self):
        raise TypeError("use AutoModel.from_pretrained(name_or_path)")

    @staticmethod
    def class_for(name_or_path: str):
        """The model class a name or folder would load into."""
        if os.path.isdir(name_or_path):
            archs = ElectraConfig.from_pretrained(name_or_path).architectures or ["ElectraModel"]
        else:
            archs = [registry.get_entry(name_or_path).architecture]
        for arch in archs:
            if arch in MODEL_CLASSES:
                return MODEL_CLASSES[arch]
        raise ValueError(f"{name_or_path}: architectures {archs} are not ELECTRA classes paddle_electra knows")

    @staticmethod
    def from_pretrained(name_or_path: str, **kwargs):
        """``class_for(name_or_path).from_pretrained(name_or_path, **kwargs)``."""
        return AutoModel.class_for(name_or_path).from_pretrained(name_or_path, **kwargs)
