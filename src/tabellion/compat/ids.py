"""Numeric foreign ids for the dialects, allocated beside the native row they name.

A dialect calls :func:`allocate` in the same transaction as the native row (so both commit or
neither does) and :func:`native_of` / :func:`foreign_of` to translate. Every lookup is scoped by
organisation: another organisation's foreign id is simply not found.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.models.compat import CompatId

_ATTEMPTS = 8


def _draw(digits: int) -> str:
    """A random number of exactly ``digits`` digits (no leading zero)."""
    low = 10 ** (digits - 1)
    return str(low + secrets.randbelow(9 * low))


async def allocate(
    session: AsyncSession,
    *,
    dialect: str,
    kind: str,
    native_id: str,
    organization_id: str,
    digits: int = 12,
) -> str:
    """The foreign id of ``native_id``: the one already mapped, or a new random one."""
    existing = await foreign_of(
        session, dialect=dialect, kind=kind, native_id=native_id, organization_id=organization_id
    )
    if existing is not None:
        return existing
    for _ in range(_ATTEMPTS):
        foreign_id = _draw(digits)
        try:
            async with session.begin_nested():
                session.add(
                    CompatId(
                        dialect=dialect,
                        kind=kind,
                        foreign_id=foreign_id,
                        native_id=native_id,
                        organization_id=organization_id,
                    )
                )
                await session.flush()
        except IntegrityError:
            # Another transaction mapped the same row meanwhile (two first sights at once):
            # its id wins. Otherwise the number was drawn twice (one chance in
            # 10^digits / rows): draw again.
            existing = await foreign_of(
                session,
                dialect=dialect,
                kind=kind,
                native_id=native_id,
                organization_id=organization_id,
            )
            if existing is not None:
                return existing
            continue
        return foreign_id
    raise RuntimeError(f"no free {digits}-digit id for {dialect}/{kind}")


async def native_of(
    session: AsyncSession, *, dialect: str, kind: str, foreign_id: str, organization_id: str
) -> str | None:
    """The native id that ``foreign_id`` names in this organisation, or None."""
    return await session.scalar(
        select(CompatId.native_id).where(
            CompatId.dialect == dialect,
            CompatId.kind == kind,
            CompatId.foreign_id == str(foreign_id),
            CompatId.organization_id == organization_id,
        )
    )


async def foreign_of(
    session: AsyncSession, *, dialect: str, kind: str, native_id: str, organization_id: str
) -> str | None:
    return await session.scalar(
        select(CompatId.foreign_id).where(
            CompatId.dialect == dialect,
            CompatId.kind == kind,
            CompatId.native_id == native_id,
            CompatId.organization_id == organization_id,
        )
    )


async def foreign_map(
    session: AsyncSession,
    *,
    dialect: str,
    kind: str,
    native_ids: Iterable[str],
    organization_id: str,
) -> dict[str, str]:
    """native id → foreign id for many rows at once (for lists)."""
    ids = list(native_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(CompatId.native_id, CompatId.foreign_id).where(
            CompatId.dialect == dialect,
            CompatId.kind == kind,
            CompatId.native_id.in_(ids),
            CompatId.organization_id == organization_id,
        )
    )
    return {native: foreign for native, foreign in rows}
