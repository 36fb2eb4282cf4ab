#!/usr/bin/env python
"""ELECTRA pre-training: ``python tools/pretrain.py --corpus peoples-daily --out-dir runs/pd-small ...``.

The same options as ``paddle-electra pretrain`` (see ``--help``); data parallel with
``python -m paddle.distributed.launch --nproc_per_node 2 tools/pretrain.py ...``.
"""

import argparse
import sys

from paddle_electra.apps.train.pretrain_cli import add_pretrain_arguments, pretrain_from_args


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pretrain_arguments(parser)
    print(pretrain_from_args(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
