# PaddleHub module written by paddle_electra 0.1.0 (`paddle-electra hub-module`).
"""chinese-legal-electra-small-generator, ELECTRA generator, 12-layer, 64-hidden, 1-heads, 3.4M
parameters, on paddle_electra

Load it with ``hub.Module(directory="<this folder>")``, or ``hub install <this folder>`` then
``hub.Module(name='chinese-legal-electra-small-generator')``. Needs paddle_electra (requirements.txt); see README.md.
"""
from typing import Dict, Optional

from paddlehub.module.module import moduleinfo, serving
from paddlehub.module.nlp_module import TransformerModule

from paddle_electra.apps.hubmodule.runtime import ElectraHubLayer

# a published name: paddle_electra downloads it at first use and caches it
# (PADDLE_ELECTRA_HOME; mirrors: PADDLE_ELECTRA_MIRROR, HF_ENDPOINT)
MODEL = 'hfl/chinese-legal-electra-small-generator'


@moduleinfo(
    name='chinese-legal-electra-small-generator',
    version='1.0.0',
    summary='chinese-legal-electra-small-generator, ELECTRA generator, 12-layer, 64-hidden, 1-heads, 3.4M parameters, on paddle_electra',
    author='HFL (ymcui), paddle_electra',
    author_email='ymcui@ir.hit.edu.cn',
    type="nlp/semantic_model",
    meta=TransformerModule,
)
class Electra(ElectraHubLayer):
    """ElectraGenerator from hfl/chinese-legal-electra-small-generator, with PaddleHub's TransformerModule interface.

    Tasks: None (embeddings), 'fill-mask'.
    """

    TASKS = (None, 'fill-mask')

    def __init__(self, task: Optional[str] = 'fill-mask', load_checkpoint: Optional[str] = None,
                 label_map: Optional[Dict] = None, num_classes: Optional[int] = None, suffix: bool = False,
                 **kwargs):
        ElectraHubLayer.__init__(self, MODEL, task=task, load_checkpoint=load_checkpoint, label_map=label_map,
                                 num_classes=num_classes, suffix=suffix, **kwargs)

    @serving
    def predict_method(self, data, max_seq_len: int = 128, batch_size: int = 1, use_gpu: bool = False):
        """`hub serving`: POST {"data": [[text], ...]} to /predict/chinese-legal-electra-small-generator."""
        return self.serve(data, max_seq_len=max_seq_len, batch_size=batch_size, use_gpu=use_gpu)
