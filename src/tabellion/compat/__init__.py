"""Foreign API dialects: one thin sub-package each, mounted under ``/compat/<name>``.

Each dialect's ``endpoints.py`` exposes ``router`` (paths exactly as the original's, after its
base URL), ``PREFIX`` (its mount point) and ``render_error`` (our errors in its own envelope).
"""

from __future__ import annotations

from fastapi import FastAPI

from tabellion.errors import register_error_renderer

# Dialect modules, mounted in this order. Each names its own prefix.
DIALECTS: tuple[str, ...] = ("stampee", "documentd", "registered_email", "documenso")


def mount_dialects(app: FastAPI) -> None:
    import importlib

    for name in DIALECTS:
        module = importlib.import_module(f"tabellion.compat.{name}.endpoints")
        app.include_router(module.router, prefix=module.PREFIX)
        register_error_renderer(app, module.PREFIX, module.render_error)
