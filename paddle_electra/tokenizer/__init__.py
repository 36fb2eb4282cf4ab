"""The ELECTRA tokenizer: BERT WordPiece with PaddleNLP 2.8.1's tokenizer API, and HF's ids.

Example:
    >>> tok = ElectraTokenizer.from_pretrained("path/to/folder")  # vocab.txt (+ tokenizer_config.json)
    >>> enc = tok(["我爱北京", "天安门"], padding=True, return_tensors="pd")
    >>> list(enc["input_ids"].shape)  # int64 tensors
    [2, 6]
    >>> tok.encode("我爱北京")["input_ids"]  # PaddleNLP's encode returns the encoding
    [101, 2769, 4263, 1266, 776, 102]

Modules: :mod:`.electra` (the class), :mod:`.special` (special and added
tokens), :mod:`.options` (option rules, ``BatchEncoding``), :mod:`.encoding`
(``__call__`` / ``encode`` / ``batch_encode``), :mod:`.assembly` (tokenize,
truncate, build rows), :mod:`.padding` (padding, tensors, ``pad``),
:mod:`.saving` (files), :mod:`.wordpiece` (the two backends), :mod:`.vocab`
and :mod:`.names` (PaddleNLP's name tables).
"""

from .electra import ElectraTokenizer
from .options import BatchEncoding
from .saving import ADDED_TOKENS_FILE, CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE, VOCAB_FILE
from .special import SPECIAL_TOKEN_SLOTS, SPECIAL_TOKENS_ATTRIBUTES
from .vocab import AddedToken, SpecialTokensError, TokenizerInputError, Vocab, load_vocab

__all__ = ["ElectraTokenizer", "BatchEncoding", "AddedToken", "Vocab", "load_vocab", "TokenizerInputError",
           "SpecialTokensError", "VOCAB_FILE", "CONFIG_FILE", "SPECIAL_TOKENS_MAP_FILE", "ADDED_TOKENS_FILE",
           "SPECIAL_TOKEN_SLOTS", "SPECIAL_TOKENS_ATTRIBUTES"]
