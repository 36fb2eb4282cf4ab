"""Fuse the exported ONNX graph with ONNX Runtime's transformer optimizer (BERT fusions), checked before use.

``optimize_onnx(folder, config, ...)`` turns ``model.onnx`` (paddle2onnx's plain
graph) into a fused one: ``Attention``, ``SkipLayerNormalization``,
``EmbedLayerNormalization``, ``BiasGelu`` ... in three steps:

1. ONNX Runtime's *basic* graph optimisations (constant folding, redundant node
   removal). Basic only: they are the same on every CPU and execution provider,
   so the saved file stays portable (the extended and layout levels may write
   kernels or layouts for the machine that ran them).
2. :func:`canonicalize_attention`: three rewrites that put ELECTRA's graph
   into the shapes ORT's attention fusion looks for, computing the same values
   (see there); without them no ``Attention`` node is fused.
3. ``onnxruntime.transformers.optimizer.optimize_model`` with ``opt_level=0``
   (its pure-Python fusions; FastGelu's tanh approximation stays off, so GELU
   stays exact).

The fused graph replaces ``model.onnx`` only if it runs and its outputs match
the unfused graph within ``atol`` on sample batches of a few shapes; otherwise
the unfused graph is kept and the record says why (never a silent fallback).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .manifest import ONNX_FILE

logger = logging.getLogger("paddle_electra.export")

TOOL = "onnxruntime.transformers.optimizer"
#: ORT's graph optimisation level run before the Python fusions: 1 = basic (hardware independent)
ORT_OPT_LEVEL = 1
#: fused operator types counted in the manifest (ORT's names)
FUSED_OPS = ("Attention", "MultiHeadAttention", "EmbedLayerNormalization", "SkipLayerNormalization",
             "LayerNormalization", "BiasGelu", "FastGelu", "Gelu")


@contextlib.contextmanager
def quiet_onnxruntime_logs():
    """Drop ONNX Runtime's Python INFO / DEBUG log lines while its optimizer or quantiser runs.

    They log every fusion and every tensor they skip (hundreds of lines for a
    12-layer model), partly through the root logger; what matters is recorded
    in the manifest instead. Warnings and errors still pass.
    """
    import onnxruntime

    base = os.path.dirname(os.path.abspath(onnxruntime.__file__))

    def from_ort(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not os.path.abspath(record.pathname).startswith(base)

    # its transformer modules import each other as top-level modules ("fusion_base"), so their loggers are
    # found by file, not by name
    names = [n for n, m in list(sys.modules.items())
             if getattr(m, "__file__", None) and os.path.abspath(m.__file__).startswith(base)]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    root = logging.getLogger()
    root.addFilter(from_ort)
    for lg in loggers:
        lg.setLevel(max(lg.level, logging.WARNING))
    try:
        yield
    finally:
        root.removeFilter(from_ort)
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _import_ort():
    try:
        import onnxruntime
        from onnxruntime.transformers import optimizer  # noqa: F401 - checked here, used below
    except ImportError as e:
        raise ImportError(f"ONNX graph fusion needs onnxruntime (with onnxruntime.transformers): "
                          f"pip install 'paddle_electra[export]' ({e})") from e
    return onnxruntime


# ------------------------------------------------------------------ graph rewrites
class _Graph:
    """Indexes of one ONNX graph: producers, consumers, initializers (small ones readable as arrays)."""

    def __init__(self, graph):
        self.graph = graph
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: Dict[str, List[Any]] = {}
        for n in graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.consts = {t.name: t for t in graph.initializer}

    def small(self, name: str) -> Optional[np.ndarray]:
        """The value of a constant of at most 16 elements (scales, axes), else None (weights are not read)."""
        from onnx import numpy_helper

        tensor = self.consts.get(name)
        if tensor is None or math.prod(tensor.dims) > 16:
            return None
        return numpy_helper.to_array(tensor)

    def add_const(self, base: str, value: np.ndarray) -> str:
        """A new initializer holding ``value``; returns its (unique) name."""
        from onnx import numpy_helper

        name = self.unique(base)
        tensor = numpy_helper.from_array(value, name)
        self.graph.initializer.append(tensor)
        self.consts[name] = tensor
        return name

    def scalar(self, name: str) -> Optional[float]:
        value = self.small(name)
        return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None

    def const_operand(self, node):
        """``(other input, scalar)`` of a binary node with one scalar constant input, else ``(None, None)``."""
        if len(node.input) != 2:
            return None, None
        for k in (0, 1):
            value = self.scalar(node.input[k])
            if value is not None and node.input[1 - k] not in self.consts:
                return node.input[1 - k], value
        return None, None

    def only_consumer(self, name: str, op_type: str):
        users = self.consumers.get(name, [])
        return users[0] if len(users) == 1 and users[0].op_type == op_type else None

    def unique(self, base: str) -> str:
        taken = set(self.producer) | set(self.consts) | {i.name for i in self.graph.input}
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        self.producer[name] = None  # reserved
        return name


def _move_query_scale(g: _Graph, scale: float) -> int:
    """``MatMul(Mul(q, s), kᵀ)`` -> ``Div(MatMul(q, kᵀ), 1/s)`` where the scores go Add -> Softmax.

    paddle_electra scales q (fewer values than the scores); ORT's fusion looks
    for the scale after the score MatMul (as HF's BERT writes it). Only a
    scale equal to ``1/sqrt(head_dim)`` is moved: that is the scale ORT's
    ``Attention`` applies itself.
    """
    import onnx

    moved, root = 0, None
    nodes = g.graph.node
    for qk in list(nodes):
        if qk.op_type != "MatMul" or qk.input[0] not in g.producer:
            continue
        mul = g.producer[qk.input[0]]
        if mul is None or mul.op_type != "Mul" or len(g.consumers.get(mul.output[0], [])) != 1:
            continue
        q, s = g.const_operand(mul)
        add = g.only_consumer(qk.output[0], "Add")
        if q is None or not math.isclose(s, scale, rel_tol=1e-6) or add is None:
            continue
        if not [n for n in g.consumers.get(add.output[0], []) if n.op_type == "Softmax"]:
            continue
        # a Div, as HF's BERT graphs have it: ORT's mask matcher takes the first Mul parent of the Add
        if root is None:
            root = g.add_const("pe_attention_sqrt_head_dim", np.array(1.0 / scale, np.float32))
        scores = g.unique(qk.output[0] + "_unscaled")
        scaled = onnx.helper.make_node("Div", [scores, root], [qk.output[0]], name=g.unique(mul.name + "_moved"))
        qk.input[0] = q
        qk.output[0] = scores
        nodes.insert(list(nodes).index(qk) + 1, scaled)
        nodes.remove(mul)
        moved += 1
    return moved


def _mask_chain(g: _Graph, cast):
    """The bias chain that starts at ``cast``: ``(nodes, last node, scale constant name)`` or ``None``.

    Two orders occur: ``Mul(Add(Mul(Unsqueeze(Cast(m), [1, 2]), -1), 1), k)``
    (an ``attention_mask`` input) and ``Unsqueeze(Mul(Add(Mul(Cast(m), -1), 1),
    k), [1, 2])`` (the mask computed from pad ids in the graph).
    """

    def unsqueeze12(node) -> bool:
        axes = g.small(node.input[1]) if node is not None and len(node.input) == 2 else None
        return axes is not None and list(axes.reshape(-1)) == [1, 2]

    def affine(start):  # Mul(-1) -> Add(1) -> Mul(k < 0)
        neg = g.only_consumer(start, "Mul")
        add = neg and g.only_consumer(neg.output[0], "Add")
        big = add and g.only_consumer(add.output[0], "Mul")
        if big is None or g.const_operand(neg)[1] != -1.0 or g.const_operand(add)[1] != 1.0:
            return None
        k = g.const_operand(big)[1]
        if k is None or k >= 0:
            return None
        return [neg, add, big], [i for i in big.input if i != add.output[0]][0]

    first = g.only_consumer(cast.output[0], "Unsqueeze")
    if unsqueeze12(first):
        found = affine(first.output[0])
        return (None if found is None else ([cast, first] + found[0], found[0][-1], found[1]))
    found = affine(cast.output[0])
    last = found and g.only_consumer(found[0][-1].output[0], "Unsqueeze")
    if not unsqueeze12(last):
        return None
    return [cast] + found[0] + [last], last, found[1]


def _rewrite_mask(g: _Graph) -> int:
    """Rewrite the attention bias ``(1 - m) * k`` into ``Mul(Sub(1, Cast(Unsqueeze(Unsqueeze(m)))), k)``.

    Same values (exact for a 0/1 mask); the second form is the chain ORT's
    attention fusion reads the mask ``m`` from (see :func:`_mask_chain` for the forms rewritten).
    """
    import onnx

    rewritten = 0
    nodes = g.graph.node
    for cast in list(nodes):
        found = _mask_chain(g, cast) if cast.op_type == "Cast" else None
        if found is None:
            continue
        chain, last, k_name = found
        one = g.add_const("pe_mask_one", np.array(1.0, np.float32))
        axis1 = g.add_const("pe_mask_axis1", np.array([1], np.int64))
        axis2 = g.add_const("pe_mask_axis2", np.array([2], np.int64))
        u1, u2, c, s = (g.unique(f"{cast.output[0]}_{p}") for p in ("u1", "u2", "cast", "sub"))
        to = [a for a in cast.attribute if a.name == "to"][0].i
        new = [onnx.helper.make_node("Unsqueeze", [cast.input[0], axis1], [u1], name=g.unique("pe_mask_unsqueeze1")),
               onnx.helper.make_node("Unsqueeze", [u1, axis2], [u2], name=g.unique("pe_mask_unsqueeze2")),
               onnx.helper.make_node("Cast", [u2], [c], to=to, name=g.unique("pe_mask_cast")),
               onnx.helper.make_node("Sub", [one, c], [s], name=g.unique("pe_mask_sub")),
               onnx.helper.make_node("Mul", [s, k_name], [last.output[0]], name=g.unique("pe_mask_scale"))]
        at = list(nodes).index(last)
        for offset, node in enumerate(new):
            nodes.insert(at + offset, node)
        for dead in chain:
            nodes.remove(dead)
        rewritten += 1
    return rewritten


def _attention_branch_first(g: _Graph) -> int:
    """Swap a residual ``Add(x, attention output)`` into ``Add(attention output, x)`` (same sum, bit for bit).

    ORT's matcher follows the *first* ``Add`` parent of the residual Add
    before a LayerNorm and does not backtrack. In ELECTRA's first layer (with
    ``embedding_size != hidden_size``) the residual ``x`` is the embedding
    projection, itself an ``Add`` (MatMul + bias), so it is found first and
    that layer's attention would not fuse.
    """

    def is_attention_output(name: str) -> bool:
        add = g.producer.get(name)
        if add is None or add.op_type != "Add":
            return False
        return any(p is not None and p.op_type == "MatMul" and g.producer.get(p.input[0]) is not None
                   and g.producer[p.input[0]].op_type == "Reshape"
                   for p in (g.producer.get(i) for i in add.input))

    swapped = 0
    for node in g.graph.node:
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        if not any(c.op_type == "LayerNormalization" for c in g.consumers.get(node.output[0], [])):
            continue
        first, second = node.input
        p0 = g.producer.get(first)
        if p0 is not None and p0.op_type == "Add" and not is_attention_output(first) and is_attention_output(second):
            node.input[0], node.input[1] = second, first
            swapped += 1
    return swapped


def canonicalize_attention(model, num_heads: int, hidden_size: int) -> Dict[str, int]:
    """Rewrite ELECTRA's attention subgraphs into the forms ORT's BERT attention fusion matches (in place).

    Args:
        model: an ``onnx.ModelProto`` whose weights are initializers (after ORT's basic optimisation).
        num_heads, hidden_size: the model's ``num_attention_heads`` / ``hidden_size``.

    Returns:
        How many subgraphs each rewrite changed: ``{"query_scale_moved", "mask_rewritten",
        "residual_swapped"}``.
    """
    g = _Graph(model.graph)
    moved = _move_query_scale(g, 1.0 / math.sqrt(hidden_size // num_heads))
    g = _Graph(model.graph)  # indexes changed
    masks = _rewrite_mask(g)
    return {"query_scale_moved": moved, "mask_rewritten": masks,
            "residual_swapped": _attention_branch_first(_Graph(model.graph))}


# ------------------------------------------------------------------ fusion + check
def fuse(src: str, dst: str, num_heads: int, hidden_size: int) -> Dict[str, Any]:
    """Write the fused graph of ``src`` to ``dst``; returns ``{"fused": {op: count}, "rewrites": {...}}``."""
    ort = _import_ort()
    import onnx
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    # step 1 as optimize_model(opt_level=1) runs it, but with ORT's native warnings off (paddle2onnx leaves
    # unused initializers; ORT prints a line for each one it removes)
    basic_path = dst + ".basic"
    try:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = basic_path
        options.log_severity_level = 3
        ort.InferenceSession(src, options, providers=["CPUExecutionProvider"], disabled_optimizers=["ConstantSharing"])
        basic = onnx.load(basic_path)
    finally:
        if os.path.exists(basic_path):
            os.remove(basic_path)
    rewrites = canonicalize_attention(basic, num_heads, hidden_size)
    options = FusionOptions("bert")
    options.enable_gelu_approximation = False  # FastGelu (tanh) would change outputs beyond 1e-4
    options.use_raw_attention_mask(True)  # the mask as given: a length-based index assumes right padding
    fused = optimize_model(basic, model_type="bert", num_heads=num_heads, hidden_size=hidden_size,
                           optimization_options=options, opt_level=0)
    fused.save_model_to_file(dst)
    counts: Dict[str, int] = {}
    for node in fused.model.graph.node:
        if node.op_type in FUSED_OPS:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return {"fused": dict(sorted(counts.items())), "rewrites": rewrites}


def _session(path: str):
    ort = _import_ort()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def max_abs_diff(path_a: str, path_b: str, feeds: Sequence[Dict[str, np.ndarray]]) -> float:
    """Largest |Δ| of any output of two ONNX files over ``feeds`` (``inf`` for NaN or a shape mismatch)."""
    a, b = _session(path_a), _session(path_b)
    worst = 0.0
    for feed in feeds:
        for x, y in zip(a.run(None, feed), b.run(None, feed)):
            if x.shape != y.shape:
                return float("inf")
            d = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0
            if not np.isfinite(d):
                return float("inf")
            worst = max(worst, d)
    return worst


def check_feeds(config, input_names: Sequence[str], special_ids=()) -> List[Dict[str, np.ndarray]]:
    """Sample batches of a few shapes (the verification batch, batch 1, a longer padded one)."""
    from .verification import sample_batch

    longest = max(2, min(48, int(config.max_position_embeddings)))
    shapes = [(3, min(16, longest), 0), (1, min(5, longest), 1), (4, longest, 2)]
    return [sample_batch(config, input_names, special_ids, batch=b, seq=s, seed=seed) for b, s, seed in shapes]


def optimize_onnx(folder: str, config, input_names: Sequence[str], special_ids=(),
                  atol: float = 1e-4) -> Dict[str, Any]:
    """Replace ``folder/model.onnx`` with its fused graph when that checks out; returns the manifest record.

    Args:
        folder: the export folder being built (holds ``model.onnx``).
        config: the model's config (``num_attention_heads``, ``hidden_size``, vocabulary for the samples).
        input_names: the graph's inputs.
        special_ids: token ids the sample batches avoid.
        atol: largest allowed max |Δ| between the fused and the unfused graph.

    Returns:
        ``{"tool", "version", "opt_level", "applied", "fused", "rewrites",
        "max_abs_diff_vs_unfused", "reason"}``; ``applied`` is False (with the
        ``reason``) when the optimizer failed or changed the outputs.
    """
    path = os.path.join(folder, ONNX_FILE)
    record: Dict[str, Any] = {"tool": TOOL, "version": None, "opt_level": ORT_OPT_LEVEL, "applied": False,
                              "fused": {}, "rewrites": {}, "max_abs_diff_vs_unfused": None, "reason": None}
    tmp = os.path.join(folder, "model.fused.onnx.tmp")
    try:
        record["version"] = _import_ort().__version__
        with quiet_onnxruntime_logs():
            record.update(fuse(path, tmp, int(config.num_attention_heads), int(config.hidden_size)))
        diff = max_abs_diff(path, tmp, check_feeds(config, input_names, special_ids))
        record["max_abs_diff_vs_unfused"] = diff
        if not diff <= atol:
            record["reason"] = (f"the fused graph's outputs differ from the unfused graph's by {diff:.3g} > atol "
                                f"{atol:g}; kept the unfused graph")
        else:
            os.replace(tmp, path)
            record["applied"] = True
    except Exception as e:  # noqa: BLE001 - any optimizer failure keeps the plain graph, recorded
        record["reason"] = f"the optimizer failed ({type(e).__name__}: {e}); kept the unfused graph"
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    if not record["applied"]:
        logger.warning("ONNX graph fusion not applied: %s", record["reason"])
    return record


def skipped(reason: str) -> Dict[str, Any]:
    """The manifest record of an export whose ONNX graph was not optimised on purpose."""
    return {"tool": TOOL, "version": None, "opt_level": None, "applied": False, "fused": {}, "rewrites": {},
            "max_abs_diff_vs_unfused": None, "reason": reason}
