"""``python -m paddle_electra``: the ``paddle-electra`` command line (see :mod:`paddle_electra.cli.app`)."""

import sys

from .cli.app import main

if __name__ == "__main__":
    sys.exit(main())
