"""The ``identification`` a message (or an organisation, by default) asks of its recipients."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Self

from pydantic import Field, field_validator, model_validator

from tabellion.identity.config import Attribute, Level
from tabellion.kit.schema import Schema

DEFAULT_MATCH: tuple[Attribute, ...] = ("first_name", "last_name")


class Identification(Schema):
    """Recipients sign in with an identity provider before they see the letter; the identity
    returned must match what the sender declared."""

    level: Annotated[
        Level,
        Field(description="The eIDAS level of assurance the provider must give at least."),
    ] = "substantial"
    providers: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]],
        Field(
            max_length=10,
            description="Names of providers the operator configured; empty: every provider "
            "that gives the level. Each name once.",
            json_schema_extra={"uniqueItems": True},
        ),
    ] = Field(default_factory=list)
    match: Annotated[
        list[Attribute],
        Field(
            max_length=3,
            description="Attributes compared with the recipient's declared ones (first_name, "
            "last_name, birth_date), each once. Names are compared without accents, case or "
            "hyphens.",
            json_schema_extra={"uniqueItems": True},
        ),
    ] = Field(default_factory=lambda: list(DEFAULT_MATCH))

    @field_validator("providers", "match")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each name may appear once")
        return value


class RecipientIdentification(Identification):
    """Identification asked of one signing-envelope recipient before they sign, with what the
    sender declares of them (each attribute in ``match`` must be given)."""

    first_name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    last_name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    birth_date: date | None = None

    @model_validator(mode="after")
    def _declared(self) -> Self:
        missing = [a for a in self.match if getattr(self, a) is None]
        if missing:
            raise ValueError(f"identification matches {', '.join(missing)}: declare it here")
        return self

    def requirement(self) -> dict[str, Any]:
        """What the recipient row keeps (the shape a delivery keeps)."""
        return {
            "level": self.level,
            "providers": list(self.providers),
            "match": list(self.match),
            "declared": {a: _text(getattr(self, a)) for a in self.match},
        }


def _text(value: object) -> str | None:
    return value.isoformat() if isinstance(value, date) else (None if value is None else str(value))
