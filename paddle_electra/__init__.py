"""paddle_electra: the ELECTRA model family on PaddlePaddle.

Every ELECTRA layer and head with PaddleNLP's names and conventions, loading
PaddleNLP, HF transformers (safetensors / pytorch_model.bin, no torch needed)
checkpoints, verified against HF transformers.
"""

from ._cpu import set_num_threads, use_fast_mkl_kernels

FAST_MKL_KERNELS = use_fast_mkl_kernels()  # before any Paddle matmul runs; see _cpu.py

from .configuration import ElectraConfig  # noqa: E402
from .modeling import (
    ElectraClassificationHead,
    ElectraDiscriminator,
    ElectraEmbeddings,
    ElectraEncoder,
    ElectraForMaskedLM,
    ElectraForMultipleChoice,
    ElectraForPreTraining,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraGenerator,
    ElectraLayer,
    ElectraModel,
)
from .modeling_utils import ElectraPretrainedModel, LoadReport
from .causal_lm import ElectraForCausalLM
from .kv_cache import KVCache
from .registry import list_pretrained, print_pretrained
from .pretraining import ElectraForPretraining, ElectraForTotalPretraining, ElectraPretrainingCriterion
from .ernie_health import (
    ErnieHealthDiscriminator,
    ErnieHealthForTotalPretraining,
    ErnieHealthPretrainingCriterion,
)

from .auto import (
    AutoConfig,
    AutoDiscriminator,
    AutoGenerator,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForPreTraining,
    AutoModelForPretraining,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)
from . import auto as _auto
from .tokenizer import BatchEncoding, ElectraTokenizer
from . import export  # callable subpackage: pe.export(model, out_dir, ...), pe.export.verify(...)
from .export import ElectraPredictor, ExportError, ExportVerificationError, OnnxPredictor
from .pipelines import pipeline
from .hub import ChecksumError, DownloadError, OfflineError, cache_root

__version__ = "0.1.0"

__all__ = [
    "set_num_threads",
    "AutoConfig",
    "AutoTokenizer",
    "AutoModel",
    "AutoModelForMaskedLM",
    "AutoModelForPreTraining",
    "AutoModelForPretraining",
    "AutoModelForSequenceClassification",
    "AutoModelForTokenClassification",
    "AutoModelForQuestionAnswering",
    "AutoModelForMultipleChoice",
    "AutoGenerator",
    "AutoDiscriminator",
    "export",
    "ElectraPredictor",
    "OnnxPredictor",
    "ExportError",
    "ExportVerificationError",
    "pipeline",
    "ElectraTokenizer",
    "BatchEncoding",
    "DownloadError",
    "ChecksumError",
    "OfflineError",
    "cache_root",
    "list_pretrained",
    "print_pretrained",
    "ElectraConfig",
    "ElectraPretrainedModel",
    "LoadReport",
    "ElectraEmbeddings",
    "ElectraLayer",
    "ElectraEncoder",
    "ElectraModel",
    "ElectraGenerator",
    "ElectraForMaskedLM",
    "ElectraDiscriminator",
    "ElectraForPreTraining",
    "ElectraClassificationHead",
    "ElectraForSequenceClassification",
    "ElectraForTokenClassification",
    "ElectraForQuestionAnswering",
    "ElectraForMultipleChoice",
    "ElectraForCausalLM",
    "KVCache",
    "ElectraForTotalPretraining",
    "ElectraForPretraining",
    "ElectraPretrainingCriterion",
    "ErnieHealthDiscriminator",
    "ErnieHealthForTotalPretraining",
    "ErnieHealthPretrainingCriterion",
]

if hasattr(_auto, "AutoModelForCausalLM"):  # where this version has ElectraForCausalLM
    AutoModelForCausalLM = _auto.AutoModelForCausalLM
    __all__.append("AutoModelForCausalLM")
