"""Shared fixtures: tiny configs and deterministic inputs."""

import atexit
import logging
import os
import shutil
import tempfile

import numpy as np
import paddle
import pytest

from paddle_electra import ElectraConfig

paddle.set_device("cpu")

# The fused CPU training kernels build once per test session into a temporary folder (not
# ~/.cache); CLI and trainer subprocesses inherit the variable and load that build.
if "PADDLE_ELECTRA_CPU_OPS_DIR" not in os.environ:
    _ops_dir = tempfile.mkdtemp(prefix="paddle-electra-cpu-ops-")
    os.environ["PADDLE_ELECTRA_CPU_OPS_DIR"] = _ops_dir
    atexit.register(shutil.rmtree, _ops_dir, True)

# embedding_size != hidden_size exercises embeddings_project; the other variant has none.
TINY = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=64, type_vocab_size=2, num_labels=3, num_choices=2)
TINY_EQUAL = dict(TINY, embedding_size=32)


@pytest.fixture(params=["E!=H", "E==H"])
def tiny_kwargs(request):
    return dict(TINY if request.param == "E!=H" else TINY_EQUAL)


@pytest.fixture
def tiny_config(tiny_kwargs):
    return ElectraConfig(**tiny_kwargs)


def make_batch(batch=3, seq=10, vocab=99, pad_from=6, seed=0):
    """ids, token types and a real padding mask; row 1 (if any) is padded from `pad_from`."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(1, vocab, (batch, seq)).astype("int64")
    mask = np.ones((batch, seq), "int64")
    if batch > 1:
        ids[1, pad_from:] = 0
        mask[1, pad_from:] = 0
    types = np.zeros((batch, seq), "int64")
    types[:, seq // 2:] = 1
    return ids, types, mask


@pytest.fixture(autouse=True)
def _quiet_paddle_electra(caplog):
    caplog.set_level(logging.DEBUG, logger="paddle_electra")


@pytest.fixture(scope="module")
def slice_files(tmp_path_factory):
    """300 real People's Daily lines as a text file, and a vocab trained on them (training tests)."""
    from paddle_electra.apps.train import corpora, data  # only the training tests need these

    root = tmp_path_factory.mktemp("pd")
    lines = corpora.peoples_daily_text()[:300]
    text = root / "pd.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    vocab = data.train_vocab(lines, str(root / "vocab.txt"), vocab_size=2000)
    return str(text), vocab


def tiny_cfg(out_dir, slice_files, **kw):
    """A ``PretrainConfig`` for a tiny pair on ``slice_files`` (1 thread, seconds per run); ``kw`` overrides."""
    from paddle_electra.apps.train.pretrain import PretrainConfig

    text, vocab = slice_files
    base = dict(out_dir=str(out_dir), train_files=[text], vocab=vocab, embedding_size=16, hidden_size=32,
                num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                generator_size=0.5, max_length=32, batch_size=8, max_steps=20, learning_rate=2e-3,
                warmup_steps=2, log_every=1, save_every=5, seed=7, progress=False, plot=True, threads=1)
    base.update(kw)
    return PretrainConfig(**base)


@pytest.fixture(scope="module")
def trained_pair(tmp_path_factory, slice_files):
    """A tiny pair trained 3 steps on 300 People's Daily lines: (text file, run folder)."""
    from paddle_electra.apps.train.pretrain import pretrain

    root = tmp_path_factory.mktemp("pair")
    pretrain(tiny_cfg(root / "run", slice_files, max_steps=3, warmup_steps=0, save_every=0, log_every=10,
                      plot=False))
    return slice_files[0], str(root / "run")


def pair_model(run):
    """``(tokenizer, ElectraForTotalPretraining)`` rebuilt from a run's generator/ and discriminator/ folders."""
    from paddle_electra import ElectraDiscriminator, ElectraGenerator, ElectraTokenizer
    from paddle_electra.model.pretraining import ElectraForTotalPretraining

    tokenizer = ElectraTokenizer.from_pretrained(os.path.join(run, "generator"))
    return tokenizer, ElectraForTotalPretraining(ElectraGenerator.from_pretrained(os.path.join(run, "generator")),
                                                 ElectraDiscriminator.from_pretrained(os.path.join(run, "discriminator")))


def pair_count_auc(pos, neg):
    """The AUC by counting every (positive, negative) pair, ties half: what roc_auc must equal."""
    pos, neg = np.asarray(pos), np.asarray(neg)
    return ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))


def continue_pair(out_dir, text, gen, disc, **kw):
    """A run from a pair that changes nothing (a learning rate of 1e-12) unless ``kw`` says otherwise."""
    from paddle_electra.apps.train.pretrain import PretrainConfig, pretrain

    base = dict(out_dir=str(out_dir), train_files=[text], init_generator=gen, init_discriminator=disc,
                max_length=16, batch_size=4, max_steps=1, warmup_steps=0, learning_rate=1e-12, save_every=0,
                progress=False, plot=False, threads=1)
    return pretrain(PretrainConfig(**{**base, **kw}))
