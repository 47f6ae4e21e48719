"""Account e-mails: a new user's activation link, a customer's consent request."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

from tabellion.db import transaction
from tabellion.jobs.registry import PRIORITY_INTERACTIVE, TaskContext, task
from tabellion.kit.time import utcnow
from tabellion.kit.web import page_environment
from tabellion.models.organization import Organization
from tabellion.models.portal import OneTimeCode
from tabellion.models.user import User
from tabellion.notification.transport import PermanentFailure
from tabellion.organization import accounts
from tabellion.portal.i18n import human_time, localized, pick, translations

log = logging.getLogger(__name__)

env = page_environment("tabellion.organization")


def _message(
    ctx: TaskContext,
    *,
    to: str,
    subject: str,
    message_id: str,
    template: str,
    language: str = "en",
    **context: Any,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = ctx.runtime.settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)  # UTC, said so (not "-0000")
    domain = urlsplit(ctx.runtime.settings.base_url).hostname or "localhost"
    message["Message-ID"] = f"<{message_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    templates = localized(env, language)
    message.set_content(templates.get_template(f"email/{template}.txt").render(**context))
    message.add_alternative(
        templates.get_template(f"email/{template}.html").render(lang=language, **context),
        subtype="html",
    )
    return message


async def _send(ctx: TaskContext, message: EmailMessage, what: str) -> None:
    """Send; an address refused for good is logged and not retried (no retry can help)."""
    try:
        await ctx.runtime.mail.send(message)
    except PermanentFailure as exc:
        log.warning("%s e-mail to %s refused for good: %s", what, message["To"], exc)


@task(accounts.ACTIVATION_TASK, max_attempts=8, priority=PRIORITY_INTERACTIVE)
async def send_activation(ctx: TaskContext, payload: dict[str, Any]) -> None:
    settings = ctx.runtime.settings
    async with transaction(ctx.runtime.sessions) as session:
        user = await session.get(User, payload["user_id"])
        if user is None or user.status != "invited" or user.activation_expires_at is None:
            return
        organization = await session.get(Organization, user.organization_id)
        assert organization is not None
        token = accounts.activation_token(settings.signing_key, user)
        expires = user.activation_expires_at
    message = _message(
        ctx,
        to=user.email,
        subject=f"Activate your Tabellion account for {organization.name}",
        message_id=f"{user.id}.activation.{int(expires.timestamp())}",
        template="activation",
        user=user,
        organization=organization,
        link=f"{settings.base_url}/account/activate/{token}",
        expires=human_time(expires, "en", organization.timezone),
    )
    await _send(ctx, message, "activation")


@task(accounts.CONSENT_TASK, max_attempts=8, priority=PRIORITY_INTERACTIVE)
async def send_consent(ctx: TaskContext, payload: dict[str, Any]) -> None:
    settings = ctx.runtime.settings
    async with transaction(ctx.runtime.sessions) as session:
        customer = await session.get(Organization, payload["customer_id"])
        if customer is None or customer.reseller_id is None or not customer.email:
            return
        reseller = await session.get(Organization, customer.reseller_id)
        assert reseller is not None
    token = accounts.consent_token(settings.signing_key, customer)
    message = _message(
        ctx,
        to=customer.email,
        subject=f"{reseller.name} asks your consent to send on behalf of {customer.name}",
        message_id=f"{customer.id}.consent",
        template="consent",
        customer=customer,
        reseller=reseller,
        link=f"{settings.base_url}/customers/consent/{token}",
    )
    await _send(ctx, message, "consent")


@task(accounts.RESET_TASK, max_attempts=8, priority=PRIORITY_INTERACTIVE)
async def send_password_reset(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """The reset link, in the language of the page it was asked from; nothing once the
    link is used, replaced or expired."""
    settings = ctx.runtime.settings
    language = pick(payload.get("language"))
    async with transaction(ctx.runtime.sessions) as session:
        request = await session.get(OneTimeCode, payload["code_id"])
        if request is None or request.consumed_at is not None or request.expires_at <= utcnow():
            return
        user = await session.get(User, request.subject)
        if user is None or user.status != "active":
            return
        organization = await session.get(Organization, user.organization_id)
        assert organization is not None
    token = accounts.reset_token(settings.signing_key, request.id)
    _ = translations(language).gettext
    message = _message(
        ctx,
        to=user.email,
        subject=_("Reset your Tabellion password for %(organization)s")
        % {"organization": organization.name},
        message_id=f"{request.id}.password-reset",
        template="password_reset",
        language=language,
        user=user,
        organization=organization,
        link=f"{settings.base_url}/account/password-reset/{token}",
        expires=human_time(request.expires_at, language, organization.timezone),
    )
    await _send(ctx, message, "password reset")
