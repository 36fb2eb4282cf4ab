"""Fused CPU training kernels (exact GELU, LayerNorm, softmax, dropout, the attention core, and a Linear on MKL's or oneDNN's GEMM), compiled once per machine with Paddle's extension builder.

Paddle 3.3's CPU kernels for GELU, LayerNorm and softmax (and above all their
gradients) run on one thread, element by element; they cost more of a fine-tuning step than the rest of the encoder's
elementwise work together (docs/performance.md). ``ops.cc`` computes the same
functions in one pass per tensor on every thread, with glibc's vector ``erf`` /
``exp``. Its dropout draws the mask from a counter-based hash in the same pass
that applies it (Paddle's own draws it ~2.5x slower than numpy does). Its attention
(``attention.cc``) reads each head's slices of q, k, v in place and does the bias,
softmax and dropout of a (batch, head) pair in one task, with MKL's GEMMs, where
Paddle copies the heads out and back and dispatches a dozen ops. Its Linear
hands the GEMMs to an sgemm that Paddle's wheel ships and has loaded
(:func:`gemm_choice`): oneDNN's ``dnnl_sgemm`` on AMD CPUs, where its AVX-512
kernels beat the MKL 2019 that dygraph ``matmul`` uses 1.6-3.7x, and MKL's
``cblas_sgemm`` on Intel CPUs, where MKL reaches AVX-512 itself and is as fast or
a little faster. The Linear is used only where :attr:`Kernels.has_linear`
says an sgemm was found and checked. The model's training paths
(``model/fast_paths.py``) use the kernels when :func:`kernels` returns them;
inference, export, GPU and other dtypes never do.

The first CPU training step in a process builds (~15 s, once per machine: Paddle
version, source, compiler flags and CPU features name the build) or loads the
library from ``$PADDLE_ELECTRA_CPU_OPS_DIR`` (default ``~/.cache/paddle_electra/cpu_ops``).
The compiler runs in a child process with a time limit, under a file lock, into a
temporary folder renamed into place only when the build is complete. Anything
that fails (no C++ compiler, a Paddle without headers, a build error, a load
error, a kernel that disagrees with Paddle's on a small check) leaves Paddle's own
kernels in use, with one warning that says why.
``PADDLE_ELECTRA_CPU_OPS=0`` turns the kernels off; ``PADDLE_ELECTRA_CPU_GEMM=mkl``
or ``onednn`` picks the Linear's sgemm instead of the CPU vendor's default.

:func:`set_matmul_precision` (``"bfloat16"``; the trainers' ``matmul_precision``
option) moves the Linear layers' GEMMs to oneDNN's matmul with bf16 arithmetic
(inputs rounded to bf16, products summed in float32, like torch's
``set_float32_matmul_precision("medium")``) on CPUs with AMX or AVX512-BF16;
asked for by name only, as it changes the numbers. Refused, with the reason,
where the CPU or the kernels cannot give it; ``"auto"`` (:func:`resolve_matmul_precision`)
takes it where it is given and float32 elsewhere, so one command suits every CPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Optional, Tuple

from .._cpu import BF16_FLAGS, cpuinfo_field

logger = logging.getLogger("paddle_electra.cpu_ops")

SOURCES = tuple(Path(__file__).with_name(name) for name in ("ops.cc", "attention.cc"))
HEADERS = (Path(__file__).with_name("ops_common.h"),)
ENV_SWITCH = "PADDLE_ELECTRA_CPU_OPS"
ENV_DIR = "PADDLE_ELECTRA_CPU_OPS_DIR"
ENV_GEMM = "PADDLE_ELECTRA_CPU_GEMM"
OPS = tuple(f"paddle_electra_{name}" for name in ("gelu", "layer_norm", "softmax", "linear", "dropout", "attention"))
GEMMS = ("mkl", "onednn")  # the Linear's sgemm: MKL's cblas_sgemm or oneDNN's dnnl_sgemm
GEMM_KINDS = {"onednn": 0, "mkl": 1, "bf16": 2}  # ops_common.h's GemmKind; "bf16": oneDNN's matmul, bf16 fpmath
MATMUL_PRECISIONS = ("float32", "bfloat16")
# what the trainers' option accepts: "auto" is resolved to one of MATMUL_PRECISIONS before training
MATMUL_PRECISION_CHOICES = MATMUL_PRECISIONS + ("auto",)
BUILD_TIMEOUT_S = 600
# -ffast-math turns on glibc's vector erf / exp (not with -fno-finite-math-only: GCC then
# calls the scalar ones). The kernels test no value for inf / NaN, so nothing is folded
# away: a -inf in an additive mask still gives 0 (tested).
CXX_FLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp")

_lock = threading.Lock()
_state = {"tried": False, "module": None, "error": None, "precision": "float32"}


_OFF, _ON = ("0", "false", "off", "no"), ("", "1", "true", "on", "yes")


def enabled() -> bool:
    """False when ``PADDLE_ELECTRA_CPU_OPS`` is ``0`` / ``false`` / ``off`` / ``no``; any other value but
    ``1`` / ``true`` / ``on`` / ``yes`` is an error that names the variable (a typo never means "on")."""
    value = os.environ.get(ENV_SWITCH, "1").strip().lower()
    if value not in _OFF + _ON:
        raise ValueError(f"{ENV_SWITCH}={os.environ[ENV_SWITCH]!r}: use 0 / off / false / no to turn the fused "
                         f"CPU kernels off, or 1 / on / true / yes")
    return value not in _OFF


def gemm_choice() -> tuple:
    """The Linear's sgemms in the order they are tried at load: ``PADDLE_ELECTRA_CPU_GEMM`` (``mkl`` /
    ``onednn``) alone when set; else MKL first on Intel CPUs and oneDNN first elsewhere.

    Measured (2 threads, a Linear's forward + backward, the training benchmark's shapes):
    on an AVX-512 Intel Xeon MKL's is 0.91-1.09x oneDNN's speed, faster on five of six
    shapes (a whole fine-tuning step: about equal); on AVX-512 AMD EPYCs oneDNN's GEMMs run
    1.6-3.7x faster than MKL's, whose fast kernels stop at AVX2 there (docs/performance.md).
    Any other value is an error that names the variable.
    """
    value = os.environ.get(ENV_GEMM, "").strip().lower()
    if value in GEMMS:
        return (value,)
    if value not in ("", "auto"):
        raise ValueError(f"{ENV_GEMM}={os.environ[ENV_GEMM]!r}: use mkl or onednn (or auto, or leave it unset)")
    return GEMMS if cpuinfo_field("vendor_id") == "GenuineIntel" else GEMMS[::-1]


def cache_root() -> Path:
    """Where builds live: ``$PADDLE_ELECTRA_CPU_OPS_DIR`` or ``~/.cache/paddle_electra/cpu_ops``."""
    given = os.environ.get(ENV_DIR)
    return Path(given).expanduser() if given else Path.home() / ".cache" / "paddle_electra" / "cpu_ops"


def build_name() -> str:
    """The build's name: a digest of the source, the flags, Paddle (version, place), Python and this CPU's features.

    ``-march=native`` ties the library to the CPU it was built on, so another CPU
    (a shared home folder) builds its own.
    """
    import paddle

    digest = hashlib.sha256()
    for part in (*(f.read_bytes() for f in SOURCES + HEADERS), " ".join(CXX_FLAGS).encode(), paddle.__version__.encode(),
                 str(Path(paddle.__file__).parent).encode(),  # the Paddle it links (an rpath)
                 platform.machine().encode(), " ".join(platform.libc_ver()).encode(), (cpuinfo_field("flags") or platform.processor()).encode(),
                 sys.version.encode()):
        digest.update(part)
        digest.update(b"\0")
    return f"paddle_electra_cpu_ops_{digest.hexdigest()[:16]}"


def _load_arguments(name: str, folder: Path) -> dict:
    import paddle

    libs = Path(paddle.__file__).parent / "libs"
    # link Paddle's own Intel OpenMP runtime, so these loops and MKL's GEMMs share one thread pool
    return dict(name=name, sources=[str(f) for f in SOURCES], extra_cxx_cflags=list(CXX_FLAGS),
                extra_ldflags=[f"-L{libs}", "-l:libiomp5.so", "-ldl"], build_directory=str(folder), verbose=False)


_CHILD = """
import json, sys
from paddle.utils.cpp_extension import load
load(**json.loads(sys.argv[1]))
"""


def _build(name: str, final: Path) -> None:
    """Compile into a temporary folder beside ``final`` and rename it into place when complete."""
    import json

    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(_load_arguments(name, work))],
                              capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        if done.returncode != 0 or not (work / name / f"{name}.so").is_file():
            tail = (done.stderr or done.stdout or "").strip().splitlines()[-3:]
            raise RuntimeError(f"the build failed (exit {done.returncode}): {' | '.join(tail)}")
        os.replace(work, final)  # atomic: a folder is either absent or a finished build
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


class Kernels:
    """The registered kernels, called through Paddle's custom-operator runner (autograd included)."""

    def __init__(self, library: Path):
        self.library = library
        self.gemm = None  # set by the load's check: "mkl" / "onednn", the sgemm found that agrees with Paddle
        self.has_attention = False  # set by the load's check: MKL is there and the attention agrees with Paddle's
        self.bf16_checked = False  # set by :func:`set_matmul_precision`'s check of the bf16 Linear

    @property
    def has_linear(self) -> bool:
        """True when the Linear kernel has a checked sgemm (:attr:`gemm`)."""
        return self.gemm is not None

    @staticmethod
    def gelu(x, threads: int):
        """Exact GELU of a float32 CPU tensor (any shape, contiguous)."""
        from paddle import _C_ops

        return _C_ops._run_custom_op("paddle_electra_gelu", x, int(threads))[0]

    @staticmethod
    def layer_norm(x, weight, bias, epsilon: float, threads: int):
        """LayerNorm over the last axis (``weight`` / ``bias`` of that length); gradients for all three."""
        from paddle import _C_ops

        return _C_ops._run_custom_op("paddle_electra_layer_norm", x, weight, bias, float(epsilon), int(threads))[0]

    def training_gemm(self) -> Optional[str]:
        """The GEMM the Linear layers train with now: ``"bf16"`` under :func:`set_matmul_precision`
        ``("bfloat16")``, else :attr:`gemm` (None: Paddle's matmul)."""
        return "bf16" if _state["precision"] == "bfloat16" else self.gemm

    def linear(self, x, weight, bias, threads: int, gemm: Optional[str] = None):
        """``x @ weight + bias`` (x [..., K], float32, contiguous) with :attr:`gemm`'s sgemm, or ``gemm``'s
        (one of :data:`GEMM_KINDS`; ``"bf16"``: bf16 products summed in float32); gradients for all three.

        Only when :attr:`has_linear` (an sgemm found and checked at load), or for ``"bf16"`` once
        :func:`set_matmul_precision` has checked it."""
        from paddle import _C_ops

        kind = GEMM_KINDS[gemm or self.gemm]
        return _C_ops._run_custom_op("paddle_electra_linear", x, weight, bias, int(threads), kind)[0]

    @staticmethod
    def attention_outputs(q, k, v, bias, heads: int, p: float, seed: int, threads: int):
        """``(context, probabilities, keep mask)`` of :meth:`attention` (the last two are kept for its gradient)."""
        from paddle import _C_ops

        threshold = min(round(p * 65536), 65535) if p > 0 else 0
        scale = 1.0 / (1.0 - p) if p > 0 else 1.0
        return _C_ops._run_custom_op("paddle_electra_attention", q, k, v, bias, int(heads), int(seed), int(threshold),
                                     float(scale), int(threads))

    @classmethod
    def attention(cls, q, k, v, bias, heads: int, p: float, seed: int, threads: int):
        """``dropout(softmax(q k^T + bias)) v`` per head, q / k / v / context in token order ``[B, L, H]``
        (float32, contiguous; q already scaled), ``bias`` ``[B|1, heads|1, L|1, L]`` without a gradient;
        gradients for q, k and v. The dropout (rate ``p``) draws the mask :meth:`dropout` draws for a
        ``[B, heads, L, L]`` tensor with ``seed``. Only when :attr:`has_attention` (MKL found and checked)."""
        return cls.attention_outputs(q, k, v, bias, heads, p, seed, threads)[0]

    @staticmethod
    def dropout(x, p: float, seed: int, threads: int):
        """``x * keep / (1 - p)`` (float32, contiguous), ``keep`` 0 with probability ``p`` rounded to 1/65536.

        The mask is a function of ``seed`` (any int64) and ``x``'s size only; the
        gradient is the same mask times the same scale."""
        from paddle import _C_ops

        threshold = min(round(p * 65536), 65535)
        return _C_ops._run_custom_op("paddle_electra_dropout", x, int(seed), int(threshold), float(1.0 / (1.0 - p)),
                                     int(threads))[0]

    @staticmethod
    def softmax(x, threads: int):
        """Softmax over the last axis of a float32 CPU tensor (contiguous)."""
        from paddle import _C_ops

        return _C_ops._run_custom_op("paddle_electra_softmax", x, int(threads))[0]


def _load() -> Kernels:
    import warnings

    from filelock import FileLock

    with warnings.catch_warnings():  # "No ccache found": irrelevant to a build made once per machine
        warnings.filterwarnings("ignore", message="No ccache found")
        from paddle.utils.cpp_extension.extension_utils import load_op_meta_info_and_register_op

    name = build_name()
    root = cache_root()
    final = root / name
    library = final / name / f"{name}.so"
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f"{name}.lock")):
        if not library.is_file():
            logger.info("building paddle_electra's fused CPU training kernels once, into %s (~15 s)", final)
            _build(name, final)
    from paddle import _C_ops

    if not hasattr(_C_ops, "_run_custom_op"):
        raise RuntimeError("this Paddle has no custom-operator runner (_C_ops._run_custom_op)")
    registered = load_op_meta_info_and_register_op(str(library))
    missing = set(OPS) - set(registered)
    if missing:
        raise RuntimeError(f"{library} does not define {sorted(missing)}")
    kernels = Kernels(library)
    _self_check(kernels)
    _check_dropout(kernels)
    failures = []
    for gemm in gemm_choice():
        try:
            _check_linear(kernels, gemm)
        except Exception as exc:  # try the next sgemm
            failures.append(f"{gemm}: {type(exc).__name__}: {exc}")
            continue
        kernels.gemm = gemm
        break
    if kernels.gemm is None:  # the other kernels stay; Linear layers keep Paddle's GEMM
        logger.warning("paddle_electra: the Linear kernel is unavailable, Paddle's GEMM is used (%s)",
                       "; ".join(failures))
    try:
        _check_attention(kernels)
        kernels.has_attention = True
    except Exception as exc:  # the other kernels stay; attention keeps Paddle's ops
        logger.warning("paddle_electra: the attention kernel is unavailable, Paddle's ops are used (%s: %s)",
                       type(exc).__name__, exc)
    return kernels


def _self_check(kernels: Kernels) -> None:
    """Each kernel against Paddle's on a small input (with gradients), before any model uses them."""
    import numpy as np
    import paddle
    import paddle.nn.functional as F

    x = paddle.to_tensor(np.linspace(-6, 6, 48, dtype="float32").reshape(3, 16))
    x.stop_gradient = False
    # weight and bias with gradients, all asked for: Paddle 3.3's CPU LayerNorm gradient of x is
    # wrong when its weight's is not wanted (tests/model/test_fused_kernels.py shows it)
    weight = paddle.to_tensor(np.linspace(0.5, 1.5, 16, dtype="float32"), stop_gradient=False)
    bias = paddle.to_tensor(np.linspace(-1, 1, 16, dtype="float32"), stop_gradient=False)
    pairs = {"gelu": (lambda t: kernels.gelu(t, 1), F.gelu),
             "layer_norm": (lambda t: kernels.layer_norm(t, weight, bias, 1e-5, 1),
                            lambda t: F.layer_norm(t, [16], weight, bias, 1e-5)),
             "softmax": (lambda t: kernels.softmax(t, 1), lambda t: F.softmax(t, axis=-1))}
    for name, (ours, theirs) in pairs.items():
        with paddle.set_grad_enabled(True):  # also when first asked for under no_grad
            got, want = ours(x), theirs(x)
            got_grad = paddle.grad((got * got).sum(), [x, weight, bias], allow_unused=True)[0]
            want_grad = paddle.grad((want * want).sum(), [x, weight, bias], allow_unused=True)[0]
        for a, b in ((got, want), (got_grad, want_grad)):
            _require_agreement(f"the built {name} kernel", a.numpy(), b.numpy())


def _require_agreement(what: str, ours, paddles, reference: str = "Paddle's") -> None:
    """Raise, naming ``what``, the ``reference`` and the largest difference, unless two arrays agree within
    float32 rounding."""
    import numpy as np

    if ours.shape != paddles.shape or not np.allclose(ours, paddles, rtol=1e-4, atol=1e-5):
        largest = float(np.abs(ours - paddles).max()) if ours.shape == paddles.shape else float("nan")
        raise RuntimeError(f"{what} disagrees with {reference} (max |difference| {largest:.3g})")


def _check_dropout(kernels: Kernels) -> None:
    """The dropout kernel: a fixed seed gives a fixed mask, about ``p`` dropped, kept values scaled, and the
    gradient is that mask times the scale."""
    import numpy as np
    import paddle

    x = paddle.to_tensor(np.linspace(1, 2, 4096, dtype="float32").reshape(64, 64), stop_gradient=False)
    with paddle.set_grad_enabled(True):
        out = kernels.dropout(x, 0.25, 7, 2)
        (grad,) = paddle.grad(out.sum(), [x])
    again = kernels.dropout(x, 0.25, 7, 1).numpy()  # another thread count: the same mask
    got, keep = out.numpy(), out.numpy() != 0
    expected = np.where(keep, x.numpy() / np.float32(0.75), 0)
    if not (np.array_equal(got, again) and np.allclose(got, expected, rtol=1e-6) and abs(1 - keep.mean() - 0.25) < 0.03
            and np.allclose(grad.numpy(), keep / np.float32(0.75), rtol=1e-6)):
        raise RuntimeError("the built dropout kernel does not drop and scale as dropout does")


def attention_reference(q, k, v, bias, heads: int):
    """Paddle's ops for :meth:`Kernels.attention` without dropout (the load's check and the tests use it)."""
    import paddle
    import paddle.nn.functional as F

    batch, seq, hidden = q.shape

    def split(t):  # [B, L, H] -> [B, heads, L, d]
        return t.reshape([batch, seq, heads, hidden // heads]).transpose([0, 2, 1, 3])

    probs = F.softmax(paddle.matmul(split(q), split(k), transpose_y=True) + bias, axis=-1)
    return paddle.matmul(probs, split(v)).transpose([0, 2, 1, 3]).reshape([batch, seq, hidden])


def _check_attention(kernels: Kernels) -> None:
    """The attention kernel against Paddle's ops on a small input with a padding bias, its three gradients included."""
    import numpy as np
    import paddle

    rng = np.random.default_rng(1)
    values = [rng.standard_normal((2, 5, 12)).astype("float32") for _ in range(4)]
    bias = paddle.to_tensor(np.array([0, 0, 0, -1e4, -1e4] * 2, "float32").reshape(2, 1, 1, 5))
    results = []
    for ours in (True, False):
        q, k, v = (paddle.to_tensor(x, stop_gradient=False) for x in values[:3])
        with paddle.set_grad_enabled(True):
            out = kernels.attention(q, k, v, bias, 3, 0.0, 0, 2) if ours else attention_reference(q, k, v, bias, 3)
            grads = paddle.grad((out * paddle.to_tensor(values[3])).sum(), [q, k, v])
        results.append([out.numpy()] + [g.numpy() for g in grads])
    for name, a, b in zip(("output", "q gradient", "k gradient", "v gradient"), *results):
        _require_agreement(f"the attention kernel's {name}", a, b)


def bf16_round(a):
    """float32 values rounded to the nearest bf16 (ties to even), as float32: what the bf16 GEMM multiplies."""
    import numpy as np

    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


def _check_linear(kernels: Kernels, gemm: str) -> None:
    """The Linear kernel on ``gemm``'s GEMM on a small input, its three gradients included: an sgemm against
    Paddle's matmul; ``"bf16"`` against the float32 products of the bf16-rounded operands (so a GEMM that
    kept float32 arithmetic fails it too)."""
    import numpy as np
    import paddle

    rng = np.random.default_rng(0)
    # bf16: big enough that oneDNN takes its bf16 path (its fpmath mode allows bf16; a 6 x 16 x 24 GEMM stays float32)
    m, k, n = (64, 64, 64) if gemm == "bf16" else (6, 16, 24)
    values = [rng.standard_normal(shape).astype("float32") for shape in ((2, m // 2, k), (k, n), (n,), (2, m // 2, n))]
    x, weight, bias = (paddle.to_tensor(v, stop_gradient=False) for v in values[:3])
    with paddle.set_grad_enabled(True):
        out = kernels.linear(x, weight, bias, 1, gemm)
        grads = paddle.grad((out * paddle.to_tensor(values[3])).sum(), [x, weight, bias])
    ours = [out.numpy()] + [g.numpy() for g in grads]
    if gemm == "bf16":
        r = bf16_round
        x2d, g2d = values[0].reshape(m, k), values[3].reshape(m, n)
        expected = [(r(x2d) @ r(values[1]) + values[2]).reshape(values[3].shape),
                    (r(g2d) @ r(values[1]).T).reshape(values[0].shape), r(x2d).T @ r(g2d), g2d.sum(0)]
        if np.allclose(expected[0], (x2d @ values[1] + values[2]).reshape(values[3].shape), rtol=1e-4, atol=1e-5):
            raise RuntimeError("the bf16 check's input is exact in bf16; it could not tell bf16 from float32")
    else:
        with paddle.set_grad_enabled(True):
            ref = paddle.matmul(x, weight) + bias
            expected = [ref.numpy()] + [g.numpy() for g in paddle.grad((ref * paddle.to_tensor(values[3])).sum(),
                                                                      [x, weight, bias])]
    for name, a, b in zip(("output", "x gradient", "weight gradient", "bias gradient"), ours, expected):
        _require_agreement(f"the {gemm} Linear kernel's {name}", a, b,
                           "the bf16-rounded operands' product" if gemm == "bf16" else "Paddle's")


def bf16_unsupported() -> Optional[str]:
    """Why this CPU has no native bf16 matrix path (neither of :data:`BF16_FLAGS`), or None when it has one."""
    flags = set((cpuinfo_field("flags") or "").split())
    if flags & set(BF16_FLAGS):
        return None
    model = cpuinfo_field("model name") or platform.processor() or "unknown model"
    return f"this CPU ({model}) has neither {' nor '.join(BF16_FLAGS)} in its flags"


def matmul_precision() -> str:
    """The Linear layers' training GEMM arithmetic: ``"float32"`` (the default) or ``"bfloat16"``."""
    return _state["precision"]


def check_matmul_precision(precision: str, choices=MATMUL_PRECISION_CHOICES) -> str:
    """``precision`` when it is one of ``choices`` (the trainers': :data:`MATMUL_PRECISION_CHOICES`), else
    ValueError naming them (the option check, before anything runs)."""
    if precision not in choices:
        raise ValueError(f"matmul_precision must be one of {', '.join(choices)}; got {precision!r}")
    return precision


def resolve_matmul_precision(precision: str) -> Tuple[str, Optional[str]]:
    """``(precision, why)``: ``"auto"`` becomes ``"bfloat16"`` where :func:`set_matmul_precision` accepts it
    and ``"float32"`` elsewhere, ``why`` then being its refusal; any other precision is returned as it is,
    ``why`` None. The precision in force is left as it was; what ``"auto"`` chose is logged in one line.

    Raises:
        ValueError: a precision not in :data:`MATMUL_PRECISION_CHOICES`.
    """
    check_matmul_precision(precision)
    if precision != "auto":
        return precision, None
    try:
        with matmul_precision_set("bfloat16"):  # the same checks as asking by name, undone at once
            pass
    except RuntimeError as exc:
        logger.info("matmul_precision='auto': float32, because %s", exc)
        return "float32", str(exc)
    logger.info("matmul_precision='auto': bfloat16 (this CPU has a native bf16 matrix path)")
    return "bfloat16", None


def set_matmul_precision(precision: str) -> None:
    """Train the Linear layers' GEMMs in ``"float32"`` (the default) or ``"bfloat16"`` arithmetic, process-wide.

    ``"bfloat16"``: oneDNN's matmul rounds both operands of every Linear GEMM (forward and both gradients) to
    bf16 and sums the products in float32; everything else (attention, LayerNorm, the optimizer, the weights
    themselves) stays float32. On an AMX Xeon its GEMMs run 2.5-4x the sgemm's speed (docs/performance.md).

    Raises:
        ValueError: an unknown precision (``"auto"`` too: :func:`resolve_matmul_precision` turns it into one).
        RuntimeError: ``"bfloat16"`` where Paddle's device is not the CPU, where this CPU has no native bf16
            path (oneDNN emulates it there, slower, or on an AVX2-only CPU silently computes float32), where
            the fused kernels are off or did not build, or where the bf16 Linear fails its check.
    """
    check_matmul_precision(precision, MATMUL_PRECISIONS)
    if precision == "bfloat16":
        import paddle

        device = paddle.device.get_device()
        if device != "cpu":
            raise RuntimeError(f"matmul_precision='bfloat16' is a CPU path; on {device} use float16 autocast (amp)")
        reason = bf16_unsupported()
        if reason:
            raise RuntimeError(f"matmul_precision='bfloat16' needs a CPU with a native bf16 matrix path: {reason}; "
                               f"use 'float32'")
        loaded = kernels()
        if loaded is None:
            why = "turned off by " + ENV_SWITCH if not enabled() else _state["error"]
            raise RuntimeError(f"matmul_precision='bfloat16' runs in paddle_electra's fused CPU kernels, which are "
                               f"unavailable ({why}); use 'float32'")
        if not loaded.bf16_checked:
            try:
                _check_linear(loaded, "bf16")
            except Exception as exc:
                raise RuntimeError(f"matmul_precision='bfloat16': the bf16 Linear failed its check "
                                   f"({type(exc).__name__}: {exc}); use 'float32'") from exc
            loaded.bf16_checked = True
    _state["precision"] = precision


@contextlib.contextmanager
def matmul_precision_set(precision: str):
    """:func:`set_matmul_precision` for a ``with`` block; the precision before it is restored after it."""
    before = _state["precision"]
    set_matmul_precision(precision)
    try:
        yield
    finally:
        _state["precision"] = before


def kernels() -> Optional[Kernels]:
    """The compiled kernels (:class:`Kernels`), or None.

    Built or loaded on the first call in a process; None when turned off or
    when that failed (the reason is in :func:`status` and was warned once).
    """
    if not enabled():
        return None
    if _state["tried"]:
        return _state["module"]
    with _lock:
        if not _state["tried"]:
            try:
                _state["module"] = _load()
            except Exception as exc:  # any failure: Paddle's kernels stay in use
                _state["error"] = f"{type(exc).__name__}: {exc}"
                logger.warning("paddle_electra: fused CPU training kernels unavailable, Paddle's are used (%s)",
                               _state["error"])
            _state["tried"] = True
    return _state["module"]


def prepare() -> None:
    """Build or load the kernels now when Paddle's device is the CPU (the trainers and the training
    benchmark call this before their first step, so a build is never inside a timed step)."""
    import paddle

    if paddle.device.get_device() == "cpu":
        kernels()


def status() -> dict:
    """``{"enabled", "loaded", "error", "linear_gemm", "attention", "matmul_precision"}`` for reports (the
    training benchmark records it); ``linear_gemm``: the Linear kernel's sgemm (``"mkl"`` / ``"onednn"``), or
    None where Paddle's GEMM is used; ``attention``: whether the fused attention kernel is in use;
    ``matmul_precision``: :func:`matmul_precision`."""
    module = _state["module"]
    return {"enabled": enabled(), "loaded": module is not None, "error": _state["error"],
            "linear_gemm": module.gemm if module is not None else None,
            "attention": bool(module is not None and module.has_attention), "matmul_precision": _state["precision"]}
