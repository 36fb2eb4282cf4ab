"""The ``paddle-electra`` command line: :mod:`~paddle_electra.cli.app` builds the parser and runs ``main``.

One module per command group, none importing another: ``models`` (list, fill-mask,
detect, classify, ner, qa, convert, export), ``bench``, ``train`` (pretrain,
finetune), ``serve`` (serve, hub-module); ``common`` holds what they share and
``inputs`` the input-file readers. Building the parser imports no Paddle.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """``paddle_electra.cli.main``: the console-script entry point of installs made before the move."""
    if name == "main":
        from .app import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
