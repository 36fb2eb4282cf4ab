"""CPU settings that make Paddle's dygraph GEMM fast on this class of machine.

Paddle 3.3's CPU wheel runs dygraph matmul through its bundled MKL 2019, which
picks its generic (non-AVX2) kernels on AMD processors: ~20 GFLOP/s where the
AVX2 kernels reach 55-75 per thread (docs/dygraph-cpu-speed.md, measured with
perf). ``MKL_DEBUG_CPU_TYPE=5`` makes that MKL use its AVX2 kernels; it is read
at MKL's first GEMM, so it has to be set before the first Paddle matmul of the
process, which importing paddle_electra does. Intel CPUs already get the fast
path and are left alone, as is a value the user set. Set
``PADDLE_ELECTRA_KEEP_MKL_DEFAULTS=1`` to opt out.

:func:`keep_freed_memory` makes glibc keep freed heap memory for reuse:
by default it returns the top of the heap to the OS whenever 128 KB or more is
free there, so every large tensor Paddle allocates next is fresh memory, paid
for in page faults. On a [4096, 1024] float tensor that made Paddle's CPU
elementwise kernels 5-15x slower than the arithmetic (``add`` 12.6 ms vs
0.9 ms; exact-GELU and LayerNorm gradients 2-3x). Set
``PADDLE_ELECTRA_KEEP_MALLOC_DEFAULTS=1`` (or ``MALLOC_TRIM_THRESHOLD_`` /
``MALLOC_MMAP_THRESHOLD_`` yourself) to opt out.

It also silences one warning Paddle prints when it is imported: "No ccache
found" (``paddle.utils.cpp_extension``), which concerns compiling C++
extensions, something paddle_electra never does; every ``paddle-electra``
command printed it. The filter is installed here because this module is
imported before Paddle.
"""

from __future__ import annotations

import ctypes
import os
import platform
import warnings

# before `import paddle` anywhere in the package (paddle_electra/__init__ imports this module first)
warnings.filterwarnings("ignore", message=r"No ccache found", category=UserWarning,
                        module=r"paddle\.utils\.cpp_extension")


#: the flags of a native bf16 matrix path (AVX-512 BF16 dot products, AMX bf16 tiles): the inference
#: bf16 predictor (inference/export/cpu_info.py) and the bf16 training GEMMs (_cpu_ops) both need one
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpuinfo_field(name: str) -> str:
    """The first ``name`` line of ``/proc/cpuinfo`` (``vendor_id``, ``flags``, ...), or "" where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(name):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _cpu_vendor() -> str:
    return cpuinfo_field("vendor_id")


def use_fast_mkl_kernels() -> bool:
    """Select MKL's AVX2 GEMM kernels on AMD CPUs; True if the setting is in effect."""
    if os.environ.get("PADDLE_ELECTRA_KEEP_MKL_DEFAULTS") == "1":
        return False
    if "MKL_DEBUG_CPU_TYPE" in os.environ:
        return os.environ["MKL_DEBUG_CPU_TYPE"] == "5"
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64") or _cpu_vendor() != "AuthenticAMD":
        return False
    os.environ["MKL_DEBUG_CPU_TYPE"] = "5"
    return True


#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`keep_freed_memory` sets
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
TRIM_THRESHOLD_BYTES = 256 << 20  # freed memory kept at the top of the heap before it goes back to the OS
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's largest: blocks up to this come from the heap and are reused


def keep_freed_memory() -> bool:
    """Let glibc reuse freed heap memory instead of returning it to the OS; True if the setting is in effect.

    Process-wide (it is the allocator's setting); the price is that up to
    :data:`TRIM_THRESHOLD_BYTES` of freed memory stays mapped for reuse.
    """
    if os.environ.get("PADDLE_ELECTRA_KEEP_MALLOC_DEFAULTS") == "1":
        return False
    if "MALLOC_TRIM_THRESHOLD_" in os.environ or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False  # the user's own allocator settings win
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD,
                                                                                  TRIM_THRESHOLD_BYTES))


def set_num_threads(n: int) -> None:
    """Threads for Paddle's CPU kernels in this process (Paddle defaults to 1 unless OMP_NUM_THREADS is set)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"thread count must be a positive integer, got {n!r}")
    import paddle

    global _threads
    paddle.base.core.set_num_threads(n)
    _threads = n


_threads = None  # the count last given to set_num_threads


def num_threads() -> int:
    """Paddle's CPU thread count as this package knows it: the last :func:`set_num_threads`, else
    ``OMP_NUM_THREADS``, else 1 (Paddle's default); the fused training kernels use as many."""
    if _threads is not None:
        return _threads
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


def use_contiguous_kernels() -> bool:
    """Turn off Paddle's strided views (``FLAGS_use_stride_kernel``) in a CPU-only Paddle; True if off.

    Paddle 3 makes ``transpose`` / ``split`` / ``reshape`` of a view return
    strided views; the next op (or gradient) then copies them with a generic
    strided-copy kernel that is several times slower on CPU than the plain
    transpose kernel Paddle 2 used. Attention does this for q, k, v and the
    context in every layer, forward and backward. Measured (2 threads, a
    4-layer H256 model, 32 x 128): a fine-tuning step 1,233 -> 800 ms, a
    pre-training step 1,328 -> 990 ms; results are the same (every op still
    runs, on contiguous copies). Leaves CUDA builds, a value set through the
    environment and ``PADDLE_ELECTRA_KEEP_STRIDE_KERNELS=1`` alone.
    """
    if os.environ.get("PADDLE_ELECTRA_KEEP_STRIDE_KERNELS") == "1" or "FLAGS_use_stride_kernel" in os.environ:
        return False
    import paddle

    if paddle.is_compiled_with_cuda():
        return False
    paddle.set_flags({"FLAGS_use_stride_kernel": False})
    return True
