"""What the maintenance commands share: settings, and a runtime opened for one piece of work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console

from tabellion.config import ConfigError, Settings

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

T = TypeVar("T")

err = Console(stderr=True)


def load_settings() -> Settings:
    try:
        settings = Settings()
        settings.check()
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    return settings


def require_database(settings: Settings) -> None:
    """Exit with a hint, not a traceback, when the database is unreachable or not set up."""
    from tabellion.migrations import current_revision

    try:
        revision = current_revision(settings.resolved_database_url)
    except Exception as exc:  # the driver's own errors: unreachable, refused, no such file
        err.print(f"[red]error:[/red] cannot open the database: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from exc
    if revision is None:
        err.print(
            "[red]error:[/red] the database is not set up yet: run `tabellion db upgrade` "
            "(or start `tabellion serve`, which does it)."
        )
        raise typer.Exit(1)


def with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work`` with a one-connection runtime, closed afterwards."""
    from tabellion.runtime import Runtime

    settings = load_settings()
    require_database(settings)

    async def run() -> T:
        try:
            runtime = Runtime.build(settings, pool_size=1)
        except ConfigError as exc:  # a key file a setting names cannot be used
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return asyncio.run(run())
