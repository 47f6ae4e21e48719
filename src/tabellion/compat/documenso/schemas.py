"""Documenso v2 request and response shapes, with its own (camelCase) field names."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    model_validator,
)

from tabellion.kit.schema import EMAIL_SCHEMA

Role = Literal["SIGNER", "APPROVER", "VIEWER", "CC", "ASSISTANT"]
FieldType = Literal[
    "SIGNATURE",
    "FREE_SIGNATURE",
    "INITIALS",
    "NAME",
    "EMAIL",
    "DATE",
    "TEXT",
    "NUMBER",
    "RADIO",
    "CHECKBOX",
    "DROPDOWN",
]
AccessAuth = Literal["ACCOUNT", "TWO_FACTOR_AUTH"]
ActionAuth = Literal["ACCOUNT", "PASSKEY", "TWO_FACTOR_AUTH", "PASSWORD", "EXPLICIT_NONE"]
Status = Literal["DRAFT", "PENDING", "COMPLETED", "REJECTED", "CANCELLED"]
Coordinate = Annotated[float, Field(ge=0, le=100)]
Extent = Annotated[float, Field(gt=0, le=100)]


class Foreign(BaseModel):
    # Unknown fields are ignored, as the original's zod schemas strip them.
    model_config = ConfigDict(extra="ignore")


class FieldCreate(Foreign):
    # A file index (0-based) or a file name of the request's ``files``.
    identifier: int | str = 0
    type: FieldType
    page: Annotated[int, Field(ge=1)]
    positionX: Coordinate
    positionY: Coordinate
    width: Extent
    height: Extent
    fieldMeta: dict[str, Any] | None = None


class RecipientCreate(Foreign):
    email: Annotated[str, Field(max_length=320, json_schema_extra=EMAIL_SCHEMA)]
    name: Annotated[str, Field(max_length=255)] = ""
    role: Role = "SIGNER"
    signingOrder: Annotated[int | None, Field(ge=0, le=999)] = None
    accessAuth: Annotated[list[AccessAuth] | None, Field(max_length=2)] = None
    actionAuth: Annotated[list[ActionAuth] | None, Field(max_length=5)] = None
    fields: Annotated[list[FieldCreate], Field(max_length=500)] = []


class Meta(Foreign):
    subject: Annotated[str | None, Field(max_length=255)] = None
    message: Annotated[str | None, Field(max_length=10_000)] = None
    signingOrder: Literal["PARALLEL", "SEQUENTIAL"] | None = None
    language: str | None = None


class EnvelopeCreate(Foreign):
    type: Literal["DOCUMENT", "TEMPLATE"]
    title: Annotated[str, Field(min_length=1, max_length=255)]
    externalId: Annotated[str | None, Field(max_length=255)] = None
    recipients: Annotated[list[RecipientCreate], Field(max_length=100)] = []
    meta: Meta = Meta()


class EnvelopeIdIn(Foreign):
    envelopeId: Annotated[str, Field(min_length=1, max_length=64)]


class CancelIn(EnvelopeIdIn):
    reason: Annotated[str | None, Field(max_length=2000)] = None


class Created(BaseModel):
    id: str


class Success(BaseModel):
    success: bool = True


class Error(BaseModel):
    """Documenso's error body (its tRPC OpenAPI adapter's)."""

    message: str
    code: str
    issues: list[dict[str, Any]] = []


ForeignId = Annotated[int, Field(ge=1, le=999_999_999)]
Name = Annotated[str, Field(max_length=255)]
Email = Annotated[str, Field(min_length=3, max_length=320)]


class EnvelopeIds(Foreign):
    type: Literal["envelopeId", "documentId", "templateId"]
    ids: Annotated[list[int | str], Field(min_length=1, max_length=20)]


class GetManyIn(Foreign):
    ids: EnvelopeIds


class UpdateData(Foreign):
    title: Annotated[str | None, Field(min_length=1, max_length=255)] = None
    externalId: Annotated[str | None, Field(max_length=255)] = None
    visibility: str | None = None
    globalAccessAuth: list[AccessAuth] | None = None
    globalActionAuth: list[ActionAuth] | None = None
    folderId: str | None = None
    templateType: str | None = None


class MetaUpdate(Meta):
    timezone: str | None = None
    dateFormat: str | None = None
    redirectUrl: str | None = None
    distributionMethod: Literal["EMAIL", "NONE"] | None = None


class UpdateIn(EnvelopeIdIn):
    data: UpdateData | None = None
    meta: MetaUpdate | None = None


class RedistributeIn(EnvelopeIdIn):
    recipients: Annotated[list[ForeignId], Field(min_length=1, max_length=100)]


class RecipientItem(Foreign):
    email: Email
    name: Name
    role: Role
    signingOrder: Annotated[int | None, Field(ge=0, le=999)] = None
    accessAuth: Annotated[list[AccessAuth] | None, Field(max_length=2)] = None
    actionAuth: Annotated[list[ActionAuth] | None, Field(max_length=5)] = None


class RecipientsCreateIn(EnvelopeIdIn):
    data: Annotated[list[RecipientItem], Field(min_length=1, max_length=100)]


class RecipientPatch(Foreign):
    id: ForeignId
    email: Email | None = None
    name: Name | None = None
    role: Role | None = None
    signingOrder: Annotated[int | None, Field(ge=0, le=999)] = None
    accessAuth: Annotated[list[AccessAuth] | None, Field(max_length=2)] = None
    actionAuth: Annotated[list[ActionAuth] | None, Field(max_length=5)] = None


class RecipientsUpdateIn(EnvelopeIdIn):
    data: Annotated[list[RecipientPatch], Field(min_length=1, max_length=100)]


class RecipientIdIn(Foreign):
    recipientId: ForeignId


class RejectIn(Foreign):
    envelopeId: Annotated[str, Field(min_length=1, max_length=64)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    actAsEmail: Email | None = None


# The fields guide (reference 005) writes what the routes call page / positionX / positionY as
# pageNumber / pageX / pageY, envelopeId as a numeric documentId and data as fields: both work.
_GUIDE_NAMES = {"pageNumber": "page", "pageX": "positionX", "pageY": "positionY"}


def _guide_names(data: Any) -> Any:
    if isinstance(data, dict):
        data = {_GUIDE_NAMES.get(k, k) if _GUIDE_NAMES.get(k, k) not in data else k: v
                for k, v in data.items()}  # fmt: skip
    return data


class FieldItem(Foreign):
    type: FieldType
    fieldMeta: dict[str, Any] | None = None
    recipientId: ForeignId
    envelopeItemId: Annotated[str | None, Field(max_length=64)] = None
    page: Annotated[int | None, Field(ge=1, le=100_000)] = None
    positionX: Coordinate | None = None
    positionY: Coordinate | None = None
    width: Extent | None = None
    height: Extent | None = None
    # Positioning by a text of the PDF instead of coordinates.
    placeholder: Annotated[str | None, Field(max_length=255)] = None
    matchAll: bool | None = None

    _guide = model_validator(mode="before")(_guide_names)


class EnvelopeRef(Foreign):
    """``envelopeId`` (the routes) or the legacy numeric ``documentId`` (the guides)."""

    envelopeId: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    documentId: ForeignId | None = None
    # Whether the request used the guide's ``fields`` (then the answer carries it too).
    _guide: bool = PrivateAttr(default=False)

    @property
    def guide(self) -> bool:
        return self._guide

    @model_validator(mode="wrap")
    @classmethod
    def _fields_as_data(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        guide = isinstance(data, dict) and "data" not in data and "fields" in data
        if guide:
            data = {**data, "data": data["fields"]}
        model = handler(data)
        model._guide = guide
        return model


class FieldsCreateIn(EnvelopeRef):
    data: Annotated[list[FieldItem], Field(min_length=1, max_length=500)]


class FieldPatch(Foreign):
    id: ForeignId
    type: FieldType
    fieldMeta: dict[str, Any] | None = None
    envelopeItemId: Annotated[str | None, Field(max_length=64)] = None
    page: Annotated[int | None, Field(ge=1, le=100_000)] = None
    positionX: Coordinate | None = None
    positionY: Coordinate | None = None
    width: Extent | None = None
    height: Extent | None = None

    _guide = model_validator(mode="before")(_guide_names)


class FieldsUpdateIn(EnvelopeRef):
    data: Annotated[list[FieldPatch], Field(min_length=1, max_length=500)]


class FieldIdIn(Foreign):
    fieldId: ForeignId


class DistributeIn(EnvelopeIdIn):
    meta: MetaUpdate | None = None
