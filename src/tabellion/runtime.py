"""What a running process holds: settings, database, blob store, mail transport, job wake-up.

One ``Runtime`` is built per process (``serve``, ``worker``, a CLI command or a test) and
handed to request handlers through ``app.state.runtime`` and to job handlers directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tabellion.config import Settings
from tabellion.db import (
    READ_ONLY_INFO,
    SETTINGS_INFO,
    create_engine,
    create_read_engine,
    create_sessionmaker,
)

if TYPE_CHECKING:
    from tabellion.document.storage import BlobStore
    from tabellion.kit.checkpoints import WalCheckpointer
    from tabellion.kit.ratelimit import RateLimiter
    from tabellion.notification.transport import MailTransport

T = TypeVar("T")


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # For read-only requests: no write lock taken (see tabellion.db).
    read_engine: AsyncEngine
    read_sessions: async_sessionmaker[AsyncSession]
    storage: BlobStore
    mail: MailTransport
    limiter: RateLimiter
    # Set after a commit that enqueued jobs, so an in-process worker starts at once.
    jobs_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # SQLite's log checkpointed beside the writers (``kit.checkpoints``); None elsewhere.
    checkpointer: WalCheckpointer | None = None
    # Lazily built, process-wide resources (HTTP clients...), closed with the runtime.
    _resources: dict[str, tuple[Any, Callable[[], Awaitable[None]]]] = field(default_factory=dict)

    def resource(
        self, name: str, factory: Callable[[], tuple[T, Callable[[], Awaitable[None]]]]
    ) -> T:
        """The process's one instance of a resource, built on first use."""
        if name not in self._resources:
            self._resources[name] = factory()
        value: T = self._resources[name][0]
        return value

    @classmethod
    def build(cls, settings: Settings, *, pool_size: int = 10) -> Runtime:
        from tabellion.document.storage import open_store
        from tabellion.evidence import links
        from tabellion.kit import checkpoints, metrics
        from tabellion.kit.ratelimit import RateLimiter
        from tabellion.notification.transport import open_transport

        settings.check()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        links.install(
            links.LinkSigner(
                settings.base_url, settings.signing_key, settings.previous_signing_keys
            )
        )
        engine = create_engine(settings.resolved_database_url, pool_size=pool_size)
        checkpointer = checkpoints.for_database(settings.resolved_database_url)
        if checkpointer is not None:
            checkpointer.attach(engine)
        read_engine = create_read_engine(
            settings.resolved_database_url, engine, pool_size=pool_size
        )
        sessions = create_sessionmaker(engine, info={SETTINGS_INFO: settings})
        read_sessions = create_sessionmaker(
            read_engine, info={SETTINGS_INFO: settings, READ_ONLY_INFO: True}
        )
        runtime = cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            read_engine=read_engine,
            read_sessions=read_sessions,
            storage=open_store(settings.resolved_storage_url, settings, sessions, read_sessions),
            mail=metrics.counted_mail(open_transport(settings)),
            limiter=RateLimiter(redis_url=settings.redis_url, overrides=settings.rate_limits),
            checkpointer=checkpointer,
        )
        if checkpointer is not None:
            checkpointer.start()
        return runtime

    async def close(self) -> None:
        for _, closer in self._resources.values():
            await closer()
        self._resources.clear()
        await self.mail.close()
        await self.limiter.close()
        await self.storage.close()
        if self.read_engine.pool is not self.engine.pool:
            await self.read_engine.dispose()
        await self.engine.dispose()
        if self.checkpointer is not None:
            # After the writers: their last commits are checkpointed too.
            await asyncio.to_thread(self.checkpointer.close)
