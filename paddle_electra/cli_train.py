"""``paddle-electra`` subcommands: pretrain, finetune.

``register(sub, common)`` adds them to the parser built in :mod:`paddle_electra.cli`.
"""

from __future__ import annotations


def register(sub, common) -> None:
    """Add this module's subcommands (none yet)."""
