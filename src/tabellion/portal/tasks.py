"""Portal e-mails: one-time codes, a sender's answer in a secure thread, a recipient's reply
to its sender, reminders."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import transaction
from tabellion.jobs.registry import PRIORITY_INTERACTIVE, PRIORITY_NOTICE, TaskContext, task
from tabellion.kit.sessions import code_of
from tabellion.kit.web import page_environment
from tabellion.message.service.delivery import portal_token
from tabellion.message.service.lifecycle import ANSWERED, ENDED, REMIND_TASK
from tabellion.models.message import Delivery, Message, Reply
from tabellion.models.organization import Organization
from tabellion.models.portal import OneTimeCode
from tabellion.organization.branding import brand_of
from tabellion.portal import i18n
from tabellion.portal.replies import REPLY_TO_SENDER_TASK, SENDER_REPLY_TASK
from tabellion.portal.service import CODE_TASK, RECOVERY_TASK, recovery_token
from tabellion.runtime import Runtime

env = page_environment("tabellion.portal")


def compose_email(
    runtime: Runtime,
    *,
    to: str,
    subject: str,
    message_id: str,
    template: str,
    language: str,
    timezone: str = "Europe/Paris",
    **context: Any,
) -> EmailMessage:
    """A templated e-mail in ``language`` (text and HTML), shared by the portal's, the
    envelopes' and the follow-up notices; times in ``timezone``, the sender's ``brand``
    (``organization.branding.Brand``) atop it when given."""
    message = EmailMessage()
    message["From"] = runtime.settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)  # UTC, said so (not "-0000")
    domain = urlsplit(runtime.settings.base_url).hostname or "localhost"
    message["Message-ID"] = f"<{message_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    ctx = {**i18n.context(language, timezone), "brand": None, **context}
    local = i18n.localized(env, language)
    message.set_content(local.get_template(f"email/{template}.txt").render(**ctx))
    message.add_alternative(
        local.get_template(f"email/{template}.html").render(**ctx), subtype="html"
    )
    # After the bodies: setting content clears the Content-* headers set before.
    message["Content-Language"] = language
    return message


def portal_link(runtime: Runtime, delivery: Delivery) -> str:
    token = portal_token(runtime.settings.signing_key, delivery.id, delivery.token_salt)
    return f"{runtime.settings.base_url}/r/{token}"


async def _unused_code(session: AsyncSession, payload: dict[str, Any]) -> OneTimeCode | None:
    """The job's code, unless it was used or replaced meanwhile (nothing to send then)."""
    code = await session.get(OneTimeCode, payload["code_id"])
    return None if code is None or code.consumed_at is not None else code


@task(CODE_TASK, max_attempts=5, timeout_seconds=60, priority=PRIORITY_INTERACTIVE)
async def send_code(ctx: TaskContext, payload: dict[str, Any]) -> None:
    runtime = ctx.runtime
    async with transaction(runtime.sessions) as session:
        code = await _unused_code(session, payload)
        if code is None:
            return
        # The language of the page the code was asked from; jobs enqueued before it was
        # recorded fall back to the delivery's, or English for the vault.
        language = payload.get("language")
        if payload.get("delivery_id"):
            delivery = await session.get(Delivery, payload["delivery_id"])
            if delivery is None:
                return
            to, language = delivery.email, language or delivery.language
        else:
            to = payload["email"]
    language = i18n.pick(language)
    value = code_of(runtime.settings.signing_keys, code)
    t = i18n.translations(language)
    await runtime.mail.send(
        compose_email(
            runtime,
            to=to,
            subject=t.gettext("Your code: %(code)s") % {"code": value},
            message_id=f"{code.id}.code",
            template="code",
            language=language,
            code=value,
            # A vault code needs the browser that asked; a letter's code, its link as well.
            vault=not payload.get("delivery_id"),
        )
    )


@task(RECOVERY_TASK, max_attempts=5, timeout_seconds=60, priority=PRIORITY_INTERACTIVE)
async def send_vault_link(ctx: TaskContext, payload: dict[str, Any]) -> None:
    runtime = ctx.runtime
    async with transaction(runtime.sessions) as session:
        code = await _unused_code(session, payload)
    if code is None:
        return
    language = i18n.pick(payload.get("language"))
    t = i18n.translations(language)
    token = recovery_token(runtime.settings.signing_key, code.id)
    await runtime.mail.send(
        compose_email(
            runtime,
            to=payload["email"],
            language=language,
            template="update",
            subject=t.gettext("Sign in to your secure space"),
            message_id=f"{code.id}.vault-link",
            link=f"{runtime.settings.base_url}/vault/link/{token}",
            greeting=t.gettext("Hello,"),
            line=t.gettext(
                "Someone entered wrong codes for your address, so the sign-in code was "
                "locked. If it was not you, nothing was opened. This link signs you in "
                "once, within an hour."
            ),
            button=t.gettext("Sign in"),
        )
    )


async def _thread_of(
    runtime: Runtime, reply_id: str
) -> tuple[Reply, Delivery, Message, Organization] | None:
    """A reply with its delivery, message and organisation; None once it is gone."""
    async with transaction(runtime.sessions) as session:
        reply = await session.get(Reply, reply_id)
        if reply is None:
            return None
        delivery = await session.get(Delivery, reply.delivery_id)
        assert delivery is not None
        message = await session.get(Message, delivery.message_id)
        organization = await session.get(Organization, delivery.organization_id)
        assert message is not None and organization is not None
    return reply, delivery, message, organization


@task(SENDER_REPLY_TASK, max_attempts=8, priority=PRIORITY_NOTICE)
async def notify_sender_reply(ctx: TaskContext, payload: dict[str, Any]) -> None:
    runtime = ctx.runtime
    found = await _thread_of(runtime, payload["reply_id"])
    if found is None:
        return
    reply, delivery, message, organization = found
    t = i18n.translations(delivery.language)
    sender = message.sender_name or organization.name
    await runtime.mail.send(
        compose_email(
            runtime,
            to=delivery.email,
            language=delivery.language,
            template="update",
            subject=t.gettext("%(sender)s answered you") % {"sender": sender},
            message_id=f"{reply.id}.answer",
            brand=brand_of(organization, runtime.settings.base_url, name=sender),
            link=portal_link(runtime, delivery),
            greeting=t.gettext("Hello,"),
            line=t.gettext(
                "%(sender)s answered in your secure conversation \u201c%(subject)s\u201d."
            )
            % {"sender": sender, "subject": message.subject},
            button=t.gettext("Read the answer"),
        )
    )


@task(REPLY_TO_SENDER_TASK, max_attempts=8, priority=PRIORITY_NOTICE)
async def reply_to_sender(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """A recipient's reply, e-mailed to the user the message names as its sender.

    The sender is one of the organisation's own users, so the reply's text goes in the e-mail
    (as a reply to an e-mail would); files stay in Tabellion, listed by name, to be fetched
    through the API. A message sent by the organisation itself (no sender user) has nobody to
    write to: the webhook and the replies API carry the reply.
    """
    runtime = ctx.runtime
    found = await _thread_of(runtime, payload["reply_id"])
    if found is None or not found[2].sender_email:
        return
    reply, delivery, message, _ = found
    assert message.sender_email is not None
    recipient = (
        delivery.company
        or " ".join(p for p in (delivery.first_name, delivery.last_name) if p)
        or delivery.email
    )
    await runtime.mail.send(
        compose_email(
            runtime,
            to=message.sender_email,
            language="en",
            template="reply_to_sender",
            subject=f"Re: {message.subject}",
            message_id=f"{reply.id}.to-sender",
            recipient=recipient,
            recipient_email=delivery.email,
            subject_line=message.subject,
            body_text=reply.body_text,
            files=[f["filename"] for f in reply.attachments or []],
            delivery_id=delivery.id,
            api=f"{runtime.settings.base_url}/v1/deliveries/{delivery.id}/replies",
        )
    )


@task(REMIND_TASK, max_attempts=8, priority=PRIORITY_NOTICE)
async def send_reminder(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """A reminder before the deadline, unless the delivery was answered meanwhile."""
    runtime = ctx.runtime
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, payload["delivery_id"])
        if delivery is None or delivery.status in (*ANSWERED, *ENDED) or not delivery.deadline_at:
            return
        organization = await session.get(Organization, delivery.organization_id)
        assert organization is not None
    language = delivery.language
    t = i18n.translations(language)
    deadline = i18n.context(language, organization.timezone)["when"](delivery.deadline_at)  # type: ignore[operator]
    await runtime.mail.send(
        compose_email(
            runtime,
            to=delivery.email,
            language=language,
            template="update",
            subject=t.gettext("Reminder: a registered electronic letter awaits you"),
            message_id=f"{delivery.id}.reminder.{payload.get('days_left', 0)}",
            link=portal_link(runtime, delivery),
            greeting=t.gettext("Hello,"),
            line=t.gettext(
                "A registered electronic letter still awaits your answer. You can "
                "accept or refuse it until %(date)s."
            )
            % {"date": deadline},
            button=t.gettext("See the letter"),
        )
    )
