"""The notification e-mail of a delivery, in the recipient's language.

A registered letter's notice names neither its sender nor its subject (the French LRE rule):
the recipient learns them only after accepting. The other modes say who sent what.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from jinja2 import Environment, PackageLoader, Template, select_autoescape

from tabellion.config import Settings
from tabellion.message.service.delivery import acceptance_deadline, portal_token_of
from tabellion.models.message import Delivery, Message
from tabellion.models.organization import Organization
from tabellion.notification.mime import MailBuilder, RawMail
from tabellion.organization.branding import brand_of
from tabellion.portal import i18n

env = Environment(
    loader=PackageLoader("tabellion.notification", "templates"),
    autoescape=select_autoescape(["html"], default_for_string=False, default=False),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Notice:
    mail: RawMail
    message_id: str
    deadline_at: datetime | None

    @property
    def message(self) -> EmailMessage:
        """The notice parsed back, as a receiver reads it."""
        return self.mail.parsed()


def notice_message_id(settings: Settings, delivery_id: str, again: str = "") -> str:
    """The notice's Message-ID; a notice sent ``again`` (a time stamp) has its own."""
    domain = urlsplit(settings.base_url).hostname or "localhost"
    return f"<{delivery_id}.notice{'.' + again if again else ''}@{domain}>"


def mailbox(address: str) -> str:
    """The address as it can travel without SMTPUTF8 when it can: the domain in IDNA form.

    Addresses are stored as validated, with an internationalised domain in Unicode; in a
    header the stdlib would turn such a domain into an encoded word, which is no address.
    """
    if address.isascii():
        return address
    try:
        checked = validate_email(address, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return address
    # ``ascii_email`` is None when the local part itself needs SMTPUTF8.
    return checked.ascii_email or address


@functools.lru_cache(maxsize=64)
def _context(language: str, timezone: str) -> dict[str, object]:
    return i18n.context(language, timezone)


@functools.lru_cache(maxsize=1024)
def _when(moment: datetime, language: str, timezone: str) -> str:
    when = _context(language, timezone)["when"]
    return str(when(moment))  # type: ignore[operator]


@functools.lru_cache(maxsize=16)
def _templates(language: str) -> tuple[Template, Template]:
    local = i18n.localized(env, language)
    return local.get_template("notice.txt"), local.get_template("notice.html")


def recipient_name(delivery: Delivery) -> str:
    person = " ".join(p for p in (delivery.first_name, delivery.last_name) if p)
    return person or delivery.company or ""


def compose_notice(
    settings: Settings,
    delivery: Delivery,
    message: Message,
    organization: Organization,
    *,
    at: datetime,
    deadline_at: datetime | None = None,
    message_id: str | None = None,
) -> Notice:
    """The notice as it will leave, sent at ``at`` (the deadline counts from that day).

    A notice sent again gives the deadline already set (``deadline_at``) and its own
    ``message_id``."""
    language = i18n.pick(delivery.language)
    t = i18n.translations(language)
    ctx = _context(language, organization.timezone)
    sender = message.sender_name or organization.name
    name = recipient_name(delivery)
    deadline = None
    if message.mode == "registered":
        deadline = deadline_at or acceptance_deadline(
            at, message.acceptance_days or 15, organization.timezone
        )
        subject = t.gettext("A registered electronic letter awaits you")
        lines = [
            t.gettext(
                "A registered electronic letter was sent to you. To read it, confirm your "
                "identity with a code sent to this address, then accept it."
            ),
            t.gettext("You can accept or refuse it until %(date)s. After that date it expires.")
            % {"date": _when(deadline, language, organization.timezone)},
        ]
        button = t.gettext("See the letter")
    elif message.mode == "deliver":
        subject = t.gettext("%(sender)s placed a document in your secure space") % {
            "sender": sender
        }
        lines = [
            t.gettext("%(sender)s placed \u201c%(subject)s\u201d in your secure space.")
            % {"sender": sender, "subject": message.subject}
        ]
        button = t.gettext("Open my secure space")
    elif message.mode == "secure":
        subject = t.gettext("%(sender)s sent you a secure message") % {"sender": sender}
        lines = [
            t.gettext("%(sender)s sent you a secure message: \u201c%(subject)s\u201d.")
            % {"sender": sender, "subject": message.subject},
            t.gettext("You can read it and answer from the secure page."),
        ]
        button = t.gettext("Read the message")
    else:
        subject = t.gettext("%(sender)s sent you a document: %(subject)s") % {
            "sender": sender,
            "subject": message.subject,
        }
        lines = [
            t.gettext("%(sender)s sent you \u201c%(subject)s\u201d.")
            % {"sender": sender, "subject": message.subject}
        ]
        button = t.gettext("Open the document")
    greeting = t.gettext("Hello %(name)s,") % {"name": name} if name else t.gettext("Hello,")
    token = portal_token_of(settings.signing_keys, delivery)
    context = {
        **ctx,
        "greeting": greeting,
        "lines": lines,
        "button": button,
        "link": f"{settings.base_url}/r/{token}",
        "mode": message.mode,
        # A registered notice names no sender: no logo, colour or names either.
        "brand": None
        if message.mode == "registered"
        else brand_of(organization, settings.base_url, name=sender),
    }
    text_template, html_template = _templates(language)
    message_id = message_id or notice_message_id(settings, delivery.id)
    mail = (
        MailBuilder()
        .from_(settings.mail_from)
        .to(mailbox(delivery.email))
        .header("Subject", subject)  # made one line: no header injection from a subject
        .header("Date", format_datetime(at.astimezone(UTC)))  # "+0000": UTC, known as such
        .header("Message-ID", message_id)
        .header("Auto-Submitted", "auto-generated")
        .header("X-Tabellion-Delivery", delivery.id)
        .alternative(
            text_template.render(**context),
            html_template.render(**context),
            language=language,
        )
    )
    return Notice(mail=mail, message_id=message_id, deadline_at=deadline)
