"""Foreign API dialects: one thin sub-package each, mounted under ``/compat/<name>``.

Each dialect's ``endpoints.py`` exposes ``router`` (paths exactly as the original's, after its
base URL), ``PREFIX`` (its mount point), ``TAG`` (its OpenAPI section) and ``render_error`` (our
errors in its own envelope).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from fastapi import FastAPI

from tabellion.errors import register_error_renderer

# Dialect modules, mounted in this order. Each names its own prefix.
DIALECTS: tuple[str, ...] = ("stampee", "documentd", "registered_email", "documenso")


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"tabellion.compat.{name}.endpoints") for name in DIALECTS]


def mount_dialects(app: FastAPI) -> None:
    for module in _modules():
        app.include_router(module.router, prefix=module.PREFIX)
        register_error_renderer(app, module.PREFIX, module.render_error)


def openapi_tags() -> list[dict[str, str]]:
    """The OpenAPI sections of the dialects (each module's ``TAG``), in mounting order."""
    return [{"name": module.TAG} for module in _modules()]
