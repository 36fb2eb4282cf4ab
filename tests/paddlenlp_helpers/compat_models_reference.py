#!/usr/bin/env python
"""The PaddleNLP 2.8.1 side of tests/loading/test_paddlenlp_compat_models.py (run with the PaddleNLP venv's python).

    .venv-paddlenlp/bin/python tests/paddlenlp_helpers/compat_models_reference.py REQUEST.json

REQUEST.json: ``{"inputs": npz, "ernie_health": {config, seed, dir}, "cache": {model_dir, out}}``.

* ``ernie_health``: PaddleNLP's ``ErnieHealthDiscriminator`` built from the config (no num_labels:
  PaddleNLP's default 2-way CSP head), parameters perturbed, ``save_pretrained(dir)``; its
  outputs on the batch go to ``dir/outputs.npz``.
* ``cache``: PaddleNLP's ``ElectraModel.from_pretrained(model_dir)`` (a folder paddle_electra
  wrote); a first pass with ``use_cache=True``, then the same ids again with that cache (a float
  all-ones mask over both, as PaddleNLP's own cache test does), and padded ids with the cache and
  no mask. Outputs and the cache's first key / value go to ``out``.

Errors propagate (non-zero exit): the test reports stderr.
"""

import json
import os
import sys
import warnings

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import paddle  # noqa: E402

paddle.set_device("cpu")

from paddlenlp.transformers import ElectraConfig, ElectraModel, ErnieHealthDiscriminator  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_common as common  # noqa: E402


def ernie_health(job, batch):
    paddle.seed(job["seed"])
    model = ErnieHealthDiscriminator(ElectraConfig(**job["config"]))
    common.perturb_parameters(model, job["seed"])
    model.eval()
    model.save_pretrained(job["dir"])
    outputs = common.run_model(model, "ErnieHealthDiscriminator", batch)
    np.savez(os.path.join(job["dir"], "outputs.npz"), **outputs)


def cache(job, batch):
    model = ElectraModel.from_pretrained(job["model_dir"])
    model.eval()
    ids, types = paddle.to_tensor(batch["ids"]), paddle.to_tensor(batch["types"])
    with paddle.no_grad():
        first = model(ids, token_type_ids=types, use_cache=True, return_dict=True)
        past = first.past_key_values
        ones = paddle.ones([ids.shape[0], 2 * ids.shape[1]])
        second = model(ids, token_type_ids=types, attention_mask=ones, past_key_values=past, return_dict=True)
        padded = model(ids, token_type_ids=types, past_key_values=past)  # pad ids 0 -> masked, past kept
    np.savez(job["out"], first=first.last_hidden_state.numpy(), key0=past[0][0].numpy(), value0=past[0][1].numpy(),
             second=second.last_hidden_state.numpy(), padded=padded.numpy())


def main(request_path):
    with open(request_path) as f:
        request = json.load(f)
    with np.load(request["inputs"]) as data:
        batch = {k: data[k] for k in data.files}
    ernie_health(request["ernie_health"], batch)
    cache(request["cache"], batch)


if __name__ == "__main__":
    main(sys.argv[1])
