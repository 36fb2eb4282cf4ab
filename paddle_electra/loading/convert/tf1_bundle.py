"""TF1 checkpoints (the release format of Google ELECTRA and HFL Chinese-ELECTRA), read without TensorFlow.

A TF1 checkpoint ``model.ckpt-N`` is a *tensor bundle*:

* ``model.ckpt-N.index``: an immutable sorted table in LevelDB's SSTable
  layout. Data blocks hold prefix-compressed ``key -> value`` entries with a
  restart-point array at the end; each block is followed by a one-byte
  compression type and a masked CRC32C. The file ends with a 48-byte footer:
  the block handles (varint offset, varint size) of the meta-index and index
  blocks, zero padding, and the 64-bit magic number ``0xdb4775248b80fb57``.
  The index block maps a separator key to the handle of each data block.
* Values are serialized protocol buffers: the empty key holds a
  ``BundleHeaderProto`` (number of data shards, endianness, format version),
  every other key (the variable name) a ``BundleEntryProto`` (dtype enum,
  shape, shard id, byte offset, byte size, masked CRC32C of the bytes).
* ``model.ckpt-N.data-0000S-of-0000K``: the raw tensor bytes, concatenated.
* ``model.ckpt-N.meta``: the graph, not needed for the weights.

The protobuf wire format (varints, length-delimited fields) is parsed here by
hand, so neither TensorFlow nor protobuf is needed. Tensors come back as
read-only numpy views of a memory map of the data file (optimizer slots that
are never touched are never read from disk); bfloat16 is widened to float32
(exact), big-endian bundles are byte-swapped.

The key table and the conversion to model folders are in :mod:`.tf1`.
"""

from __future__ import annotations

import logging
import mmap
import os
import re
import struct
from collections import Counter
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np

__all__ = ["TF1Entry", "list_tf1_checkpoint", "read_tf1_checkpoint", "resolve_tf1_prefix"]

logger = logging.getLogger("paddle_electra")


# ---------------------------------------------------------------- CRC32C
_CRC_MASK_DELTA = 0xA282EAD8


def _make_crc_table() -> List[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli polynomial, reflected
        table.append(crc)
    return table


_CRC_TABLE = _make_crc_table()


def _crc32c_python(data) -> int:
    """CRC32C in pure Python (a few MB/s: fine for index blocks and small tensors)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _fast_crc32c() -> Optional[Callable[[bytes], int]]:
    """A compiled CRC32C from ``google-crc32c`` or ``crc32c`` if installed, else None."""
    try:
        import google_crc32c  # type: ignore

        if getattr(google_crc32c, "implementation", "c") == "c":
            return lambda data: google_crc32c.value(bytes(data))
    except ImportError:
        pass
    try:
        import crc32c  # type: ignore

        return lambda data: crc32c.crc32c(data)
    except ImportError:
        return None


def _unmask(masked: int) -> int:
    """Undo LevelDB/TF's CRC masking (rotate right by 15 after subtracting a constant)."""
    rot = (masked - _CRC_MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# ---------------------------------------------------------------- protobuf wire format
class _Corrupt(Exception):
    """Internal: malformed bytes; turned into a ValueError naming the file."""


def _varint(buf: bytes, pos: int) -> Tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, next position)."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _Corrupt("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Corrupt("varint longer than 10 bytes")


def _signed64(value: int) -> int:
    """Protobuf int32/int64 fields carry negatives as 64-bit two's complement."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _fields(buf: bytes) -> Iterator[Tuple[int, int, Union[int, bytes]]]:
    """Yield (field number, wire type, value) of a serialized message."""
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:  # varint
            value, pos = _varint(buf, pos)
        elif wire == 1:  # fixed64
            if pos + 8 > end:
                raise _Corrupt("truncated fixed64")
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:  # length-delimited
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise _Corrupt("truncated length-delimited field")
            value = buf[pos:pos + length]
            pos += length
        elif wire == 5:  # fixed32
            if pos + 4 > end:
                raise _Corrupt("truncated fixed32")
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise _Corrupt(f"unsupported protobuf wire type {wire} (field {number})")
        if number == 0:
            raise _Corrupt("protobuf field number 0")
        yield number, wire, value


# ---------------------------------------------------------------- SSTable (LevelDB table format)
_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48  # two block handles padded to 40 bytes, then the 8-byte magic
_BLOCK_TRAILER = 5  # compression type byte + masked crc32c


def _read_block(table: bytes, offset: int, size: int, verify: bool) -> bytes:
    if offset + size + _BLOCK_TRAILER > len(table):
        raise _Corrupt(f"block at {offset} (+{size} bytes) runs past the end of the file ({len(table)} bytes)")
    block = table[offset:offset + size]
    kind = table[offset + size]
    if verify:
        stored = struct.unpack_from("<I", table, offset + size + 1)[0]
        if _crc32c_python(table[offset:offset + size + 1]) != _unmask(stored):
            raise _Corrupt(f"checksum mismatch in the block at byte {offset}")
    if kind == 0:
        return block
    if kind == 1:
        return _snappy_decompress(block)
    raise _Corrupt(f"unknown block compression type {kind}")


def _snappy_decompress(data: bytes) -> bytes:
    """Raw snappy (TF can write snappy-compressed table blocks; bundles normally do not)."""
    length, pos = _varint(data, 0)
    out = bytearray()
    end = len(data)
    while pos < end:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            n = tag >> 2
            if n >= 60:
                extra = n - 59
                n = int.from_bytes(data[pos:pos + extra], "little")
                pos += extra
            n += 1
            if pos + n > end:
                raise _Corrupt("truncated snappy literal")
            out += data[pos:pos + n]
            pos += n
            continue
        if kind == 1:
            n = ((tag >> 2) & 7) + 4
            dist = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            n = (tag >> 2) + 1
            dist = int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        else:
            n = (tag >> 2) + 1
            dist = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        if dist == 0 or dist > len(out):
            raise _Corrupt("bad snappy back-reference")
        for _ in range(n):  # byte by byte: copies may overlap their own output
            out.append(out[-dist])
    if len(out) != length:
        raise _Corrupt("snappy block decompressed to the wrong length")
    return bytes(out)


def _block_entries(block: bytes) -> Iterator[Tuple[bytes, bytes]]:
    """Decode the prefix-compressed entries of one table block."""
    if len(block) < 4:
        raise _Corrupt("block shorter than its restart count")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * num_restarts
    if limit < 0:
        raise _Corrupt("bad restart-point count")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise _Corrupt("bad block entry")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        yield key, block[pos:pos + value_len]
        pos += value_len


def _block_handle(buf: bytes, pos: int = 0) -> Tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _read_table(table: bytes, verify: bool) -> List[Tuple[bytes, bytes]]:
    """All (key, value) pairs of an SSTable, in key order."""
    if len(table) < _FOOTER_SIZE:
        raise _Corrupt(f"file of {len(table)} bytes is too short for a table footer")
    footer = table[-_FOOTER_SIZE:]
    magic_lo, magic_hi = struct.unpack_from("<II", footer, _FOOTER_SIZE - 8)
    if (magic_hi << 32) | magic_lo != _TABLE_MAGIC:
        raise _Corrupt("bad magic number (not a TF checkpoint index, or truncated)")
    _, _, pos = _block_handle(footer)  # meta-index: unused by tensor bundles
    index_offset, index_size, _ = _block_handle(footer, pos)
    entries = []
    for _, handle in _block_entries(_read_block(table, index_offset, index_size, verify)):
        offset, size, _ = _block_handle(handle)
        entries.extend(_block_entries(_read_block(table, offset, size, verify)))
    return entries


# ---------------------------------------------------------------- tensor bundle
# DataType enum values of tensorflow/core/framework/types.proto -> numpy dtype.
_NUMPY_DTYPES = {
    1: np.float32,  # DT_FLOAT
    2: np.float64,  # DT_DOUBLE
    3: np.int32,  # DT_INT32
    4: np.uint8,  # DT_UINT8
    5: np.int16,  # DT_INT16
    6: np.int8,  # DT_INT8
    9: np.int64,  # DT_INT64
    10: np.bool_,  # DT_BOOL
    14: np.uint16,  # DT_BFLOAT16: raw bits, widened to float32
    17: np.uint16,  # DT_UINT16
    19: np.float16,  # DT_HALF
    22: np.uint32,  # DT_UINT32
    23: np.uint64,  # DT_UINT64
}
_DT_BFLOAT16 = 14
_DTYPE_NAMES = {
    1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string", 8: "complex64",
    9: "int64", 10: "bool", 11: "qint8", 12: "quint8", 13: "qint32", 14: "bfloat16", 15: "qint16",
    16: "quint16", 17: "uint16", 18: "complex128", 19: "float16", 20: "resource", 21: "variant",
    22: "uint32", 23: "uint64",
}


class TF1Entry:
    """One variable's metadata from a checkpoint's index (what ``tf.train.list_variables`` shows)."""

    __slots__ = ("name", "dtype", "shape", "shard", "offset", "size", "crc32c", "sliced")

    def __init__(self, name, dtype, shape, shard, offset, size, crc32c, sliced):
        self.name = name
        self.dtype = dtype  # TF DataType enum value
        self.shape = shape
        self.shard = shard
        self.offset = offset
        self.size = size
        self.crc32c = crc32c  # masked, as stored; None if absent
        self.sliced = sliced

    @property
    def dtype_name(self) -> str:
        return _DTYPE_NAMES.get(self.dtype, f"dtype#{self.dtype}")

    @property
    def numeric(self) -> bool:
        return self.dtype in _NUMPY_DTYPES

    def __repr__(self):
        return f"TF1Entry({self.name!r}, {self.dtype_name}, {list(self.shape)})"


def _parse_shape(buf: bytes) -> Tuple[int, ...]:
    dims = []
    for number, wire, value in _fields(buf):
        if number == 2 and wire == 2:  # repeated Dim dim
            size = 0
            for n, w, v in _fields(value):
                if n == 1 and w == 0:
                    size = _signed64(v)
            dims.append(size)
        elif number == 3 and wire == 0 and value:  # unknown_rank
            raise _Corrupt("a tensor of unknown rank")
    if any(d < 0 for d in dims):
        raise _Corrupt(f"a tensor with unknown dimensions {dims}")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> TF1Entry:
    dtype = shard = offset = size = 0
    shape: Tuple[int, ...] = ()
    crc = None
    sliced = False
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 0:
            dtype = value
        elif number == 2 and wire == 2:
            shape = _parse_shape(value)
        elif number == 3 and wire == 0:
            shard = _signed64(value)
        elif number == 4 and wire == 0:
            offset = _signed64(value)
        elif number == 5 and wire == 0:
            size = _signed64(value)
        elif number == 6 and wire == 5:
            crc = value
        elif number == 7:
            sliced = True
    if offset < 0 or size < 0 or shard < 0:
        raise _Corrupt(f"{name}: negative offset/size/shard")
    return TF1Entry(name, dtype, shape, shard, offset, size, crc, sliced)


def _parse_header(buf: bytes) -> Tuple[int, bool]:
    """(number of shards, big-endian?) from a BundleHeaderProto."""
    num_shards, big_endian, min_consumer = 0, False, 0
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 0:
            num_shards = _signed64(value)
        elif number == 2 and wire == 0:
            big_endian = value == 1
        elif number == 3 and wire == 2:  # VersionDef
            for n, w, v in _fields(value):
                if n == 2 and w == 0:
                    min_consumer = _signed64(v)
    if min_consumer > 1:
        raise _Corrupt(f"written by a newer tensor-bundle format (min_consumer {min_consumer}) than this reader knows")
    if num_shards < 1:
        raise _Corrupt(f"header names {num_shards} data shards")
    return num_shards, big_endian


# ---------------------------------------------------------------- locating a checkpoint
_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")


def resolve_tf1_prefix(path: str) -> str:
    """The checkpoint prefix (``.../model.ckpt-1000000``) for any way of naming it.

    Accepts the prefix itself, the ``.index`` / ``.meta`` / ``.data-*`` file, or
    a folder holding either a ``checkpoint`` state file (its
    ``model_checkpoint_path`` is used; an absolute path that no longer exists is
    looked up by file name inside the folder) or exactly one ``*.index`` file.

    Raises:
        ValueError: nothing that looks like a TF checkpoint is there.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return _prefix_in_folder(path)
    prefix = path
    if prefix.endswith(".index") or prefix.endswith(".meta"):
        prefix = prefix.rsplit(".", 1)[0]
    else:
        prefix = _DATA_SUFFIX.sub("", prefix)
    if not os.path.isfile(prefix + ".index"):
        folder = os.path.dirname(prefix) or "."
        found = sorted(f for f in os.listdir(folder) if f.endswith(".index")) if os.path.isdir(folder) else []
        hint = f"; {folder} has {', '.join(found)}" if found else ""
        raise ValueError(f"no TF checkpoint at {path}: {prefix}.index does not exist{hint}")
    return prefix


def _prefix_in_folder(folder: str) -> str:
    state = os.path.join(folder, "checkpoint")
    if os.path.isfile(state):
        with open(state, encoding="utf-8", errors="replace") as f:
            m = re.search(r'^model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"', f.read(), re.M)
        if m:
            named = m.group(1).encode("utf-8").decode("unicode_escape")
            candidates = [named] if os.path.isabs(named) else [os.path.join(folder, named)]
            candidates.append(os.path.join(folder, os.path.basename(named)))
            for candidate in candidates:
                if os.path.isfile(candidate + ".index"):
                    return candidate
            raise ValueError(f"{state} names {named!r}, but {candidates[-1]}.index does not exist")
    indexes = sorted(f for f in os.listdir(folder) if f.endswith(".index"))
    if len(indexes) == 1:
        return os.path.join(folder, indexes[0][: -len(".index")])
    if not indexes:
        raise ValueError(f"no TF checkpoint in {folder}: no *.index file (and no 'checkpoint' state file)")
    raise ValueError(
        f"{folder} holds several TF checkpoints ({', '.join(indexes)}); pass the prefix of one, "
        f"e.g. {os.path.join(folder, indexes[-1][: -len('.index')])}"
    )


# ---------------------------------------------------------------- reading
def _read_index(prefix: str, verify_blocks: bool = True) -> Tuple[int, bool, List[TF1Entry]]:
    index_path = prefix + ".index"
    try:
        with open(index_path, "rb") as f:
            table = f.read()
        pairs = _read_table(table, verify_blocks)
        if not pairs or pairs[0][0] != b"":
            raise _Corrupt("no bundle header (the empty key) in the index")
        num_shards, big_endian = _parse_header(pairs[0][1])
        entries = []
        for key, value in pairs[1:]:
            try:
                name = key.decode("utf-8")
            except UnicodeDecodeError:
                continue  # slice keys of partitioned variables are binary-encoded; their owner is flagged below
            entries.append(_parse_entry(name, value))
    except _Corrupt as exc:
        raise ValueError(f"{index_path} is not a valid TF checkpoint index: {exc}") from None
    for entry in entries:
        if entry.shard >= num_shards:
            raise ValueError(f"{index_path}: {entry.name} is in shard {entry.shard} of {num_shards}")
    return num_shards, big_endian, entries


def list_tf1_checkpoint(path: str) -> Dict[str, TF1Entry]:
    """Name -> :class:`TF1Entry` of every variable, without reading tensor data."""
    prefix = resolve_tf1_prefix(path)
    return {e.name: e for e in _read_index(prefix)[2]}


def _data_path(prefix: str, shard: int, num_shards: int) -> str:
    return f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"


def read_tf1_checkpoint(
    path: str,
    verify_crc: Optional[bool] = None,
    names: Optional[Iterable[str]] = None,
) -> Dict[str, np.ndarray]:
    """Read every numeric variable of a TF1 checkpoint into numpy, without TensorFlow.

    Args:
        path: the checkpoint prefix (``.../model.ckpt-1000000``), its ``.index``
            file, or a folder (see :func:`resolve_tf1_prefix`).
        verify_crc: check each tensor's CRC32C. ``None`` (default): only when a
            compiled CRC32C (``google-crc32c`` or ``crc32c``) is installed;
            ``True``: always (pure Python without those packages: a few MB/s);
            ``False``: never. The index's own block checksums are always checked.
        names: read only these variables (default: all).

    Returns:
        Variable name -> array, in the index's (sorted) order. Arrays are
        read-only views of a memory map of the data file where possible (use
        ``np.array(x)`` for a writable copy); bfloat16 becomes float32.
        Non-numeric variables (strings, resources) are left out and logged.

    Raises:
        ValueError: missing index or data shard, a corrupt or truncated file,
            a checksum mismatch, or a partitioned (sliced) variable. The message
            names the file.
    """
    prefix = resolve_tf1_prefix(path)
    num_shards, big_endian, entries = _read_index(prefix)
    if names is not None:
        wanted = set(names)
        unknown = sorted(wanted - {e.name for e in entries})
        if unknown:
            raise ValueError(f"{prefix}.index has no variable(s) {', '.join(unknown[:5])}")
        entries = [e for e in entries if e.name in wanted]
    sliced = [e.name for e in entries if e.sliced]
    if sliced:
        raise ValueError(
            f"{prefix}.index: partitioned (sliced) variables are not supported: {', '.join(sliced[:5])}"
        )
    skipped = Counter(e.dtype_name for e in entries if not e.numeric)
    if skipped:
        logger.debug("%s: left out %s non-numeric variable(s) (%s)", prefix, sum(skipped.values()),
                     ", ".join(f"{n} {k}" for k, n in sorted(skipped.items())))
    entries = [e for e in entries if e.numeric]

    crc = None
    if verify_crc is None:
        crc = _fast_crc32c()
    elif verify_crc:
        crc = _fast_crc32c() or _crc32c_python

    maps: Dict[int, Tuple[str, np.ndarray]] = {}
    for shard in sorted({e.shard for e in entries}):
        data_path = _data_path(prefix, shard, num_shards)
        if not os.path.isfile(data_path):
            raise ValueError(f"TF checkpoint {prefix} is missing its data shard {data_path}")
        maps[shard] = (data_path, _map_file(data_path))

    out: Dict[str, np.ndarray] = {}
    for e in entries:
        data_path, buf = maps[e.shard]
        available = buf.shape[0]
        if e.offset + e.size > available:
            raise ValueError(
                f"{data_path} is truncated: {e.name} needs bytes {e.offset}..{e.offset + e.size} "
                f"but the file has {available} bytes"
            )
        dtype = np.dtype(_NUMPY_DTYPES[e.dtype])
        count = int(np.prod(e.shape, dtype=np.int64))
        if count * dtype.itemsize != e.size:
            raise ValueError(
                f"{prefix}.index is corrupt: {e.name} ({e.dtype_name} {list(e.shape)}) should take "
                f"{count * dtype.itemsize} bytes, the index says {e.size}"
            )
        raw = buf[e.offset:e.offset + e.size]
        if crc is not None and e.crc32c is not None and crc(raw) != _unmask(e.crc32c):
            raise ValueError(f"{data_path}: checksum mismatch for {e.name} (the file is corrupt)")
        out[e.name] = _decode(raw, dtype, e, big_endian)
    return out


def _map_file(path: str) -> np.ndarray:
    """The file as a read-only uint8 array backed by a memory map (pages load on first use)."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return np.zeros(0, np.uint8)
        return np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)


def _decode(raw: np.ndarray, dtype: np.dtype, entry: TF1Entry, big_endian: bool) -> np.ndarray:
    src = dtype.newbyteorder(">" if big_endian else "<")
    if raw.size and entry.offset % dtype.itemsize:
        raw = raw.copy()  # keep the array aligned (bundles pack tensors without padding)
    arr = raw.view(src).reshape(entry.shape)
    if entry.dtype == _DT_BFLOAT16:
        return (arr.astype(np.uint32) << 16).view(np.float32)  # bfloat16 is a float32's top half: exact
    if not src.isnative:
        return arr.astype(dtype.newbyteorder("="))
    return arr
