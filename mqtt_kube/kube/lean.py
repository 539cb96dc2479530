"""kubernetes_asyncio's kubeconfig loaders and ApiClient, without its thousand model classes.

Importing any module of kubernetes_asyncio first runs the package files `kubernetes_asyncio`,
`kubernetes_asyncio.client` and `kubernetes_asyncio.client.models`, which between them import
every API class and every generated model: about 38 MiB of memory and a third of a second,
on every start, for code mqtt-kube never calls (it sends and reads plain JSON, see
`mqtt_kube.kube.client`). What it does use — `Configuration`, `ApiClient`, the REST client
and the `config` loaders — are small modules of their own.

`defer()` enters those three packages in `sys.modules` before anything imports them, each
as the real package (its real folder, so every submodule loads as usual) whose own file has
not run yet. The first time anyone asks such a package for a name it does not hold (a
model class, an `...Api` class), its file runs then, in place, and the name is there: code
that wants the models — the fake API server's schema does — still gets them, only later.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.machinery import PathFinder
from types import ModuleType
from typing import Final

# Outermost first: a package's submodules are found through its parent's __path__.
DEFERRED: Final = (
    "kubernetes_asyncio",
    "kubernetes_asyncio.client",
    "kubernetes_asyncio.client.models",
)
# What kubernetes_asyncio's own modules import from `kubernetes_asyncio.client` by name.
_CLIENT_NAMES: Final = {
    "ApiClient": "kubernetes_asyncio.client.api_client",
    "Configuration": "kubernetes_asyncio.client.configuration",
}


def defer() -> None:
    """Make importing kubernetes_asyncio's loaders and ApiClient leave the models out.

    Does nothing for a package that is already imported (its names are all there).
    """
    for name in DEFERRED:
        if name not in sys.modules:
            _deferred_package(name)
    client = sys.modules["kubernetes_asyncio.client"]
    for attribute, module in _CLIENT_NAMES.items():
        if attribute not in vars(client):
            setattr(client, attribute, getattr(importlib.import_module(module), attribute))


def _deferred_package(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an installed package")
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    folders = list(spec.submodule_search_locations)

    def complete(attribute: str) -> object:
        """Run the package's own file now, then answer as the full package would."""
        if attribute.startswith("__"):  # import machinery probing, e.g. __wrapped__
            raise AttributeError(attribute)
        if PathFinder.find_spec(f"{name}.{attribute}", folders) is not None:
            return importlib.import_module(f"{name}.{attribute}")  # a submodule, as imported
        del module.__getattr__
        loader.exec_module(module)
        return getattr(module, attribute)

    module.__getattr__ = complete  # type: ignore[method-assign]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def is_deferred(name: str) -> bool:
    """Whether package `name` is still waiting for its file to run (for tests)."""
    module: ModuleType | None = sys.modules.get(name)
    return module is not None and "__getattr__" in vars(module)
