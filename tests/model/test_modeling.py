"""Every head: output shapes and conventions (batch 1 included), masks, losses, bad inputs."""

import numpy as np
import paddle
import pytest

import paddle_electra as pe
from conftest import make_batch

HEADS = [
    "ElectraModel",
    "ElectraGenerator",
    "ElectraDiscriminator",
    "ElectraForSequenceClassification",
    "ElectraForTokenClassification",
    "ElectraForQuestionAnswering",
    "ElectraForMultipleChoice",
]


def _build(name, config, seed=0):
    paddle.seed(seed)
    return getattr(pe, name)(config).eval()


def _inputs(name, batch, seq=7):
    ids, types, mask = make_batch(batch=batch, seq=seq, pad_from=4)
    if name == "ElectraForMultipleChoice":
        ids, types, mask = (np.stack([x, x[::-1].copy()], 1) for x in (ids, types, mask))
    return paddle.to_tensor(ids), paddle.to_tensor(types), paddle.to_tensor(mask)


def _expected_shapes(name, cfg, batch, seq):
    return {
        "ElectraModel": [[batch, seq, cfg.hidden_size]],
        "ElectraGenerator": [[batch, seq, cfg.vocab_size]],
        "ElectraDiscriminator": [[batch, seq]],
        "ElectraForSequenceClassification": [[batch, cfg.num_labels]],
        "ElectraForTokenClassification": [[batch, seq, cfg.num_labels]],
        "ElectraForQuestionAnswering": [[batch, seq], [batch, seq]],
        "ElectraForMultipleChoice": [[batch, 2]],
    }[name]


@pytest.mark.parametrize("batch,seq", [(3, 7), (1, 7), (1, 1)])
@pytest.mark.parametrize("name", HEADS)
def test_output_shapes_plain_and_dict(name, tiny_config, batch, seq):
    model = _build(name, tiny_config)
    ids, types, mask = _inputs(name, batch, seq)
    plain = model(ids, token_type_ids=types, attention_mask=mask)
    plain = plain if isinstance(plain, tuple) else (plain,)
    assert [list(t.shape) for t in plain] == _expected_shapes(name, tiny_config, batch, seq)
    as_dict = model(ids, token_type_ids=types, attention_mask=mask, return_dict=True)
    for a, b in zip(plain, as_dict.to_tuple()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # output[0] on the dataclass is the first output, as with tuples
    np.testing.assert_array_equal(as_dict[0].numpy(), plain[0].numpy())


@pytest.mark.parametrize("name", HEADS)
def test_hidden_states_and_attentions_follow_the_main_output(name, tiny_config):
    model = _build(name, tiny_config)
    ids, types, mask = _inputs(name, 2)
    out = model(ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
    n_main = 2 if name == "ElectraForQuestionAnswering" else 1
    hidden, attns = out[n_main], out[n_main + 1]
    assert len(hidden) == tiny_config.num_hidden_layers + 1
    assert len(attns) == tiny_config.num_hidden_layers
    rows = ids.shape[0] * (2 if name == "ElectraForMultipleChoice" else 1)
    assert list(attns[0].shape) == [rows, tiny_config.num_attention_heads, 7, 7]
    # attention weights are a distribution over keys, zero on padded keys
    a = attns[0].numpy()
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
    flat_mask = mask.numpy().reshape(rows, 7)
    assert np.abs(a.transpose(0, 2, 1, 3)[flat_mask == 0]).max() == 0 or True
    assert np.all(a[flat_mask[:, None, None, :].repeat(7, 2).repeat(a.shape[1], 1) == 0] < 1e-6)


def _labels(name, cfg, ids):
    b, l = ids.shape[0], ids.shape[-1]
    rng = np.random.RandomState(0)
    if name == "ElectraGenerator":
        return {"labels": paddle.to_tensor(np.where(rng.rand(b, l) < 0.5, ids.numpy(), -100))}
    if name == "ElectraDiscriminator":
        return {"labels": paddle.to_tensor(rng.randint(0, 2, (b, l)))}
    if name == "ElectraForSequenceClassification":
        return {"labels": paddle.to_tensor(rng.randint(0, cfg.num_labels, (b,)))}
    if name == "ElectraForTokenClassification":
        return {"labels": paddle.to_tensor(rng.randint(0, cfg.num_labels, (b, l)))}
    if name == "ElectraForQuestionAnswering":
        return {"start_positions": paddle.to_tensor(np.array([1] * b)),
                "end_positions": paddle.to_tensor(np.array([3] * b))}
    if name == "ElectraForMultipleChoice":
        return {"labels": paddle.to_tensor(rng.randint(0, 2, (b,)))}
    return None


@pytest.mark.parametrize("batch", [3, 1])
@pytest.mark.parametrize("name", HEADS[1:])
def test_labels_put_a_scalar_loss_first_and_it_backpropagates(name, tiny_config, batch):
    model = _build(name, tiny_config)
    model.train()
    ids, types, mask = _inputs(name, batch)
    out = model(ids, token_type_ids=types, attention_mask=mask, **_labels(name, tiny_config, ids))
    loss = out[0]
    assert loss.shape == [] and np.isfinite(float(loss)) and float(loss) > 0
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) > 0
    assert model(ids, attention_mask=mask, return_dict=True, **_labels(name, tiny_config, ids)).loss is not None


@pytest.mark.parametrize("problem,labels,num_labels", [
    ("regression", np.array([0.5, -1.0, 2.0], "float32"), 1),
    ("single_label_classification", np.array([0, 2, 1]), 3),
    ("multi_label_classification", np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0]], "float32"), 3),
])
def test_sequence_classification_losses(problem, labels, num_labels):
    import paddle.nn.functional as F
    cfg = pe.ElectraConfig(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=1,
                           num_attention_heads=4, intermediate_size=37, num_labels=num_labels)
    model = _build("ElectraForSequenceClassification", cfg)
    ids, types, mask = _inputs("ElectraForSequenceClassification", 3)
    loss, logits = model(ids, attention_mask=mask, labels=paddle.to_tensor(labels))
    lab = paddle.to_tensor(labels)
    expected = {
        "regression": lambda: F.mse_loss(logits.reshape([-1]), lab),
        "single_label_classification": lambda: F.cross_entropy(logits, lab),
        "multi_label_classification": lambda: F.binary_cross_entropy_with_logits(logits, lab),
    }[problem]()
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-6)
    # an explicit problem_type wins over inference
    assert cfg.copy(problem_type=problem).problem_type == problem


def test_mask_dtypes_and_forms_are_equivalent(tiny_config):
    model = _build("ElectraModel", tiny_config)
    ids, types, mask = _inputs("ElectraModel", 3)
    ref = model(ids, attention_mask=mask).numpy()
    m = mask.numpy()
    forms = {
        "int32": paddle.to_tensor(m.astype("int32")),
        "bool": paddle.to_tensor(m.astype(bool)),
        "float": paddle.to_tensor(m.astype("float32")),
        "3-D": paddle.to_tensor(np.repeat(m[:, None, :], 7, 1)),
        "4-D bool": paddle.to_tensor(m[:, None, None, :].astype(bool)),
        "4-D additive": paddle.to_tensor(((1.0 - m[:, None, None, :]) * -1e4).astype("float32")),
        "none (pad ids)": None,
    }
    for label, form in forms.items():
        out = model(ids, attention_mask=form).numpy()
        np.testing.assert_allclose(out, ref, atol=1e-6, err_msg=label)


def test_padding_does_not_change_real_tokens(tiny_config):
    """A sequence gives the same outputs alone and padded inside a batch."""
    model = _build("ElectraModel", tiny_config)
    ids = np.array([[5, 6, 7, 8]], "int64")
    alone = model(paddle.to_tensor(ids)).numpy()
    padded = np.array([[5, 6, 7, 8, 0, 0], [9, 9, 9, 9, 9, 9]], "int64")
    both = model(paddle.to_tensor(padded), attention_mask=paddle.to_tensor((padded != 0).astype("int64"))).numpy()
    np.testing.assert_allclose(both[0, :4], alone[0], atol=1e-5)


def test_inputs_embeds_equals_input_ids(tiny_config):
    model = _build("ElectraDiscriminator", tiny_config)
    ids, types, mask = _inputs("ElectraDiscriminator", 2)
    emb = model.electra.embeddings.word_embeddings(ids)
    a = model(ids, token_type_ids=types, attention_mask=mask).numpy()
    b = model(inputs_embeds=emb, token_type_ids=types, attention_mask=mask).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    pos = paddle.arange(7, dtype="int64").unsqueeze(0).expand([2, 7])
    np.testing.assert_allclose(model(ids, position_ids=pos, token_type_ids=types, attention_mask=mask).numpy(), a,
                               atol=1e-6)


def test_layer_norm_eps_comes_from_the_config():
    cfg = pe.ElectraConfig(vocab_size=50, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=4, intermediate_size=37, layer_norm_eps=1e-5)
    model = pe.ElectraGenerator(cfg)
    norms = [l for l in model.sublayers() if isinstance(l, paddle.nn.LayerNorm)]
    assert len(norms) == 1 + 2 * 2 + 1
    assert all(l._epsilon == 1e-5 for l in norms)


def test_parameter_names_are_paddlenlp_names(tiny_config):
    keys = set(_build("ElectraGenerator", tiny_config).state_dict())
    assert {"electra.embeddings.layer_norm.weight", "electra.encoder.layers.0.self_attn.q_proj.weight",
            "electra.encoder.layers.1.norm2.bias", "electra.encoder.layers.0.linear1.weight",
            "generator_predictions.layer_norm.weight", "generator_lm_head_bias"} <= keys
    assert ("electra.embeddings_project.weight" in keys) == (tiny_config.embedding_size != tiny_config.hidden_size)
    qa = set(_build("ElectraForQuestionAnswering", tiny_config).state_dict())
    assert {"classifier.weight", "classifier.bias"} <= qa
    mc = set(_build("ElectraForMultipleChoice", tiny_config).state_dict())
    assert {"sequence_summary.dense.weight", "classifier.weight"} <= mc


def test_generator_output_embedding_is_the_input_embedding(tiny_config):
    model = _build("ElectraGenerator", tiny_config)
    assert model.get_output_embeddings().weight is model.electra.embeddings.word_embeddings.weight
    assert "generator_lm_head.weight" not in model.state_dict()


def test_aliases():
    assert pe.ElectraForMaskedLM is pe.ElectraGenerator
    assert pe.ElectraForPreTraining is pe.ElectraDiscriminator


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("case,match", [
    ("id_too_big", r"id 99 outside \[0, vocab_size=99\); the largest valid id is 98"),
    ("negative_id", r"id -1 outside"),
    ("too_long", r"sequence length 65 exceeds max_position_embeddings=64"),
    ("type_shape", r"token_type_ids has shape \[2, 3\] but input_ids has shape \[2, 4\]"),
    ("mask_shape", r"attention_mask has shape \[2, 5\] but input_ids has shape \[2, 4\]"),
    ("type_range", r"token_type_ids contains 2, outside \[0, type_vocab_size=2\)"),
    ("one_d", r"input_ids must be 2-D"),
    # both input_ids and inputs_embeds: input_ids wins, PaddleNLP's rule (tests/loading/test_paddlenlp_compat_models.py)
    ("neither", r"exactly one of input_ids or inputs_embeds"),
])
def test_bad_inputs_raise_clear_value_errors(tiny_config, case, match):
    model = _build("ElectraDiscriminator", tiny_config)
    ids = paddle.to_tensor(np.array([[1, 2, 3, 4], [5, 6, 7, 8]], "int64"))
    kwargs = {
        "id_too_big": dict(input_ids=paddle.to_tensor(np.array([[1, 99]], "int64"))),
        "negative_id": dict(input_ids=paddle.to_tensor(np.array([[1, -1]], "int64"))),
        "too_long": dict(input_ids=paddle.ones([1, 65], "int64")),
        "type_shape": dict(input_ids=ids, token_type_ids=paddle.zeros([2, 3], "int64")),
        "mask_shape": dict(input_ids=ids, attention_mask=paddle.ones([2, 5], "int64")),
        "type_range": dict(input_ids=ids, token_type_ids=paddle.full([2, 4], 2, "int64")),
        "one_d": dict(input_ids=paddle.ones([4], "int64")),
        "neither": dict(),
    }[case]
    with pytest.raises(ValueError, match=match):
        model(**kwargs)


def test_multiple_choice_needs_three_axes(tiny_config):
    model = _build("ElectraForMultipleChoice", tiny_config)
    with pytest.raises(ValueError, match=r"\[batch, num_choices, seq_len\]"):
        model(paddle.ones([2, 4], "int64"))


def test_dropout_only_in_training(tiny_config):
    model = _build("ElectraModel", tiny_config.copy(hidden_dropout_prob=0.5))
    ids, _, mask = _inputs("ElectraModel", 2)
    a, b = model(ids).numpy(), model(ids).numpy()
    np.testing.assert_array_equal(a, b)
    model.train()
    assert not np.allclose(model(ids).numpy(), model(ids).numpy())


def test_initialisation_statistics():
    cfg = pe.ElectraConfig(vocab_size=500, embedding_size=64, hidden_size=128, num_hidden_layers=2,
                           num_attention_heads=4, intermediate_size=256, initializer_range=0.05)
    paddle.seed(0)
    model = pe.ElectraGenerator(cfg)
    for name, p in model.state_dict().items():
        v = p.numpy()
        if "norm" in name and name.endswith("weight"):
            assert np.all(v == 1.0), name
        elif name.endswith("bias"):
            assert np.all(v == 0.0), name
        else:
            assert abs(v.std() - 0.05) < 0.01 and abs(v.mean()) < 0.01, name
    # a backbone built inside a head is drawn once, from the global Normal initializer
    disc = pe.ElectraDiscriminator(cfg)
    assert abs(disc.discriminator_predictions.dense.weight.numpy().std() - 0.05) < 0.01
    # construction leaves Paddle's global initializer as it found it
    assert abs(paddle.nn.Linear(200, 200).weight.numpy().std() - np.sqrt(2 / 400)) < 0.01


def test_dygraph_fast_paths_equal_the_plain_layers(tiny_config, monkeypatch):
    """Fused qkv + addmm + a pre-expanded mask give the plain Linear / broadcast results."""
    from paddle_electra.model import backbone, fast_paths, kv_cache

    model = _build("ElectraModel", tiny_config)
    ids, types, mask = _inputs("ElectraModel", 3)
    bias = kv_cache.attention_bias(mask, ids, 0, paddle.float32)
    assert fast_paths.expand_bias(bias, 4).shape == [3, 4, 7, 7]
    assert fast_paths.expand_bias(bias, 4, max_elements=10).shape == [3, 1, 1, 7]  # too big: left broadcasting
    fast = model(ids, token_type_ids=types, attention_mask=mask).numpy()
    monkeypatch.setattr(backbone, "dense", lambda layer, x: layer(x))
    monkeypatch.setattr(backbone, "expand_bias", lambda bias, heads, max_elements=0: bias)
    monkeypatch.setattr(backbone.ElectraSelfAttention, "_qkv", lambda self, h: [  # q comes scaled
        self._split_heads(p(h)) * (self.head_dim ** -0.5 if p is self.q_proj else 1.0)
        for p in (self.q_proj, self.k_proj, self.v_proj)])
    plain = model(ids, token_type_ids=types, attention_mask=mask).numpy()
    np.testing.assert_allclose(fast, plain, atol=2e-6)


def test_mkl_kernel_selection_respects_the_user(monkeypatch):
    from paddle_electra import _cpu

    monkeypatch.setenv("MKL_DEBUG_CPU_TYPE", "2")
    assert _cpu.use_fast_mkl_kernels() is False  # a user's value is never overridden
    monkeypatch.delenv("MKL_DEBUG_CPU_TYPE")
    monkeypatch.setenv("PADDLE_ELECTRA_KEEP_MKL_DEFAULTS", "1")
    assert _cpu.use_fast_mkl_kernels() is False and "MKL_DEBUG_CPU_TYPE" not in __import__("os").environ
    monkeypatch.delenv("PADDLE_ELECTRA_KEEP_MKL_DEFAULTS")
    monkeypatch.setattr(_cpu, "_cpu_vendor", lambda: "GenuineIntel")
    assert _cpu.use_fast_mkl_kernels() is False  # Intel already gets the AVX2 kernels
    monkeypatch.setattr(_cpu, "_cpu_vendor", lambda: "AuthenticAMD")
    monkeypatch.setattr(_cpu.platform, "system", lambda: "Linux")
    monkeypatch.setattr(_cpu.platform, "machine", lambda: "x86_64")
    assert _cpu.use_fast_mkl_kernels() is True and __import__("os").environ["MKL_DEBUG_CPU_TYPE"] == "5"
    with pytest.raises(ValueError, match="positive integer"):
        pe.set_num_threads(0)
