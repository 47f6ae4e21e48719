"""Job handlers of the envelope domain: the e-mails that invite recipients to act."""

from __future__ import annotations

from typing import Any

from tabellion.db import transaction
from tabellion.document.storage import read_blob
from tabellion.envelope import repository
from tabellion.envelope.completion import COMPLETE_TASK, DELIVER_TASK, complete
from tabellion.envelope.service import (
    ENDED_TASK,
    EXPIRE_TASK,
    INVITE_TASK,
    REMIND_TASK,
    expire_due,
    send_due_reminder,
    signing_token_of,
)
from tabellion.envelope.verification import CODE_TASK
from tabellion.jobs.registry import PRIORITY_INTERACTIVE, TaskContext, task
from tabellion.kit.sessions import code_of
from tabellion.models.envelope import Envelope, EnvelopeDocument, EnvelopeRecipient
from tabellion.models.organization import Organization
from tabellion.models.portal import OneTimeCode
from tabellion.organization.branding import brand_of
from tabellion.portal import i18n

# The portal's e-mail builder: same headers, layout and languages as its other e-mails.
from tabellion.portal.tasks import compose_email

# Signed PDFs are attached up to this total; above it the e-mail links to the signing page.
MAX_ATTACHED_BYTES = 10 * 1024 * 1024

_ACTIONS = {
    "signer": "sign",
    "approver": "approve",
    "viewer": "view",
    "assistant": "fill in",
}


@task(INVITE_TASK, max_attempts=8, timeout_seconds=120)
async def send_invitation(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """The signing link, unless the envelope ended or the recipient acted meanwhile."""
    runtime = ctx.runtime
    async with transaction(runtime.sessions) as session:
        recipient = await session.get(EnvelopeRecipient, payload["recipient_id"])
        if recipient is None or recipient.status not in ("sent", "opened"):
            return
        envelope = await session.get(Envelope, recipient.envelope_id)
        organization = await session.get(Organization, recipient.organization_id)
        assert envelope is not None and organization is not None
        if envelope.status != "pending":
            return
    token = signing_token_of(runtime.settings.signing_keys, recipient)
    language = i18n.pick(recipient.language)
    t = i18n.translations(language)
    reminder = int(payload.get("reminder", 0))
    action = t.gettext(_ACTIONS.get(recipient.role, "sign"))
    subject = t.gettext("%(sender)s asks you to %(action)s \u201c%(title)s\u201d") % {
        "sender": organization.name,
        "action": action,
        "title": envelope.title,
    }
    if reminder:
        subject = t.gettext("Reminder: %(subject)s") % {"subject": subject}
    line = envelope.message or t.gettext("Please review the document.")
    await runtime.mail.send(
        compose_email(
            runtime,
            to=recipient.email,
            language=language,
            template="update",
            subject=subject,
            # Per link: a reassigned recipient's new invitation is a new e-mail.
            message_id=f"{recipient.id}.{recipient.token_salt[:8]}.invite.{reminder}",
            link=f"{runtime.settings.base_url}/s/{token}",
            greeting=t.gettext("Hello %(name)s,") % {"name": recipient.name},
            line=line,
            button=t.gettext("Open the document"),
            brand=brand_of(organization, runtime.settings.base_url),
        )
    )


@task(CODE_TASK, max_attempts=5, timeout_seconds=60, priority=PRIORITY_INTERACTIVE)
async def send_code(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """A recipient's access or action code, unless it was used or replaced meanwhile."""
    runtime = ctx.runtime
    async with transaction(runtime.sessions) as session:
        code = await session.get(OneTimeCode, payload["code_id"])
        recipient = await session.get(EnvelopeRecipient, payload["recipient_id"])
        if code is None or code.consumed_at is not None or recipient is None:
            return
    language = i18n.pick(payload.get("language"), recipient.language)
    value = code_of(runtime.settings.signing_keys, code)
    t = i18n.translations(language)
    await runtime.mail.send(
        compose_email(
            runtime,
            to=recipient.email,
            subject=t.gettext("Your code: %(code)s") % {"code": value},
            message_id=f"{code.id}.code",
            template="code",
            language=language,
            code=value,
            vault=False,
        )
    )


@task(REMIND_TASK, max_attempts=8, timeout_seconds=120)
async def remind_due(ctx: TaskContext, payload: dict[str, Any]) -> None:
    async with transaction(ctx.runtime.sessions) as session:
        await send_due_reminder(session, payload["envelope_id"])


@task(EXPIRE_TASK, max_attempts=8, timeout_seconds=120)
async def expire(ctx: TaskContext, payload: dict[str, Any]) -> None:
    async with transaction(ctx.runtime.sessions) as session:
        await expire_due(session, payload["envelope_id"])


@task(ENDED_TASK, max_attempts=8, timeout_seconds=300)
async def notify_ended(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Tell the recipients who still had to act, and the organisation, that it expired."""
    runtime = ctx.runtime
    async with transaction(runtime.sessions) as session:
        envelope = await session.get(Envelope, payload["envelope_id"])
        if envelope is None:
            return
        organization = await session.get(Organization, envelope.organization_id)
        assert organization is not None
        parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    wanted = set(payload.get("recipient_ids", []))
    for recipient in parts.recipients:
        if recipient.id not in wanted:
            continue
        language = i18n.pick(recipient.language)
        t = i18n.translations(language)
        await runtime.mail.send(
            compose_email(
                runtime,
                to=recipient.email,
                language=language,
                template="update",
                subject=t.gettext("Expired: \u201c%(title)s\u201d") % {"title": envelope.title},
                message_id=f"{recipient.id}.expired",
                link=None,
                greeting=t.gettext("Hello %(name)s,") % {"name": recipient.name},
                line=t.gettext(
                    "The time to sign \u201c%(title)s\u201d, sent by %(sender)s, has run "
                    "out. You no longer need to do anything."
                )
                % {"title": envelope.title, "sender": organization.name},
                button=None,
                brand=brand_of(organization, runtime.settings.base_url),
            )
        )
    if organization.email:
        language = i18n.pick(envelope.language)
        t = i18n.translations(language)
        await runtime.mail.send(
            compose_email(
                runtime,
                to=organization.email,
                language=language,
                template="update",
                subject=t.gettext("Expired: \u201c%(title)s\u201d") % {"title": envelope.title},
                message_id=f"{envelope.id}.expired",
                link=None,
                greeting=t.gettext("Hello,"),
                line=t.gettext(
                    "Envelope %(id)s expired before everyone had acted. Send a new one if "
                    "you still need the signatures."
                )
                % {"id": envelope.id},
                button=None,
            )
        )


@task(COMPLETE_TASK, max_attempts=10, timeout_seconds=600)
async def complete_envelope(ctx: TaskContext, payload: dict[str, Any]) -> None:
    await complete(ctx.runtime, payload["envelope_id"])


@task(DELIVER_TASK, max_attempts=8, timeout_seconds=300)
async def deliver_signed(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """The completed documents to one recipient: attached when small, else by its link."""
    runtime = ctx.runtime
    async with transaction(runtime.sessions) as session:
        recipient = await session.get(EnvelopeRecipient, payload["recipient_id"])
        if recipient is None:
            return
        envelope = await session.get(Envelope, recipient.envelope_id)
        organization = await session.get(Organization, recipient.organization_id)
        assert envelope is not None and organization is not None
        documents: list[EnvelopeDocument] = (await repository.parts_of(session, [envelope.id]))[
            envelope.id
        ].documents
    signed = [d for d in documents if d.signed_storage_key]
    token = signing_token_of(runtime.settings.signing_keys, recipient)
    language = i18n.pick(recipient.language)
    t = i18n.translations(language)
    mail = compose_email(
        runtime,
        to=recipient.email,
        language=language,
        template="update",
        subject=t.gettext("Completed: \u201c%(title)s\u201d") % {"title": envelope.title},
        message_id=f"{recipient.id}.signed",
        link=f"{runtime.settings.base_url}/s/{token}",
        greeting=t.gettext("Hello %(name)s,") % {"name": recipient.name},
        line=t.gettext("Everyone has signed. The signed documents are attached or at this link."),
        button=t.gettext("Open the document"),
        brand=brand_of(organization, runtime.settings.base_url),
    )
    if sum(d.size for d in signed) <= MAX_ATTACHED_BYTES:
        for document in signed:
            assert document.signed_storage_key is not None
            data = await read_blob(runtime.storage, document.signed_storage_key)
            name = document.filename.removesuffix(".pdf") + "-signed.pdf"
            mail.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    await runtime.mail.send(mail)
