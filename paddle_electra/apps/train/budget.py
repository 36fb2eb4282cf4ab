"""A stage's time budget (``max_minutes``): how many steps fit on this machine, decided once, early.

The same recipe runs at very different speeds: a CPU with a bf16 path (AMX,
AVX512-BF16) trains the People's Daily pair ~1.3x faster than one without, and
a shared machine slower still. A stage with ``max_minutes`` times its first
steps and then fixes its schedule's length (``max_steps`` at most) so that it
ends within the budget, evaluations and setup included. The plan is made during
the warm-up whenever the warm-up is long enough to time: the warm-up's rates
do not depend on the schedule's length, so every step before the plan ran
exactly as it would have under the planned length. The plan goes into every
checkpoint, and a resumed run keeps it rather than planning again: the
schedule, and so the losses, stay those of an uninterrupted run.

A machine can get busier after the plan (another job starts beside the run).
The trainer then checks its pace at every held-out evaluation: when the steps
since the last check, at their rate, would end the stage more than ``BEHIND``
of the budget late, the schedule is cut to end where the budget does, the
learning rate decaying from its current value to zero at the new end (no
jump). A cut is recorded in the plan, so a resumed run follows it too. A
machine that gets faster finishes early: a schedule is never lengthened.
"""

from __future__ import annotations

import math
import time
from typing import Dict, List, Optional, Tuple

# the clock the plan is made with (tests swap in a deterministic one)
clock = time.perf_counter

WARM_STEPS = 3  # the first steps build oneDNN primitives and fill caches: not timed
# how many steps are timed: the rest of the warm-up, so the plan comes as late as it can without changing a rate
# already used (a window of 100 steps misjudged the step time of the People's Daily stages by up to 10 %), and at
# least MIN_TIMED where the warm-up is shorter
MIN_TIMED, MAX_TIMED = 20, 2000
MARGIN = 0.03  # of the budget, kept back for what the plan does not time (checkpoint saves, the final save)
# a run projected to end later than this share of the budget past its planned end is cut; less is noise (one
# save more or less in a window) and would cut a few steps at every check
BEHIND = 0.015


def plan_step(start: int, warmup_steps: int) -> int:
    """The step after which a run that starts (or resumes unplanned) at ``start`` makes its plan."""
    return start + WARM_STEPS + min(max(warmup_steps - WARM_STEPS, MIN_TIMED), MAX_TIMED)


def plan_steps(done: int, max_steps: int, warmup_steps: int, max_minutes: float, elapsed_s: float, step_s: float,
               eval_s: float = 0.0, eval_every: int = 0) -> int:
    """How many steps the schedule runs: as many as end within ``max_minutes``, at most ``max_steps``.

    Args:
        done: steps done when planning; max_steps: the configured length.
        warmup_steps: the schedule's warm-up (a plan must end after it).
        max_minutes: the stage's budget; elapsed_s: seconds of it already spent.
        step_s: seconds a training step takes here; eval_s: seconds one held-out
            evaluation takes (0: none), run every ``eval_every`` steps and at the end.

    Raises:
        ValueError: the budget does not reach past the warm-up on this machine.
    """
    per_step = step_s + (eval_s / eval_every if eval_every else 0.0)
    planned = min(max_steps, done + _steps_that_fit(max_minutes, elapsed_s, eval_s, per_step))
    if planned <= max(warmup_steps, done):
        raise ValueError(f"max_minutes={max_minutes:g} does not fit this stage on this machine: at "
                         f"{step_s * 1000:.0f} ms a step, with {elapsed_s / 60:.1f} min already spent, it leaves "
                         f"time for {max(planned, done)} steps, not past warmup_steps={warmup_steps}; give it more "
                         f"minutes (or remove max_minutes to run all {max_steps} steps)")
    return planned


def make_plan(done: int, max_steps: int, warmup_steps: int, max_minutes: float, elapsed_s: float, step_s: float,
              eval_s: float = 0.0, eval_every: int = 0) -> Dict:
    """:func:`plan_steps` with what it was made from, as checkpoints record it."""
    steps = plan_steps(done, max_steps, warmup_steps, max_minutes, elapsed_s, step_s, eval_s, eval_every)
    return {"max_steps": steps, "configured_max_steps": max_steps, "max_minutes": max_minutes, "planned_at": done,
            "step_s": round(step_s, 5), "eval_s": round(eval_s, 3), "elapsed_s": round(elapsed_s, 1)}


def check_pace(plan: Dict, done: int, elapsed_s: float, step_s: float) -> Optional[Dict]:
    """The plan cut short when the pace since the last check no longer ends the stage within its budget.

    Args:
        plan: the run's plan (:func:`make_plan`, with any earlier cuts); done: steps done now.
        elapsed_s: seconds of the budget spent by now, over interruptions.
        step_s: seconds a step took since the last check, its evaluations and saves included.

    Returns:
        None while the schedule still ends within the budget (or less than ``BEHIND`` of it late);
        otherwise the plan with ``max_steps`` moved earlier and the cut appended to its ``"cuts"``.
    """
    if not step_s > 0:  # a clock that did not move (too coarse to time the window): nothing to judge by
        return None
    budget_s = plan["max_minutes"] * 60.0
    end = plan["max_steps"]
    if elapsed_s + (end - done) * step_s + plan["eval_s"] <= budget_s * (1.0 - MARGIN + BEHIND):
        return None
    fit = _steps_that_fit(plan["max_minutes"], elapsed_s, plan["eval_s"], step_s)
    new_end = max(done + 1, min(end, done + fit))  # a budget already spent still ends on a step of its own
    if new_end >= end:
        return None
    cut = {"at": done, "from": end, "to": new_end, "step_s": round(step_s, 5), "elapsed_s": round(elapsed_s, 1)}
    return {**plan, "max_steps": new_end, "cuts": [*plan.get("cuts", []), cut]}


def schedule_of(plan: Dict) -> Tuple[int, List[Tuple[int, int]]]:
    """The length the plan first gave the schedule, and its cuts as (step, new end) pairs, in order."""
    cuts = plan.get("cuts", [])
    return (int(cuts[0]["from"]) if cuts else int(plan["max_steps"])), [(int(c["at"]), int(c["to"])) for c in cuts]


def describe_plan(plan: Dict) -> str:
    """One line for the log: the plan, and its cuts."""
    first = schedule_of(plan)[0]
    cut = (f"the schedule ends at step {first} instead of {plan['configured_max_steps']}"
           if first < plan["configured_max_steps"] else f"all {first} steps fit")
    evals = f", {plan['eval_s']:.1f} s an evaluation" if plan["eval_s"] else ""
    line = (f"max_minutes={plan['max_minutes']:g}: {plan['step_s'] * 1000:.0f} ms a step here{evals}, "
            f"{plan['elapsed_s'] / 60:.1f} min spent by step {plan['planned_at']}: {cut}")
    return "".join([line] + [f"; {describe_cut(c)}" for c in plan.get("cuts", [])])


def describe_cut(cut: Dict) -> str:
    """One cut, for the log."""
    return (f"behind the plan at step {cut['at']} ({cut['step_s'] * 1000:.0f} ms a step since the last check, "
            f"{cut['elapsed_s'] / 60:.1f} min spent): the schedule ends at step {cut['to']} instead of "
            f"{cut['from']}, the learning rate decaying from here to 0 there")


def resumed_plan(state: Dict, max_minutes: Optional[float], max_steps: int, path: str) -> Optional[Dict]:
    """The plan a checkpoint was written under, checked against this run's options (None: not planned yet).

    Raises:
        ValueError: the checkpoint's plan was made for other ``max_minutes`` / ``max_steps`` (or the run
            now has none): continuing would change the schedule mid-way.
    """
    plan = state.get("plan")
    if plan is None:
        return None
    if not _made_for(plan, max_minutes, max_steps):
        raise ValueError(f"{path} was trained on a schedule of {plan.get('max_steps')} steps, planned for "
                         f"max_minutes={plan.get('max_minutes')} and max_steps={plan.get('configured_max_steps')}; "
                         f"resume with those values (now: max_minutes={max_minutes}, max_steps={max_steps}) so "
                         "the schedule stays the one it was trained on")
    return plan


def target_steps(state: Dict, max_minutes: Optional[float], max_steps: int) -> int:
    """The step a run with these options ends at, given its newest checkpoint's state."""
    plan = state.get("plan")
    return int(plan["max_steps"]) if plan and _made_for(plan, max_minutes, max_steps) else max_steps


def _steps_that_fit(max_minutes: float, elapsed_s: float, eval_s: float, per_step: float) -> int:
    """Steps of ``per_step`` seconds left in the budget less its margin, what is spent and the final evaluation."""
    usable = max_minutes * 60.0 * (1.0 - MARGIN) - elapsed_s - eval_s  # the last evaluation comes at the end
    return math.floor(usable / per_step) if usable > 0 else 0


def _made_for(plan: Dict, max_minutes: Optional[float], max_steps: int) -> bool:
    """Whether ``plan`` was made for a run with these options (a run without a budget matches no plan)."""
    return plan.get("max_minutes") == max_minutes and plan.get("configured_max_steps") == max_steps
