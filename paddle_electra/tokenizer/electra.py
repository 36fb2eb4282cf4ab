"""``ElectraTokenizer``: BERT WordPiece with PaddleNLP 2.8.1's tokenizer API (and HF's where they agree).

One class, two interchangeable backends that give identical results (see
:mod:`.wordpiece`): ``tokenizers`` (Rust, used when importable) and a
pure-Python one. Ids equal ``transformers.BertTokenizerFast``'s on the same
vocabulary. The API is assembled from mixins: special and added tokens
(:mod:`.special`), option resolution (:mod:`.options`), encoding
(:mod:`.encoding`, :mod:`.assembly`), padding (:mod:`.padding`) and
save / load (:mod:`.saving`).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Dict, List, Optional, Sequence

from . import names
from .assembly import AssemblyMixin
from .encoding import EncodingMixin
from .options import OptionsMixin, check_text
from .padding import PaddingMixin
from .saving import CONFIG_FILE, VOCAB_FILE, SavingMixin
from .special import SpecialTokensMixin, to_id_list
from .vocab import Vocab, load_vocab
from .wordpiece import FastWordPiece, PythonWordPiece

logger = logging.getLogger("paddle_electra.tokenizer")

CORE_SPECIAL_SLOTS = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# Decoding cleanup of HF's WordPiece decoder, applied to each token as it does.
_DECODE_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                   (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))
# PaddleNLP's whole-string cleanup (clean_up_tokenization)
_PADDLENLP_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                      (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


class _Side:
    """``padding_side`` / ``truncation_side``: ``"right"`` or ``"left"``; anything else raises ``ValueError``.

    Read on the class it gives the default ``"right"`` (as PaddleNLP's class attribute).
    """

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None) -> str:
        if obj is None:
            return "right"
        return obj.__dict__.get("_" + self.name, "right")

    def __set__(self, obj, value) -> None:
        if value not in ("right", "left"):
            raise ValueError(f"{self.name} must be 'right' or 'left', got {value!r}")
        obj.__dict__["_" + self.name] = value


class ElectraTokenizer(SpecialTokensMixin, OptionsMixin, AssemblyMixin, PaddingMixin, EncodingMixin, SavingMixin):
    """BERT WordPiece tokenizer for ELECTRA: ids of HF's ``BertTokenizerFast``, API of PaddleNLP's ``ElectraTokenizer``.

    (PaddleNLP's Python tokenizer differs on Unicode symbols such as ``～ ° ℃``,
    which it splits off; BERT and HF, and this class, keep them inside words.)

    Args:
        vocab_file: path of a ``vocab.txt`` (one token per line).
        do_lower_case: lower-case the input (uncased models).
        do_basic_tokenize: must be ``True`` (whitespace-only splitting is not offered).
        never_split: words (between whitespace) kept whole, as PaddleNLP's
            ``BasicTokenizer`` keeps them.
        unk_token, sep_token, pad_token, cls_token, mask_token: special tokens;
            each must be in the vocabulary. Written in a text, they are kept
            as single tokens.
        tokenize_chinese_chars: make every CJK ideograph a word of its own.
        strip_accents: strip accents; ``None`` (default) follows ``do_lower_case``.
        model_max_length: the length ``truncation=True`` / ``padding="max_length"``
            use when no ``max_length`` is given (``max_len``: its old name).
        backend: ``"auto"`` (``tokenizers`` if importable, else Python),
            ``"fast"`` or ``"python"``.
        bos_token, eos_token, additional_special_tokens: more special tokens;
            those not in the vocabulary are added after it.
        padding_side, truncation_side: ``"right"`` (default) or ``"left"``.
        model_input_names: the keys models take, ``input_ids`` first; decides
            what ``return_token_type_ids`` / ``return_attention_mask`` /
            ``return_position_ids`` left at ``None`` give. Default
            ``["input_ids", "token_type_ids", "attention_mask"]`` (HF's BERT;
            PaddleNLP's omits ``attention_mask``).
        verbose: ``False`` silences the warnings (inputs over ``model_max_length``,
            a bare ``max_length`` that truncates) of every call.
        **kwargs: other keyword arguments are not used: they are kept in
            ``init_kwargs`` and saved with the tokenizer (as PaddleNLP does),
            and a warning names them.

    Raises:
        ValueError: missing/empty vocabulary, special tokens absent from it,
            an unknown ``backend`` or side, ``do_basic_tokenize=False``.
        ImportError: ``backend="fast"`` without the ``tokenizers`` package.
    """

    resource_files_names = {"vocab_file": VOCAB_FILE}
    pretrained_resource_files_map = {"vocab_file": names.LazyNameMap(names.vocab_urls)}
    pretrained_init_configuration = names.LazyNameMap(names.init_configurations)
    max_model_input_sizes = names.LazyNameMap(names.max_input_sizes)
    tokenizer_config_file = CONFIG_FILE
    model_input_names: List[str] = ["input_ids", "token_type_ids", "attention_mask"]
    padding_side = _Side()
    truncation_side = _Side()

    def __init__(self, vocab_file: str, do_lower_case: bool = True, do_basic_tokenize: bool = True,
                 never_split: Optional[Sequence[str]] = None, unk_token="[UNK]", sep_token="[SEP]",
                 pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", tokenize_chinese_chars: bool = True,
                 strip_accents: Optional[bool] = None, model_max_length: int = 512, backend: str = "auto",
                 bos_token=None, eos_token=None, additional_special_tokens=None, padding_side: str = "right",
                 truncation_side: str = "right", model_input_names: Optional[Sequence[str]] = None,
                 verbose: bool = True, **kwargs: Any):
        given = {k: v for k, v in locals().items() if k not in ("self", "kwargs", "__class__")}
        if backend not in ("auto", "fast", "python"):
            raise ValueError(f"backend must be 'auto', 'fast' or 'python', got {backend!r}")
        if not do_basic_tokenize:
            raise ValueError("do_basic_tokenize=False (WordPiece on whitespace-split words only) is not supported; "
                             "paddle_electra always runs BERT's basic tokenizer first")
        self.name_or_path = str(kwargs.pop("name_or_path", ""))
        if "max_len" in kwargs:  # PaddleNLP's / HF's old name
            model_max_length = given["model_max_length"] = kwargs.pop("max_len")
        unknown = sorted(kwargs)
        if unknown:
            logger.warning("ElectraTokenizer does not use %s; kept in init_kwargs and saved with the tokenizer",
                           ", ".join(f"{k}={kwargs[k]!r}" for k in unknown))
        # copies of lists, so that changing the caller's list later does not change what is saved
        self.init_kwargs: Dict[str, Any] = {k: list(v) if isinstance(v, (list, tuple)) else v
                                            for k, v in {**given, **kwargs}.items()}
        self.init_inputs = ()
        self.deprecation_warnings: Dict[str, bool] = {}
        self.verbose = bool(verbose)
        self.padding_side, self.truncation_side = padding_side, truncation_side
        self.model_input_names = self._check_input_names(model_input_names)
        if isinstance(model_max_length, bool) or not isinstance(model_max_length, int) or model_max_length <= 0:
            raise ValueError(f"model_max_length must be a positive int, got {model_max_length!r}")
        self.model_max_length = model_max_length
        self.vocab_file = str(vocab_file)
        self._id_to_token = load_vocab(vocab_file)
        self._token_to_id: Dict[str, int] = {t: i for i, t in enumerate(self._id_to_token)}
        if len(self._token_to_id) != len(self._id_to_token):
            logger.warning("%s lists %d tokens more than once; the last id of each wins",
                           vocab_file, len(self._id_to_token) - len(self._token_to_id))
        core = {slot: given[slot] for slot in CORE_SPECIAL_SLOTS}
        core_text = {slot: str(getattr(v, "content", v)) for slot, v in core.items()}
        missing = [f"{k}={t!r}" for k, t in core_text.items() if t not in self._token_to_id]
        if missing:
            raise ValueError(f"vocabulary {vocab_file!r} lacks the special token(s) {', '.join(missing)}; "
                             "a BERT/ELECTRA vocab.txt must contain [PAD], [UNK], [CLS], [SEP] and [MASK]")
        self.do_lower_case = bool(do_lower_case)
        self.do_basic_tokenize = True
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.strip_accents = strip_accents
        self._unk_id = self._token_to_id[core_text["unk_token"]]
        self.vocab = Vocab(self._token_to_id, self._id_to_token, unk_token=core_text["unk_token"],
                           pad_token=core_text["pad_token"])
        self._backend_specials = set(core_text.values())
        self._backend = self._make_backend(backend, core_text)
        self._init_special({**core, "bos_token": bos_token, "eos_token": eos_token}, additional_special_tokens,
                           never_split)

    def _make_backend(self, backend: str, core: Dict[str, str]):
        args = (self._token_to_id, core["unk_token"], list(core.values()), self.do_lower_case, self.strip_accents,
                self.tokenize_chinese_chars)
        if backend == "python":
            return PythonWordPiece(*args)
        try:
            return FastWordPiece(*args, cls_token=core["cls_token"], sep_token=core["sep_token"])
        except ImportError as e:
            if backend == "fast":
                raise ImportError("backend='fast' needs the HuggingFace `tokenizers` package "
                                  "(pip install tokenizers), or use backend='python'") from e
            return PythonWordPiece(*args)

    @classmethod
    def _check_input_names(cls, names_: Optional[Sequence[str]]) -> List[str]:
        if names_ is None:
            return list(cls.model_input_names)
        if isinstance(names_, str) or not all(isinstance(n, str) for n in names_) or list(names_)[:1] != ["input_ids"]:
            raise ValueError(f"model_input_names must be a list of key names starting with 'input_ids', got {names_!r}")
        return list(names_)

    @classmethod
    def _init_parameters(cls) -> Dict[str, Any]:
        """``__init__``'s keyword parameters and their defaults (not ``vocab_file``)."""
        params = inspect.signature(cls.__init__).parameters.values()
        return {p.name: p.default for p in params if p.name not in ("self", "vocab_file")
                and p.kind is not inspect.Parameter.VAR_KEYWORD}

    # ------------------------------------------------------------ properties
    @property
    def backend(self) -> str:
        """``"fast"`` (HF ``tokenizers``) or ``"python"``."""
        return "fast" if isinstance(self._backend, FastWordPiece) else "python"

    @property
    def backend_tokenizer(self):
        """The ``tokenizers.Tokenizer`` of the fast backend (with BERT's post-processor), else ``None``.

        It knows the vocabulary and the five special tokens, not tokens added later.
        """
        return getattr(self._backend, "tokenizer", None)

    @property
    def vocab_size(self) -> int:
        """Number of vocabulary entries (lines of ``vocab.txt``), without added tokens."""
        return len(self._id_to_token)

    @property
    def is_fast(self) -> bool:
        """``False``: encodings carry no per-token ``tokenizers`` objects (``word_ids`` ...), whichever backend."""
        return False

    @property
    def max_len_single_sentence(self) -> int:
        """``model_max_length`` minus the special tokens of one text."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        """``model_max_length`` minus the special tokens of a pair."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def __repr__(self) -> str:
        return (f"ElectraTokenizer(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"added={len(self.added_tokens_encoder)}, do_lower_case={self.do_lower_case}, "
                f"model_max_length={self.model_max_length}, padding_side={self.padding_side!r}, "
                f"truncation_side={self.truncation_side!r}, backend={self.backend!r})")

    # ------------------------------------------------------------ tokens
    def tokenize(self, text: str, pair: Optional[str] = None, add_special_tokens: bool = False) -> List[str]:
        """WordPiece tokens of ``text`` (and ``pair``), added tokens kept whole; ``[CLS]``/``[SEP]`` on request."""
        check_text(text, "text")
        if pair is not None:
            check_text(pair, "pair")
        ids = self._tokenize_texts([text] if pair is None else [text, pair], None, False)[0]
        if add_special_tokens:
            row = self.build_inputs_with_special_tokens(ids[0], ids[1] if pair is not None else None)
        else:
            row = ids[0] + (ids[1] if pair is not None else [])
        return self._tokens_of(row)

    def get_offset_mapping(self, text: str) -> List[tuple]:
        """``(start, end)`` character span in ``text`` of each of its tokens (no special tokens added)."""
        check_text(text, "text")
        return [tuple(o) for o in self._tokenize_texts([text], None, True)[1][0]]

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        """Join tokens like HF's WordPiece decoder: ``##`` pieces glued, spaces elsewhere, ``" ,"`` -> ``","``."""
        return _join(tokens, True)

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool = True,
               spaces_between_special_tokens: bool = True) -> str:
        """Text of a sequence of ids (an int, list, numpy array or paddle tensor).

        With the defaults this is ``BertTokenizerFast.decode``: CJK characters
        come out space-separated (``"我 爱"``), and lower-casing and accent
        stripping are not undone.

        Args:
            skip_special_tokens: leave out :attr:`all_special_ids`.
            clean_up_tokenization_spaces: remove the space before ``. , ? !``
                (HF's cleanup); ``False`` joins the tokens as they are.
            spaces_between_special_tokens: ``False`` glues added tokens to
                their neighbours (PaddleNLP's): ``"[ABC][DEF]"``, not ``"[ABC] [DEF]"``.
        """
        tokens = self.convert_ids_to_tokens(token_ids, skip_special_tokens)
        if isinstance(tokens, str):
            tokens = [tokens]
        if spaces_between_special_tokens or not self.added_tokens_encoder:
            return _join(tokens, clean_up_tokenization_spaces)
        pieces, run = [], []
        for token in tokens:  # as PaddleNLP: added tokens stand alone, the runs between them are joined
            if token in self.added_tokens_encoder:
                if run:
                    pieces.append(_join(run, clean_up_tokenization_spaces))
                    run = []
                pieces.append(token)
            else:
                run.append(token)
        if run:
            pieces.append(_join(run, clean_up_tokenization_spaces))
        return "".join(pieces)

    def batch_decode(self, sequences, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool = True,
                     spaces_between_special_tokens: bool = True) -> List[str]:
        """:meth:`decode` for each row of a batch (list of lists, 2-D array or tensor)."""
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces, spaces_between_special_tokens)
                for s in sequences]

    @staticmethod
    def clean_up_tokenization(out_string: str) -> str:
        """PaddleNLP's / HF's cleanup of a whole string (``" ."`` -> ``"."``, ``" 's"`` -> ``"'s"`` ...)."""
        for old, new in _PADDLENLP_CLEANUP:
            out_string = out_string.replace(old, new)
        return out_string

    # ------------------------------------------------------------ special-token layout
    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """2 for ``[CLS] A [SEP]``, 3 for ``[CLS] A [SEP] B [SEP]``."""
        return 3 if pair else 2

    def build_inputs_with_special_tokens(self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None
                                         ) -> List[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``."""
        out = [self.cls_token_id, *token_ids_0, self.sep_token_id]
        return out if token_ids_1 is None else out + [*token_ids_1, self.sep_token_id]

    def build_offset_mapping_with_special_tokens(self, offset_mapping_0, offset_mapping_1=None) -> List[tuple]:
        """Offsets with ``(0, 0)`` where :meth:`build_inputs_with_special_tokens` puts special tokens."""
        out = [(0, 0), *offset_mapping_0, (0, 0)]
        return out if offset_mapping_1 is None else out + [*offset_mapping_1, (0, 0)]

    def create_token_type_ids_from_sequences(self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None
                                             ) -> List[int]:
        """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``."""
        return [0] * (len(token_ids_0) + 2) + ([] if token_ids_1 is None else [1] * (len(token_ids_1) + 1))

    def get_special_tokens_mask(self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None,
                                already_has_special_tokens: bool = False) -> List[int]:
        """1 where :meth:`build_inputs_with_special_tokens` puts ``[CLS]`` / ``[SEP]``, 0 for the sequence tokens.

        With ``already_has_special_tokens``, ``token_ids_0`` is a built row:
        1 marks its ``[CLS]`` and ``[SEP]`` ids (PaddleNLP's ELECTRA rule).

        Raises:
            ValueError: ``token_ids_1`` with ``already_has_special_tokens``.
        """
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError("token_ids_1 cannot be given with already_has_special_tokens=True: the row in "
                                 "token_ids_0 holds both sequences")
            marks = {self.cls_token_id, self.sep_token_id}
            return [1 if i in marks else 0 for i in to_id_list(token_ids_0)]
        out = [1, *[0] * len(token_ids_0), 1]
        return out if token_ids_1 is None else out + [*[0] * len(token_ids_1), 1]


def _join(tokens: Sequence[str], clean: bool) -> str:
    """Tokens as text: ``##`` pieces glued, a space before the others; HF's per-token cleanup when ``clean``."""
    out = []
    for i, tok in enumerate(tokens):
        if i:
            tok = tok[2:] if tok.startswith("##") else " " + tok
        if clean:
            for old, new in _DECODE_CLEANUP:
                tok = tok.replace(old, new)
        out.append(tok)
    return "".join(out)
