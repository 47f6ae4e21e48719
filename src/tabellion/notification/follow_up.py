"""E-mails after a registered letter's outcome, as the message's options ask.

``notify_sender``: the sender hears of each outcome (accepted, refused, expired, undelivered),
with the sender's track-and-trace link. ``copy_to_mailbox_after_acceptance``: once accepted,
the recipient gets the letter in their own mailbox: the message, its attachments (attached
up to ``TABELLION_MAILBOX_COPY_MAX_BYTES`` in all, the rest as a link to the portal) and the
sealed acceptance proof. Both are jobs; a retry sends the same Message-ID again.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING

from tabellion.db import transaction
from tabellion.document.storage import read_blob
from tabellion.evidence.events import EvidenceType
from tabellion.jobs.registry import RetryLater
from tabellion.message import repository
from tabellion.message.service.tracking import tracking_url
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Delivery, Message
from tabellion.models.organization import Organization
from tabellion.organization.branding import brand_of
from tabellion.portal import i18n
from tabellion.portal.tasks import compose_email, portal_link

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

# Past the seal's own delay, the proof is usually sealed at the first retry.
SEAL_MARGIN_SECONDS = 1.0


async def _load(
    runtime: Runtime, delivery_id: str, evidence_id: str
) -> tuple[Delivery, Message, Organization, Evidence, list[Attachment]] | None:
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        evidence = await session.get(Evidence, evidence_id)
        if delivery is None or evidence is None:
            return None
        message = await session.get(Message, delivery.message_id)
        organization = await session.get(Organization, delivery.organization_id)
        assert message is not None and organization is not None
        files = await repository.attachments_of(session, [message.id])
    return delivery, message, organization, evidence, files


def _outcome_lines(language: str) -> dict[str, tuple[str, str]]:
    """Subject and sentence per outcome, in ``language``."""
    t = i18n.translations(language)
    return {
        EvidenceType.ACCEPTED.value: (
            t.gettext("Registered e-mail accepted: %(subject)s"),
            t.gettext(
                "Your registered e-mail “%(subject)s” to %(email)s was accepted on %(date)s."
            ),
        ),
        EvidenceType.REFUSED.value: (
            t.gettext("Registered e-mail refused: %(subject)s"),
            t.gettext("Your registered e-mail “%(subject)s” to %(email)s was refused on %(date)s."),
        ),
        EvidenceType.EXPIRED.value: (
            t.gettext("Registered e-mail expired: %(subject)s"),
            t.gettext(
                "Your registered e-mail “%(subject)s” to %(email)s was not accepted in time; "
                "it expired on %(date)s."
            ),
        ),
        EvidenceType.UNDELIVERED.value: (
            t.gettext("Registered e-mail not delivered: %(subject)s"),
            t.gettext(
                "Your registered e-mail “%(subject)s” to %(email)s could not be delivered "
                "(%(date)s)."
            ),
        ),
    }


async def send_sender_status(runtime: Runtime, delivery_id: str, evidence_id: str) -> None:
    loaded = await _load(runtime, delivery_id, evidence_id)
    if loaded is None:
        return
    delivery, message, organization, evidence, _ = loaded
    lines = _outcome_lines(i18n.pick(delivery.language))
    if evidence.type not in lines or not message.sender_email:
        return
    language = i18n.pick(delivery.language)
    t = i18n.translations(language)
    when = i18n.context(language, organization.timezone)["when"]
    subject, line = lines[evidence.type]
    values = {
        "subject": message.subject,
        "email": delivery.email,
        "date": when(evidence.occurred_at),  # type: ignore[operator]
    }
    settings = runtime.settings
    await runtime.mail.send(
        compose_email(
            runtime,
            to=message.sender_email,
            language=language,
            template="update",
            timezone=organization.timezone,
            subject=subject % values,
            message_id=f"{delivery.id}.status.{evidence.type.lower()}",
            greeting=t.gettext("Hello,"),
            line=line % values,
            link=tracking_url(settings.base_url, settings.signing_key, delivery),
            button=t.gettext("Track and trace"),
        )
    )


async def send_mailbox_copy(runtime: Runtime, delivery_id: str, evidence_id: str) -> None:
    loaded = await _load(runtime, delivery_id, evidence_id)
    if loaded is None:
        return
    delivery, message, organization, evidence, files = loaded
    if evidence.jws is None:
        # The proof travels with the copy: wait for the seal (a job of its own).
        delay = runtime.settings.seal_delay_seconds + SEAL_MARGIN_SECONDS
        raise RetryLater("the acceptance proof is not sealed yet", delay=delay)
    language = i18n.pick(delivery.language)
    budget = runtime.settings.mailbox_copy_max_bytes
    attached: list[Attachment] = []
    linked: list[Attachment] = []
    for attachment in files:
        if attachment.size <= budget:
            attached.append(attachment)
            budget -= attachment.size
        else:
            linked.append(attachment)
    mail = compose_email(
        runtime,
        to=delivery.email,
        language=language,
        template="mailbox_copy",
        subject=message.subject,
        message_id=f"{delivery.id}.copy",
        timezone=organization.timezone,
        brand=brand_of(
            organization, runtime.settings.base_url, name=message.sender_name or organization.name
        ),
        sender=message.sender_name or organization.name,
        m=message,
        accepted_at=evidence.occurred_at,
        attached=attached,
        linked=linked,
        link=portal_link(runtime, delivery),
    )
    await _attach(runtime, mail, attached)
    mail.add_attachment(
        evidence.jws.encode(),
        maintype="application",
        subtype="json",
        filename="acceptance-proof.json",
    )
    await runtime.mail.send(mail)


async def _attach(runtime: Runtime, mail: EmailMessage, files: list[Attachment]) -> None:
    for attachment in files:
        data = await read_blob(runtime.storage, attachment.storage_key)
        maintype, _, subtype = attachment.content_type.partition("/")
        if maintype in ("", "multipart", "message") or not subtype:
            maintype, subtype = "application", "octet-stream"  # a file, never a MIME structure
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=attachment.filename)
