"""``AutoTokenizer``: PaddleNLP's / HF's entry point for the tokenizer of a name or folder.

It lives with the tokenizer (not with the ``AutoModel`` classes in
:mod:`paddle_electra.loading.auto`) because it checks a folder's
``tokenizer_config.json`` before handing it to :class:`ElectraTokenizer`.
"""

from __future__ import annotations

import json
import os

from .electra import ElectraTokenizer

# tokenizer classes whose files ElectraTokenizer reads as they are meant (BERT WordPiece, HF and PaddleNLP names)
WORDPIECE_TOKENIZER_CLASSES = (
    "ElectraTokenizer",
    "ElectraTokenizerFast",
    "ElectraFastTokenizer",
    "BertTokenizer",
    "BertTokenizerFast",
    "BertFastTokenizer",
)
_TOKENIZER_CONFIG = "tokenizer_config.json"


class AutoTokenizer:
    """``AutoTokenizer.from_pretrained(name_or_path)`` gives an :class:`ElectraTokenizer`.

    A folder whose ``tokenizer_config.json`` names another tokenizer class (not a
    BERT WordPiece one, see :data:`WORDPIECE_TOKENIZER_CLASSES`) is refused rather
    than read with the wrong algorithm.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("use AutoTokenizer.from_pretrained(name_or_path)")

    @staticmethod
    def tokenizer_class_of(name_or_path: str) -> str:
        """The tokenizer class a folder's ``tokenizer_config.json`` names (``ElectraTokenizer`` if none)."""
        file = os.path.join(os.fspath(name_or_path), _TOKENIZER_CONFIG)
        if not os.path.isfile(file):
            return "ElectraTokenizer"
        try:
            with open(file, encoding="utf-8") as f:
                data = json.load(f)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ValueError(f"{file} is not a valid JSON tokenizer config: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{file} must hold a JSON object, got {type(data).__name__}")
        named = data.get("tokenizer_class") or data.get("init_class") or "ElectraTokenizer"  # init_class: 2.4
        if not isinstance(named, str):
            raise ValueError(f"{file}: tokenizer_class must be a class name (string), got {named!r}")
        return named

    @staticmethod
    def from_pretrained(name_or_path: str, **kwargs) -> ElectraTokenizer:
        """:meth:`ElectraTokenizer.from_pretrained` after checking a folder's tokenizer class.

        Raises:
            ValueError: the folder's ``tokenizer_config.json`` names a tokenizer
                that is not BERT WordPiece, or is unreadable; or what
                :meth:`ElectraTokenizer.from_pretrained` raises.
        """
        path = os.fspath(name_or_path)
        if os.path.isdir(path):
            named = AutoTokenizer.tokenizer_class_of(path)
            if named not in WORDPIECE_TOKENIZER_CLASSES:
                raise ValueError(
                    f"{os.path.join(path, _TOKENIZER_CONFIG)} names the tokenizer class {named!r}; paddle_electra's "
                    f"AutoTokenizer reads BERT WordPiece tokenizers only ({', '.join(WORDPIECE_TOKENIZER_CLASSES)})"
                )
        return ElectraTokenizer.from_pretrained(path, **kwargs)
