"""``paddle-electra`` subcommands: pretrain, finetune.

``register(sub, common)`` adds them to the parser built in :mod:`paddle_electra.cli.app`.
"""

from __future__ import annotations


def cmd_pretrain(args) -> str:
    from ..apps.train.pretrain_cli import pretrain_from_args

    return pretrain_from_args(args)


def cmd_finetune(args) -> str:
    from ..apps.train.finetune import finetune_from_args

    return finetune_from_args(args)


def register(sub, common) -> None:
    """Add ``pretrain`` and ``finetune``."""
    from ..apps.train.finetune import add_finetune_arguments
    from ..apps.train.pretrain_cli import add_pretrain_arguments

    p = sub.add_parser("pretrain", parents=[common], help="ELECTRA pre-training (generator + discriminator)")
    add_pretrain_arguments(p)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("finetune", parents=[common],
                       help="fine-tune: text / token classification, question answering, multiple choice")
    add_finetune_arguments(p)
    p.set_defaults(func=cmd_finetune)
