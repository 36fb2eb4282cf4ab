"""Fine-tune ELECTRA for sentence classification: a PaddleNLP user's script (the shape of PaddleNLP's run_glue.py).

Written for PaddleNLP: tokenizer -> ``paddlenlp.data.DataCollatorWithPadding`` ->
``ElectraForSequenceClassification.from_pretrained(name, num_classes=...)`` -> a Paddle
AdamW loop with linear warm-up/decay -> evaluation -> ``save_pretrained``. It reads a
tab-separated file ``label<TAB>sentence`` (or ``label<TAB>sentence1<TAB>sentence2``),
so it runs offline.

docs/migration-from-paddlenlp.md runs it two ways (tests/loading/test_paddlenlp_plugin.py):

* unchanged, after ``paddle_electra.loading.paddlenlp_plugin.register()``, so PaddleNLP's
  classes load names only paddle_electra serves;
* with the one line marked ``MODEL-IMPORT`` swapped for
  ``from paddle_electra import ElectraForSequenceClassification, ElectraTokenizer``.

It prints one line ``RESULT {json}`` at the end (losses, accuracy, output folder).
"""

import argparse
import json
import os
import random
from functools import partial

import numpy as np
import paddle
from paddle.io import DataLoader
from paddlenlp.data import DataCollatorWithPadding
from paddlenlp.datasets import load_dataset
from paddlenlp.transformers import LinearDecayWithWarmup
from paddlenlp.transformers import ElectraForSequenceClassification, ElectraTokenizer  # MODEL-IMPORT


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_name_or_path", required=True)
    parser.add_argument("--train_file", required=True)
    parser.add_argument("--dev_file", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--weight_decay", type=float, default=0.01)
    parser.add_argument("--warmup_proportion", type=float, default=0.1)
    parser.add_argument("--num_train_epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args()


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def read_tsv(data_path):
    """One example per line: label, then one or two sentences, tab-separated."""
    with open(data_path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 2:
                yield {"label": int(fields[0]), "sentence": fields[1]}
            elif len(fields) == 3:
                yield {"label": int(fields[0]), "sentence1": fields[1], "sentence2": fields[2]}


def convert_example(example, tokenizer, max_seq_length=512):
    """Text -> input_ids / token_type_ids as PaddleNLP's tokenizers return them, plus the label."""
    label = np.array([example["label"]], dtype="int64")
    if "sentence" in example:
        encoded = tokenizer(example["sentence"], max_seq_len=max_seq_length)
    else:
        encoded = tokenizer(example["sentence1"], text_pair=example["sentence2"], max_seq_len=max_seq_length)
    encoded["labels"] = label
    return encoded


@paddle.no_grad()
def evaluate(model, loss_fct, metric, data_loader):
    model.eval()
    metric.reset()
    losses = []
    for batch in data_loader:
        logits = model(batch["input_ids"], batch["token_type_ids"])
        losses.append(float(loss_fct(logits, batch["labels"])))
        metric.update(metric.compute(logits, batch["labels"]))
    model.train()
    return float(np.mean(losses)), float(metric.accumulate())


def do_train(args):
    paddle.set_device(args.device)
    set_seed(args.seed)

    train_ds = load_dataset(read_tsv, data_path=args.train_file, lazy=False)
    dev_ds = load_dataset(read_tsv, data_path=args.dev_file, lazy=False)
    num_classes = len({example["label"] for example in train_ds})

    tokenizer = ElectraTokenizer.from_pretrained(args.model_name_or_path)
    trans_func = partial(convert_example, tokenizer=tokenizer, max_seq_length=args.max_seq_length)
    train_ds = train_ds.map(trans_func)
    dev_ds = dev_ds.map(trans_func)
    batchify_fn = DataCollatorWithPadding(tokenizer)
    train_sampler = paddle.io.BatchSampler(train_ds, batch_size=args.batch_size, shuffle=True)
    train_loader = DataLoader(train_ds, batch_sampler=train_sampler, collate_fn=batchify_fn, return_list=True)
    dev_sampler = paddle.io.BatchSampler(dev_ds, batch_size=args.batch_size, shuffle=False)
    dev_loader = DataLoader(dev_ds, batch_sampler=dev_sampler, collate_fn=batchify_fn, return_list=True)

    model = ElectraForSequenceClassification.from_pretrained(args.model_name_or_path, num_classes=num_classes)

    num_training_steps = len(train_loader) * args.num_train_epochs
    lr_scheduler = LinearDecayWithWarmup(args.learning_rate, num_training_steps, args.warmup_proportion)
    decay_params = [p.name for n, p in model.named_parameters() if not any(nd in n for nd in ["bias", "norm"])]
    optimizer = paddle.optimizer.AdamW(
        learning_rate=lr_scheduler,
        parameters=model.parameters(),
        weight_decay=args.weight_decay,
        apply_decay_param_fun=lambda x: x in decay_params,
    )
    loss_fct = paddle.nn.loss.CrossEntropyLoss()
    metric = paddle.metric.Accuracy()

    train_losses = []
    model.train()
    for epoch in range(args.num_train_epochs):
        for step, batch in enumerate(train_loader):
            logits = model(batch["input_ids"], batch["token_type_ids"])
            loss = loss_fct(logits, batch["labels"])
            loss.backward()
            optimizer.step()
            lr_scheduler.step()
            optimizer.clear_grad()
            train_losses.append(float(loss))
        dev_loss, dev_acc = evaluate(model, loss_fct, metric, dev_loader)
        print(f"epoch {epoch}: train loss {np.mean(train_losses[-len(train_loader):]):.4f}, "
              f"dev loss {dev_loss:.4f}, dev acc {dev_acc:.4f}")

    os.makedirs(args.output_dir, exist_ok=True)
    model.save_pretrained(args.output_dir)
    tokenizer.save_pretrained(args.output_dir)
    result = {"num_classes": num_classes, "train_losses": train_losses, "dev_loss": dev_loss, "dev_acc": dev_acc,
              "output_dir": args.output_dir, "model_class": type(model).__module__ + "." + type(model).__name__}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    do_train(parse_args())
