"""The first hour as a user (issue 13): the CLI's messages name its flags, --json is JSON, no Paddle noise,
the embedded model is named, pipelines take HF's call-time options and task aliases, docs run on a fresh clone."""

import json
import os
import re
import subprocess
import sys

import pytest

import paddle_electra as pe
from paddle_electra.cli import app as cli, common as cli_common
from paddle_electra.loading import registry
from paddle_electra.inference import pipelines as pl
from paddle_electra.inference.pipelines import pipeline
from task_folders import make_task_folders

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMBEDDED_GEN = "electra-zh-peoples-daily-small-generator"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return make_task_folders(tmp_path_factory.mktemp("ux-models"))


def _command(name):
    parser = cli.build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices[name]


# ------------------------------------------------------------------ the CLI
def test_export_twice_names_the_flag_and_overwrite_verify_and_json_work(folders, tmp_path, capfd):
    out = str(tmp_path / "deploy")
    # --task comes from the model's config; --verify prints the max |Δ| of every output
    assert cli.main(["export", "--model", folders["text-classification"], "--out", out, "--verify"]) == 0
    printed = capfd.readouterr().out
    assert "(text-classification)" in printed and "max |Δ|" in printed
    assert re.search(r"paddle_inference\s+logits\s+\d\.\d+e[-+]\d+", printed)
    assert cli.main(["export", "--model", folders["text-classification"], "--out", out]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass --overwrite" in err[0] and "overwrite=True" not in err[0]
    with pytest.raises(ValueError, match="pass overwrite=True"):  # Python names the keyword
        pe.export(folders["text-classification"], out)
    # --overwrite replaces it; with --json (and ONNX: paddle2onnx prints to fd 1) stdout is only the JSON
    assert cli.main(["export", "--model", folders["text-classification"], "--out", out, "--overwrite", "--onnx",
                     "--json"]) == 0
    captured = capfd.readouterr()
    assert json.loads(captured.out)["onnx"]["file"] == "model.onnx"
    assert "Paddle2ONNX" not in captured.err and "!!!!" not in captured.err


def test_cli_messages_name_flags_where_the_library_names_keywords():
    convert = _command("convert")
    msg = cli.cli_message("no generator config: pass generator_config (a JSON file); check generator_config", convert)
    assert msg == "no generator config: pass --generator-config (a JSON file); check --generator-config"
    msg = cli.cli_message("input 0 is 90 tokens long, more than max_length=64; pass truncation=True to cut it",
                          _command("classify"))
    assert msg == "input 0 is 90 tokens long, more than --max-length 64; pass --truncation to cut it"
    msg = cli.cli_message("give a training file (train_file=) or a built-in dataset (dataset= a | b); "
                          "progress=False, learning_rate=0.1", _command("finetune"))
    assert msg == ("give a training file (--train) or a built-in dataset (--dataset a | b); --no-progress, "
                   "--learning-rate 0.1")
    hub = cli.cli_message("folder /x/model_dir exists; pass overwrite=True (--overwrite) to replace it",
                          _command("hub-module"))
    assert hub == "folder /x/model_dir exists; pass --overwrite to replace it"
    # words that are no option of the command, and paths, stay as they are
    text = "see /tmp/generator_config.json: max_position_embeddings=512, model=x"
    assert cli.cli_message(text, _command("fill-mask")) == text.replace("model=x", "--model x")


def test_fill_mask_and_detect_name_their_model_and_version(folders, capsys):
    assert cli.main(["fill-mask", "今天[MASK]气", "--top-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"model: {EMBEDDED_GEN} (the demo model embedded in paddle_electra")
    assert cli.main(["detect", "我爱北京", "--model", folders["replaced-token-detection"], "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0][0]["token"] == "我"  # stdout: the JSON only
    assert captured.err.strip() == f"model: {folders['replaced-token-detection']}"
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"paddle-electra {pe.__version__}"


def test_native_output_is_kept_off_stdout_and_noise_is_dropped(capfd):
    with cli_common.stdout_to_stderr():
        os.write(1, b"printed by native code\n")
        print("printed by python")
    captured = capfd.readouterr()
    assert captured.out == "" and "printed by native code" in captured.err and "printed by python" in captured.err
    with cli_common.native_output_filtered():
        os.write(1, b"[Paddle2ONNX] Start parsing the Paddle model file...\n")
        os.write(2, b"W1201 20:25:19.991165  2713 eager_utils.cc:3584] Paddle static graph(PIR) not support "
                    b"input out tensor for now!!!!!\n")
        os.write(2, b"progress 1/2\rprogress 2/2\r")
        os.write(1, b"a real warning\n")
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "progress 1/2\rprogress 2/2\ra real warning\n"


def test_no_paddle_warnings_on_help_and_fill_mask():
    # OMP_NUM_THREADS > 1 makes Paddle lecture about data parallelism at import
    env = dict(os.environ, PADDLE_ELECTRA_OFFLINE="1", PYTHONWARNINGS="default", OMP_NUM_THREADS="2")
    run = [sys.executable, "-m", "paddle_electra"]
    proc = subprocess.run(run + ["--help"], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "" and "--version" in proc.stdout
    proc = subprocess.run(run + ["fill-mask", "今天[MASK]气", "--json"], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ccache" not in proc.stderr and proc.stderr.strip().startswith(f"model: {EMBEDDED_GEN}")
    assert "OMP_NUM_THREADS" not in proc.stderr
    assert len(json.loads(proc.stdout)[0][0]) == 5


# ------------------------------------------------------------------ pipelines
def test_pipeline_takes_hf_call_time_options(folders):
    clf = pipeline("sentiment-analysis", model=folders["text-classification"])
    assert clf.task == "text-classification"
    long_text = "我爱北京天安门" * 20  # 140 tokens > 64 positions
    with pytest.raises(ValueError, match="truncation=True"):
        clf(long_text)
    cut = clf(long_text, truncation=True)
    assert cut == clf(long_text, truncation=True, max_length=64)  # max_length defaults to the model's 64
    assert clf(long_text, truncation=True, max_length=8) != cut
    texts = ["我爱北京天安门", "张三", "这部电影很好看"]
    one_by_one, batched = clf(texts, batch_size=1), clf(texts)
    assert [r["label"] for r in one_by_one] == [r["label"] for r in batched]
    assert [r["score"] for r in one_by_one] == pytest.approx([r["score"] for r in batched], abs=1e-6)
    assert [len(r) for r in clf(texts, top_k=2)] == [2, 2, 2]
    assert clf.truncation is False and clf.batch_size == 32  # a call's options do not stick
    with pytest.raises(ValueError, match="max_length=65 is more than"):
        clf(texts, max_length=65)
    with pytest.raises(TypeError, match="unexpected option.*pooling"):
        clf(texts, pooling="cls")
    ner = pipeline("ner", model=folders["token-classification"])
    assert ner(long_text, truncation=True, aggregation="none")[0]["token"] == "我"
    qa = pipeline("question-answering", model=folders["question-answering"])
    assert set(qa(question="谁在北京？", context=long_text, truncation=True, max_length=32)) == {
        "answer", "start", "end", "score"}
    assert {pl.TASK_ALIASES[a] for a in ("mask-filling", "ner", "sentiment-analysis")} == {
        "fill-mask", "token-classification", "text-classification"}


def test_pipeline_without_model_uses_the_embedded_default():
    fill = pipeline("fill-mask")
    assert fill.model_name == pl.DEFAULT_MODELS["fill-mask"] == EMBEDDED_GEN
    assert len(fill("今天[MASK]气", top_k=3)[0]) == 3
    with pytest.raises(ValueError, match="needs model="):
        pipeline("text-classification")


# ------------------------------------------------------------------ registry, hub README, docs
def test_list_pretrained_returns_rows_and_print_pretrained_prints_them(capsys):
    rows = registry.list_pretrained()
    assert capsys.readouterr().out == ""
    assert isinstance(rows, list) and {"name", "class", "params", "source"} <= set(rows[0])
    registry.print_pretrained()
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split()[:2] == ["name", "class"] and len(printed.splitlines()) == 1 + len(rows)
    assert cli.main(["list"]) == 0 and capsys.readouterr().out == printed


def test_hub_module_readme_install_line_has_the_pins_that_import():
    for folder in ("chinese_electra_small", "chinese_electra_base", "chinese_legal_electra_small_generator"):
        with open(os.path.join(REPO, "hub_modules", folder, "README.md"), encoding="utf-8") as f:
            text = f.read()
        line = next(x for x in text.splitlines() if x.startswith("pip install"))
        for pin in ("-e .", "paddlehub==2.4.0", "paddlenlp==2.8.1", "protobuf==3.20.3", '"gradio<5"'):
            assert pin in line, (folder, pin)
        assert "paddle_electra" not in line.split("#")[0]  # not on PyPI: installed from the source tree


def test_results_doc_commands_need_nothing_a_fresh_clone_lacks():
    with open(os.path.join(REPO, "docs", "results.md"), encoding="utf-8") as f:
        blocks = re.findall(r"```bash\n(.*?)```", f.read(), flags=re.S)
    commands = " ".join(blocks).replace("\\\n", " ")
    models = re.findall(r"--model (\S+)", commands)
    assert models
    # a model may also be one the doc's own pre-training commands write (a recipe stage's out_dir)
    made = set()
    for recipe in re.findall(r"--config (recipes/\S+\.json)", commands):
        with open(os.path.join(REPO, recipe), encoding="utf-8") as f:
            spec = json.load(f)
        for stage in spec.get("stages", [spec]):
            made |= {f"{stage['out_dir']}/discriminator", f"{stage['out_dir']}/generator"}
    for model in models:  # every model a command starts from ships with the package or the repository
        assert registry.is_known(model) or os.path.isdir(os.path.join(REPO, model)) or model in made, model
    for path in re.findall(r"(?:--config|--train|python) (\S+\.(?:json|py|txt))", commands):
        assert os.path.isfile(os.path.join(REPO, path)), path
    assert "/tmp/" not in commands
