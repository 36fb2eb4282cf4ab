"""PaddleNLP's model conventions on paddle_electra's classes (issue 11, model side).

Covers what PaddleNLP 2.8.1's own ELECTRA model suite exercises, in our own tests: the config
as a mapping with ``num_classes``, ``ElectraModel(**config)``, heads built around an
``ElectraModel`` (2.4 style), PaddleNLP's class attributes, ``use_cache`` / ``past_key_values``
(compared with the real PaddleNLP 2.8.1), int32 ids everywhere, ``input_ids`` winning over
``inputs_embeds``; plus ``from_pretrained`` keywords (``num_classes``, ``dropout``, ``dtype``,
unknown ones refused), ``resize_token_embeddings`` and ERNIE-Health checkpoints written by
PaddleNLP 2.8.1 with their default 2-way CSP head.
"""

import inspect
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import paddle
import pytest

import paddle_electra as pe
from paddle_electra import ElectraConfig, ElectraModel
from conftest import TINY

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "paddlenlp_helpers"))
import interop_common as common  # noqa: E402

HELPER = REPO / "tests" / "paddlenlp_helpers" / "compat_models_reference.py"
HEADS = [pe.ElectraDiscriminator, pe.ElectraGenerator, pe.ElectraForSequenceClassification,
         pe.ElectraForTokenClassification, pe.ElectraForQuestionAnswering, pe.ElectraForMultipleChoice]


def _ids(shape, high=99, dtype="int32", seed=0):
    return paddle.to_tensor(np.random.RandomState(seed).randint(1, high, shape).astype(dtype))


# ----------------------------------------------------------------------------- config
def test_num_classes_is_an_alias_of_num_labels(tmp_path):
    cfg = ElectraConfig(num_classes=3, **{k: v for k, v in TINY.items() if k != "num_labels"})
    assert cfg.num_labels == cfg.num_classes == 3 and ElectraConfig.attribute_map == {"num_classes": "num_labels"}
    cfg.num_classes = 5
    assert cfg.num_labels == 5 and "num_classes" not in cfg.extra
    assert pe.ElectraForTokenClassification(cfg).classifier.weight.shape == [32, 5]
    with pytest.raises(ValueError, match="num_labels twice"):
        ElectraConfig(num_classes=3, num_labels=2)
    cfg.save_pretrained(str(tmp_path))
    assert ElectraConfig.from_pretrained(str(tmp_path), num_classes=7).num_labels == 7


def test_config_is_a_mapping_and_keeps_unknown_keys(tmp_path):
    cfg = ElectraConfig(**TINY, gen_weight=1.0)
    assert cfg["hidden_size"] == 32 and cfg["no_such_key"] is None  # PaddleNLP's __getitem__
    assert cfg.get("gen_weight") == 1.0 and cfg.get("missing", 5) == 5 and cfg.gen_weight == 1.0
    assert "vocab_size" in cfg and "num_classes" in cfg and "gen_weight" in cfg
    assert set(cfg.keys()) == set(ElectraConfig.field_names()) | {"gen_weight"}
    cfg["disc_weight"] = 50.0
    cfg.custom = "kept"
    assert ElectraConfig(**cfg) == cfg  # the mapping protocol rebuilds the same config
    cfg.save_pretrained(str(tmp_path))
    back = ElectraConfig.from_pretrained(str(tmp_path))
    assert (back.gen_weight, back.disc_weight, back.custom) == (1.0, 50.0, "kept")
    with pytest.raises(AttributeError):
        cfg.no_such_attribute  # noqa: B018


@pytest.mark.parametrize("file_name", ["config.json", "model_config.json"])
def test_model_type_does_not_land_in_extra(tmp_path, file_name):
    cfg = ElectraConfig()
    cfg.save_pretrained(str(tmp_path))
    if file_name != "config.json":
        shutil.move(str(tmp_path / "config.json"), str(tmp_path / file_name))
    back = ElectraConfig.from_pretrained(str(tmp_path))
    assert back.extra == {} and back == cfg
    for key in vars(cfg):
        assert getattr(back, key) == getattr(cfg, key), key


def test_is_decoder_is_a_field_written_only_when_set():
    assert "is_decoder" not in ElectraConfig(**TINY).to_dict()
    assert ElectraConfig.from_dict(ElectraConfig(**TINY, is_decoder=True).to_dict()).is_decoder is True
    with pytest.raises(ValueError, match="is_decoder must be True or False"):
        ElectraConfig(is_decoder="yes")


# ----------------------------------------------------------------------------- building models
def test_electra_model_from_config_fields():
    paddle.seed(0)
    model = ElectraModel(**ElectraConfig(**TINY))
    assert model.config == ElectraConfig(**TINY)
    assert ElectraModel(vocab_size=50, hidden_size=32, embedding_size=32, num_attention_heads=4,
                        num_hidden_layers=1, intermediate_size=40).config.vocab_size == 50
    with pytest.raises(ValueError, match="hidden_size"):
        ElectraModel(hidden_size=30, num_attention_heads=4)


@pytest.mark.parametrize("cls", HEADS + [pe.ErnieHealthDiscriminator], ids=lambda c: c.__name__)
def test_head_around_an_electra_model_uses_that_instance(cls):
    cfg = ElectraConfig(**dict(TINY, embedding_size=32))  # ERNIE-Health needs E == H
    backbone = ElectraModel(cfg)
    for p in backbone.parameters():  # LayerNorms too: the head must not re-initialise them
        p.set_value(p + 0.5)
    before = {k: v.numpy().copy() for k, v in backbone.state_dict().items()}
    head = cls(backbone)
    assert head.electra is backbone and head.base_model is backbone and head.config is backbone.config
    for key, value in backbone.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key])


def test_paddlenlp_24_head_arguments_are_honoured():
    backbone = ElectraModel(ElectraConfig(**TINY))
    seq = pe.ElectraForSequenceClassification(backbone, num_classes=4, dropout=0.3)
    assert seq.classifier.out_proj.weight.shape == [32, 4] and seq.classifier.dropout.p == 0.3
    assert seq.config.num_labels == 4 and backbone.config is seq.config
    tok = pe.ElectraForTokenClassification(ElectraConfig(**TINY), num_classes=6, dropout=0.2)
    assert tok.classifier.weight.shape == [32, 6] and tok.dropout.p == 0.2
    mc = pe.ElectraForMultipleChoice(ElectraModel(ElectraConfig(**TINY)), num_choices=4, dropout=0.25)
    assert mc.num_choices == 4 and mc.sequence_summary.dropout.p == 0.25
    with pytest.raises(ValueError, match="uses gelu"):
        pe.ElectraForSequenceClassification(backbone, activation="tanh")
    with pytest.raises(ValueError, match="takes an ElectraConfig or an ElectraModel"):
        pe.ElectraForSequenceClassification(pe.ElectraGenerator(ElectraConfig(**TINY)))
    gen, disc = pe.ElectraGenerator(ElectraConfig(**TINY)), pe.ElectraDiscriminator(ElectraConfig(**TINY))
    total = pe.ElectraForTotalPretraining(gen, disc)  # 2.4's (generator, discriminator)
    assert total.generator is gen and total.discriminator is disc
    assert disc.electra.embeddings.word_embeddings is gen.electra.embeddings.word_embeddings


def test_paddlenlp_class_attributes():
    assert all(cls.constructed_from_pretrained_config() for cls in HEADS + [ElectraModel])
    model = ElectraModel(ElectraConfig(**TINY))
    assert "hfl/chinese-electra-180g-small-discriminator" in model.model_name_list
    assert model.base_model is model and pe.ElectraGenerator(ElectraConfig(**TINY)).base_model_prefix == "electra"
    gen_names, disc_names = pe.ElectraGenerator.model_name_list, pe.ElectraDiscriminator.model_name_list
    assert "hfl/chinese-legal-electra-small-generator" in gen_names
    assert "hfl/chinese-legal-electra-small-generator" not in disc_names  # it would not load there
    configs = pe.ElectraPretrainedModel.pretrained_init_configuration
    assert configs["electra-small"]["hidden_size"] == 256 and list(configs) == pe.ElectraPretrainedModel.model_name_list
    urls = pe.ElectraModel.pretrained_resource_files_map["model_state"]
    assert urls["chinese-electra-base"].endswith("chinese-electra-base.pdparams")
    assert "ernie-health-chinese-discriminator" not in urls  # no published weights
    assert pe.ElectraModel.resource_files_names == {"model_state": "model_state.pdparams"}
    assert ElectraConfig.pretrained_init_configuration["electra-base"]["hidden_size"] == 768


# PaddleNLP 2.8.1's forward parameters (paddlenlp/transformers/electra/modeling.py), in order
PADDLENLP_FORWARD = {
    "ElectraModel": ["input_ids", "token_type_ids", "position_ids", "attention_mask", "inputs_embeds",
                     "past_key_values", "use_cache", "output_attentions", "output_hidden_states", "return_dict"],
    "ElectraDiscriminator": ["input_ids", "token_type_ids", "position_ids", "attention_mask", "inputs_embeds"],
    "ElectraGenerator": ["input_ids", "token_type_ids", "position_ids", "attention_mask", "inputs_embeds", "labels",
                         "output_attentions", "output_hidden_states", "return_dict"],
    "ElectraForSequenceClassification": ["input_ids", "token_type_ids", "position_ids", "attention_mask",
                                         "inputs_embeds", "labels", "output_attentions", "output_hidden_states",
                                         "return_dict"],
    "ElectraForQuestionAnswering": ["input_ids", "token_type_ids", "position_ids", "attention_mask", "inputs_embeds",
                                    "start_positions", "end_positions", "output_attentions",
                                    "output_hidden_states", "return_dict"],
    "ErnieHealthDiscriminator": ["input_ids", "candidate_ids", "token_type_ids", "position_ids", "attention_mask"],
    "ElectraForTotalPretraining": ["input_ids", "token_type_ids", "position_ids", "attention_mask",
                                   "raw_input_ids", "generator_labels"],
}
PADDLENLP_FORWARD["ElectraForTokenClassification"] = PADDLENLP_FORWARD["ElectraForSequenceClassification"]
PADDLENLP_FORWARD["ElectraForMultipleChoice"] = PADDLENLP_FORWARD["ElectraForSequenceClassification"]


@pytest.mark.parametrize("name", sorted(PADDLENLP_FORWARD))
def test_forward_takes_paddlenlps_positional_order(name):
    ours = list(inspect.signature(getattr(pe, name).forward).parameters)[1:]
    want = PADDLENLP_FORWARD[name]
    assert ours[:len(want)] == want


# ----------------------------------------------------------------------------- forward
def test_input_ids_win_over_inputs_embeds_with_a_warning():
    model = pe.ElectraForSequenceClassification(ElectraConfig(**TINY)).eval()
    ids = _ids([2, 5])
    with pytest.warns(UserWarning, match="input_ids is used and inputs_embeds ignored"):
        both = model(ids, inputs_embeds=paddle.ones([2, 5], "int32"))  # not even embeddings: never read
    np.testing.assert_array_equal(both.numpy(), model(ids).numpy())


@pytest.mark.parametrize("cls", HEADS + [ElectraModel], ids=lambda c: c.__name__)
def test_int32_ids_give_the_int64_results(cls):
    paddle.seed(1)
    model = cls(ElectraConfig(**TINY)).eval()
    ids, types = _ids([2, 3, 6] if cls is pe.ElectraForMultipleChoice else [2, 6]), None
    types = paddle.zeros(ids.shape, "int32")
    a = model(ids, token_type_ids=types, attention_mask=paddle.ones(ids.shape, "int32"))
    b = model(ids.astype("int64"), token_type_ids=types.astype("int64"))
    for x, y in zip(a if isinstance(a, tuple) else [a], b if isinstance(b, tuple) else [b]):
        np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6)


@pytest.mark.parametrize("cls", [pe.ElectraForTotalPretraining, pe.ErnieHealthForTotalPretraining])
def test_pretraining_models_take_int32_ids(cls):
    cfg = ElectraConfig(**dict(TINY, embedding_size=32))
    model = cls(cfg).eval()
    ids = _ids([4, 7])
    labels = paddle.where(paddle.arange(7) % 3 == 0, ids, paddle.full_like(ids, -100))
    out = model(ids, raw_input_ids=_ids([4, 7], seed=1), generator_labels=labels, return_dict=True)
    assert out.generator_logits.shape == [4, 7, 99] and out.discriminator_labels.shape == [4, 7]


# ----------------------------------------------------------------------------- use_cache
def test_use_cache_returns_and_takes_a_cache():
    model = ElectraModel(ElectraConfig(**TINY)).eval()
    ids = _ids([3, 7])
    first = model(ids, use_cache=True, return_dict=True)
    assert len(first.past_key_values) == 2 and first.past_key_values[0][0].shape == [3, 4, 7, 8]
    second = model(ids, attention_mask=paddle.ones([3, 14]), past_key_values=first.past_key_values)
    assert second.shape == first.last_hidden_state.shape  # a bare tensor: no cache asked for
    assert not np.allclose(second.numpy(), first.last_hidden_state.numpy())
    seq, cache = model(ids, use_cache=True)  # tuple form: PaddleNLP's order
    assert cache.get_seq_length() == 7
    with pytest.raises(ValueError, match=r"with a cache it must be \[3, 14\]"):
        model(ids, attention_mask=paddle.ones([3, 7]), past_key_values=cache)
    with pytest.raises(ValueError, match="has 1 layers but the model has 2"):
        model(ids, past_key_values=cache[:1])
    with pytest.raises(ValueError, match="batch of 3 but the input has 2 rows"):
        model(ids[:2], past_key_values=cache)
    with pytest.raises(ValueError, match=r"sequence length 70 \(63 cached"):
        model(ids, past_key_values=[(paddle.ones([3, 4, 63, 8]),) * 2] * 2)


# ----------------------------------------------------------------------------- from_pretrained
@pytest.fixture
def saved_classifier(tmp_path):
    pe.ElectraForSequenceClassification(ElectraConfig(**TINY)).save_pretrained(str(tmp_path))
    return str(tmp_path)


def test_from_pretrained_keywords(saved_classifier):
    model = pe.ElectraForSequenceClassification.from_pretrained(saved_classifier, num_classes=5, dropout=0.2,
                                                                ignore_mismatched_sizes=True)
    assert model.classifier.out_proj.weight.shape == [32, 5] and model.config.classifier_dropout == 0.2
    with pytest.raises(ValueError, match="unexpected keyword argument 'num_lables'"):
        pe.ElectraForSequenceClassification.from_pretrained(saved_classifier, num_lables=5)
    with pytest.raises(ValueError, match="unexpected keyword argument 'dropout'"):
        ElectraModel.from_pretrained(saved_classifier, dropout=0.2)  # not an ElectraModel argument
    assert ElectraModel.from_pretrained(saved_classifier, use_cache=False).config.use_cache is False


@pytest.mark.parametrize("dtype", ["float16", paddle.float16, "bfloat16", "float64"])
def test_from_pretrained_dtype(saved_classifier, dtype):
    model = pe.ElectraForSequenceClassification.from_pretrained(saved_classifier, dtype=dtype)
    want = str(dtype).replace("paddle.", "")
    assert {str(p.dtype).replace("paddle.", "") for p in model.parameters()} == {want}


def test_from_pretrained_bad_dtype(saved_classifier):
    with pytest.raises(ValueError, match="dtype must be one of"):
        pe.ElectraModel.from_pretrained(saved_classifier, dtype="int8")


# ----------------------------------------------------------------------------- resize_token_embeddings
@pytest.mark.parametrize("cls", [pe.ElectraGenerator, pe.ElectraForSequenceClassification, pe.ErnieHealthDiscriminator,
                                 pe.ElectraForCausalLM], ids=lambda c: c.__name__)
def test_resize_token_embeddings(cls):
    model = cls(ElectraConfig(**dict(TINY, embedding_size=32))).eval()
    old = model.get_input_embeddings().weight.numpy().copy()
    for n in (109, 84):
        emb = model.resize_token_embeddings(n)
        assert emb is model.get_input_embeddings() and emb.weight.shape == [n, 32]
        assert model.config.vocab_size == n and model.base_model.config.vocab_size == n
        np.testing.assert_array_equal(emb.weight.numpy()[:84], old[:84])
    ids = paddle.to_tensor([[83, 5, 6]])
    out = model(ids, paddle.to_tensor([[83, 5, 6]])) if cls is pe.ErnieHealthDiscriminator else model(ids)
    if cls in (pe.ElectraGenerator, pe.ElectraForCausalLM):  # the tied head follows
        logits = out.logits if cls is pe.ElectraForCausalLM else out
        assert logits.shape[-1] == 84 and model.generator_lm_head_bias.shape == [84]
    assert model.resize_token_embeddings(None) is model.get_input_embeddings()
    with pytest.raises(ValueError, match="above pad_token_id"):
        model.resize_token_embeddings(-1)


def test_resize_keeps_pretraining_embeddings_shared(tmp_path):
    model = pe.ElectraForTotalPretraining(ElectraConfig(**TINY))
    model.resize_token_embeddings(120)
    gen, disc = model.generator, model.discriminator
    assert disc.electra.embeddings.word_embeddings is gen.electra.embeddings.word_embeddings
    assert gen.config.vocab_size == disc.config.vocab_size == 120 == gen.generator_lm_head_bias.shape[0]
    model.save_pretrained(str(tmp_path))
    assert pe.ElectraForTotalPretraining.from_pretrained(str(tmp_path)).generator.config.vocab_size == 120


# ----------------------------------------------------------------------------- against PaddleNLP 2.8.1
@pytest.fixture(scope="module")
def paddlenlp_reference(tmp_path_factory):
    python = os.environ.get("PADDLE_ELECTRA_PADDLENLP_PYTHON") or str(REPO / ".venv-paddlenlp" / "bin" / "python")
    if not os.access(python, os.X_OK):
        pytest.fail(f"no PaddleNLP 2.8.1 interpreter at {python}; run tools/make_reference_envs.sh", pytrace=False)
    root = tmp_path_factory.mktemp("compat_models")
    batch = common.make_batch(TINY["vocab_size"])
    np.savez(root / "inputs.npz", **batch)
    paddle.seed(3)
    model = ElectraModel(ElectraConfig(**TINY))
    common.perturb_parameters(model, 3)
    model.save_pretrained(str(root / "ours_model"))
    health_config = {k: v for k, v in TINY.items() if k != "num_labels"} | {"embedding_size": 32}
    request = {"inputs": str(root / "inputs.npz"),
               "ernie_health": {"config": health_config, "seed": 5, "dir": str(root / "ernie_health")},
               "cache": {"model_dir": str(root / "ours_model"), "out": str(root / "cache.npz")}}
    (root / "request.json").write_text(json.dumps(request))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([python, str(HELPER), str(root / "request.json")], capture_output=True, text=True,
                          env=dict(env, CUDA_VISIBLE_DEVICES=""), timeout=600)
    if proc.returncode:
        pytest.fail(f"the PaddleNLP helper failed:\n{proc.stderr[-3000:]}", pytrace=False)
    model.eval()
    return root, batch, model


def test_cache_matches_paddlenlp(paddlenlp_reference):
    root, batch, model = paddlenlp_reference
    with np.load(root / "cache.npz") as data:
        ref = {k: data[k] for k in data.files}
    ids, types = paddle.to_tensor(batch["ids"]), paddle.to_tensor(batch["types"])
    first = model(ids, token_type_ids=types, use_cache=True, return_dict=True)
    past = first.past_key_values
    second = model(ids, token_type_ids=types, attention_mask=paddle.ones([3, 20]), past_key_values=past)
    padded = model(ids, token_type_ids=types, past_key_values=past)
    for name, ours in (("first", first.last_hidden_state), ("key0", past[0][0]), ("value0", past[0][1]),
                       ("second", second), ("padded", padded)):
        assert np.abs(ours.numpy() - ref[name]).max() < 1e-5, name


def test_ernie_health_saved_by_paddlenlp_with_its_default_csp_head_loads(paddlenlp_reference):
    root, batch, _ = paddlenlp_reference
    folder = root / "ernie_health"
    saved = json.loads((folder / "config.json").read_text())
    assert "num_labels" not in saved and "num_classes" not in saved  # what makes the width unknown to the config
    model = pe.ErnieHealthDiscriminator.from_pretrained(str(folder))
    assert model.config.num_labels == 2 and model.discriminator_csp.out_proj.weight.shape == [32, 2]
    with np.load(folder / "outputs.npz") as data:
        ref = {k: data[k] for k in data.files}
    ours = common.run_model(model, "ErnieHealthDiscriminator", batch)
    assert set(ours) == set(ref)
    for key in ref:
        assert np.abs(ours[key] - ref[key]).max() < 1e-5, key
    # a width the caller states wins over the checkpoint's (and then does not fit it)
    with pytest.raises(ValueError, match="does not fit"):
        pe.ErnieHealthDiscriminator.from_pretrained(str(folder), num_labels=128)


def test_criteria_take_a_config_as_paddlenlp_25_does():
    cfg = ElectraConfig(**TINY, gen_weight=2.0, disc_weight=10.0)
    crit = pe.ElectraPretrainingCriterion(cfg)
    assert (crit.vocab_size, crit.gen_weight, crit.disc_weight) == (99, 2.0, 10.0)
    assert pe.ErnieHealthPretrainingCriterion(ElectraConfig(**TINY)).weights[0] == 1.0
    assert pe.ElectraPretrainingCriterion(99).disc_weight == 50.0
    with pytest.raises(ValueError, match="vocabulary size"):
        pe.ElectraPretrainingCriterion("99")

