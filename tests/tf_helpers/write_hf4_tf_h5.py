"""Write genuine ``tf_model.h5`` files with transformers 4.x's TF ELECTRA classes.

Not run by the test suite (transformers 5 has no TF models, and 4.x + tf-keras is
a heavy extra venv). It documents how the h5 layout that
``paddle_electra.loading.convert.tf_h5`` reads was verified:

    python3 -m venv /tmp/tfhf
    /tmp/tfhf/bin/pip install tensorflow-cpu==2.21.0 tf-keras==2.21.0 "transformers>=4.50,<5"
    /tmp/tfhf/bin/python tests/tf_helpers/write_hf4_tf_h5.py OUT_DIR

For each of TFElectraForPreTraining, TFElectraForMaskedLM and TFElectraModel it
saves ``OUT_DIR/<class>/`` with ``save_pretrained`` (config.json + tf_model.h5)
and ``OUT_DIR/<class>/reference.npz`` holding fixed inputs and the model's
outputs on them, so the main venv can check that the h5 loads into Paddle and
gives the same numbers.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import transformers  # noqa: E402


def main(out_dir):
    config = transformers.ElectraConfig(
        vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, type_vocab_size=2,
    )
    rng = np.random.RandomState(0)
    ids = rng.randint(1, 99, (2, 7)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 5:] = 0
    types = np.zeros_like(ids)
    types[:, 4:] = 1
    for name in ("TFElectraForPreTraining", "TFElectraForMaskedLM", "TFElectraModel"):
        tf.random.set_seed(0)
        model = getattr(transformers, name)(config)
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=types, training=False)
        # non-zero biases and LayerNorm parameters, so a mix-up of weight and bias shows
        for var in model.weights:
            if var.name.endswith(("bias:0", "beta:0", "gamma:0")):
                var.assign(var + tf.random.normal(var.shape, stddev=0.1))
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=types, training=False)
        folder = os.path.join(out_dir, name)
        model.save_pretrained(folder)
        first = out.logits if hasattr(out, "logits") else out.last_hidden_state
        np.savez(os.path.join(folder, "reference.npz"), input_ids=ids, attention_mask=mask,
                 token_type_ids=types, output=first.numpy(),
                 weight_names=np.array([w.name for w in model.weights]))
        print(name, folder, first.shape, transformers.__version__)


if __name__ == "__main__":
    main(sys.argv[1])
