"""The CPU an export was made (or measured) on: model name and the ISA flags int8 / bf16 kernels depend on.

Read from ``/proc/cpuinfo`` on Linux; elsewhere the flags are ``None``
("unknown"), never guessed. Recorded in the manifest of a quantised export
because int8 speed (and, without VNNI, the saturation that ``reduce_range``
avoids) depends on these flags.
"""

from __future__ import annotations

import os
import platform
from typing import Any, Dict, Optional

from ..._cpu import BF16_FLAGS  # the flags of a native bf16 matrix path (one definition, shared with training)

#: the flags recorded: AVX2, AVX-512, VNNI (int8 dot products), bf16, AMX tiles (int8 / bf16)
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def _read_cpuinfo(path: str) -> Optional[Dict[str, str]]:
    """The first processor block of a ``/proc/cpuinfo``-style file as ``{key: value}``, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    block: Dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if block:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            block.setdefault(key.strip(), value.strip())
    return block or None


def cpu_info(cpuinfo_path: str = "/proc/cpuinfo") -> Dict[str, Any]:
    """``{"model", "machine", "logical_cpus", "flags": {flag: bool or None}, "source"}``.

    Args:
        cpuinfo_path: the file to read (tests pass a sample).

    Returns:
        ``flags[name]`` is True / False from the file, or None for every flag
        when it cannot be read (another OS, a sandbox): unknown, not absent.
    """
    block = _read_cpuinfo(cpuinfo_path)
    if block is None:
        return {"model": platform.processor() or None, "machine": platform.machine() or None,
                "logical_cpus": os.cpu_count(), "flags": {f: None for f in FLAGS}, "source": None}
    present = set((block.get("flags") or block.get("Features") or "").split())
    return {"model": block.get("model name") or block.get("Model") or platform.processor() or None,
            "machine": platform.machine() or None, "logical_cpus": os.cpu_count(),
            "flags": {f: f in present for f in FLAGS}, "source": cpuinfo_path}


def bf16_support(info: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """Why this CPU cannot run oneDNN's bf16 kernels natively, or None when it can.

    Args:
        info: a :func:`cpu_info` result (default: this machine's).

    Returns:
        None when one of :data:`BF16_FLAGS` is present; otherwise a sentence
        naming the CPU and the missing flags (oneDNN would emulate bf16 there,
        slower than fp32, or Paddle silently keep fp32).
    """
    info = cpu_info() if info is None else info
    flags = info.get("flags") or {}
    if any(flags.get(f) for f in BF16_FLAGS):
        return None
    known = "unknown (no /proc/cpuinfo)" if all(v is None for v in flags.values()) else "absent"
    return (f"this CPU ({info.get('model') or 'unknown model'}) has no native bf16 matrix instructions "
            f"({' / '.join(BF16_FLAGS)}: {known})")
