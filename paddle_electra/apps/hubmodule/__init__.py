"""PaddleHub modules for paddle_electra models.

* :func:`make_hub_module` writes a module folder (``module.py`` with
  ``@moduleinfo`` and PaddleHub's ``TransformerModule`` interface, README,
  requirements, weights) for a published name or a local model;
  ``paddle-electra hub-module --model NAME_OR_DIR --out DIR`` is the same.
* :class:`~paddle_electra.apps.hubmodule.runtime.ElectraHubLayer` is the layer every
  generated ``module.py`` subclasses; it needs Paddle and paddle_electra only.
* :data:`SHIPPED`: the module sources kept in the repository's ``hub_modules/``
  (chinese-electra-small, chinese-electra-base, chinese-legal-electra-small-generator),
  which download their weights by name at first use.

Load a module with PaddleHub 2.4: ``hub.Module(directory="my-module", task="seq-cls")``.
"""

from .generator import SHIPPED, ShippedModule, make_hub_module, make_shipped_sources, module_spec, render

__all__ = ["make_hub_module", "make_shipped_sources", "module_spec", "render", "SHIPPED", "ShippedModule"]
