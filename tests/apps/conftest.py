"""Fixtures shared by the training tests."""

import pytest

from paddle_electra.apps.train import corpora, data


@pytest.fixture(scope="module")
def slice_files(tmp_path_factory):
    """300 real People's Daily lines as a text file, and a vocab trained on them."""
    root = tmp_path_factory.mktemp("pd")
    lines = corpora.peoples_daily_text()[:300]
    text = root / "pd.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    vocab = data.train_vocab(lines, str(root / "vocab.txt"), vocab_size=2000)
    return str(text), vocab
