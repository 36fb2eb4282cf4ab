"""Clear errors for hostile or mistaken input: configs, forward inputs, pipeline options, the CLI.

Each case here was a raw Python / Paddle error, a hang or a silent wrong answer
before (issue 10, "clear errors everywhere"): now it is a ``ValueError`` that
names the field (and the file), or one line on stderr with exit status 2.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import paddle
import pytest

import paddle_electra as pe
from paddle_electra import ElectraConfig
from paddle_electra.cli import app as cli, models as cli_models
from paddle_electra.model.configuration import MAX_JSON_DEPTH, MAX_PARAMETERS, SIZE_LIMITS
from paddle_electra.inference.pipelines import pipeline
from conftest import TINY
from task_folders import make_task_folders

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_config(folder, **changes):
    """A folder whose config.json is TINY with ``changes`` (no weights: the config alone must be refused)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(dict(TINY, **changes), f)
    return str(folder)


# ------------------------------------------------------------------ configs
@pytest.mark.parametrize("field,value", [
    ("layer_norm_eps", float("inf")),
    ("initializer_range", float("inf")),
    ("layer_norm_eps", True),
    ("initializer_range", True),
])
def test_config_refuses_non_finite_and_bool_floats(field, value):
    with pytest.raises(ValueError, match=rf"ElectraConfig\.{field} must be > 0 and finite, got {value!r}"):
        ElectraConfig(**dict(TINY, **{field: value}))


def test_config_file_with_infinity_names_file_and_field(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(dict(TINY)).replace('"vocab_size"', '"layer_norm_eps": '
                                                                           'Infinity, "vocab_size"'))
    with pytest.raises(ValueError, match=r"config\.json: ElectraConfig\.layer_norm_eps must be > 0 and finite"):
        ElectraConfig.from_pretrained(str(tmp_path))


def test_config_refuses_bool_pad_token_id():
    with pytest.raises(ValueError, match="pad_token_id must be an integer"):
        ElectraConfig(**dict(TINY, pad_token_id=True))


@pytest.mark.parametrize("field", sorted(SIZE_LIMITS))
def test_size_caps_name_field_and_cap(field):
    cap = SIZE_LIMITS[field]
    with pytest.raises(ValueError, match=rf"ElectraConfig\.{field}={cap + 1} is larger than paddle_electra's cap "
                                         rf"of {cap} for {field}"):
        ElectraConfig(**dict(TINY, **{field: cap + 1}))
    if field not in ("embedding_size", "hidden_size", "num_attention_heads"):  # their cap alone exceeds 2**34 params
        assert getattr(ElectraConfig(**dict(TINY, **{field: cap})), field) == cap  # the cap itself is allowed


@pytest.mark.parametrize("field,value", [
    ("vocab_size", 10 ** 12), ("vocab_size", 5 * 10 ** 7), ("max_position_embeddings", 10 ** 12),
    ("num_hidden_layers", 10 ** 6),
])
def test_absurd_sizes_in_a_folder_are_refused_up_front(tmp_path, field, value):
    folder = write_config(tmp_path / "m", **{field: value})
    start = time.time()
    with pytest.raises(ValueError, match=rf"config\.json: ElectraConfig\.{field}={value} is larger than"):
        pe.ElectraDiscriminator.from_pretrained(folder)
    assert time.time() - start < 5  # refused from the config, before any layer is built


def test_whole_network_is_capped():
    with pytest.raises(ValueError, match=r"about [\d,]+ parameters, more than paddle_electra's cap of "
                                         rf"{MAX_PARAMETERS:,}"):
        ElectraConfig(**dict(TINY, vocab_size=SIZE_LIMITS["vocab_size"], embedding_size=1 << 14))
    # every published configuration passes with a wide margin
    big = ElectraConfig.from_pretrained("electra-large")
    assert 300e6 < big.estimate_num_parameters() < MAX_PARAMETERS / 50


def test_integral_floats_for_int_fields_are_refused_with_a_hint(tmp_path):
    folder = write_config(tmp_path / "m", vocab_size=30000.0)
    with pytest.raises(ValueError, match=r"config\.json: ElectraConfig\.vocab_size must be a positive integer, "
                                         r"got 30000\.0 \(a float; write 30000 without the decimal point\)"):
        ElectraConfig.from_pretrained(folder)
    with pytest.raises(ValueError, match=r"got 1000000000000\.0 \(a float, and above paddle_electra's cap "
                                         r"of 4194304"):
        ElectraConfig(**dict(TINY, vocab_size=1e12))


@pytest.mark.parametrize("id2label,match", [
    (["neg", "neu", "pos"], r"id2label must be a dict \{id: label name\} .* got a list"),
    ({"a": "neg", "1": "neu", "2": "pos"}, r"id2label key 'a' is not an integer label id"),
    ({"0": "neg", "1": {}, "2": "pos"}, r"id2label\[1\] must be a label name"),
    ({"0": "neg", "1": "neu", "7": "pos"}, r"id2label has id 7, outside \[0, num_labels=3\)"),
])
def test_bad_id2label_is_a_clear_error(tmp_path, id2label, match):
    with pytest.raises(ValueError, match=match):
        ElectraConfig.from_dict(dict(TINY, id2label=id2label))
    folder = write_config(tmp_path / "m", id2label=id2label)
    with pytest.raises(ValueError, match=r"config\.json: .*" + match):
        ElectraConfig.from_pretrained(folder)


def test_deeply_nested_config_names_the_file(tmp_path):
    # far past Python's recursion limit: json itself gives up (RecursionError before)
    (tmp_path / "config.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ValueError, match=r"config\.json: JSON nested too deeply"):
        ElectraConfig.from_pretrained(str(tmp_path))
    # parseable but deeper than any real config (accepted silently before)
    nested = {}
    for _ in range(MAX_JSON_DEPTH + 5):
        nested = {"x": nested}
    (tmp_path / "config.json").write_text(json.dumps(dict(TINY, custom=nested)))
    with pytest.raises(ValueError, match=rf"config\.json: config is nested more than {MAX_JSON_DEPTH} levels"):
        ElectraConfig.from_pretrained(str(tmp_path))


def test_architectures_must_be_class_names(tmp_path):
    folder = write_config(tmp_path / "m", architectures=[{}])
    with pytest.raises(ValueError, match=r"m/config\.json: ElectraConfig\.architectures must be a list of class "
                                         r"names \(strings\)"):
        ElectraConfig.from_pretrained(folder)
    with pytest.raises(ValueError, match=r"config\.json: .*architectures"):  # was a TypeError (unhashable dict)
        pe.AutoModel.from_pretrained(folder)
    with pytest.raises(ValueError, match="architectures must be a list"):
        ElectraConfig(**dict(TINY, architectures="ElectraModel"))


def test_malformed_structure_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="init_args must be a JSON list"):  # was a TypeError
        ElectraConfig.from_dict({"init_args": 5, "init_class": "ElectraModel"})
    with pytest.raises(ValueError, match="extra must be a JSON object"):
        ElectraConfig.from_dict(dict(TINY, extra=[1]))
    # an integer longer than Python's int-parsing limit: the message now names the file
    (tmp_path / "config.json").write_text('{"vocab_size": 1' + "0" * 5000 + "}")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        ElectraConfig.from_pretrained(str(tmp_path))
    (tmp_path / "config.json").write_bytes(b'{"vocab_size": "\xff\xfe"}')
    with pytest.raises(ValueError, match=r"config\.json is not UTF-8 text"):
        ElectraConfig.from_pretrained(str(tmp_path))


# ------------------------------------------------------------ model inputs
@pytest.fixture(scope="module")
def disc():
    paddle.seed(0)
    model = pe.ElectraDiscriminator(ElectraConfig(**TINY))
    model.eval()
    return model


IDS = [[5, 6, 7, 8], [9, 10, 0, 0]]
MASK = [[1, 1, 1, 1], [1, 1, 0, 0]]


@pytest.mark.parametrize("kwargs,match", [
    (dict(input_ids=paddle.to_tensor(IDS, dtype="float32")), r"input_ids must hold integer ids, got dtype float32"),
    (dict(input_ids=paddle.to_tensor(IDS).astype("bool")), r"input_ids must hold integer ids, got dtype bool"),
    (dict(input_ids=np.array(IDS, "float64")), r"input_ids must hold integer ids, got dtype float32"),
    (dict(input_ids=paddle.to_tensor(IDS), token_type_ids=paddle.zeros([2, 4], "float32")),
     r"token_type_ids must hold integer ids"),
    (dict(input_ids=paddle.to_tensor(IDS), position_ids=paddle.zeros([2, 4], "float32")),
     r"position_ids must hold integer ids"),
    (dict(input_ids=[[1, 2], [3]]), r"input_ids must be a rectangular array"),
    (dict(input_ids="5 6 7"), r"input_ids must be a paddle.Tensor, a numpy array or a nested list, got str"),
    (dict(input_ids=paddle.to_tensor(IDS), attention_mask=paddle.to_tensor([[1, 2, 1, 1], [1, 1, 0, 0]])),
     r"attention_mask holds \[2\]; an int \[B, L\] or \[B, L, L\] mask must hold only 1 \(attend\) and 0"),
    (dict(input_ids=paddle.to_tensor(IDS), attention_mask=-paddle.ones([2, 4, 4], "int32")),
     r"attention_mask holds \[-1\]"),
    (dict(input_ids=paddle.to_tensor(IDS), attention_mask=paddle.ones([2, 3, 4], "int64")),
     r"a 3-D attention_mask must be \[batch, seq_len, seq_len\] = \[2, 4, 4\]"),
])
def test_bad_forward_inputs_are_the_packages_value_errors(disc, kwargs, match):
    with pytest.raises(ValueError, match=match):
        disc(**kwargs)


def test_numpy_and_list_inputs_are_accepted_as_ids(disc):
    ref = disc(paddle.to_tensor(IDS), attention_mask=paddle.to_tensor(MASK),
               labels=paddle.to_tensor([[0, 1, 0, 0], [1, 0, 0, 0]]))
    for ids, mask, labels in [(np.array(IDS), np.array(MASK), np.array([[0, 1, 0, 0], [1, 0, 0, 0]])),
                              (IDS, MASK, [[0, 1, 0, 0], [1, 0, 0, 0]]),
                              (np.array(IDS, "uint8"), np.array(MASK, bool), np.array([[0, 1, 0, 0], [1, 0, 0, 0]]))]:
        loss, logits = disc(ids, attention_mask=mask, labels=labels)
        np.testing.assert_allclose(logits.numpy(), ref[1].numpy(), atol=1e-6)
        np.testing.assert_allclose(loss.numpy(), ref[0].numpy(), atol=1e-6)
    # ids of a narrow int dtype are cast to int64 (the embedding takes int32 / int64 only)
    np.testing.assert_allclose(disc(paddle.to_tensor(IDS, dtype="int16")).numpy(), disc(IDS).numpy(), atol=1e-6)


def test_heads_that_reuse_their_inputs_accept_numpy():
    paddle.seed(0)
    mc = pe.ElectraForMultipleChoice(ElectraConfig(**TINY))
    mc.eval()
    ids = np.array([IDS, IDS])  # [B=2, C=2, L=4]
    loss, logits = mc(ids, attention_mask=np.array([MASK, MASK]), labels=[0, 1])
    assert logits.shape == [2, 2] and np.isfinite(float(loss))
    qa = pe.ElectraForQuestionAnswering(ElectraConfig(**TINY))
    loss, start, end = qa(IDS, start_positions=[1, 2], end_positions=np.array([2, 3]))
    assert start.shape == [2, 4] and np.isfinite(float(loss))
    pre = pe.ElectraForTotalPretraining(ElectraConfig(**TINY))
    raw = np.array(IDS)
    labels = np.full_like(raw, -100)
    labels[0, 1] = raw[0, 1]
    out = pre(raw, attention_mask=MASK, raw_input_ids=raw.tolist(), generator_labels=labels, return_dict=True)
    assert list(out.discriminator_labels.shape) == [2, 4]


# -------------------------------------------------------------- pipelines
@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return make_task_folders(tmp_path_factory.mktemp("safety-models"))


@pytest.mark.parametrize("top_k", [-3, 0, 2.5, True, "5"])
def test_pipelines_refuse_bad_top_k(folders, top_k):
    with pytest.raises(ValueError, match=r"top_k must be an int >= 1"):
        pipeline("fill-mask", model=folders["fill-mask"], top_k=top_k)
    fill = pipeline("fill-mask", model=folders["fill-mask"])
    with pytest.raises(ValueError, match=r"top_k must be an int >= 1, got"):
        fill("我爱[MASK]京", top_k=top_k)  # top_k=-3 gave 55 candidates before
    clf = pipeline("text-classification", model=folders["text-classification"])
    with pytest.raises(ValueError, match=r"top_k must be an int >= 1 or None \(every label\)"):
        clf("很好", top_k=top_k)
    with pytest.raises(ValueError, match=r"top_k must be an int >= 1"):
        pipeline("question-answering", model=folders["question-answering"], top_k=top_k)


def test_pipelines_still_take_good_top_k(folders):
    fill = pipeline("fill-mask", model=folders["fill-mask"])
    assert len(fill("我爱[MASK]京", top_k=np.int64(2))[0]) == 2
    clf = pipeline("text-classification", model=folders["text-classification"])
    assert len(clf("很好", top_k=None)) == 3


# -------------------------------------------------------------------- CLI
def test_cli_absurd_config_is_one_line_exit_2_in_a_new_process(tmp_path):
    folder = write_config(tmp_path / "m", vocab_size=10 ** 12)
    env = dict(os.environ, PADDLE_ELECTRA_OFFLINE="1", PADDLE_ELECTRA_DISABLE_PROGRESS_BARS="1")
    proc = subprocess.run([sys.executable, "-m", "paddle_electra", "fill-mask", "我[MASK]", "--model", folder],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("paddle-electra: error: ") and "config.json" in last and "vocab_size" in last


@pytest.mark.parametrize("command,changes,match", [
    ("fill-mask", dict(max_position_embeddings=10 ** 12), "max_position_embeddings=1000000000000 is larger"),
    ("fill-mask", dict(id2label=["a", "b", "c"]), "id2label must be a dict"),
    ("classify", dict(architectures=[{}]), "architectures must be a list of class names"),
    ("fill-mask", dict(architectures=[{}]), "architectures must be a list of class names"),
])
def test_cli_bad_configs_are_one_line_exit_2(folders, tmp_path, capsys, command, changes, match):
    import shutil

    folder = str(tmp_path / "m")
    shutil.copytree(folders["fill-mask" if command == "fill-mask" else "text-classification"], folder)
    with open(os.path.join(folder, "config.json")) as f:
        data = dict(json.load(f), **changes)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(data, f)
    assert cli.main([command, "我[MASK]", "--model", folder]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and match in err and "config.json" in err


def test_cli_nested_config_and_bad_top_k(folders, tmp_path, capsys):
    (tmp_path / "config.json").write_text("[" * 100000 + "]" * 100000)
    assert cli.main(["fill-mask", "我[MASK]", "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nested too deeply" in err
    assert cli.main(["fill-mask", "我[MASK]", "--top-k", "-3", "--model", folders["fill-mask"]]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--top-k must be an int >= 1, got -3" in err


def test_cli_unexpected_exception_is_still_one_line(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli_models, "cmd_list", broken)  # where register() looks it up
    monkeypatch.delenv("PADDLE_ELECTRA_TRACEBACK", raising=False)
    assert cli.main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["paddle-electra: error: RuntimeError: boom second line "
                                        "(set PADDLE_ELECTRA_TRACEBACK=1 to see where)"]
    monkeypatch.setenv("PADDLE_ELECTRA_TRACEBACK", "1")
    assert cli.main(["list"]) == 2
    assert "Traceback" in capsys.readouterr().err
