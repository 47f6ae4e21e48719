"""Text messages (SMS) for one-time codes, through a provider interface.

``SmsProvider`` is what the rest of Tabellion calls; one provider is built in: an HTTP API
(``TABELLION_SMS_URL``, ``TABELLION_SMS_SECRET``). The URL is a template: ``{to}`` (the
number, E.164) and ``{text}`` are replaced, URL-encoded, so it fits providers that take them in
the query as well as those that read the JSON body, which is always sent::

    POST <url>    Authorization: Bearer <secret>
    {"to": "+32470123456", "text": "...", "sender": "<TABELLION_SMS_SENDER>"}

A 2xx answer is a sent message; a 4xx other than 408/429 means the provider refuses this
message for good (a number it cannot reach); anything else is worth retrying. Messages leave
through the job table (``SEND_SMS_TASK``), never from inside a request.
"""

from __future__ import annotations

import re
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from tabellion.config import Settings
from tabellion.jobs.registry import GiveUp, RetryLater, TaskContext, task

SEND_SMS_TASK = "identity.send_sms"
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SPACING = re.compile(r"[\s().\-]")
MAX_TEXT = 480  # three concatenated messages
_RETRYABLE = frozenset({408, 429})


class SmsRejected(Exception):
    """The provider will not send this message (say, a number it cannot reach)."""


class SmsUnavailable(Exception):
    """The provider could not take the message now: retry later."""


class SmsProvider(Protocol):
    async def send(self, to: str, text: str) -> str:
        """Send ``text`` to ``to`` (E.164); returns the provider's answer, or raises
        SmsRejected / SmsUnavailable."""
        ...


def normalize_phone(value: str) -> str:
    """A number in E.164 (``+32470123456``); spaces, dots, dashes and brackets are dropped."""
    number = _SPACING.sub("", value)
    if number.startswith("00"):
        number = "+" + number[2:]
    if not _PHONE.match(number):
        raise ValueError("a phone number in international form, e.g. +32 470 12 34 56")
    return number


class HttpSmsProvider:
    def __init__(self, url: str, secret: str | None, *, sender: str, timeout: float = 10.0):
        self.url = url
        self.secret = secret
        self.sender = sender
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpSmsProvider | None:
        if not settings.sms_url:
            return None
        secret = settings.sms_secret.get_secret_value() if settings.sms_secret else None
        return cls(settings.sms_url, secret, sender=settings.sms_sender)

    async def send(self, to: str, text: str) -> str:
        number = normalize_phone(to)
        if not text or len(text) > MAX_TEXT:
            raise SmsRejected(f"a text message holds 1 to {MAX_TEXT} characters")
        url = self.url.replace("{to}", quote(number, safe="")).replace(
            "{text}", quote(text, safe="")
        )
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        body: dict[str, Any] = {"to": number, "text": text, "sender": self.sender}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SmsUnavailable(f"SMS provider unreachable: {exc}") from exc
        answer = f"{response.status_code} {response.text[:200]}".strip()
        if response.is_success:
            return answer
        if 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE:
            raise SmsRejected(answer)
        raise SmsUnavailable(answer)


def open_provider(settings: Settings) -> SmsProvider | None:
    return HttpSmsProvider.from_settings(settings)


@task(SEND_SMS_TASK, max_attempts=8, timeout_seconds=60)
async def send_sms(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Send one text message (``{"to", "text"}``), retrying while the provider is away."""
    provider = open_provider(ctx.runtime.settings)
    if provider is None:
        raise GiveUp("no SMS provider configured (TABELLION_SMS_URL)")
    try:
        await provider.send(payload["to"], payload["text"])
    except SmsRejected as exc:
        raise GiveUp(f"the SMS provider refused the message: {exc}") from exc
    except SmsUnavailable as exc:
        raise RetryLater(str(exc), delay=min(30.0 * 2 ** (ctx.attempt - 1), 3600.0)) from exc


SMS_CODE_TASK = "identity.send_code_sms"


@task(SMS_CODE_TASK, max_attempts=8, timeout_seconds=60)
async def send_code_sms(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """A registered letter's one-time code by text message (``{"code_id", "delivery_id",
    "language"}``): the code is derived here from its id, so it is never stored in the job."""
    from tabellion.db import transaction
    from tabellion.kit.sessions import code_of
    from tabellion.models.message import Delivery
    from tabellion.models.portal import OneTimeCode
    from tabellion.portal import i18n

    runtime = ctx.runtime
    async with transaction(runtime.sessions) as session:
        code = await session.get(OneTimeCode, payload["code_id"])
        delivery = await session.get(Delivery, payload["delivery_id"])
        if code is None or code.consumed_at is not None or delivery is None or not delivery.phone:
            return  # used, replaced or gone meanwhile: nothing to send
        to = delivery.phone
    provider = open_provider(runtime.settings)
    if provider is None:
        raise GiveUp("no SMS provider configured (TABELLION_SMS_URL)")
    t = i18n.translations(i18n.pick(payload.get("language")))
    value = code_of(runtime.settings.signing_keys, code)
    text = t.gettext("Your Tabellion code: %(code)s. It is valid for 10 minutes.") % {"code": value}
    try:
        await provider.send(to, text)
    except SmsRejected as exc:
        raise GiveUp(f"the SMS provider refused the message: {exc}") from exc
    except SmsUnavailable as exc:
        raise RetryLater(str(exc), delay=min(30.0 * 2 ** (ctx.attempt - 1), 600.0)) from exc
