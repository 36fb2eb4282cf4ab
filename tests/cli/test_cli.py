"""The paddle-electra command line, end to end through ``python -m paddle_electra``."""

import json
import os
import subprocess
import sys
import time

import pytest

from paddle_electra.cli import app as cli
from task_folders import make_task_folders

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return make_task_folders(tmp_path_factory.mktemp("cli-models"))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return str(tmp_path_factory.mktemp("empty-home"))


def run_cli(*args, home=None, timeout=60):
    env = dict(os.environ, PADDLE_ELECTRA_OFFLINE="1", PADDLE_ELECTRA_DISABLE_PROGRESS_BARS="1")
    if home:
        env["PADDLE_ELECTRA_HOME"] = home
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "paddle_electra", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=timeout)
    proc.elapsed = time.time() - start
    return proc


def test_list_shows_every_name():
    proc = run_cli("list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["name", "class"] and len(lines) == 1 + 41
    assert "hfl/chinese-legal-electra-small-generator" in proc.stdout
    proc = run_cli("list", "--json")
    rows = json.loads(proc.stdout)
    assert len(rows) == 41 and {"name", "class", "params"} <= set(rows[0])


def test_fill_mask_table_and_json(folders):
    proc = run_cli("fill-mask", "经[MASK]审理查明", "我爱[MASK]京", "--model", folders["fill-mask"], "--top-k", "3")
    assert proc.returncode == 0, proc.stderr
    assert "rank" in proc.stdout and "score" in proc.stdout
    assert proc.stdout.count("\n1 ") == 2 and "\n4 " not in proc.stdout
    proc = run_cli("--threads", "2", "fill-mask", "经[MASK]审理查明", "--model", folders["fill-mask"], "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert len(res) == 1 and len(res[0]) == 1 and len(res[0][0]) == 5
    assert set(res[0][0][0]) == {"token", "token_id", "score", "sequence"}
    full = {c["token"]: c["score"] for c in json.loads(run_cli(
        "fill-mask", "我爱[MASK]京", "--model", folders["fill-mask"], "--top-k", "30000", "--json").stdout)[0][0]}
    proc = run_cli("fill-mask", "我爱[MASK]京", "--model", folders["fill-mask"], "--target", "北", "--target", "天",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    ranked = json.loads(proc.stdout)[0][0]  # only the targets, best first, with their whole-vocabulary scores
    assert sorted(c["token"] for c in ranked) == ["北", "天"]
    assert [c["score"] for c in ranked] == sorted((full[c["token"]] for c in ranked), reverse=True)


def test_every_task_command_json(folders):
    proc = run_cli("classify", "这部电影很好看", "很好", "--model", folders["text-classification"], "--json")
    assert proc.returncode == 0, proc.stderr
    assert [set(r) for r in json.loads(proc.stdout)] == [{"label", "score"}] * 2
    proc = run_cli("qa", "--question", "谁在北京？", "--context", "张三在北京工作", "--model",
                   folders["question-answering"], "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert "张三在北京工作"[res["start"]:res["end"]] == res["answer"]


def test_in_process_commands(folders, capsys):
    # the same commands through cli.main (fast: no new interpreter)
    assert cli.main(["detect", "我爱北京", "--model", folders["replaced-token-detection"], "--json"]) == 0
    toks = json.loads(capsys.readouterr().out)
    assert [t["token"] for t in toks[0]] == list("我爱北京")
    assert cli.main(["ner", "张三在北京工作", "--model", folders["token-classification"], "--json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out)[0], list)
    assert cli.main(["ner", "张三在北京工作", "--model", folders["token-classification"]]) == 0
    assert "张三在北京工作" in capsys.readouterr().out
    assert cli.main(["classify", "很好", "--top-k", "3", "--model", folders["text-classification"]]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["text", "label", "score"] and len(out.splitlines()) == 4
    assert cli.main(["qa", "--question", "谁", "--context", "张三", "--model", folders["question-answering"]]) == 0
    assert "answer" in capsys.readouterr().out


def test_errors_exit_2_with_one_line(folders, tmp_path, capsys):
    proc = run_cli("fill-mask", "我爱北京", "--model", folders["fill-mask"])  # no [MASK]
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "text 0" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("paddle-electra: error:")
    # in-process: long text, missing folder, convert of nothing, classify without --model
    long_text = "我" * 100
    assert cli.main(["classify", long_text, "--model", folders["text-classification"]]) == 2
    err = capsys.readouterr().err
    assert "truncation" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["classify", long_text, "--truncation", "--model", folders["text-classification"]]) == 0
    capsys.readouterr()
    assert cli.main(["convert", "--tf-checkpoint", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "error" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["classify", "很好"])
    assert exc.value.code == 2


def test_offline_name_fails_fast_with_hint(home):
    proc = run_cli("fill-mask", "经[MASK]审理查明", "--model", "hfl/chinese-legal-electra-small-generator",
                   home=home, timeout=30)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()[-1]
    assert "--model DIR" in err and "PADDLE_ELECTRA_MIRROR" in err and "HF_ENDPOINT" in err
    assert proc.elapsed < 30  # interpreter + paddle import included (slow on a loaded machine); the failure itself is < 1 s


def test_export_command(folders, tmp_path, capsys):
    out = str(tmp_path / "exp")
    assert cli.main(["export", "--model", folders["text-classification"], "--task", "text-classification",
                     "--out", out]) == 0
    capsys.readouterr()
    assert cli.main(["classify", "这部电影很好看", "--model", out, "--json"]) == 0  # auto -> inference
    exported = json.loads(capsys.readouterr().out)
    assert cli.main(["classify", "这部电影很好看", "--model", folders["text-classification"], "--json"]) == 0
    direct = json.loads(capsys.readouterr().out)
    assert exported[0]["label"] == direct[0]["label"]
    assert exported[0]["score"] == pytest.approx(direct[0]["score"], abs=1e-4)


def test_default_models_run_offline_from_the_package(home):
    proc = run_cli("fill-mask", "中国共产党第十五次全国代表大会[MASK]利召开", "--json", home=home, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)
    top = rows[0][0] if isinstance(rows[0], list) else rows[0]
    assert len(top) == 5 and all(0 <= r["score"] <= 1 for r in top)
    assert [r["score"] for r in top] == sorted((r["score"] for r in top), reverse=True)
    proc = run_cli("detect", "中国共产党第十五次全国代表大会胜利召开", "--json", home=home, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(json.loads(proc.stdout)) == 1
