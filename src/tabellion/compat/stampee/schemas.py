"""STAMPEE's request and response bodies, with its own field names.

Unknown fields are ignored, as the original does; recipients are checked by the native rules
(see ``translate.py``), so they are taken here as plain objects.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LetterType = Literal["LS", "LRE"]
EventType = Literal[
    "SENT",
    "NOTIFIED",
    "UNDELIVERED",
    "RECEIVED",
    "ACCEPTED",
    "REFUSED",
    "EXPIRED",
    "DOWNLOADED",
    "REPLIED",
    "SENDER_REPLIED",
]
CustomerState = Literal["PENDING", "ACCEPTED", "REFUSED", "REVOKED", "CANCELLED"]


class Foreign(BaseModel):
    model_config = ConfigDict(extra="ignore")


class BulkSendIn(Foreign):
    type: LetterType
    body: Annotated[str, Field(min_length=1)]
    recipients: Annotated[list[dict[str, Any]], Field(min_length=1)]
    customerReference: Annotated[str | None, Field(max_length=255)] = None
    fileReference: Annotated[str | None, Field(max_length=255)] = None
    sender: Annotated[str | None, Field(description="A customer id, to send on its behalf.")] = None


class MessageRef(BaseModel):
    id: Annotated[str, Field(examples=["123456789012"])]


class BulkSendOut(BaseModel):
    body: str
    createdAt: str
    type: LetterType
    customerReference: str | None
    fileReference: str | None
    messages: list[MessageRef]


class EvidenceOut(BaseModel):
    url: str
    eventType: EventType
    createdAt: str


class MessageOut(BaseModel):
    id: str
    type: LetterType
    status: str
    createdAt: str
    evidences: list[EvidenceOut]


class CustomersIn(Foreign):
    customers: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=100)]


class CustomerOut(BaseModel):
    id: str
    name: str
    email: str | None
    isPaying: bool | None
    willSendLre: bool | None
    state: CustomerState
    createdAt: str


class CustomersOut(BaseModel):
    customers: list[CustomerOut]


class ErrorOut(BaseModel):
    message: str
    code: str
