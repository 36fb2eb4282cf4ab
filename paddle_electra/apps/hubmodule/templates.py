"""The files of a generated PaddleHub module, as ``string.Template`` texts (``$name`` placeholders).

Kept as Python strings so they ship inside the package without package data.
Every value substituted into ``MODULE_PY`` is a Python literal (``repr``),
because PaddleHub reads ``@moduleinfo``'s keywords with ``ast`` and needs plain
string constants there.
"""

# the @serving method and the README's first lines, the same in both kinds of module
SERVING_METHOD = '''
    @serving
    def predict_method(self, data, max_seq_len: int = 128, batch_size: int = 1, use_gpu: bool = False):
        """`hub serving`: POST {"data": [[text], ...]} to /predict/$name."""
        return self.serve(data, max_seq_len=max_seq_len, batch_size=batch_size, use_gpu=use_gpu)
'''

# @moduleinfo's keywords, plain literals (PaddleHub reads them with ast); each template closes the call
MODULEINFO = '''@moduleinfo(
    name=$name_lit,
    version=$version_lit,
    summary=$summary_lit,
    author=$author_lit,
    author_email=$author_email_lit,
    type="nlp/semantic_model",
'''

README_HEAD = '''\
# $name

$summary

PaddleHub module (`type: nlp/semantic_model`, version $version) written by
`paddle-electra hub-module` (paddle_electra $pe_version) from'''

MODULE_PY = '''\
# PaddleHub module written by paddle_electra $pe_version (`paddle-electra hub-module`).
"""$summary_doc

Load it with ``hub.Module(directory="<this folder>")``, or ``hub install <this folder>`` then
``hub.Module(name=$name_lit)``. Needs paddle_electra (requirements.txt); see README.md.
"""
${os_import}from typing import Dict, Optional

from paddlehub.module.module import moduleinfo, serving
from paddlehub.module.nlp_module import TransformerModule

from paddle_electra.apps.hubmodule.runtime import ElectraHubLayer

$model_comment
MODEL = $model_expr


''' + MODULEINFO + '''    meta=TransformerModule,
)
class Electra(ElectraHubLayer):
    """$arch_note

    Tasks: $tasks_doc.
    """

    TASKS = $tasks_lit

    def __init__(self, task: Optional[str] = $default_task_lit, load_checkpoint: Optional[str] = None,
                 label_map: Optional[Dict] = None, num_classes: Optional[int] = None, suffix: bool = False,
                 **kwargs):
        ElectraHubLayer.__init__(self, MODEL, task=task, load_checkpoint=load_checkpoint, label_map=label_map,
                                 num_classes=num_classes, suffix=suffix, **kwargs)
''' + SERVING_METHOD

README_MD = README_HEAD + ''' `$source`.
$weights_note

| | |
|---|---|
| model class | `$arch` |
| tasks | $tasks_doc |
| default task | `$default_task` |

## Install

paddle_electra runs the model (requirements.txt); it is installed from its source tree (it is not on
PyPI). PaddleHub 2.4.0 imports only with these pins (protobuf 3, gradio 4, and the versions
PaddleNLP 2.8.1 was released against); in the paddle_electra source folder:

```bash
pip install -e . paddlepaddle==3.3.1 paddlehub==2.4.0 paddlenlp==2.8.1 protobuf==3.20.3 "gradio<5" "huggingface_hub<0.26" "aistudio-sdk<0.3" "datasets<3"
```

```bash
hub install $folder   # optional: then hub.Module(name="$name")
```

## Use

```python
import paddlehub as hub

module = hub.Module(directory="$folder")$example

# sentence ([CLS]) and token embeddings of the encoder, any task
cls_vector, token_vectors = hub.Module(directory="$folder", task=None).get_embedding([["$example_text"]])[0]
```

$task_examples

Inputs are padded per batch with an attention mask, so results do not depend on
`batch_size`; `max_seq_len` (default 128) cuts longer inputs.

## Serve

```bash
hub serving start -m $name   # after `hub install`; POST {"data": [["text"]]} to /predict/$name
$serve_line
```
'''

REQUIREMENTS_TXT = '''\
paddle_electra>=$pe_version
'''

# ----------------------------------------------------------------------------- modules made from an export folder
EXPORT_MODULE_PY = '''\
# PaddleHub module written by paddle_electra $pe_version (`paddle-electra hub-module`) from an export folder.
"""$summary_doc

Runs the exported graph in ./export ($backend by default); it is a deployment, so it
predicts but does not train. Load it with ``hub.Module(directory="<this folder>")``, or
``hub install <this folder>`` then ``hub.Module(name=$name_lit)``. Needs paddle_electra
(requirements.txt); see README.md.
"""
import os
from typing import Dict, Optional

from paddlehub.module.module import moduleinfo, serving

from paddle_electra.apps.hubmodule.export_runtime import ElectraExportHubModule

# the export (manifest.json, Paddle Inference graph, ONNX models, tokenizer), checked against
# its manifest when the module loads
EXPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "export")


''' + MODULEINFO + ''')
class Electra(ElectraExportHubModule):
    """$arch_note

    Tasks: $tasks_doc. Backends: $backends_doc.
    """

    TASKS = $tasks_lit

    def __init__(self, task: Optional[str] = $default_task_lit, backend: Optional[str] = $backend_lit,
                 threads: Optional[int] = None, label_map: Optional[Dict] = None):
        ElectraExportHubModule.__init__(self, EXPORT, task=task, backend=backend, threads=threads,
                                        label_map=label_map)
''' + SERVING_METHOD

EXPORT_README_MD = README_HEAD + ''' the export folder `$source`.
It runs the exported graph in `export/` on the CPU and predicts; it does not train (for
fine-tuning, make a module from the model folder instead).

| | |
|---|---|
| model class | `$arch` |
| task | $tasks_doc |
| backend (default) | `$backend` |
| quantisation | $quantization |

Backends (`backend=` when loading): $backends_doc. The export's files are checked against
its manifest (sizes and sha256) when the module loads.

## Install

paddle_electra runs the model (requirements.txt); it is installed from its source tree (it is not on
PyPI). PaddleHub 2.4.0 imports only with these pins; in the paddle_electra source folder:

```bash
pip install -e . paddlepaddle==3.3.1 paddlehub==2.4.0 paddlenlp==2.8.1 protobuf==3.20.3 "gradio<5" "huggingface_hub<0.26" "aistudio-sdk<0.3" "datasets<3"$onnxruntime
```

## Use

```python
import paddlehub as hub

module = hub.Module(directory="$folder")   # backend $backend_lit
$use_example
```

## Serve

```bash
hub serving start -m $name   # after `hub install $folder`; POST {"data": [["text"]]} to /predict/$name
paddle-electra serve --model $folder/export --backend $backend --port 8866   # paddle_electra's own server
```
'''
