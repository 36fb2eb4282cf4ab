"""paddle_electra: the ELECTRA model family on PaddlePaddle.

Every ELECTRA layer and head with PaddleNLP's names and conventions, loading
PaddleNLP, HF transformers (safetensors / pytorch_model.bin, no torch needed)
checkpoints, verified against HF transformers.

The public names are loaded lazily (PEP 562): ``import paddle_electra`` does not
import Paddle, so ``paddle-electra --help`` and the light helpers start at once;
``paddle_electra.ElectraModel`` (or ``from paddle_electra import pipeline``)
imports the submodule that defines it, and Paddle with it, at first use.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict

from . import _moved
from ._cpu import keep_freed_memory, set_num_threads, use_fast_mkl_kernels

_moved.install()  # the flat layout's module paths (paddle_electra.modeling, ...) stay importable

# MKL reads MKL_DEBUG_CPU_TYPE at its first GEMM, so the variable has to be set before any Paddle matmul;
# use_fast_mkl_kernels() only reads /proc/cpuinfo and sets the variable (no Paddle import), so it runs here,
# at import, before any submodule that imports Paddle can be loaded (see _cpu.py)
FAST_MKL_KERNELS = use_fast_mkl_kernels()
# glibc keeps freed heap memory for reuse instead of page-faulting fresh memory for every large tensor
KEPT_FREED_MEMORY = keep_freed_memory()

__version__ = "0.1.0"

# public name -> the submodule (relative to this package) that defines it
_SUBMODULE_OF: Dict[str, str] = {
    "ElectraConfig": ".model.configuration",
    "ElectraPretrainedModel": ".model.base",
    "LoadReport": ".loading.model_files",
    "ElectraForCausalLM": ".model.causal_lm",
    "KVCache": ".model.kv_cache",
    "list_pretrained": ".loading.registry",
    "print_pretrained": ".loading.registry",
    "ElectraForPretraining": ".model.pretraining",
    "ElectraForTotalPretraining": ".model.pretraining",
    "ElectraPretrainingCriterion": ".model.pretraining",
    "ErnieHealthDiscriminator": ".model.ernie_health",
    "ErnieHealthForTotalPretraining": ".model.ernie_health",
    "ErnieHealthPretrainingCriterion": ".model.ernie_health",
    "ElectraTokenizer": ".tokenizer",
    "AutoTokenizer": ".tokenizer.auto",
    "BatchEncoding": ".tokenizer",
    "ElectraPredictor": ".inference.export",
    "OnnxPredictor": ".inference.export",
    "ExportError": ".inference.export",
    "ExportVerificationError": ".inference.export",
    "pipeline": ".inference.pipelines",
    "ChecksumError": ".loading.hub",
    "DownloadError": ".loading.hub",
    "OfflineError": ".loading.hub",
    "cache_root": ".loading.hub",
}
_SUBMODULE_OF.update({name: ".model.modeling" for name in (
    "ElectraEmbeddings", "ElectraLayer", "ElectraEncoder", "ElectraModel", "ElectraGenerator", "ElectraForMaskedLM",
    "ElectraDiscriminator", "ElectraForPreTraining", "ElectraClassificationHead", "ElectraForSequenceClassification",
    "ElectraForTokenClassification", "ElectraForQuestionAnswering", "ElectraForMultipleChoice")})
_SUBMODULE_OF.update({name: ".loading.auto" for name in (
    "AutoConfig", "AutoModel", "AutoModelForMaskedLM", "AutoModelForPreTraining",
    "AutoModelForPretraining", "AutoModelForSequenceClassification", "AutoModelForTokenClassification",
    "AutoModelForQuestionAnswering", "AutoModelForMultipleChoice", "AutoGenerator", "AutoDiscriminator",
    "AutoModelForCausalLM")})
# names that are submodules themselves: `export` is a callable subpackage (pe.export(model, out_dir, ...))
_SUBMODULES = {"export": ".inference.export"}

__all__ = ["set_num_threads", "export"] + list(_SUBMODULE_OF)


def __getattr__(name: str) -> Any:
    """Import the submodule behind a public name at its first use and cache the name here (PEP 562)."""
    if name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name], __name__)
    elif name in _SUBMODULE_OF:
        value = getattr(importlib.import_module(_SUBMODULE_OF[name], __name__), name)
    elif name in _moved.MOVED:  # a flat-layout module as an attribute (pe.safety, pe.hub): the same module
        value = importlib.import_module("." + name, __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
