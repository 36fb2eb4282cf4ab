"""``paddle-electra`` subcommands: pretrain, finetune.

``register(sub, common)`` adds them to the parser built in :mod:`paddle_electra.cli`.
"""

from __future__ import annotations


def cmd_pretrain(args) -> str:
    from .train.pretrain import pretrain_from_args

    return pretrain_from_args(args)


def register(sub, common) -> None:
    """Add ``pretrain`` (and ``finetune``)."""
    from .train.pretrain import add_pretrain_arguments

    p = sub.add_parser("pretrain", parents=[common], help="ELECTRA pre-training (generator + discriminator)")
    add_pretrain_arguments(p)
    p.set_defaults(func=cmd_pretrain)
