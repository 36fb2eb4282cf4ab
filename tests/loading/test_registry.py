"""The name table: every name parses, validates and builds its class (no download)."""

import json
import os

import numpy as np
import paddle
import pytest

import paddle_electra as pe
from paddle_electra.loading import registry
from paddle_electra.model.ernie_health import ErnieHealthDiscriminator

NAMES = registry.names()
CLASSES = {"ErnieHealthDiscriminator": ErnieHealthDiscriminator}


def test_the_table_has_every_published_name():
    expected = {f"electra-{s}{p}" for s in ("small", "base", "large") for p in ("", "-generator", "-discriminator")}
    expected |= {"chinese-electra-small", "chinese-electra-base", "ernie-health-chinese",
                 "ernie-health-chinese-generator", "ernie-health-chinese-discriminator"}
    for line, sizes in (("chinese-electra", ("small", "small-ex", "base", "large")),
                        ("chinese-electra-180g", ("small", "small-ex", "base", "large")),
                        ("chinese-legal-electra", ("small", "base", "large"))):
        expected |= {f"hfl/{line}-{s}-{p}" for s in sizes for p in ("generator", "discriminator")}
    expected |= {"junnyu/hfl-chinese-electra-180g-base-discriminator",
                 "junnyu/hfl-chinese-electra-180g-small-ex-discriminator",
                 "junnyu/hfl-chinese-legal-electra-small-generator"}
    expected |= {"electra-zh-peoples-daily-small-generator", "electra-zh-peoples-daily-small-discriminator"}
    assert len([n for n in expected if n.startswith("hfl/")]) == 22
    assert set(NAMES) == expected


@pytest.mark.parametrize("name", NAMES)
def test_every_name_parses_and_builds_its_class(name):
    entry = registry.get_entry(name)
    config = pe.ElectraConfig.from_pretrained(name)  # offline: the config is in the table
    assert config.architectures == [entry.architecture]
    cls = CLASSES.get(entry.architecture) or getattr(pe, entry.architecture)
    # one layer keeps the test fast; widths, vocabulary and heads are the entry's own
    small = config.copy(num_hidden_layers=1)
    model = cls.build(small, initialize=False)
    built = sum(int(np.prod(p.shape)) for p in model.parameters())
    assert built == registry.count_parameters(small.to_dict(), entry.architecture)
    ids = paddle.to_tensor([[2, 5, 7, 3]])
    out = model(ids, paddle.zeros([1, 4, 6], "int64")) if cls is ErnieHealthDiscriminator else model(ids)
    assert out is not None
    if entry.has_weights and entry.source != "embedded":
        assert entry.file("weights").url.startswith("https://")
    assert entry.file("vocab") is not None and entry.tokenizer["do_lower_case"] is True
    if entry.source == "huggingface":
        assert entry.hf_repo and all(f.url.startswith(f"https://huggingface.co/{entry.hf_repo}/resolve/main/")
                                     for f in entry.files)


@pytest.mark.parametrize("name,published_m", [
    ("hfl/chinese-electra-180g-small-discriminator", 12), ("hfl/chinese-electra-180g-small-ex-discriminator", 25),
    ("hfl/chinese-electra-180g-base-discriminator", 102), ("hfl/chinese-electra-180g-large-discriminator", 324),
])
def test_parameter_counts_match_published_sizes(name, published_m):
    params = registry.get_entry(name).num_parameters / 1e6
    assert abs(params - published_m) / published_m < 0.03


def test_legal_small_generator_config_is_corrected():
    cfg = pe.ElectraConfig.from_pretrained("hfl/chinese-legal-electra-small-generator")
    assert (cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads) == (64, 256, 1)
    # its 13.7 MB pytorch_model.bin is 3.4M float32 parameters
    assert abs(registry.get_entry("hfl/chinese-legal-electra-small-generator").num_parameters * 4 / 1e6 - 13.7) < 0.2


def test_unknown_name_lists_the_closest():
    with pytest.raises(ValueError, match="did you mean hfl/chinese-electra-180g-small-discriminator"):
        registry.get_entry("hfl/chinese-electra-180g-smal-discriminator")
    with pytest.raises(ValueError, match="unknown model name"):
        pe.ElectraGenerator.from_pretrained("no-such-model")


def test_wrong_head_for_a_name_is_an_error_before_any_download():
    with pytest.raises(ValueError, match=r"is an ElectraGenerator checkpoint.*ElectraGenerator.from_pretrained"):
        pe.ElectraDiscriminator.from_pretrained("hfl/chinese-legal-electra-small-generator")
    with pytest.raises(ValueError, match=r"ElectraDiscriminator.from_pretrained\('electra-small'\)"):
        pe.ElectraGenerator.from_pretrained("electra-small")


def test_listing_has_every_name():
    rows = registry.list_pretrained()
    assert [r["name"] for r in rows] == NAMES
    assert set(rows[0]) == {"name", "class", "params", "language", "domain", "source"}
    text = registry.format_table(rows)
    assert "hfl/chinese-legal-electra-small-generator" in text and "3.4M" in text


def test_table_files_are_data_only():
    for fn in os.listdir(registry.table_dir()):
        with open(os.path.join(registry.table_dir(), fn)) as f:
            data = json.load(f)
        assert fn == data["name"].replace("/", "__") + ".json"


def test_auto_model_picks_the_class(tmp_path):
    assert pe.AutoModel.class_for("hfl/chinese-legal-electra-small-generator") is pe.ElectraGenerator
    assert pe.AutoModel.class_for("ernie-health-chinese-discriminator") is ErnieHealthDiscriminator
    cfg = pe.ElectraConfig(vocab_size=50, embedding_size=16, hidden_size=32, num_hidden_layers=1,
                           num_attention_heads=4, intermediate_size=40, num_labels=4)
    pe.ElectraForTokenClassification(cfg).save_pretrained(str(tmp_path))
    model = pe.AutoModel.from_pretrained(str(tmp_path))
    assert type(model) is pe.ElectraForTokenClassification and model.config.num_labels == 4
    with pytest.raises(TypeError, match="from_pretrained"):
        pe.AutoModel()


EMBEDDED = ["electra-zh-peoples-daily-small-generator", "electra-zh-peoples-daily-small-discriminator"]


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_models_load_offline_as_float32(name, monkeypatch, tmp_path):
    from paddle_electra.loading import hub

    monkeypatch.setenv("PADDLE_ELECTRA_OFFLINE", "1")
    monkeypatch.setenv("PADDLE_ELECTRA_HOME", str(tmp_path / "empty-cache"))
    entry = registry.get_entry(name)
    assert entry.source == "embedded" and all(f.sha256 and f.size for f in entry.files)
    folder = hub.resolve(name)
    sizes = sum(os.path.getsize(os.path.join(folder, f.filename)) for f in entry.files)
    assert sizes == sum(f.size for f in entry.files)
    model = getattr(pe, entry.architecture).from_pretrained(name)
    assert all(str(p.dtype).endswith("float32") for p in model.parameters())
    table = pe.ElectraConfig.from_pretrained(name)
    assert (table.hidden_size, table.vocab_size) == (model.config.hidden_size, model.config.vocab_size)
    assert not os.path.exists(tmp_path / "empty-cache" / "models")  # nothing copied or fetched


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_tokenizer_truncates_to_the_models_positions(name, monkeypatch, tmp_path):
    # the shipped pair has 256 positions; a tokenizer that cut at 512 let 257-512 ids through to a model
    # that refuses them, so tok(text, truncation=True) could not feed the model it came with
    monkeypatch.setenv("PADDLE_ELECTRA_OFFLINE", "1")
    monkeypatch.setenv("PADDLE_ELECTRA_HOME", str(tmp_path))
    entry = registry.get_entry(name)
    tok = pe.ElectraTokenizer.from_pretrained(name)
    model = getattr(pe, entry.architecture).from_pretrained(name)
    limit = model.config.max_position_embeddings
    assert tok.model_max_length == entry.tokenizer["model_max_length"] == limit == 256
    ids = tok("新华社北京十二月电" * 50, truncation=True, return_tensors="pd")["input_ids"]
    assert ids.shape == [1, limit]
    assert model(ids).shape[:2] == [1, limit]


@pytest.mark.parametrize("name", NAMES)
def test_no_name_truncates_past_its_positions(name):
    entry = registry.get_entry(name)
    if entry.file("vocab"):
        assert entry.tokenizer.get("model_max_length", 512) <= entry.config["max_position_embeddings"]


def test_embedded_models_fit_the_size_budget():
    total = sum(f.size for n in EMBEDDED for f in registry.get_entry(n).files)
    assert total <= 10.5e6, total  # fp16 weights + vocab + configs of both, "at most ~10 MB"
    gen, disc = (registry.get_entry(n) for n in EMBEDDED)
    assert gen.config["vocab_size"] == disc.config["vocab_size"]
    assert gen.config["embedding_size"] == disc.config["embedding_size"]


def test_a_damaged_embedded_file_is_a_clear_error(monkeypatch, tmp_path):
    import shutil

    from paddle_electra.loading import hub

    src = os.path.join(hub.EMBEDDED_DIR, EMBEDDED[0])
    fake_root = tmp_path / "pm"
    shutil.copytree(src, fake_root / EMBEDDED[0])
    with open(fake_root / EMBEDDED[0] / "model.safetensors", "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    monkeypatch.setattr(hub, "EMBEDDED_DIR", str(fake_root))
    monkeypatch.setattr(hub, "_verified", set())
    with pytest.raises(pe.ChecksumError, match="reinstall"):
        hub.resolve(EMBEDDED[0])
    os.remove(fake_root / EMBEDDED[0] / "vocab.txt")
    with pytest.raises(FileNotFoundError, match="vocab.txt is missing"):
        hub.resolve(EMBEDDED[0], kind="tokenizer")
