#!/usr/bin/env python
"""One-run CPU benchmark of every ELECTRA inference path: a wrapper of :mod:`paddle_electra.bench.deploy`.

    python tools/benchmark.py [--quick] [--threads 2] [--out bench.json] [--sizes ...] [--batches ...]
                              [--seq N] [--e2e-limit N] [--vocab PATH|generated] [--paddlenlp-python PYTHON]
                              [--int8-accuracy int8_accuracy.json]

Same options and results as ``paddle-electra bench`` (which reads ``--threads`` before or after
the subcommand); the measurement runs in a fresh process whose thread variables are ``--threads``.
See ``python -m paddle_electra.bench.deploy --help`` and docs/performance.md.
"""

import sys

from paddle_electra.bench.deploy import main

if __name__ == "__main__":
    sys.exit(main())
