"""All tables; importing this module registers them on ``Base.metadata``."""

from tabellion.models.base import Base
from tabellion.models.compat import CompatId
from tabellion.models.encryption import BlobKey, StorageKey
from tabellion.models.envelope import Envelope, EnvelopeDocument, EnvelopeField, EnvelopeRecipient
from tabellion.models.evidence import (
    Evidence,
    EvidenceChain,
    TransparencyLog,
    TransparencyNode,
    TreeHead,
)
from tabellion.models.idempotency import IdempotencyRecord
from tabellion.models.identity import IdentityRequest
from tabellion.models.job import Job
from tabellion.models.message import Attachment, Delivery, Message, Reply
from tabellion.models.organization import ApiKey, ClientKey, Organization
from tabellion.models.portal import OneTimeCode, WebSession
from tabellion.models.user import User
from tabellion.models.webhook import Event, WebhookAttempt, WebhookEndpoint

__all__ = [
    "ApiKey",
    "Attachment",
    "Base",
    "BlobKey",
    "ClientKey",
    "CompatId",
    "Delivery",
    "Envelope",
    "EnvelopeDocument",
    "EnvelopeField",
    "EnvelopeRecipient",
    "Event",
    "Evidence",
    "EvidenceChain",
    "IdempotencyRecord",
    "IdentityRequest",
    "Job",
    "Message",
    "OneTimeCode",
    "Organization",
    "Reply",
    "StorageKey",
    "TransparencyLog",
    "TransparencyNode",
    "TreeHead",
    "User",
    "WebSession",
    "WebhookAttempt",
    "WebhookEndpoint",
]
