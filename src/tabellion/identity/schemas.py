"""The ``identification`` a message (or an organisation, by default) asks of its recipients."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from tabellion.identity.config import Attribute, Level
from tabellion.kit.schema import Schema

_DEFAULT_MATCH: tuple[Attribute, ...] = ("first_name", "last_name")


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
            "that gives the level.",
        ),
    ] = Field(default_factory=list)
    match: Annotated[
        list[Attribute],
        Field(
            max_length=3,
            description="Attributes compared with the recipient's declared ones (first_name, "
            "last_name, birth_date). Names are compared without accents, case or hyphens.",
        ),
    ] = Field(default_factory=lambda: list(_DEFAULT_MATCH))

    @field_validator("providers", "match")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each name may appear once")
        return value
