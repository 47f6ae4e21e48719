"""Declarative base, naming convention and column types shared by every table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, DateTime, MetaData, String, Table, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tabellion.kit.time import as_utc, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; always returns them aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        utc = as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def result_processor(
        self, dialect: Dialect, coltype: Any
    ) -> Callable[[Any], datetime | None] | None:
        """``process_result_value`` after the dialect's own parsing, in one call per value.

        A list page reads five times per row, each through three calls in the generic
        composition (the dialect's parser, this type's hook, ``as_utc``). On SQLite one
        ``datetime.fromisoformat`` of the stored text (SQLAlchemy's form,
        ``2026-12-04 10:00:00.123456``, or any ISO form), the dialect's parser for anything
        else; on PostgreSQL the driver's aware value as is when it is in UTC (the sessions' time
        zone). tests/kit/test_db.py holds both equal to the generic path.
        """
        if dialect.name == "sqlite":
            parse = self.impl_instance.result_processor(dialect, coltype)
            return _sqlite_processor(parse)
        if (
            dialect.name == "postgresql"
            and self.impl_instance.result_processor(dialect, coltype) is None
        ):
            return _aware_in_utc
        return super().result_processor(dialect, coltype)


def _sqlite_processor(
    parse: Callable[[Any], datetime | None] | None,
) -> Callable[[Any], datetime | None]:
    fromisoformat = datetime.fromisoformat

    def process(value: Any) -> datetime | None:
        if value is None:
            return None
        parsed: datetime | None
        try:
            parsed = fromisoformat(value)
        except (TypeError, ValueError):
            parsed = parse(value) if parse else value
            if parsed is None:
                return None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return as_utc(parsed)

    return process


def _aware_in_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is UTC:
        return value
    return as_utc(value)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def id_column(length: int = 40) -> Mapped[str]:
    return mapped_column(String(length), primary_key=True)


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements: bulk writes without the ORM's bookkeeping."""
    return cast(Table, model.__table__)
