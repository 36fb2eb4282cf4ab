"""The declared type of every option of a run's config, checked before any other check.

The configs (:class:`~.pretrain_config.PretrainConfig`, :class:`~.finetune.FinetuneConfig`) come from
argparse, which types its values, but also from recipe JSON files and from Python, which do not: a
``"16"`` for ``batch_size`` would fail later with a ``TypeError`` that names no option, and a ``"no"``
for ``overwrite`` would read as true and replace a finished run. :func:`check_field_types` turns those
into a ``ValueError`` that names the option and what it takes.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import typing
from typing import Any

_NONE = type(None)
_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_PLURAL = {int: "integers", float: "numbers", str: "strings"}


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is typing.Union:  # Optional[X] and the like
        return any(_fits(value, arm) for arm in typing.get_args(hint))
    if origin in (list, tuple):  # List[str]: a tuple is as good as a list
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return isinstance(value, (list, tuple)) and all(_fits(v, item) for v in value)
    if hint is _NONE:
        return value is None
    if hint is bool:  # bool is an int in Python: only True / False read as a switch
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str) or (isinstance(value, os.PathLike) and isinstance(os.fspath(value), str))
    return True  # a type this module does not know: the config's own checks apply


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        arms = [a for a in typing.get_args(hint) if a is not _NONE]
        text = " or ".join(_describe(a) for a in arms)
        return text + " (or unset)" if len(arms) < len(typing.get_args(hint)) else text
    if origin in (list, tuple):
        item = typing.get_args(hint)[0] if typing.get_args(hint) else None
        return "a list" + (f" of {_PLURAL[item]}" if item in _PLURAL else "")
    return _NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def _plain(value: Any) -> Any:
    """``value`` as JSON takes it: a path object as its string, a NumPy number as a Python one (in lists too)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, int):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return items if any(a is not b for a, b in zip(items, value)) else value
    return value


def check_field_types(config: Any) -> None:
    """Raise ``ValueError`` naming the first field of the dataclass ``config`` whose value is not of its type.

    A path object given for a string field is stored as its string, and a NumPy number as a Python
    one, so that the config stays JSON (it is saved with every run). An integer passes where a number
    is declared; a string never passes for a number, nor a number or a string for true / false.

    Args:
        config: a dataclass instance with type-annotated fields.
    """
    hints = typing.get_type_hints(type(config))  # resolved: the modules use postponed annotations
    for f in dataclasses.fields(config):
        value, hint = getattr(config, f.name), hints[f.name]
        if not _fits(value, hint):
            raise ValueError(f"{f.name} must be {_describe(hint)}, got {value!r:.80}")  # one line, as elsewhere
        plain = _plain(value)
        if plain is not value:
            setattr(config, f.name, plain)
