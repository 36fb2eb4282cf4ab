"""Code shared by the PaddleNLP-venv helper and tests/loading/test_paddlenlp_interop.py.

Both interpreters import this file (it needs numpy and paddle only, never paddlenlp or
paddle_electra), so the two sides feed every model the same batch in the same way:

* :func:`make_batch` / :func:`run_model` / :func:`flatten_outputs`: the fixed padded
  batch (int64 1/0 attention mask, two segments) and how each class is called;
* :func:`perturb_parameters`: moves every parameter off its init value (biases and
  LayerNorm weights included), so a weight that is not carried over shows up in the outputs;
* :func:`legacy_model_config`: PaddleNLP 2.4's ``model_config.json`` layout.

PaddleNLP 2.4's ``model_config.json``
-----------------------------------
What 2.4 wrote (``PretrainedModel.save_pretrained`` -> ``self.init_config``, filled by
``InitTrackerMeta.init_and_track_conf``): the keyword arguments the model was built
with, then ``init_args`` (the positional arguments, a backbone ``PretrainedModel``
serialised as its own ``init_config``) and ``init_class``. ``from_pretrained`` built
the backbone from keyword arguments only and a head as ``Head(backbone, **head_kwargs)``, so

* ``ElectraModel``: the flat backbone kwargs plus ``"init_class": "ElectraModel"``;
* a head: ``{<head kwargs>, "init_args": [{<backbone kwargs>, "init_class": "ElectraModel"}],
  "init_class": "<Head>"}`` with head kwargs ``num_classes`` (sequence / token
  classification) or ``num_choices`` (multiple choice); the discriminator, generator,
  QA head and ``ErnieHealthDiscriminator`` took the backbone only.

The backbone kwargs are the keys of 2.4's ``pretrained_init_configuration`` (sorted, as
there). ``layer_norm_eps`` appears only where that table had it (``ernie-health-chinese``:
1e-5); elsewhere the 1e-12 default applied. 2.4's ``ErnieHealthDiscriminator`` had no
``num_classes`` argument: its CSP head was fixed at 128 outputs.
"""

import numpy as np

BACKBONE_KEYS = (
    "attention_probs_dropout_prob",
    "embedding_size",
    "hidden_act",
    "hidden_dropout_prob",
    "hidden_size",
    "initializer_range",
    "intermediate_size",
    "max_position_embeddings",
    "num_attention_heads",
    "num_hidden_layers",
    "pad_token_id",
    "type_vocab_size",
    "vocab_size",
)

# flat (2.5+) config key -> the 2.4 head keyword argument
HEAD_KWARGS = {
    "ElectraForSequenceClassification": {"num_labels": "num_classes"},
    "ElectraForTokenClassification": {"num_labels": "num_classes"},
    "ElectraForMultipleChoice": {"num_choices": "num_choices"},
}

ERNIE_HEALTH_LEGACY_CSP_OUTPUTS = 128
DEFAULT_LAYER_NORM_EPS = 1e-12


def legacy_model_config(class_name, config):
    """The ``model_config.json`` dict PaddleNLP 2.4 wrote for ``class_name`` built from ``config``."""
    backbone = {k: config[k] for k in BACKBONE_KEYS}
    eps = config.get("layer_norm_eps", DEFAULT_LAYER_NORM_EPS)
    if eps != DEFAULT_LAYER_NORM_EPS:
        backbone["layer_norm_eps"] = eps
    if class_name == "ElectraModel":
        return dict(backbone, init_class="ElectraModel")
    if class_name == "ErnieHealthDiscriminator" and config.get("num_labels") != ERNIE_HEALTH_LEGACY_CSP_OUTPUTS:
        raise ValueError("a 2.4 ErnieHealthDiscriminator always had a 128-way CSP head; build it with num_labels=128")
    out = {legacy: config[flat] for flat, legacy in HEAD_KWARGS.get(class_name, {}).items()}
    out["init_args"] = [dict(backbone, init_class="ElectraModel")]
    out["init_class"] = class_name
    return out


# ----------------------------------------------------------------------------- batch and calls
BATCH, SEQ, CHOICES, CANDIDATES = 3, 10, 2, 4


def make_batch(vocab_size):
    """Fixed inputs as numpy arrays: rows 1 and 2 padded (id 0, mask 0) from positions 6 and 8."""
    rng = np.random.RandomState(1234)
    ids = rng.randint(1, vocab_size, (BATCH, SEQ)).astype("int64")
    mask = np.ones((BATCH, SEQ), "int64")
    for row, start in ((1, 6), (2, 8)):
        ids[row, start:] = 0
        mask[row, start:] = 0
    types = np.zeros((BATCH, SEQ), "int64")
    types[:, 4:] = 1
    types[mask == 0] = 0
    mc_ids = rng.randint(1, vocab_size, (2, CHOICES, SEQ)).astype("int64")
    mc_mask = np.ones_like(mc_ids)
    mc_ids[0, 1, 7:] = 0
    mc_mask[0, 1, 7:] = 0
    mc_types = np.zeros_like(mc_ids)
    mc_types[..., 5:] = 1
    cands = rng.randint(1, vocab_size, (BATCH, SEQ, CANDIDATES)).astype("int64")
    cands[..., 0] = ids  # candidate 0 is the original token, as in ERNIE-Health
    return dict(ids=ids, types=types, mask=mask, mc_ids=mc_ids, mc_types=mc_types, mc_mask=mc_mask, cands=cands)


def run_model(model, class_name, batch, rows=None):
    """Call ``model`` (eval mode, no grad) the way its class expects; flattened numpy outputs.

    ``rows`` selects a sub-batch (e.g. ``slice(0, 1)`` for the batch-1 check).
    """
    import paddle

    def t(name):
        value = batch[name] if rows is None else batch[name][rows]
        return paddle.to_tensor(value)

    model.eval()
    with paddle.no_grad():
        if class_name == "ElectraForMultipleChoice":
            out = model(input_ids=t("mc_ids"), token_type_ids=t("mc_types"), attention_mask=t("mc_mask"))
        elif class_name == "ErnieHealthDiscriminator":
            out = model(t("ids"), t("cands"), token_type_ids=t("types"), attention_mask=t("mask"))
        elif class_name == "ElectraModel":
            out = model(input_ids=t("ids"), token_type_ids=t("types"), attention_mask=t("mask"),
                        output_hidden_states=True, output_attentions=True)
        else:
            out = model(input_ids=t("ids"), token_type_ids=t("types"), attention_mask=t("mask"))
    return flatten_outputs(out)


def flatten_outputs(out, prefix="out"):
    """Nested tuples of tensors -> {"out.0": array, "out.1.2": array, ...} (a bare tensor -> {"out": ...})."""
    if out is None:
        return {}
    if isinstance(out, (tuple, list)):
        flat = {}
        for i, item in enumerate(out):
            flat.update(flatten_outputs(item, f"{prefix}.{i}"))
        return flat
    return {prefix: np.asarray(out.numpy())}


def perturb_parameters(model, seed, scale=0.05):
    """Add N(0, scale) noise to every parameter, in sorted-name order (deterministic)."""
    import paddle

    rng = np.random.RandomState(seed)
    with paddle.no_grad():
        for name, param in sorted(model.state_dict().items()):
            value = param.numpy()
            param.set_value((value + rng.normal(0.0, scale, value.shape)).astype(value.dtype))
