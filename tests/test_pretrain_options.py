"""`paddle-electra pretrain` options: checked before any work, warmup scaled for shortened runs, `--quick`,
and a run folder that is never silently overwritten (issue 13)."""

import json
import os
import random

import pytest

from paddle_electra import cli
from paddle_electra.train.pretrain import PretrainConfig, config_from_args, pretrain

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(REPO, "recipes", "pretrain-peoples-daily-small.json")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    """A few hundred lines of Chinese-looking text: enough for a vocab and a 3-step run."""
    rng = random.Random(0)
    chars = "中国人民大会北京上海工作经济发展建设社会主义我们他们今天明天新年学习生活"
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text("\n".join("".join(rng.choice(chars) for _ in range(rng.randint(8, 40))) for _ in range(300)),
                    encoding="utf-8")
    return str(path)


def _parse(*argv):
    return cli.build_parser().parse_args(["pretrain", *argv])


def _metrics(folder):
    with open(os.path.join(folder, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["step"] for line in f]


def test_shortened_recipe_scales_its_warmup_and_says_so():
    said = []
    cfg = config_from_args(_parse("--config", RECIPE, "--max-steps", "20"), said.append)
    assert (cfg.max_steps, cfg.warmup_steps) == (20, 2)  # the recipe's 50 of 500 steps, scaled
    assert len(said) == 1 and "50" in said[0] and "2" in said[0] and "--warmup-steps" in said[0]
    cfg = config_from_args(_parse("--config", RECIPE, "--max-steps", "20", "--warmup-steps", "5"), said.append)
    assert cfg.warmup_steps == 5 and len(said) == 1  # an explicit warmup is the user's choice
    with pytest.raises(ValueError, match=r"warmup_steps=50 must be in \[0, max_steps=20\]"):
        PretrainConfig(out_dir="x", corpus="peoples-daily", max_steps=20, warmup_steps=50).validate()


def test_bad_options_fail_before_any_file_is_written(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        pretrain(PretrainConfig(out_dir=str(out), train_files=[text_file], vocab=str(tmp_path / "nope.txt")))
    with pytest.raises(ValueError, match="max_length 100 exceeds"):
        pretrain(PretrainConfig(out_dir=str(out), train_files=[text_file], max_length=100,
                                max_position_embeddings=64))
    assert not out.exists()
    # the CLI names its flags: --warmup-steps / --max-steps, not the keywords
    assert cli.main(["pretrain", "--train-files", text_file, "--out-dir", str(out), "--max-steps", "5",
                     "--warmup-steps", "9"]) == 2
    err = capsys.readouterr().err
    assert "--warmup-steps 9" in err and "--max-steps 5" in err and "warmup_steps" not in err
    assert not out.exists()


def test_quick_resume_auto_and_no_silent_overwrite(tmp_path, text_file, capsys):
    out = str(tmp_path / "run")
    quick = ["pretrain", "--train-files", text_file, "--out-dir", out, "--quick", "--no-progress"]
    # --resume auto on a fresh folder starts the run (the README's command)
    assert cli.main(quick + ["--resume", "auto"]) == 0
    captured = capsys.readouterr()
    assert "starting a new run" in captured.err and json.loads(captured.out)["finished"] is True
    assert _metrics(out) == [1, 2, 3] and os.path.isdir(os.path.join(out, "discriminator"))
    before = os.path.getmtime(os.path.join(out, "metrics.jsonl"))
    # a second run into the same folder is refused, naming both ways on, and touches nothing
    assert cli.main(quick) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the --quick line
    assert err.startswith("paddle-electra: error:") and "--resume auto" in err and "--overwrite" in err
    assert "resume=" not in err
    assert os.path.getmtime(os.path.join(out, "metrics.jsonl")) == before
    # --resume auto continues it; --overwrite starts over (no checkpoint of the earlier run is left)
    assert cli.main(quick + ["--resume", "auto", "--max-steps", "5"]) == 0
    assert _metrics(out) == [1, 2, 3, 4, 5]
    assert cli.main(quick + ["--overwrite", "--save-every", "1", "--keep-checkpoints", "9"]) == 0
    capsys.readouterr()
    assert _metrics(out) == [1, 2, 3]
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == [f"step-0000000{i}" for i in (1, 2, 3)]
    with pytest.raises(ValueError, match="resume='auto'.*overwrite=True"):  # Python names its keywords
        pretrain(PretrainConfig(out_dir=out, train_files=[text_file], max_steps=2, warmup_steps=0))
