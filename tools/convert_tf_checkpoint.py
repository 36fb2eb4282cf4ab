"""Convert an ELECTRA TF1 pre-training checkpoint (Google ELECTRA, HFL Chinese-ELECTRA) to Paddle folders.

No TensorFlow needed. Writes OUT/generator/ and OUT/discriminator/ (config.json,
model_state.pdparams, and vocab.txt when the checkpoint folder has one), loadable
with ElectraGenerator.from_pretrained / ElectraDiscriminator.from_pretrained:

    python tools/convert_tf_checkpoint.py --tf-checkpoint electra_small/model.ckpt-1000000 \\
        --out electra-small-paddle \\
        --generator-config electra-small-generator \\
        --discriminator-config electra-small-discriminator

--tf-checkpoint takes the prefix, the .index file, or the folder (its
`checkpoint` file or single *.index picks the checkpoint). A config is a JSON
file (HF / PaddleNLP / BERT-style), a model folder, or a published name; left
out, generator.json / discriminator.json (or the one *generator*.json /
*discriminator*.json) next to the checkpoint is used. By default every network
the checkpoint holds is written (some releases hold only the discriminator).
Add --list to print the checkpoint's variables instead of converting.

Exit status: 0 on success, 2 on any error (the message says what is wrong).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_electra.cli.models import add_convert_arguments  # noqa: E402


def _parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_convert_arguments(parser, require_out=False)
    parser.add_argument("--list", action="store_true", help="list the checkpoint's variables and exit")
    args = parser.parse_args(argv)
    if not args.list and not args.out:
        parser.error("--out is required (or pass --list)")
    return args


def _list(path):
    from paddle_electra.loading.convert.tf1 import list_tf1_checkpoint, resolve_tf1_prefix

    print(resolve_tf1_prefix(path))
    for name, entry in list_tf1_checkpoint(path).items():
        print(f"{name}\t{entry.dtype_name}\t{list(entry.shape)}")


def main(argv=None) -> int:
    args = _parse(argv)
    start = time.time()

    def progress(msg):
        print(f"[{time.time() - start:6.1f}s] {msg}", flush=True)

    try:
        if args.list:
            _list(args.tf_checkpoint)
            return 0
        from paddle_electra.loading.convert.tf1 import convert_tf_checkpoint

        written = convert_tf_checkpoint(
            args.tf_checkpoint,
            args.out,
            generator_config=args.generator_config,
            discriminator_config=args.discriminator_config,
            parts=args.parts,
            verify_crc={"auto": None, "yes": True, "no": False}[args.verify_crc],
            overwrite=args.overwrite,
            safe_serialization=args.safetensors,
            progress=progress,
        )
    except (ValueError, OSError) as exc:
        print(f"convert_tf_checkpoint: error: {exc}", file=sys.stderr)
        return 2
    for part, folder in written.items():
        cls = "ElectraGenerator" if part == "generator" else "ElectraDiscriminator"
        progress(f"done: {cls}.from_pretrained({folder!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
