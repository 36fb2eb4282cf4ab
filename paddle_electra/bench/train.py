"""Training-step throughput: paddle_electra against HF transformers (torch eager), side by side in one run.

    paddle-electra bench --train [--quick] [--threads 2] [--train-shapes 16x64,32x128] [--repeats 6]
        [--torch-process own|same]
        [--hidden 256] [--layers 4] [--heads 4] [--intermediate 1024] [--embedding 128]
        [--generator-size 1.0] [--vocab-size 5870] [--matmul-precision float32|bfloat16]
        [--json] [--out bench-train.json]

Two kinds of step, each timed per shape (batch x seq) on one seeded random batch
that both frameworks get:

* ``pretrain``: ELECTRA pre-training as ``paddle-electra pretrain`` runs it:
  :func:`paddle_electra.apps.train.steps.step_losses` (``ElectraForTotalPretraining``
  scoring the generator at the masked positions only, Gumbel sampling, MLM +
  50 x RTD), backward, AdamW from :func:`paddle_electra.apps.train.optim.build_optimizer`
  (global-norm clip 1.0), scheduler step, ``clear_grad``. Against HF
  ``ElectraForMaskedLM`` (generator) + ``ElectraForPreTraining`` (discriminator)
  sharing one word embedding, Gumbel sampling over HF's full ``[B, L, V]``
  logits, MLM + 50 x RTD, ``clip_grad_norm_(1.0)``, ``torch.optim.AdamW``.
  Dropout 0, as in the recipes. The batch comes from
  :class:`paddle_electra.apps.train.collator.MaskingCollator` on random ids.
* ``finetune``: sequence classification (2 labels, dropout 0.1) forward with
  labels, backward, AdamW + clip 1.0 + scheduler step, as the fine-tune trainer
  does, on both sides.

Both sides use the same shapes, AdamW settings (lr 1e-4, eps 1e-6, weight
decay 0.01 on matrices only) and a constant learning-rate schedule. Thread
counts are set explicitly for Paddle and torch. After 2 warm-up steps each,
``repeats`` rounds alternate the two frameworks, Paddle first in even rounds and
torch first in odd ones, so a slow spell of the machine hits both. Reported per
framework: median and min ms per step, tokens/s at the median, CPU seconds per
wall second over the timed steps, first and last loss; ``ratio`` is torch's
median ms / paddle_electra's: paddle_electra's throughput relative to torch
(> 1: faster). ``--quick`` (CI): a tiny model, one 4x16 shape, 2 repeats.
``--matmul-precision bfloat16`` times paddle_electra's steps with the Linear layers' GEMMs in bf16
arithmetic (``_cpu_ops.set_matmul_precision``; the trainers' ``matmul_precision``) against torch's
float32 as always, so two runs, one per precision, give each one's ratio to the same reference.

Where torch runs (``torch_process``): by default in a worker process of its own
(:mod:`.train_torch`, run by path), so it has its users' defaults:
importing paddle_electra makes glibc keep freed memory for reuse
(``_cpu.keep_freed_memory``), a process-wide setting that speeds torch up too,
and a torch user does not have it. ``"same"`` runs torch in this process, under
that setting, as all earlier versions of this benchmark did. The steps still
alternate one at a time and the timing of a worker step is the wall time of
the request (a few hundred microseconds of it are the pipe); its CPU time is
the worker's.

Spinning OpenMP threads compete for the cores wherever the other framework runs: Paddle's Intel
OpenMP (libiomp5) keeps its worker threads spinning for ``KMP_BLOCKTIME`` (200 ms by default)
after its last parallel region, and a torch step started inside that window
competes with them for the cores. Measured (2 threads, 2 busy cores, HF
fine-tuning step 16x64): 598 ms alone, 4,985 ms right after Paddle work, 564 ms
after a 0.3 s pause. So every timed step starts after ``settle_s`` (0.3 s, or
``KMP_BLOCKTIME`` + 0.1 s when that is set higher) of idling, outside the timing:
each framework then runs with its own threading defaults, as in a process of its own.

The machine description and the results table are :mod:`.train_report`'s
(imported here for :func:`run`, never the reverse).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import train_torch as torch_side
from .train_torch import DISC_WEIGHT, EPSILON, LEARNING_RATE, MAX_GRAD_NORM, SCHEDULE_STEPS, WEIGHT_DECAY
from .._cpu_ops import MATMUL_PRECISIONS
from .._io import atomic_path
from .train_report import geomean, machine_info, print_table
from .deploy import BenchmarkError

MODEL_DEFAULTS = {"hidden": 256, "layers": 4, "heads": 4, "intermediate": 1024, "embedding": 128,
                  "generator_size": 1.0, "vocab_size": 5870}  # the pre-training recipes' discriminator
QUICK_MODEL = {"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64, "embedding": 16,
               "generator_size": 0.5, "vocab_size": 128}
DEFAULT_SHAPES = "16x64,32x128"  # the two recipes' batch x max_length
QUICK_SHAPES = "4x16"
WARMUP = 2
DEFAULT_REPEATS = 6
QUICK_REPEATS = 2
MAX_SEQ = 512
FINETUNE_DROPOUT = 0.1
NUM_LABELS = 2
SETTLE_S = 0.3  # > Intel OpenMP's default KMP_BLOCKTIME (200 ms): Paddle's idle threads stop spinning
PAD, UNK, CLS, SEP, MASK = range(5)  # special ids of the random vocabulary; ordinary tokens are 5 and up
FRAMEWORKS = ("paddle_electra", "hf_torch")
KINDS = ("pretrain", "finetune")
RATIO_MEANING = ("hf_torch median ms / paddle_electra median ms: paddle_electra's training throughput "
                 "relative to torch (> 1 = faster)")
# train-only options: keyword (= CLI dest) -> flag
TORCH_PROCESSES = ("own", "same")  # where the torch step runs (see the module doc)
OPTION_FLAGS = {"train_shapes": "--train-shapes", "repeats": "--repeats", "torch_process": "--torch-process",
                "matmul_precision": "--matmul-precision",
                "hidden": "--hidden",
                "layers": "--layers", "heads": "--heads", "intermediate": "--intermediate",
                "embedding": "--embedding", "generator_size": "--generator-size", "vocab_size": "--vocab-size"}


class StepPair(NamedTuple):
    """One kind of training step on both frameworks; each callable runs one step and returns its loss.

    ``torch_model`` is None when the torch step runs in a worker process (a
    :class:`TorchWorker` step, whose ``cpu_time()`` is the worker's CPU clock).
    """

    paddle_electra: Callable[[], float]
    hf_torch: Callable[[], float]
    paddle_model: object
    torch_model: object
    hf_attn_implementation: Optional[str] = None


class _RemoteStep:
    """The torch step of a :class:`TorchWorker`: one request per step; ``cpu_time()`` sums the worker's CPU."""

    def __init__(self, worker: "TorchWorker"):
        self.worker, self.cpu = worker, 0.0

    def __call__(self) -> float:
        answer = self.worker.ask({"cmd": "step"})
        self.cpu += answer["cpu_s"]
        return float(answer["loss"])

    def cpu_time(self) -> float:
        return self.cpu


class TorchWorker:
    """``train_torch.py`` run by path in a process of its own: torch with its users' defaults.

    Args:
        threads: torch threads in the worker.
        tmp_dir: where the batch is handed over (an ``.npz``).
    """

    def __init__(self, threads: int, tmp_dir: str):
        import subprocess

        self.threads, self.tmp_dir = threads, tmp_dir
        self.stderr = tempfile.TemporaryFile(mode="w+", dir=tmp_dir)
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(torch_side.__file__)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True, bufsize=1)

    def ask(self, request: Dict) -> Dict:
        """Send one request, return its answer; a BenchmarkError when the worker failed or died."""
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (OSError, ValueError):  # a broken pipe, or closed by close()
            line = ""
        if not line:
            tail = ""
            if not self.stderr.closed:
                self.stderr.seek(0)
                tail = self.stderr.read()[-3000:]
            raise BenchmarkError(f"the torch worker exited (code {self.proc.poll()}):\n{tail}")
        answer = json.loads(line)
        if "error" in answer:
            raise BenchmarkError(f"the torch worker failed: {answer['error']}")
        return answer

    def build(self, kind: str, disc: Dict, gen: Optional[Dict], batch: Dict[str, np.ndarray], seed: int):
        """``(step, attn_implementation)`` of a new torch step in the worker."""
        path = os.path.join(self.tmp_dir, "batch.npz")
        np.savez(path, **batch)
        answer = self.ask({"cmd": "build", "kind": kind, "disc": disc, "gen": gen, "batch": path, "seed": seed,
                           "threads": self.threads})
        return _RemoteStep(self), answer.get("attn_implementation")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a broken pipe or a stuck worker: killed
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


# ------------------------------------------------------------------ options
def add_arguments(parser) -> None:
    """The options of ``paddle-electra bench --train`` (default None: resolved by :func:`run`, so a
    flag given without ``--train`` can be told from one left out)."""
    d = MODEL_DEFAULTS
    parser.add_argument("--train-shapes", metavar="BxL,...",
                        help=f"--train: batch x seq shapes (default {DEFAULT_SHAPES}; quick {QUICK_SHAPES})")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help=f"--train: timed steps per framework and shape (default {DEFAULT_REPEATS}; "
                             f"quick {QUICK_REPEATS})")
    parser.add_argument("--torch-process", choices=TORCH_PROCESSES,
                        help="--train: where the torch step runs: 'own' (default: a worker process with torch's "
                             "defaults) or 'same' (this process, with paddle_electra's allocator setting)")
    parser.add_argument("--matmul-precision", metavar="|".join(MATMUL_PRECISIONS),
                        help="--train: paddle_electra's Linear GEMMs in float32 (default) or bfloat16 arithmetic "
                             "(CPUs with AMX or AVX512-BF16); torch stays float32")
    for key, kind, what in (("hidden", int, "hidden size"), ("layers", int, "encoder layers"),
                            ("heads", int, "attention heads"), ("intermediate", int, "FFN size"),
                            ("embedding", int, "embedding size"),
                            ("generator_size", float, "generator width / discriminator width"),
                            ("vocab_size", int, "vocabulary size")):
        parser.add_argument(OPTION_FLAGS[key], type=kind, metavar="N" if kind is int else "F",
                            help=f"--train: {what} (default {d[key]}; quick {QUICK_MODEL[key]})")


def parse_shapes(spec: Union[str, Sequence]) -> List[Tuple[int, int]]:
    """``"16x64,32x128"`` (or a list of such strings or of ``(batch, seq)`` pairs) -> ``[(16, 64), (32, 128)]``.

    Raises:
        ValueError: an entry that is not ``BATCHxSEQ`` with batch >= 1 and 4 <= seq <= 512.
    """
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    if not items:
        raise ValueError("train_shapes is empty; give BATCHxSEQ pairs such as 16x64,32x128")
    shapes = []
    for item in items:
        if isinstance(item, str):
            parts = item.lower().split("x")
            digits = len(parts) == 2 and all(p.isascii() and p.isdigit() for p in parts)
            pair = tuple(int(p) for p in parts) if digits else None
        else:
            pair = tuple(item) if isinstance(item, (tuple, list)) and len(item) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) for v in item) else None
        # seq >= 4: [CLS] + at least two maskable tokens + [SEP]
        if pair is None or pair[0] < 1 or not 4 <= pair[1] <= MAX_SEQ:
            raise ValueError(f"train_shapes entry {item!r} is not BATCHxSEQ with batch >= 1 and 4 <= seq <= "
                             f"{MAX_SEQ}, e.g. 16x64 (several: 16x64,32x128)")
        shapes.append(pair)
    return shapes


def resolve_model(quick: bool, **given) -> Dict:
    """The model shape: the defaults (or the quick ones) with the options given (not None) on top."""
    unknown = set(given) - set(MODEL_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown model option(s) {sorted(unknown)}; known: {', '.join(MODEL_DEFAULTS)}")
    model = dict(QUICK_MODEL if quick else MODEL_DEFAULTS)
    model.update({k: v for k, v in given.items() if v is not None})
    for key in ("hidden", "layers", "heads", "intermediate", "embedding", "vocab_size"):
        v = model[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{key}={v!r} must be a positive integer")
    if model["vocab_size"] < 16:
        raise ValueError(f"vocab_size={model['vocab_size']} is too small: ids 0-4 are special, the rest random "
                         "tokens; give at least 16")
    if model["hidden"] % model["heads"]:
        raise ValueError(f"hidden={model['hidden']} must be a multiple of heads={model['heads']}")
    g = model["generator_size"]
    if isinstance(g, bool) or not isinstance(g, (int, float)) or not 0 < g <= 1:
        raise ValueError(f"generator_size={g!r} must lie in (0, 1]")
    model["generator_size"] = float(g)
    return model


def _import_reference():
    """``(torch, transformers)``, or a BenchmarkError naming the package that is missing."""
    try:
        import torch
    except ImportError as e:
        raise BenchmarkError(f"bench --train compares against HF transformers on torch, but the package 'torch' "
                             f"cannot be imported ({e}); install it: pip install torch transformers") from None
    try:
        import transformers
    except ImportError as e:
        raise BenchmarkError(f"bench --train compares against HF transformers on torch, but the package "
                             f"'transformers' cannot be imported ({e}); install it: pip install transformers") from None
    return torch, transformers


# ------------------------------------------------------------------ models, batches, steps
def _paddle_config(model: Dict, max_positions: int, dropout: float, **extra):
    from ..model.configuration import ElectraConfig

    return ElectraConfig(vocab_size=model["vocab_size"], embedding_size=model["embedding"],
                         hidden_size=model["hidden"], num_hidden_layers=model["layers"],
                         num_attention_heads=model["heads"], intermediate_size=model["intermediate"],
                         max_position_embeddings=max_positions, hidden_dropout_prob=dropout,
                         attention_probs_dropout_prob=dropout, pad_token_id=PAD, **extra)


def _fields(config) -> Dict:
    """The fields of a paddle_electra config that the HF model of the same shape takes."""
    return {k: getattr(config, k) for k in torch_side.CONFIG_FIELDS}


def _max_positions(seq: int) -> int:
    return max(256, seq)  # the recipes' 256; the table's size does not change a step's cost much


def make_batch(vocab_size: int, batch: int, seq: int, seed: int = 0) -> Dict[str, np.ndarray]:
    """One masked pre-training batch of random ``[CLS] ... [SEP]`` rows (no padding), plus class labels.

    Returns:
        The :class:`~paddle_electra.apps.train.collator.MaskingCollator` arrays (``input_ids``,
        ``raw_input_ids``, ``generator_labels``, ``attention_mask``), ``token_type_ids`` (zeros)
        and ``labels`` (int64 [B] in ``[0, 2)``, for fine-tuning).
    """
    from ..apps.train.collator import MaskingCollator

    rng = np.random.default_rng([seed, batch, seq])
    ids = rng.integers(MASK + 1, vocab_size, size=(batch, seq), dtype=np.int64)
    ids[:, 0], ids[:, -1] = CLS, SEP
    out = MaskingCollator(vocab_size, MASK, PAD, (PAD, UNK, CLS, SEP, MASK))(ids, rng)
    out["token_type_ids"] = np.zeros_like(ids)
    out["labels"] = rng.integers(0, NUM_LABELS, size=batch, dtype=np.int64)
    return out


def _paddle_optimizer(paddle_model):
    """Paddle's optimizer + schedule from build_optimizer, as the trainers build them (constant rate here)."""
    from ..apps.train.optim import build_optimizer

    return build_optimizer(paddle_model, LEARNING_RATE, SCHEDULE_STEPS, 0, WEIGHT_DECAY,
                           max_grad_norm=MAX_GRAD_NORM, epsilon=EPSILON)


def _torch_step(kind: str, disc, gen, batch: Dict[str, np.ndarray], seed: int, worker: Optional["TorchWorker"]):
    """``(step, module or None, attn_implementation)``: the torch side here, or in ``worker``."""
    if worker is not None:
        step, attn = worker.build(kind, _fields(disc), gen and _fields(gen), batch, seed)
        return step, None, attn
    _import_reference()
    step, module = torch_side.build(kind, _fields(disc), gen and _fields(gen), batch, seed, num_labels=NUM_LABELS)
    return step, module, getattr(getattr(module, "config", None), "_attn_implementation", None)


def pretrain_pair(model: Dict, batch: Dict[str, np.ndarray], seed: int = 0,
                  worker: Optional[TorchWorker] = None) -> StepPair:
    """Build both pre-training setups for ``batch`` (see the module doc); no step is run.

    ``worker``: build the torch side there (else in this process).
    """
    import paddle

    from ..model.pretraining import ElectraForTotalPretraining, ElectraPretrainingCriterion, generator_config_for
    from ..apps.train.steps import step_losses

    seq = batch["input_ids"].shape[1]
    disc = _paddle_config(model, _max_positions(seq), 0.0)
    gen = generator_config_for(disc, model["generator_size"]).copy(num_hidden_layers=disc.num_hidden_layers)

    paddle.seed(seed)
    pm = ElectraForTotalPretraining(disc, gen)
    pm.train()
    criterion = ElectraPretrainingCriterion(disc.vocab_size, 1.0, DISC_WEIGHT)
    popt, psched = _paddle_optimizer(pm)
    names = ("input_ids", "attention_mask", "raw_input_ids", "generator_labels")

    def paddle_step() -> float:
        # what the trainer does per (single) micro-batch: to_tensor, step_losses, backward, step
        inputs = {k: paddle.to_tensor(batch[k]) for k in names}
        total, _, _, _ = step_losses(pm, criterion, inputs, generator_only=False)
        return _paddle_update(total, popt, psched, set_to_zero=True)

    torch_step, tm, attn = _torch_step("pretrain", disc, gen, batch, seed, worker)
    return StepPair(paddle_step, torch_step, pm, tm, attn)


def _paddle_update(loss, optimizer, scheduler, set_to_zero: bool) -> float:
    """Backward, optimizer step (clipping is the optimizer's), scheduler step; the loss as a float.

    ``set_to_zero``: how the gradients are cleared, as the trainer of that step clears them
    (``pretrain`` zero-fills, ``finetune`` releases them)."""
    loss.backward()
    optimizer.step()
    optimizer.clear_grad(set_to_zero=set_to_zero)
    scheduler.step()
    return float(loss)


def finetune_pair(model: Dict, batch: Dict[str, np.ndarray], seed: int = 0,
                  worker: Optional[TorchWorker] = None) -> StepPair:
    """Build both sequence-classification setups (dropout 0.1) for ``batch``'s unmasked rows; no step is run."""
    import paddle

    from ..model.modeling import ElectraForSequenceClassification

    config = _paddle_config(model, _max_positions(batch["raw_input_ids"].shape[1]), FINETUNE_DROPOUT,
                            num_labels=NUM_LABELS)
    paddle.seed(seed)
    pm = ElectraForSequenceClassification(config)
    pm.train()
    popt, psched = _paddle_optimizer(pm)
    names = ("raw_input_ids", "token_type_ids", "attention_mask", "labels")

    def paddle_step() -> float:
        ids, types, mask, labels = (paddle.to_tensor(batch[k]) for k in names)
        return _paddle_update(pm(ids, token_type_ids=types, attention_mask=mask, labels=labels)[0], popt, psched,
                              set_to_zero=False)

    torch_step, tm, attn = _torch_step("finetune", config, None, batch, seed, worker)
    return StepPair(paddle_step, torch_step, pm, tm, attn)


BUILDERS = {"pretrain": pretrain_pair, "finetune": finetune_pair}


# ------------------------------------------------------------------ timing
def default_settle_s() -> float:
    """:data:`SETTLE_S`, or ``KMP_BLOCKTIME`` (ms) + 0.1 s when that is set to more."""
    blocktime = os.environ.get("KMP_BLOCKTIME", "")
    return max(SETTLE_S, int(blocktime) / 1e3 + 0.1) if blocktime.isdigit() else SETTLE_S


def time_pair(pair: StepPair, repeats: int, warmup: int = WARMUP, settle_s: Optional[float] = None) -> Dict[str, Dict]:
    """Warm up each side, then time ``repeats`` rounds alternating the two (order swapped every round),
    each timed step after ``settle_s`` of idling (default :func:`default_settle_s`; see the module doc).

    Returns:
        ``{framework: {median_ms, min_ms, times_ms, cpu_per_wall, loss_first, loss_last}}``.

    Raises:
        BenchmarkError: a step gave a non-finite loss (a broken step is not worth timing).
    """
    settle_s = default_settle_s() if settle_s is None else settle_s
    steps = {"paddle_electra": pair.paddle_electra, "hf_torch": pair.hf_torch}
    # CPU clock per side: this process's, or a worker's (what its step reports)
    clock = {k: getattr(step, "cpu_time", time.process_time) for k, step in steps.items()}
    losses = {k: [] for k in FRAMEWORKS}
    wall = {k: [] for k in FRAMEWORKS}
    cpu = {k: [] for k in FRAMEWORKS}
    for _ in range(warmup):
        for k in FRAMEWORKS:
            losses[k].append(steps[k]())
    for r in range(repeats):
        for k in FRAMEWORKS if r % 2 == 0 else FRAMEWORKS[::-1]:
            time.sleep(settle_s)  # the other runtime's threads stop spinning (see the module doc)
            c0, t0 = clock[k](), time.perf_counter()
            losses[k].append(steps[k]())
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(clock[k]() - c0)
    out = {}
    for k in FRAMEWORKS:
        bad = [x for x in losses[k] if not math.isfinite(x)]
        if bad:
            raise BenchmarkError(f"the {k} step gave a non-finite loss ({bad[0]}); losses: {losses[k]}")
        ms = [t * 1e3 for t in wall[k]]
        out[k] = {"median_ms": statistics.median(ms), "min_ms": min(ms), "times_ms": ms,
                  "cpu_per_wall": sum(cpu[k]) / max(sum(wall[k]), 1e-9),
                  "loss_first": losses[k][0], "loss_last": losses[k][-1]}
    return out


# ------------------------------------------------------------------ the run
def _time_shape(kind: str, model: Dict, b: int, s: int, seed: int, repeats: int, settle_s: float,
                worker: Optional[TorchWorker], config: Dict, log) -> Dict:
    """Build one kind of step at one shape on both sides, time it, print a line; the result entry."""
    t = time.perf_counter()
    pair = BUILDERS[kind](model, make_batch(model["vocab_size"], b, s, seed), seed, worker=worker)
    timed = time_pair(pair, repeats, settle_s=settle_s)
    config["hf_attn_implementation"] = pair.hf_attn_implementation  # HF picks its attention kernel (sdpa / eager)
    del pair  # free this shape's models and optimizer state before the next
    entry = {"tokens": b * s}
    for fw in FRAMEWORKS:
        entry[fw] = dict(timed[fw], tokens_per_s=b * s / (timed[fw]["median_ms"] / 1e3))
    entry["ratio"] = entry["hf_torch"]["median_ms"] / entry["paddle_electra"]["median_ms"]
    print(f"[{kind} {b}x{s}] paddle_electra {entry['paddle_electra']['median_ms']:.1f} ms, hf_torch "
          f"{entry['hf_torch']['median_ms']:.1f} ms, ratio {entry['ratio']:.2f} ({time.perf_counter() - t:.1f} s)",
          file=log, flush=True)
    return entry


def run(quick: bool = False, threads: int = 2, out: Optional[str] = None,
        train_shapes: Optional[Union[str, Sequence]] = None, repeats: Optional[int] = None,
        settle_s: Optional[float] = None, log=None, seed: int = 0, torch_process: Optional[str] = None,
        matmul_precision: Optional[str] = None, **model_options) -> Dict:
    """Time both step kinds on both frameworks for every shape; print a table, write JSON, return it.

    Args:
        quick: CI mode: the tiny model, shape 4x16, 2 repeats (options given explicitly still win).
        threads: threads for Paddle and torch (set here for both).
        out: write the JSON there, atomically (``None`` / ``""``: no file).
        train_shapes: ``"16x64,32x128"`` or ``[(16, 64), ...]`` (see :func:`parse_shapes`).
        repeats: timed steps per framework, kind and shape (default 6; quick 2).
        settle_s: idle seconds before each timed step (default :func:`default_settle_s`).
        log: a text stream for progress and the table (default ``sys.stdout``).
        seed: seeds the weights, the batch and the sampling.
        torch_process: ``"own"`` (default): the torch step runs in a worker process
            of its own, with torch's defaults (see :mod:`.train_torch`);
            ``"same"``: in this process, under paddle_electra's allocator setting.
        matmul_precision: paddle_electra's Linear GEMMs: ``"float32"`` (default) or ``"bfloat16"``
            (:func:`paddle_electra._cpu_ops.set_matmul_precision`); torch's stay float32.
        **model_options: ``hidden``, ``layers``, ``heads``, ``intermediate``, ``embedding``,
            ``generator_size``, ``vocab_size`` (see :data:`MODEL_DEFAULTS`).

    Raises:
        ValueError: a bad option (the message names it).
        BenchmarkError: torch or transformers is missing, a step gave a non-finite loss, or bfloat16 is not
            available here (the reason is named).
    """
    matmul_precision = matmul_precision or MATMUL_PRECISIONS[0]
    if matmul_precision not in MATMUL_PRECISIONS:
        raise ValueError(f"matmul_precision={matmul_precision!r} must be one of {', '.join(MATMUL_PRECISIONS)}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads={threads!r} must be a positive integer")
    shapes = parse_shapes(train_shapes if train_shapes is not None else (QUICK_SHAPES if quick else DEFAULT_SHAPES))
    repeats = repeats if repeats is not None else (QUICK_REPEATS if quick else DEFAULT_REPEATS)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats={repeats!r} must be a positive integer")
    settle_s = default_settle_s() if settle_s is None else settle_s
    if isinstance(settle_s, bool) or not isinstance(settle_s, (int, float)) or not 0 <= settle_s <= 60:
        raise ValueError(f"settle_s={settle_s!r} must be a number of seconds in [0, 60]")
    torch_process = torch_process or TORCH_PROCESSES[0]
    if torch_process not in TORCH_PROCESSES:
        raise ValueError(f"torch_process={torch_process!r} must be one of {', '.join(TORCH_PROCESSES)}")
    model = resolve_model(quick, **model_options)
    if out and not os.path.isdir(os.path.dirname(os.path.abspath(out))):  # found out now, not after minutes
        raise ValueError(f"out={out!r}: the folder {os.path.dirname(os.path.abspath(out))} does not exist")
    log = log or sys.stdout
    torch, _ = _import_reference()
    from .._cpu import set_num_threads

    set_num_threads(threads)
    torch.set_num_threads(threads)
    from .. import _cpu_ops

    _cpu_ops.prepare()  # build (once per machine) or load the fused CPU kernels before any step is timed
    before = _cpu_ops.matmul_precision()
    try:
        _cpu_ops.set_matmul_precision(matmul_precision)  # checked before any model is built
    except RuntimeError as e:
        raise BenchmarkError(str(e)) from None
    try:
        return _run_shapes(quick, threads, out, shapes, repeats, settle_s, log, seed, torch_process, model)
    finally:
        _cpu_ops.set_matmul_precision(before)


def _run_shapes(quick: bool, threads: int, out: Optional[str], shapes: List[Tuple[int, int]], repeats: int,
                settle_s: float, log, seed: int, torch_process: str, model: Dict) -> Dict:
    """:func:`run` once its options are checked and the threads and matmul precision set."""
    from .. import _cpu_ops

    keys = [f"{b}x{s}" for b, s in shapes]
    res = {"config": {"quick": quick, "threads": threads, "warmup": WARMUP, "repeats": repeats, "seed": seed,
                      "shapes": keys, "model": model, "ratio": RATIO_MEANING, "settle_s": settle_s,
                      "torch_process": torch_process, "fused_cpu_kernels": _cpu_ops.status(),
                      "matmul_precision": _cpu_ops.matmul_precision(),
                      "order": ("torch in a worker process of its own" if torch_process == "own" else
                                "one process") + "; warm-up, then rounds alternating the frameworks (swapped "
                               "every round), settle_s of idling before each timed step",
                      "optimizer": {"name": "AdamW", "lr": LEARNING_RATE, "eps": EPSILON,
                                    "weight_decay": WEIGHT_DECAY, "max_grad_norm": MAX_GRAD_NORM},
                      "pretrain": {"dropout": 0.0, "disc_weight": DISC_WEIGHT, "masking": "MaskingCollator 15% "
                                   "(80/10/10), random ids, no padding",
                                   "paddle_electra": "train.steps.step_losses (masked-only generator scoring)",
                                   "hf_torch": "ElectraForMaskedLM + ElectraForPreTraining, shared word embedding, "
                                               "full [B, L, V] generator logits"},
                      "finetune": {"dropout": FINETUNE_DROPOUT, "num_labels": NUM_LABELS}},
           "machine": machine_info(threads), "results": {k: {} for k in KINDS}}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        worker = TorchWorker(threads, tmp) if torch_process == "own" else None
        try:
            for kind in KINDS:
                for (b, s), key in zip(shapes, keys):
                    res["results"][kind][key] = _time_shape(kind, model, b, s, seed, repeats, settle_s, worker,
                                                            res["config"], log)
        finally:
            if worker is not None:
                worker.close()
    res["summary"] = {kind: geomean([e["ratio"] for e in res["results"][kind].values()]) for kind in KINDS}
    res["machine"]["load_average_end"] = list(os.getloadavg())
    res["wall_s"] = round(time.perf_counter() - t_start, 1)
    print_table(res, file=log)
    if out:
        with atomic_path(out) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(res, f, indent=1)
        print(f"wrote {out}", file=log)
    return res
