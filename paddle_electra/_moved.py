"""The flat layout's module paths, kept as aliases of the modules' homes in the layered one.

Until 0.1 every module sat in one folder (``paddle_electra.modeling``,
``paddle_electra.hubmodule.runtime``, ``paddle_electra.export``...). Code written
against those paths keeps working: PaddleHub modules generated before the move
import ``paddle_electra.hubmodule.runtime``, users ported from PaddleNLP import
``paddle_electra.modeling``. An old path resolves to the very module object of
its new path (never a second copy: one class per name, so ``isinstance`` and
monkeypatching see one module), and so do the modules under an old package path
(``paddle_electra.export.manifest``). New code uses the new paths; the package
imports none of the old ones.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Optional

# old path (below paddle_electra) -> new path; a package's modules follow it
MOVED = {
    "configuration": "model.configuration",
    "config_files": "model.config_files",
    "inputs": "model.inputs",
    "outputs": "model.outputs",
    "losses": "model.losses",
    "kv_cache": "model.kv_cache",
    "fast_paths": "model.fast_paths",
    "model_api": "model.model_api",
    "modeling_utils": "model.base",
    "backbone": "model.backbone",
    "modeling": "model.modeling",
    "pretraining": "model.pretraining",
    "ernie_health": "model.ernie_health",
    "causal_lm": "model.causal_lm",
    "safety.limits": "model.limits",
    "registry": "loading.registry",
    "hub": "loading.hub",
    "_fetch": "loading.fetch",
    "model_files": "loading.model_files",
    "auto": "loading.auto",
    "paddlenlp_plugin": "loading.paddlenlp_plugin",
    "convert": "loading.convert",
    "safety": "loading.safety",
    "pipeline_base": "inference.pipeline_base",
    "pipelines": "inference.pipelines",
    "qa": "inference.qa",
    "export": "inference.export",
    "serving": "apps.serving",
    "serving_requests": "apps.serving_requests",
    "hubmodule": "apps.hubmodule",
    "train": "apps.train",
    "cli_common": "cli.common",
    "cli_models": "cli.models",
    "cli_inputs": "cli.inputs",
    "cli_bench": "cli.bench",
    "cli_serve": "cli.serve",
    "cli_train": "cli.train",
    "benchmark": "bench.deploy",
    "_bench_workers": "bench.deploy_workers",
    "bench_paths": "bench.deploy_paths",
    "bench_deploy_goals": "bench.deploy_goals",
    "bench_train": "bench.train",
    "bench_train_report": "bench.train_report",
    "_bench_train_torch": "bench.train_torch",
}


def new_path(fullname: str) -> Optional[str]:
    """The new dotted path of an old one (``paddle_electra.modeling`` -> ``paddle_electra.model.modeling``), else None."""
    package, _, rest = fullname.partition(".")
    if package != __package__ or not rest:
        return None
    parts = rest.split(".")
    for n in range(len(parts), 0, -1):  # the longest moved prefix wins (safety.limits before safety)
        moved = MOVED.get(".".join(parts[:n]))
        if moved is not None:
            return ".".join([package, moved] + parts[n:])
    return None


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and loads it as the module already imported (or now imported) under the new one."""

    def find_spec(self, fullname, path=None, target=None):
        new = new_path(fullname)
        if new is None:
            return None
        real = importlib.util.find_spec(new)
        if real is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=real.submodule_search_locations is not None)

    def create_module(self, spec):
        module = importlib.import_module(new_path(spec.name))
        spec.loader_state = module.__spec__  # importlib overwrites __spec__ with the alias's; exec_module restores it
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once), ahead of the path finder that would load a second copy."""
    if not any(isinstance(finder, _OldPaths) for finder in sys.meta_path):
        sys.meta_path.insert(0, _OldPaths())
