"""The package's layout is its architecture: layers import downward, no cycles, short files, stable names.

The layers, inner to outer, are the folders of ``paddle_electra`` (README "Architecture"):
model -> loading -> tokenizer -> inference -> apps -> cli -> bench, with ``_io`` / ``_cpu``
below them all. A module may import its own layer and the ones below it at import time;
a call that needs an outer layer imports it inside the function, and only the few listed
in ``CALL_TIME_UP`` may.
"""

import ast
import contextlib
import importlib
import io
import os
import subprocess
import sys

import pytest

import paddle_electra
from paddle_electra import _moved

PACKAGE_DIR = os.path.dirname(os.path.abspath(paddle_electra.__file__))
LAYERS = ("model", "loading", "tokenizer", "inference", "apps", "cli", "bench")
BASE = ("_io", "_cpu", "_cpu_ops", "_moved")  # below every layer
MAX_LINES = 600

# (importer layer, imported layer): upward imports allowed inside functions, each for one reason
CALL_TIME_UP = {
    ("model", "loading"): "from_pretrained / save_pretrained / a config by name call the loaders",
    ("loading", "tokenizer"): "a saved model carries its tokenizer (model_files)",
    ("cli", "bench"): "`paddle-electra bench` runs the benchmarks",
}


def _modules():
    """Dotted module name -> source file, for every module of the package."""
    out = {}
    for dirpath, dirs, files in os.walk(PACKAGE_DIR):
        dirs[:] = [d for d in dirs if d != "__pycache__" and d != "pretrained_models"]
        rel = os.path.relpath(dirpath, os.path.dirname(PACKAGE_DIR)).replace(os.sep, ".")
        for f in files:
            if f.endswith(".py"):
                out[rel if f == "__init__.py" else f"{rel}.{f[:-3]}"] = os.path.join(dirpath, f)
    return out


MODULES = _modules()


def _is_type_checking(node) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, path: str):
    """(target module, at import time?) for each import of a package module in ``module``."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    is_pkg = path.endswith("__init__.py")
    found = []

    def visit(node, top_level):
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue  # annotations only
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
                continue
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = module.split(".") if is_pkg else module.split(".")[:-1]
                    parts = parts[: len(parts) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in child.names:
                    found.append((_resolve(base, alias.name), top_level))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((_resolve(alias.name, None), top_level))
            visit(child, top_level)

    visit(tree, True)
    return [(target, top) for target, top in found if target and target != module]


def _resolve(base: str, name):
    """The package module an import reaches (public names of the root go to their defining module)."""
    if not (base == "paddle_electra" or base.startswith("paddle_electra.")):
        return None
    if name is not None and f"{base}.{name}" in MODULES:
        return f"{base}.{name}"
    if base == "paddle_electra" and name in paddle_electra._SUBMODULE_OF:
        return "paddle_electra" + paddle_electra._SUBMODULE_OF[name]
    if base == "paddle_electra" and name in paddle_electra._SUBMODULES:
        return "paddle_electra" + paddle_electra._SUBMODULES[name]
    return base if base in MODULES else None


def _rank(module: str):
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__init__", "__main__"):
        return None  # the root: public names and `python -m`, may reach everything
    if parts[1] in BASE:
        return -1, "base"
    return LAYERS.index(parts[1]), parts[1]


EDGES = [(m, t, top) for m, p in MODULES.items() for t, top in _imports(m, p)]


def test_every_module_belongs_to_a_layer():
    stray = [m for m in MODULES if _rank(m) is None and m not in ("paddle_electra", "paddle_electra.__main__")]
    assert not stray, f"modules outside the layer folders: {stray}"


def test_imports_point_down_the_layers():
    wrong = []
    for importer, target, top in EDGES:
        a, b = _rank(importer), _rank(target)
        if a is None or b is None or b[0] <= a[0]:
            continue
        if top or (a[1], b[1]) not in CALL_TIME_UP:
            wrong.append(f"{importer} -> {target}" + ("" if top else " (in a function)"))
    assert not wrong, "imports pointing up the layers:\n" + "\n".join(sorted(set(wrong)))


def test_no_import_cycles():
    graph = {}
    for importer, target, top in EDGES:
        if top:
            graph.setdefault(importer, set()).add(target)
    state, cycles = {}, []

    def walk(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    assert not cycles, f"import-time cycles: {cycles}"
    # and no two modules import each other, even inside functions
    pairs = {(i, t) for i, t, _ in EDGES}
    mutual = sorted({tuple(sorted(p)) for p in pairs if (p[1], p[0]) in pairs})
    assert not mutual, f"modules importing each other: {mutual}"


def test_no_file_over_the_length_mark():
    long = {m: n for m, p in MODULES.items() if (n := sum(1 for _ in open(p, encoding="utf-8"))) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines (split them): {long}"


def test_every_public_name_imports():
    for name in paddle_electra.__all__:
        assert getattr(paddle_electra, name) is not None, name
    assert set(paddle_electra.__all__) <= set(dir(paddle_electra))


@pytest.mark.parametrize("old", sorted(_moved.MOVED))
def test_the_flat_layout_paths_still_import_the_same_modules(old):
    module = importlib.import_module(f"paddle_electra.{old}")
    new = importlib.import_module(f"paddle_electra.{_moved.MOVED[old]}")
    assert module is new
    assert module.__spec__.name == new.__name__  # the real spec, not the alias's


def test_modules_under_an_old_package_path_are_the_same_objects():
    from paddle_electra.export import manifest as old_manifest
    from paddle_electra.hubmodule.runtime import ElectraHubLayer as old_layer
    from paddle_electra.apps.hubmodule.runtime import ElectraHubLayer
    from paddle_electra.inference.export import manifest

    assert old_manifest is manifest and old_layer is ElectraHubLayer
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("paddle_electra.export.no_such_module")


def _subcommands():
    from paddle_electra.cli.app import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_help_runs(command):
    from paddle_electra.cli.app import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert out.getvalue().startswith(f"usage: paddle-electra {command}")


def test_console_script_and_python_m_answer_help():
    for argv in (["-m", "paddle_electra", "--help"], ["-c", "from paddle_electra.cli import main; main(['--help'])"]):
        done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage: paddle-electra"), done.stdout[:200]
