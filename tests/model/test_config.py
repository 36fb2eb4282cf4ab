"""ElectraConfig: validation, JSON round trip, HF and both PaddleNLP formats."""

import json

import pytest
import transformers

from paddle_electra import ElectraConfig
from conftest import TINY

REF = "tests/data/paddlenlp_reference/save_pretrained"


def test_defaults_are_electra_small_discriminator():
    cfg = ElectraConfig()
    assert (cfg.vocab_size, cfg.embedding_size, cfg.hidden_size, cfg.num_hidden_layers,
            cfg.num_attention_heads, cfg.intermediate_size) == (30522, 128, 256, 12, 4, 1024)
    assert cfg.layer_norm_eps == 1e-12 and cfg.hidden_act == "gelu" and cfg.pad_token_id == 0


@pytest.mark.parametrize("field,value,match", [
    ("num_attention_heads", 5, r"hidden_size \(32\) must be divisible by num_attention_heads \(5\)"),
    ("hidden_size", 0, r"hidden_size must be a positive integer, got 0"),
    ("vocab_size", -3, r"vocab_size must be a positive integer"),
    ("intermediate_size", 2.5, r"intermediate_size must be a positive integer"),
    ("num_hidden_layers", True, r"num_hidden_layers must be a positive integer"),
    ("hidden_act", "mish", r"hidden_act 'mish' is not supported"),
    ("hidden_dropout_prob", 1.5, r"hidden_dropout_prob must be a probability"),
    ("classifier_dropout", -0.1, r"classifier_dropout must be a probability"),
    ("layer_norm_eps", 0, r"layer_norm_eps must be > 0"),
    ("pad_token_id", 99, r"pad_token_id must be in \[0, vocab_size=99\)"),
    ("problem_type", "ranking", r"problem_type 'ranking' is not one of"),
])
def test_invalid_values_name_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        ElectraConfig(**dict(TINY, **{field: value}))
    with pytest.raises(ValueError, match=match):  # also through from_dict (JSON files)
        ElectraConfig.from_dict(dict(TINY, **{field: value}))


def test_json_round_trip(tmp_path):
    cfg = ElectraConfig(**TINY, id2label={0: "neg", 1: "neu", 2: "pos"}, classifier_dropout=0.2,
                        problem_type="single_label_classification", extra={"custom_note": "kept"})
    cfg.save_pretrained(str(tmp_path))
    back = ElectraConfig.from_pretrained(str(tmp_path))
    assert back == cfg
    assert back.id2label == {0: "neg", 1: "neu", 2: "pos"} and back.label2id["pos"] == 2
    assert back.extra["custom_note"] == "kept"
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["model_type"] == "electra" and data["num_labels"] == 3


def test_reads_hf_config_json(tmp_path):
    hf = transformers.ElectraConfig(vocab_size=21128, embedding_size=128, hidden_size=64, num_hidden_layers=12,
                                    num_attention_heads=1, intermediate_size=256, num_labels=4)
    hf.save_pretrained(str(tmp_path))
    cfg = ElectraConfig.from_pretrained(str(tmp_path))
    assert (cfg.vocab_size, cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size, cfg.num_labels) == \
        (21128, 64, 1, 256, 4)
    # and HF reads what we write
    ElectraConfig(**TINY).save_pretrained(str(tmp_path / "ours"))
    hf_back = transformers.ElectraConfig.from_pretrained(str(tmp_path / "ours"))
    assert hf_back.hidden_size == TINY["hidden_size"] and hf_back.embedding_size == TINY["embedding_size"]


def test_refuses_hf_variants_it_does_not_implement():
    with pytest.raises(ValueError, match="position_embedding_type='relative_key'"):
        ElectraConfig.from_dict(dict(TINY, position_embedding_type="relative_key"))
    with pytest.raises(ValueError, match="model_type 'bert'"):
        ElectraConfig.from_dict(dict(TINY, model_type="bert"))


def test_reads_paddlenlp_flat_config_written_by_paddlenlp():
    cfg = ElectraConfig.from_pretrained(f"{REF}/ElectraGenerator/E16_H32")
    assert (cfg.embedding_size, cfg.hidden_size, cfg.vocab_size, cfg.num_labels) == (16, 32, 99, 3)
    assert cfg.architectures == ["ElectraGenerator"]
    assert cfg.extra["gen_weight"] == 1.0  # PaddleNLP-only keys survive a round trip
    assert ElectraConfig.from_dict(cfg.to_dict()) == cfg


def test_reads_paddlenlp_24_model_config_with_init_args(tmp_path):
    nested = {
        "init_args": [{"init_args": [dict(TINY, num_labels=None) | {"num_labels": 2}],
                       "init_class": "ElectraModel"}],
        "init_class": "ElectraForSequenceClassification",
        "num_classes": 5,
    }
    (tmp_path / "model_config.json").write_text(json.dumps(nested))
    cfg = ElectraConfig.from_pretrained(str(tmp_path))
    assert cfg.hidden_size == TINY["hidden_size"] and cfg.num_labels == 5
    assert cfg.architectures == ["ElectraForSequenceClassification"]
    flat = {"init_args": [dict(vocab_size=21128, embedding_size=128, hidden_size=256, num_hidden_layers=12,
                               num_attention_heads=4, intermediate_size=1024)], "init_class": "ElectraDiscriminator"}
    (tmp_path / "model_config.json").write_text(json.dumps(flat))
    assert ElectraConfig.from_pretrained(str(tmp_path)).vocab_size == 21128


def test_bad_config_files_are_clear(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        ElectraConfig.from_pretrained(str(tmp_path))
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must be a JSON object"):
        ElectraConfig.from_pretrained(str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="has neither config.json nor model_config.json"):
        ElectraConfig.from_pretrained(str(empty))
    with pytest.raises(ValueError, match=r"unknown model name .*\(not a local folder"):
        ElectraConfig.from_pretrained(str(tmp_path / "missing"))


def test_copy_validates():
    cfg = ElectraConfig(**TINY)
    assert cfg.copy(num_labels=7).num_labels == 7
    with pytest.raises(ValueError, match="num_attention_heads"):
        cfg.copy(num_attention_heads=3)
