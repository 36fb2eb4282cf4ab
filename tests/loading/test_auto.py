"""Auto classes: every name in the table and every folder layout resolves to the right class.

* Names: every row of the name table, for every Auto class, offline (an empty cache
  that stays empty, offline mode on): the class is chosen from the table alone.
* Folders: tiny models written in every layout ``from_pretrained`` reads (paddle_electra /
  PaddleNLP 2.5+ ``config.json`` + ``model_state.pdparams``, ``model.safetensors``,
  PaddleNLP 2.4 ``model_config.json``, HF transformers ``model.safetensors`` and
  ``pytorch_model.bin``) load through ``AutoModel`` into the class they were saved
  from, with that model's outputs; the task Auto classes pick their head.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_electra as pe
from paddle_electra.loading import auto, registry
from conftest import TINY

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "paddlenlp_helpers"))
import interop_common as common  # noqa: E402

EXACT = 1e-6  # Paddle -> Paddle: the same weights, the same kernels
HF_TOL = 1e-5  # torch -> Paddle

CFG = dict(TINY, hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=0, hidden_dropout_prob=0.1,
           attention_probs_dropout_prob=0.1, initializer_range=0.02)
PADDLE_CLASSES = ("ElectraModel", "ElectraGenerator", "ElectraDiscriminator", "ElectraForSequenceClassification",
                  "ElectraForTokenClassification", "ElectraForQuestionAnswering", "ElectraForMultipleChoice")
# HF class -> the paddle_electra class holding the same weights
HF_CLASSES = {
    "ElectraModel": pe.ElectraModel,
    "ElectraForMaskedLM": pe.ElectraGenerator,
    "ElectraForPreTraining": pe.ElectraDiscriminator,
    "ElectraForSequenceClassification": pe.ElectraForSequenceClassification,
    "ElectraForTokenClassification": pe.ElectraForTokenClassification,
    "ElectraForQuestionAnswering": pe.ElectraForQuestionAnswering,
    "ElectraForMultipleChoice": pe.ElectraForMultipleChoice,
}
TASK_AUTOS = {
    pe.AutoModelForMaskedLM: pe.ElectraGenerator,
    pe.AutoGenerator: pe.ElectraGenerator,
    pe.AutoModelForPreTraining: pe.ElectraDiscriminator,
    pe.AutoDiscriminator: pe.ElectraDiscriminator,
    pe.AutoModelForPretraining: pe.ElectraForTotalPretraining,
    pe.AutoModelForSequenceClassification: pe.ElectraForSequenceClassification,
    pe.AutoModelForTokenClassification: pe.ElectraForTokenClassification,
    pe.AutoModelForQuestionAnswering: pe.ElectraForQuestionAnswering,
    pe.AutoModelForMultipleChoice: pe.ElectraForMultipleChoice,
    pe.AutoModelForCausalLM: pe.ElectraForCausalLM,
}
ERNIE_HEALTH_TASKS = {pe.AutoModelForPreTraining: pe.ErnieHealthDiscriminator,
                      pe.AutoDiscriminator: pe.ErnieHealthDiscriminator,
                      pe.AutoModelForPretraining: pe.ErnieHealthForTotalPretraining}


# ---------------------------------------------------------------- names, offline
@pytest.fixture
def offline_empty_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("PADDLE_ELECTRA_HOME", str(cache))
    monkeypatch.setenv("PADDLE_ELECTRA_OFFLINE", "1")
    yield cache
    assert not cache.exists() or not any(cache.rglob("*")), "resolving a class must not download anything"


def test_every_name_resolves_to_its_class_offline(offline_empty_cache):
    names = registry.names()
    hfl = [n for n in names if n.startswith("hfl/")]
    assert len(hfl) == 22 and {"electra-zh-peoples-daily-small-generator", "ernie-health-chinese"} <= set(names)
    for name in names:
        entry = registry.get_entry(name)
        own = auto.MODEL_CLASSES[entry.architecture]
        assert pe.AutoModel.class_for(name) is own, name
        assert pe.AutoModel.class_for(name, task="Model") is pe.ElectraModel
        for auto_cls, expected in TASK_AUTOS.items():
            if own in (pe.ErnieHealthDiscriminator, pe.ErnieHealthForTotalPretraining):
                expected = ERNIE_HEALTH_TASKS.get(auto_cls, expected)
            assert auto_cls.class_for(name) is expected, (name, auto_cls.__name__)
        config = pe.AutoConfig.from_pretrained(name)
        assert isinstance(config, pe.ElectraConfig) and config.architectures == [entry.architecture]
        assert config.hidden_size == entry.config["hidden_size"]
    # the generator / discriminator names, as published
    for name in hfl:
        want = pe.ElectraGenerator if name.endswith("-generator") else pe.ElectraDiscriminator
        assert pe.AutoModel.class_for(name) is want
    assert pe.AutoModel.class_for("ernie-health-chinese-discriminator") is pe.ErnieHealthDiscriminator
    assert pe.AutoModelForPretraining.class_for("ernie-health-chinese-discriminator") is \
        pe.ErnieHealthForTotalPretraining


def test_unknown_name_or_task_is_a_value_error(offline_empty_cache, tmp_path):
    with pytest.raises(ValueError, match="did you mean hfl/chinese-legal-electra-small-generator"):
        pe.AutoModelForSequenceClassification.class_for("hfl/chinese-legal-electra-smal-generator")
    with pytest.raises(ValueError, match="unknown task 'ForSeq'"):
        pe.AutoModel.from_pretrained("electra-small", task="ForSeq")
    with pytest.raises(ValueError, match="unknown model name"):
        pe.AutoConfig.from_pretrained("no-such-electra")
    with pytest.raises(TypeError, match="from_pretrained"):
        pe.AutoModelForMaskedLM()


def test_embedded_names_load_offline_through_every_auto(offline_empty_cache):
    name = "electra-zh-peoples-daily-small-discriminator"
    direct = pe.ElectraDiscriminator.from_pretrained(name)
    ids = paddle.to_tensor([[2, 100, 200, 300, 3]])
    model = pe.AutoModel.from_pretrained(name)
    assert type(model) is pe.ElectraDiscriminator
    np.testing.assert_array_equal(model(ids).numpy(), direct(ids).numpy())
    clf = pe.AutoModelForSequenceClassification.from_pretrained(name, num_labels=4)
    assert type(clf) is pe.ElectraForSequenceClassification and clf(ids).shape == [1, 4]
    encoder = pe.AutoModel.from_pretrained(name, task="Model")
    np.testing.assert_array_equal(encoder(ids).numpy(), direct.electra(ids).numpy())
    tok = pe.AutoTokenizer.from_pretrained(name)
    assert isinstance(tok, pe.ElectraTokenizer)
    assert tok("今天天气很好")["input_ids"] == pe.ElectraTokenizer.from_pretrained(name)("今天天气很好")["input_ids"]


# ---------------------------------------------------------------- folders
def _paddle_model(cls_name, seed):
    paddle.seed(seed)
    model = getattr(pe, cls_name)(pe.ElectraConfig(**CFG))
    common.perturb_parameters(model, seed)
    return model.eval()


@pytest.fixture(scope="module")
def batch():
    return common.make_batch(CFG["vocab_size"])


@pytest.fixture(scope="module")
def paddle_folders(tmp_path_factory, batch):
    """{(class, layout): (folder, outputs)} for layouts v2.5 (pdparams), safetensors and v2.4."""
    root = tmp_path_factory.mktemp("paddle_folders")
    out = {}
    for i, cls_name in enumerate(PADDLE_CLASSES + ("ErnieHealthDiscriminator",)):
        cfg = dict(CFG, embedding_size=CFG["hidden_size"], num_labels=128) if cls_name.startswith("Ernie") else CFG
        paddle.seed(i)
        model = getattr(pe, cls_name)(pe.ElectraConfig(**cfg))
        common.perturb_parameters(model, i)
        model.eval()
        expected = common.run_model(model, cls_name, batch)
        model.save_pretrained(str(root / cls_name / "v2.5"))
        model.save_pretrained(str(root / cls_name / "safetensors"), safe_serialization=True)
        legacy = root / cls_name / "v2.4"
        legacy.mkdir(parents=True)
        (legacy / "model_config.json").write_text(json.dumps(common.legacy_model_config(cls_name, cfg)))
        paddle.save(model.state_dict(), str(legacy / "model_state.pdparams"))
        for layout in ("v2.5", "safetensors", "v2.4"):
            out[(cls_name, layout)] = (str(root / cls_name / layout), expected)
    return out


def _close(ours, theirs, tol, what):
    assert sorted(ours) == sorted(theirs), what
    for key in ours:
        assert ours[key].shape == theirs[key].shape, (what, key)
        diff = float(np.max(np.abs(ours[key].astype("float64") - theirs[key].astype("float64"))))
        assert diff <= tol, f"{what}: {key}: max |diff| {diff:.3g} > {tol}"


@pytest.mark.parametrize("layout", ["v2.5", "safetensors", "v2.4"])
def test_paddle_layouts_load_into_their_class(paddle_folders, batch, layout):
    for cls_name in PADDLE_CLASSES + ("ErnieHealthDiscriminator",):
        folder, expected = paddle_folders[(cls_name, layout)]
        cls = getattr(pe, cls_name)
        assert pe.AutoModel.class_for(folder) is cls, (cls_name, layout)
        model = pe.AutoModel.from_pretrained(folder)
        assert type(model) is cls
        _close(common.run_model(model, cls_name, batch), expected, EXACT, f"{cls_name} {layout}")


def test_task_autos_pick_the_task_head_for_every_folder(paddle_folders):
    for (cls_name, layout), (folder, _) in paddle_folders.items():
        ernie = cls_name.startswith("Ernie")
        for auto_cls, expected in TASK_AUTOS.items():
            if ernie:
                expected = ERNIE_HEALTH_TASKS.get(auto_cls, expected)
            assert auto_cls.class_for(folder) is expected, (cls_name, layout, auto_cls.__name__)
        assert pe.AutoConfig.from_pretrained(folder).architectures == [cls_name]


def test_task_auto_loads_the_backbone_under_a_new_head(paddle_folders, batch):
    folder, _ = paddle_folders[("ElectraDiscriminator", "v2.4")]
    source = pe.AutoModel.from_pretrained(folder)
    clf = pe.AutoModelForSequenceClassification.from_pretrained(folder, num_labels=5)
    assert type(clf) is pe.ElectraForSequenceClassification and clf.config.num_labels == 5
    ids = paddle.to_tensor(batch["ids"])
    np.testing.assert_array_equal(clf.electra(ids).numpy(), source.electra(ids).numpy())
    gen_folder, _ = paddle_folders[("ElectraGenerator", "v2.5")]
    with pytest.raises(ValueError, match="ElectraGenerator"):  # a generator checkpoint has no RTD head to load
        pe.AutoModelForPreTraining.from_pretrained(gen_folder)
    ernie_folder, expected = paddle_folders[("ErnieHealthDiscriminator", "v2.5")]
    model = pe.AutoModelForPreTraining.from_pretrained(ernie_folder)
    assert type(model) is pe.ErnieHealthDiscriminator
    _close(common.run_model(model, "ErnieHealthDiscriminator", batch), expected, EXACT, "ERNIE-Health")


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory, batch):
    """{(HF class, format): (folder, outputs)} saved by HF transformers itself."""
    root = tmp_path_factory.mktemp("hf_folders")
    hf_cfg = transformers.ElectraConfig(**{k: v for k, v in CFG.items() if k != "num_choices"})
    out = {}
    for i, name in enumerate(HF_CLASSES):
        torch.manual_seed(i)
        cfg = hf_cfg if name != "ElectraForQuestionAnswering" else transformers.ElectraConfig(
            **dict(hf_cfg.to_dict(), num_labels=2))  # HF sizes its QA head by num_labels (start, end)
        model = getattr(transformers, name)(cfg).eval()
        with torch.no_grad():
            for p in model.parameters():  # off their init values, so every weight shows in the outputs
                p.add_(torch.randn_like(p) * 0.05)
        expected = _hf_outputs(model, name, batch)
        model.save_pretrained(str(root / name / "safetensors"))
        # transformers 5 writes safetensors only; a pytorch_model.bin folder as older versions and the hub have it
        model.config.save_pretrained(str(root / name / "bin"))
        torch.save(model.state_dict(), str(root / name / "bin" / "pytorch_model.bin"))
        for fmt in ("safetensors", "bin"):
            out[(name, fmt)] = (str(root / name / fmt), expected)
    return out


def _hf_outputs(model, name, batch):
    with torch.no_grad():
        if name == "ElectraForMultipleChoice":
            res = model(input_ids=torch.tensor(batch["mc_ids"]), token_type_ids=torch.tensor(batch["mc_types"]),
                        attention_mask=torch.tensor(batch["mc_mask"]))
        else:
            res = model(input_ids=torch.tensor(batch["ids"]), token_type_ids=torch.tensor(batch["types"]),
                        attention_mask=torch.tensor(batch["mask"]))
    if name == "ElectraModel":
        return {"out": res.last_hidden_state.numpy()}
    if name == "ElectraForQuestionAnswering":
        return {"out.0": res.start_logits.numpy(), "out.1": res.end_logits.numpy()}
    return {"out": res.logits.numpy()}


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_hf_folders_load_into_the_matching_class(hf_folders, batch, fmt):
    for name, cls in HF_CLASSES.items():
        folder, expected = hf_folders[(name, fmt)]
        assert json.loads(Path(folder, "config.json").read_text())["architectures"] == [name]
        assert os.path.isfile(os.path.join(folder, "model.safetensors" if fmt == "safetensors" else
                                           "pytorch_model.bin"))
        model = pe.AutoModel.from_pretrained(folder)
        assert type(model) is cls, (name, fmt)
        with paddle.no_grad():
            if cls is pe.ElectraModel:
                out = {"out": model(paddle.to_tensor(batch["ids"]), paddle.to_tensor(batch["types"]),
                                    attention_mask=paddle.to_tensor(batch["mask"])).numpy()}
            else:
                out = common.run_model(model, cls.__name__, batch)
        _close(out, expected, HF_TOL, f"HF {name} {fmt}")
        for auto_cls, task_cls in TASK_AUTOS.items():
            assert auto_cls.class_for(folder) is task_cls


def test_causal_lm_folder_from_hf_transformers(tmp_path, batch):
    assert "AutoModelForCausalLM" in pe.__all__ and "AutoModelForCausalLM" in dir(pe)
    cfg = transformers.ElectraConfig(**{k: v for k, v in CFG.items() if k != "num_choices"}, is_decoder=True)
    torch.manual_seed(7)
    hf = transformers.ElectraForCausalLM(cfg).eval()
    hf.save_pretrained(str(tmp_path / "clm"))
    with torch.no_grad():
        expected = hf(input_ids=torch.tensor(batch["ids"]), attention_mask=torch.tensor(batch["mask"])).logits.numpy()
    for auto_cls in (pe.AutoModel, pe.AutoModelForCausalLM):
        model = auto_cls.from_pretrained(str(tmp_path / "clm"))
        assert type(model) is pe.ElectraForCausalLM
        out = model(input_ids=paddle.to_tensor(batch["ids"]), attention_mask=paddle.to_tensor(batch["mask"]),
                    return_dict=True)
        _close({"logits": out.logits.numpy()}, {"logits": expected}, HF_TOL, f"{auto_cls.__name__} causal LM")
    assert pe.AutoModelForMaskedLM.class_for(str(tmp_path / "clm")) is pe.ElectraGenerator


def test_folder_without_architectures_is_an_encoder_and_foreign_ones_are_refused(tmp_path):
    cfg = {k: v for k, v in CFG.items()}
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text(json.dumps(cfg))
    assert pe.AutoModel.class_for(str(tmp_path / "plain")) is pe.ElectraModel
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text(json.dumps(dict(cfg, architectures=["ElectraForFooBar"])))
    with pytest.raises(ValueError, match=r"architectures \['ElectraForFooBar'\] are not ELECTRA classes"):
        pe.AutoModel.from_pretrained(str(tmp_path / "odd"))
    # a task Auto class does not need the architecture to be one of ours
    assert pe.AutoModelForTokenClassification.class_for(str(tmp_path / "odd")) is pe.ElectraForTokenClassification
    (tmp_path / "weights.pdparams").write_bytes(b"")
    with pytest.raises(ValueError, match="is a file"):
        pe.AutoModel.class_for(str(tmp_path / "weights.pdparams"))


def test_from_config_builds_the_class_of_the_config():
    config = pe.ElectraConfig(**dict(CFG, architectures=["ElectraForMaskedLM"]))
    assert type(pe.AutoModel.from_config(config)) is pe.ElectraGenerator
    assert type(pe.AutoModelForQuestionAnswering.from_config(config)) is pe.ElectraForQuestionAnswering
    ernie = pe.ElectraConfig(**dict(CFG, embedding_size=32, architectures=["ErnieHealthDiscriminator"]))
    assert type(pe.AutoDiscriminator.from_config(ernie)) is pe.ErnieHealthDiscriminator
    assert type(pe.AutoModel.from_config(pe.ElectraConfig(**CFG))) is pe.ElectraModel
    with pytest.raises(ValueError, match="needs an ElectraConfig"):
        pe.AutoModel.from_config(dict(CFG))


# ---------------------------------------------------------------- tokenizers
def test_auto_tokenizer_reads_wordpiece_folders_and_refuses_others(tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "中", "国"]
    hf = transformers.BertTokenizer(vocab_file=_write_vocab(tmp_path / "v.txt", vocab))
    hf.save_pretrained(str(tmp_path / "hf"))
    _write_vocab(tmp_path / "hf" / "vocab.txt", vocab)  # as hub repos have it (transformers 5 writes tokenizer.json)
    assert json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())["tokenizer_class"] == \
        "BertTokenizer"
    tok = pe.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    assert tok("hello worlds 中国")["input_ids"] == [2, 5, 6, 7, 8, 9, 3]
    other = tmp_path / "other"
    other.mkdir()
    _write_vocab(other / "vocab.txt", vocab)
    (other / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "XLMRobertaTokenizer"}))
    with pytest.raises(ValueError, match=r"names the tokenizer class 'XLMRobertaTokenizer'"):
        pe.AutoTokenizer.from_pretrained(str(other))
    (other / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer_config.json is not a valid JSON tokenizer config"):
        pe.AutoTokenizer.from_pretrained(str(other))
    (other / "tokenizer_config.json").write_text(json.dumps({"init_class": "ElectraTokenizer"}))  # PaddleNLP 2.4
    assert isinstance(pe.AutoTokenizer.from_pretrained(str(other)), pe.ElectraTokenizer)


def _write_vocab(path, tokens):
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return str(path)
