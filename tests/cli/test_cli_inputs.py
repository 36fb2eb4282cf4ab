"""The CLI without Paddle for --help, its inputs from files / stdin / JSONL, and its random-head check."""

import io
import json
import os
import subprocess
import sys

import pytest

import paddle_electra as pe
from paddle_electra.cli import app as cli, common as cli_common, inputs as cli_inputs
from task_folders import make_task_folders

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMBEDDED_DISC = "electra-zh-peoples-daily-small-discriminator"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return make_task_folders(tmp_path_factory.mktemp("cli-input-models"))


def _python(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env=dict(os.environ, PADDLE_ELECTRA_OFFLINE="1"))


def test_help_of_every_command_and_import_do_not_import_paddle():
    # `python -m paddle_electra --help`: -X importtime lists every module the process imported
    proc = _python("-X", "importtime", "-m", "paddle_electra", "--help")
    assert proc.returncode == 0 and "--version" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    assert "paddle_electra.cli.app" in imported and "paddle" not in imported
    # every subcommand's --help, and the package's import, in one process
    code = ("import os, sys\nimport paddle_electra as pe\nfrom paddle_electra.cli import app as cli\n"
            "mkl = os.environ.get('MKL_DEBUG_CPU_TYPE')\n"
            "sub = next(a for a in cli.build_parser()._actions if hasattr(a, 'choices') and a.choices and "
            "'fill-mask' in a.choices)\n"
            "for name in sub.choices:\n"
            "    try:\n        cli.main([name, '--help'])\n    except SystemExit as e:\n        assert e.code == 0\n"
            "assert cli.main(['list']) == 0  # the name table needs no Paddle either\n"
            "print(len(sub.choices), 'paddle' in sys.modules, pe.FAST_MKL_KERNELS == (mkl == '5'), file=sys.stderr)")
    proc = _python("-c", code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    n, paddle_imported, mkl_set_at_import = proc.stderr.split()
    assert int(n) >= 12 and paddle_imported == "False" and mkl_set_at_import == "True"


def test_every_public_name_resolves_lazily():
    assert set(pe.__all__) <= set(dir(pe)) and len(pe.__all__) == len(set(pe.__all__))
    for name in pe.__all__:
        assert getattr(pe, name) is not None, name
    ns = {}
    exec("from paddle_electra import " + ", ".join(pe.__all__), ns)
    assert ns["ElectraModel"] is pe.ElectraModel and ns["AutoModelForCausalLM"] is pe.AutoModelForCausalLM
    assert callable(pe.export) and pe.export.ExportError is pe.ExportError
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        pe.NoSuchThing  # noqa: B018


def test_cli_task_names_match_the_pipelines():
    from paddle_electra.inference import pipelines

    assert cli_common.TASKS == pipelines.TASKS and set(cli_common.TASK_ALIASES) == set(pipelines.TASK_ALIASES)
    assert cli_common.BACKENDS == pipelines.BACKENDS and cli_common.DEFAULT_MODELS == pipelines.DEFAULT_MODELS


def test_input_file_stdin_and_jsonl(folders, tmp_path, capsys, monkeypatch):
    model = ["--model", folders["text-classification"], "--batch-size", "2"]
    texts = tmp_path / "texts.txt"
    texts.write_text("很好\n\n这部电影很好看\n不好\n差\n很差的电影\n", encoding="utf-8")  # a blank line: skipped
    assert cli.main(["classify", "--input", str(texts), "--json", *model]) == 0
    by_file = json.loads(capsys.readouterr().out)
    assert len(by_file) == 5 and set(by_file[0]) == {"label", "score"}
    # `-`: stdin, after the argument; the same results (chunks of 2 x 8 texts: one chunk here)
    monkeypatch.setattr(sys, "stdin", io.StringIO(texts.read_text(encoding="utf-8")))
    assert cli.main(["classify", "好", "-", "--json", *model]) == 0
    by_stdin = json.loads(capsys.readouterr().out)[1:]
    assert [r["label"] for r in by_stdin] == [r["label"] for r in by_file]
    assert [r["score"] for r in by_stdin] == pytest.approx([r["score"] for r in by_file], abs=1e-5)  # other batches
    # JSONL in and out: the other keys come back with the result; a progress bar on stderr with --progress
    lines = [json.dumps({"id": i, "text": t}, ensure_ascii=False) for i, t in enumerate(["很好", "不好", "差"] * 7)]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert cli.main(["classify", "-", "--jsonl", "--progress", *model]) == 0
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert [o["id"] for o in out] == list(range(21)) and out[0]["result"]["label"] == by_file[0]["label"]
    assert "21/21" in captured.err
    # arguments with --jsonl: JSON lines out
    assert cli.main(["detect", "很好", "这部电影很好看", "--jsonl", "--model", folders["replaced-token-detection"]]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["text"] for o in out][:2] == ["很好", "这部电影很好看"] and len(out[1]["result"]) == 7


def test_qa_jsonl_and_input_errors_name_the_line(folders, tmp_path, capsys):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "谁在北京?", "context": "张三在北京工作", "id": "a"}\n'
                  '{"question": "谁?", "context": "李四"}\n', encoding="utf-8")
    assert cli.main(["qa", "--input", str(qa), "--jsonl", "--model", folders["question-answering"]]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[0]["id"] == "a" and "张三在北京工作"[out[0]["result"]["start"]:out[0]["result"]["end"]] == \
        out[0]["result"]["answer"] and len(out) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "很好"}\n{"txt": "x"}\n', encoding="utf-8")
    model = ["--model", folders["text-classification"]]
    for argv, expected in ((["classify", "--input", str(bad), "--jsonl"], f"{bad} line 2: needs 'text'"),
                           (["classify", "--input", str(tmp_path / "none.txt")], "none.txt: no such file"),
                           (["classify"], "no input"),
                           (["qa", "--question", "谁"], "both --question and --context"),
                           (["qa", "--input", str(qa)], "pass --jsonl")):
        assert cli.main(argv + model) == 2, argv
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
    # an error inside a later chunk names the input by its place in the whole input and its line
    texts = tmp_path / "long.txt"
    texts.write_text("很好\n" * 20 + "我" * 100 + "\n", encoding="utf-8")
    assert cli.main(["classify", "--input", str(texts), "--batch-size", "2", *model]) == 2
    assert f"input 20 ({texts} line 21)" in capsys.readouterr().err


def test_random_head_exits_2_unless_allowed(folders, capsys):
    # a discriminator checkpoint has no classifier: a random head, refused with the flag named
    for command in ("classify", "ner"):
        assert cli.main([command, "很好", "--model", EMBEDDED_DISC]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--allow-random-head" in err and "classifier" in err, err
    assert cli.main(["classify", "很好", "--model", EMBEDDED_DISC, "--allow-random-head", "--json"]) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err and len(json.loads(captured.out)) == 1
    # a fine-tuned folder (its head saved) runs without the flag
    assert cli.main(["ner", "张三", "--model", folders["token-classification"]]) == 0
    assert "warning" not in capsys.readouterr().err
    assert cli_inputs.PROGRESS_MIN_TEXTS > 0
