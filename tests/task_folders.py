"""Tiny model folders, one per pipeline task, shared by the pipeline, CLI and input-safety tests."""

import os

import paddle

from paddle_electra import ElectraConfig, ElectraTokenizer
from paddle_electra.inference.pipelines import TASK_CLASSES

VOCAB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.pardir, "shared", "data",
                     "chinese-bert-vocab.txt")
SMALL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("我爱北京天安门张三在工作谁的是中国人民很好看电影这部") + \
    ["hello", "world", "##s", "the", "a", "is"]
NER_LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
CLS_LABELS = {0: "negative", 1: "positive", 2: "neutral"}
MAX_POS = 64
TEXTS = ["我爱北京天安门", "张三", "这部电影很好看，我很喜欢这部电影的故事和演员。", "谁", "中国人民在工作", "hello world",
         "天安门", "我在北京工作很好"]


def _vocab_file(tmp_root) -> str:
    if os.path.isfile(VOCAB):
        return VOCAB
    path = os.path.join(tmp_root, "vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(SMALL_VOCAB) + "\n")
    return path


def make_task_folders(root) -> dict:
    """A tiny model folder (config.json, weights, vocab.txt) per task, standing in for the hub."""
    tok = ElectraTokenizer(_vocab_file(str(root)))
    folders = {}
    for i, (task, cls) in enumerate(TASK_CLASSES.items()):
        kw = dict(vocab_size=tok.vocab_size, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                  num_attention_heads=4, intermediate_size=37, max_position_embeddings=MAX_POS)
        if task == "text-classification":
            kw.update(num_labels=3, id2label=CLS_LABELS)
        if task == "token-classification":
            kw.update(num_labels=5, id2label=NER_LABELS)
        paddle.seed(100 + i)
        model = cls(ElectraConfig(**kw))
        folder = os.path.join(str(root), task)
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        folders[task] = folder
    return folders
