"""max_minutes: a pre-training stage times its first steps, then fixes its schedule's length to fit the budget.

The trainer's clock is replaced by one that moves 10 s per reading, so every plan here is exact; a machine that
gets busier after the plan is one whose clock moves 40 s per reading from then on.
"""

import itertools
import json
import os
import subprocess
import sys

import pytest

from paddle_electra.apps.train import budget
from paddle_electra.apps.train import pretrain as pretrain_module
from paddle_electra.apps.train.checkpoint import latest_checkpoint, read_state
from paddle_electra.apps.train.pretrain import pretrain
from paddle_electra.apps.train.pretrain_cli import finished_checkpoint

from conftest import tiny_cfg

PEAK = 2e-3


@pytest.fixture
def ten_second_clock(monkeypatch):
    """Each reading of the trainer's clock is 10 s after the one before."""
    def install():
        ticks = itertools.count()
        monkeypatch.setattr(budget, "clock", lambda: 10.0 * next(ticks))
    install()
    return install


@pytest.fixture
def busier_after_the_plan(monkeypatch):
    """10 s per reading through the plan's six (start, step 3, step 30, the timed evaluation, the plan), then 40 s."""
    def install(slow_from=6):
        now, reads = [0.0], itertools.count(1)

        def read():
            value = now[0]
            now[0] += 10.0 if next(reads) < slow_from else 40.0
            return value
        monkeypatch.setattr(budget, "clock", read)
    install()
    return install


def budget_cfg(out_dir, slice_files, **kw):
    base = dict(max_steps=500, warmup_steps=30, max_minutes=2.0, learning_rate=PEAK, holdout_every=10,
                eval_every=20, eval_blocks=4, save_every=20)
    return tiny_cfg(out_dir, slice_files, **{**base, **kw})


def read_metrics(out_dir):
    with open(os.path.join(out_dir, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ---------------------------------------------------------------- the plan on its own
def test_the_plan_fits_the_budget_and_never_exceeds_max_steps():
    kw = dict(done=103, warmup_steps=300, max_minutes=100, elapsed_s=60.0, step_s=0.25, eval_s=5.0, eval_every=1000)
    planned = budget.plan_steps(max_steps=28000, **kw)
    # 6,000 s less the 3 % margin, the 60 s spent and the final evaluation, at 0.255 s a step with evaluations
    assert planned == 103 + int((6000 * 0.97 - 60 - 5) / 0.255) == 22671
    assert 60 + (planned - 103) * 0.255 + 5 <= 6000
    assert budget.plan_steps(max_steps=20000, **kw) == 20000  # all fit: the configured length stays
    with pytest.raises(ValueError, match=r"max_minutes=1 does not fit .* not past warmup_steps=300"):
        budget.plan_steps(max_steps=28000, **{**kw, "max_minutes": 1})
    assert budget.plan_step(0, 300) == 300 and budget.plan_step(0, 0) == 23 and budget.plan_step(40, 30) == 70
    assert budget.plan_step(0, 5000) == 2003  # a very long warm-up: timed long enough, planned before its end


def test_a_run_behind_its_plan_is_cut_to_end_within_the_budget():
    plan = budget.make_plan(300, 28000, 300, 100, 60.0, 0.25, 5.0, 1000)
    planned = plan["max_steps"]
    assert planned == 300 + int((6000 * 0.97 - 60 - 5) / 0.255) and "cuts" not in plan
    on_pace = 60 + (1300 - 300) * 0.255  # 1,000 steps later, at the planned pace
    assert budget.check_pace(plan, 1300, on_pace, 0.255) is None
    # 1 % slower is noise (it ends within BEHIND of the budget); 5 % slower is not
    assert budget.check_pace(plan, 1300, on_pace, 0.255 * 1.01) is None
    cut = budget.check_pace(plan, 1300, on_pace + 300, 0.255 * 1.05)
    to = cut["max_steps"]
    assert to == 1300 + int((6000 * 0.97 - on_pace - 300 - 5) / (0.255 * 1.05)) < planned
    assert cut["cuts"] == [{"at": 1300, "from": planned, "to": to, "step_s": 0.26775, "elapsed_s": 615.0}]
    assert plan["max_steps"] == planned and "cuts" not in plan  # the plan given is not changed
    # a second cut keeps the first; a faster machine never lengthens the schedule
    again = budget.check_pace(cut, 5300, 615 + 4000 * 0.4, 0.4)
    assert [c["to"] for c in again["cuts"]] == [to, again["max_steps"]] and again["max_steps"] < to
    assert budget.schedule_of(again) == (planned, [(1300, to), (5300, again["max_steps"])])
    assert budget.check_pace(again, 6300, 2615, 0.01) is None
    # a budget already spent ends on the next step
    assert budget.check_pace(plan, 1300, 6000.0, 0.255)["max_steps"] == 1301
    assert budget.check_pace(plan, 1300, 6000.0, 0.0) is None  # a window the clock could not time judges nothing
    line = budget.describe_plan(again)
    assert f"the schedule ends at step {planned} instead of 28000; behind the plan at step 1300 (268 ms a step" in line
    assert f"the schedule ends at step {to} instead of {planned}, the learning rate decaying from here to 0" in line


def test_a_cut_schedule_keeps_its_rates_up_to_the_cut_and_decays_to_zero_at_the_new_end():
    import paddle

    from paddle_electra.apps.train.optim import build_optimizer, set_total_steps

    _, scheduler = build_optimizer(paddle.nn.Linear(2, 2), 1.0, 100, warmup_steps=10)
    set_total_steps(scheduler, 100, 10, cuts=[(40, 70), (50, 60)])
    rate = scheduler.lr_lambda
    assert [rate(s) for s in (5, 39)] == [6 / 11, 61 / 90]  # before the first cut: the uncut schedule
    assert rate(40) == pytest.approx(60 / 90) and rate(49) == pytest.approx(60 / 90 * 21 / 30)
    assert rate(50) == pytest.approx(60 / 90 * 20 / 30) and rate(55) == pytest.approx(60 / 90 * 20 / 30 / 2)
    assert rate(59) > 0 and rate(60) == 0 and rate(99) == 0
    with pytest.raises(ValueError, match="a schedule cut at step 40 must end after it, not at 40"):
        set_total_steps(scheduler, 100, 10, cuts=[(40, 40)])


# ---------------------------------------------------------------- in the trainer
def test_a_budgeted_run_plans_during_warmup_and_decays_to_its_planned_end(tmp_path, slice_files, ten_second_clock):
    summary = pretrain(budget_cfg(tmp_path / "run", slice_files))
    plan = summary["plan"]
    # clock readings: start 0, after step 3: 10, after step 30: 20 (27 steps, 0.37 s each), the timed evaluation
    # 30 -> 40 (10 s), spent 50 s. 116.4 s usable - 50 - the final 10 = 56.4 s at 0.37 + 10 / 20 s a step: 64 more
    assert (plan["planned_at"], plan["max_steps"], plan["eval_s"], plan["elapsed_s"]) == (30, 94, 10.0, 50.0)
    assert summary["finished"] and summary["steps"] == 94
    rows = read_metrics(tmp_path / "run")
    assert rows[-1]["step"] == 94
    lr = {r["step"]: r["lr"] for r in rows}  # the rate each step trained with
    assert lr[94] == pytest.approx(PEAK * 1 / (94 - 30))  # the schedule ends at the plan, not at 500
    assert lr[31] == pytest.approx(PEAK * (94 - 30) / (94 - 30))
    assert read_state(latest_checkpoint(str(tmp_path / "run" / "checkpoints")))["plan"] == plan
    assert os.path.isdir(tmp_path / "run" / "discriminator")
    assert finished_checkpoint(budget_cfg(tmp_path / "run", slice_files)).endswith("step-00000094")
    # with another budget (or none) the run is not the finished one a recipe may skip
    assert finished_checkpoint(budget_cfg(tmp_path / "run", slice_files, max_minutes=3.0)) is None
    assert finished_checkpoint(budget_cfg(tmp_path / "run", slice_files, max_minutes=None)) is None

    # the warm-up does not depend on the length: up to the plan, the run is the one without a budget
    plain = pretrain(budget_cfg(tmp_path / "plain", slice_files, max_minutes=None, stop_after=30))
    assert plain["plan"] is None
    for a, b in zip(read_metrics(tmp_path / "plain"), rows[:30]):
        for k in ("loss", "gen_loss", "disc_loss", "lr"):
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7), (a["step"], k)


def test_a_resumed_run_keeps_its_plan_and_repeats_the_uninterrupted_losses(tmp_path, slice_files,
                                                                          ten_second_clock):
    full = pretrain(budget_cfg(tmp_path / "full", slice_files))
    ten_second_clock()
    part = pretrain(budget_cfg(tmp_path / "part", slice_files, stop_after=60))
    assert not part["finished"] and part["plan"] == full["plan"]
    rest = pretrain(budget_cfg(tmp_path / "part", slice_files, resume="auto"))  # no new plan: the clock is not read
    assert rest["finished"] and rest["plan"] == full["plan"] and rest["steps"] == 94
    a, b = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "part")
    assert [r["step"] for r in b] == list(range(1, 95))
    for ra, rb in zip(a, b):
        for k in ("loss", "gen_loss", "disc_loss", "lr"):
            assert ra[k] == pytest.approx(rb[k], rel=1e-5, abs=1e-7), (ra["step"], k)
    with pytest.raises(ValueError, match=r"planned for max_minutes=2.0 and max_steps=500; resume with those"):
        pretrain(budget_cfg(tmp_path / "part", slice_files, resume="auto", max_minutes=5.0))


def test_a_machine_busier_after_the_plan_cuts_the_schedule_and_a_resumed_run_keeps_the_cut(
        tmp_path, slice_files, busier_after_the_plan, ten_second_clock, caplog):
    caplog.set_level("WARNING", logger="paddle_electra.train")
    busier_after_the_plan()
    summary = pretrain(budget_cfg(tmp_path / "cut", slice_files))
    # planned at step 30 as before (94 steps); the pace is checked at the evaluations (every 20 steps, at least 20
    # steps apart): at step 60, 30 steps took 40 s and 90 s are spent: 34 more steps would end at 145 s of 120.
    # 116.4 s usable - 90 - the final evaluation's 10 s leaves 12 steps at 1.33 s: the schedule ends at step 72
    plan = summary["plan"]
    assert plan["cuts"] == [{"at": 60, "from": 94, "to": 72, "step_s": 1.33333, "elapsed_s": 90.0}]
    assert summary["finished"] and summary["steps"] == plan["max_steps"] == 72
    assert "behind the plan at step 60 (1333 ms a step since the last check, 1.5 min spent)" in caplog.text
    rows = read_metrics(tmp_path / "cut")
    assert rows[-1]["step"] == 72 and os.path.isdir(tmp_path / "cut" / "discriminator")
    lr = {r["step"]: r["lr"] for r in rows}
    assert lr[60] == pytest.approx(PEAK * 35 / 64)  # the planned schedule up to the cut
    assert lr[61] == pytest.approx(PEAK * 34 / 64) and lr[72] == pytest.approx(PEAK * 34 / 64 / 12)  # then to 0
    assert finished_checkpoint(budget_cfg(tmp_path / "cut", slice_files)).endswith("step-00000072")

    # up to the cut the run is the one on a machine that kept its pace
    ten_second_clock()
    steady = pretrain(budget_cfg(tmp_path / "steady", slice_files))
    assert steady["plan"]["max_steps"] == 94 and "cuts" not in steady["plan"]
    for a, b in zip(read_metrics(tmp_path / "steady")[:60], rows[:60]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["lr"] == pytest.approx(b["lr"])

    # stopped after the cut and resumed on a machine at the planned pace: the cut stays, the losses are the same
    busier_after_the_plan()
    pretrain(budget_cfg(tmp_path / "part", slice_files, stop_after=66))
    ten_second_clock()
    rest = pretrain(budget_cfg(tmp_path / "part", slice_files, resume="auto"))
    assert rest["plan"] == plan and rest["steps"] == 72
    for a, b in zip(read_metrics(tmp_path / "part"), rows):
        assert a["step"] == b["step"] and a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-7)
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-6)


def test_a_run_stopped_before_its_plan_plans_after_resuming(tmp_path, slice_files, ten_second_clock):
    pretrain(budget_cfg(tmp_path / "run", slice_files, stop_after=10, save_every=5))
    assert read_state(latest_checkpoint(str(tmp_path / "run" / "checkpoints")))["plan"] is None
    ten_second_clock()
    summary = pretrain(budget_cfg(tmp_path / "run", slice_files, resume="auto", save_every=5))
    # timed over this process's own steps 13-40, planned after step 40 of the warm-up's 30: the rates of
    # steps 31-40 followed the configured length; the budget also counts the first process's training time
    plan = summary["plan"]
    assert plan["planned_at"] == 10 + 3 + 27 and 10 + 40 < plan["elapsed_s"] < 10 + 40 + 60
    assert summary["finished"] and summary["steps"] == plan["max_steps"] < 500


def test_a_budget_too_short_for_the_warmup_is_an_error_that_says_so(tmp_path, slice_files, ten_second_clock):
    with pytest.raises(ValueError, match=r"max_minutes=0.5 does not fit this stage on this machine.*warmup_steps=30"):
        pretrain(budget_cfg(tmp_path / "run", slice_files, max_minutes=0.5))


def test_max_minutes_is_checked(tmp_path, slice_files, monkeypatch):
    with pytest.raises(ValueError, match="max_minutes must be > 0"):
        pretrain(budget_cfg(tmp_path / "a", slice_files, max_minutes=0))
    monkeypatch.setattr(pretrain_module, "_world", lambda: (0, 2))
    with pytest.raises(ValueError, match="under paddle.distributed set max_steps instead"):
        pretrain(budget_cfg(tmp_path / "b", slice_files))
    assert not (tmp_path / "b").exists()  # refused before anything was written


# ---------------------------------------------------------------- the command line
def test_the_command_line_says_the_plan_and_skips_a_finished_budgeted_stage(tmp_path, slice_files):
    """On the real clock: a generous budget keeps every step, and the plan's line reaches stderr (Paddle's import,
    quietened by the CLI, used to take every log line after it with it: `auto`'s line was never seen)."""
    text, vocab = slice_files
    stage = {"train_files": [text], "vocab": vocab, "out_dir": str(tmp_path / "s1"), "embedding_size": 16,
             "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 64, "max_length": 32, "batch_size": 4, "max_steps": 40, "warmup_steps": 30,
             "max_minutes": 30, "threads": 1, "progress": False, "plot": False, "save_every": 0}
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"stages": [stage]}), encoding="utf-8")
    argv = [sys.executable, "-m", "paddle_electra", "pretrain", "--config", str(recipe), "--resume", "auto",
            "--matmul-precision", "auto"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "40 steps (fewer if 30 min do not fit them)" in r.stderr
    assert "max_minutes=30: " in r.stderr and "min spent by step 30: all 40 steps fit" in r.stderr
    assert "matmul_precision='auto': " in r.stderr
    assert json.loads(r.stdout[r.stdout.index("["):])[0]["plan"]["max_steps"] == 40
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "already holds its finished models" in r.stderr, r.stderr[-2000:]
