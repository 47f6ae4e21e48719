"""The notification e-mail of a delivery, in the recipient's language.

A registered letter's notice names neither its sender nor its subject (the French LRE rule):
the recipient learns them only after accepting. The other modes say who sent what.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from jinja2 import Environment, PackageLoader, Template, select_autoescape
from markupsafe import escape

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


class Notice(NamedTuple):
    mail: RawMail
    message_id: str
    deadline_at: datetime | None

    @property
    def message(self) -> EmailMessage:
        """The notice parsed back, as a receiver reads it."""
        return self.mail.parsed()


def notice_message_id(settings: Settings, delivery_id: str, again: str = "") -> str:
    """The notice's Message-ID; a notice sent ``again`` (a time stamp) has its own."""
    return f"<{delivery_id}.notice{'.' + again if again else ''}@{_domain(settings.base_url)}>"


@functools.lru_cache(maxsize=8)
def _domain(base_url: str) -> str:
    return urlsplit(base_url).hostname or "localhost"


def date_header(at: datetime) -> str:
    """The ``Date`` header's value for ``at``, in UTC ("+0000": known as such), to the second."""
    return _date_of_second(int(at.timestamp()))


@functools.lru_cache(maxsize=4)
def _date_of_second(second: int) -> str:
    # The notices sent within one second share it: formatting costs ~10 µs.
    return format_datetime(datetime.fromtimestamp(second, UTC))


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


# What differs between the notices of one message, language and day: the templates print
# them as they are, and nothing else in them depends on the recipient.
PER_RECIPIENT = ("greeting", "link")
# Rendered in their place, then split on; random, so no subject or name can forge one.
_STAND_IN = "\x00" + secrets.token_hex(8) + ":{}\x00"
_STAND_INS = re.compile(re.escape(_STAND_IN).replace(r"\{\}", r"(\d)"))


@dataclass(frozen=True)
class Skeleton:
    """A notice template rendered once for many recipients, with gaps for what is theirs.

    Rendering costs several times the splicing, and a dispatch's notices differ only in the
    greeting and the link (``PER_RECIPIENT``): ``fill`` gives what ``render`` would, the values
    escaped as the template's autoescaping would escape them.
    """

    parts: tuple[str, ...]  # the text before, between and after the gaps
    gaps: tuple[int, ...]  # which value fills each gap (an index into PER_RECIPIENT)
    autoescape: bool

    @classmethod
    def of(cls, template: Template, context: dict[str, object]) -> Skeleton:
        stand_ins = {name: _STAND_IN.format(i) for i, name in enumerate(PER_RECIPIENT)}
        rendered = template.render(**context, **stand_ins)
        pieces = _STAND_INS.split(rendered)
        gaps = tuple(int(gap) for gap in pieces[1::2])
        if set(gaps) != set(range(len(PER_RECIPIENT))):
            raise RuntimeError(f"{template.name} must print {' and '.join(PER_RECIPIENT)} as is")
        autoescape = template.environment.autoescape
        if callable(autoescape):
            autoescape = autoescape(template.name)
        return cls(tuple(pieces[::2]), gaps, bool(autoescape))

    def fill(self, *values: str) -> str:
        shown = [str(escape(v)) for v in values] if self.autoescape else values
        out = [self.parts[0]]
        for gap, part in zip(self.gaps, self.parts[1:], strict=True):
            out += (shown[gap], part)
        return "".join(out)


_SKELETONS: dict[tuple[object, ...], tuple[Skeleton, Skeleton]] = {}


def _skeletons(
    language: str, context: dict[str, object], key: tuple[object, ...]
) -> tuple[Skeleton, Skeleton]:
    """The text and HTML skeletons of ``context`` (all but the recipient's values), kept under
    ``key``, which must determine it: language and time zone, the message's wording and
    deadline, the sender's brand."""
    found = _SKELETONS.get(key)
    if found is None:
        if len(_SKELETONS) >= 256:
            _SKELETONS.clear()
        text, html = _templates(language)
        found = _SKELETONS[key] = (Skeleton.of(text, context), Skeleton.of(html, context))
    return found


def load_templates() -> None:
    """Every language's catalog and compiled templates, made now rather than by a first notice."""
    for language in i18n.LANGUAGES:
        _templates(language)


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
    # A registered notice names no sender: no logo, colour or names either.
    brand = (
        None
        if message.mode == "registered"
        else brand_of(organization, settings.base_url, name=sender)
    )
    shared = {**ctx, "lines": lines, "button": button, "mode": message.mode, "brand": brand}
    key = (language, organization.timezone, message.mode, tuple(lines), button, repr(brand))
    text_skeleton, html_skeleton = _skeletons(language, shared, key)
    link = f"{settings.base_url}/r/{token}"
    message_id = message_id or notice_message_id(settings, delivery.id)
    mail = (
        MailBuilder()
        .from_(settings.mail_from)
        .to(mailbox(delivery.email))
        .header("Subject", subject)  # made one line: no header injection from a subject
        .header("Date", date_header(at))
        .header("Message-ID", message_id)
        .header("Auto-Submitted", "auto-generated")
        .header("X-Tabellion-Delivery", delivery.id)
        .alternative(
            text_skeleton.fill(greeting, link),
            html_skeleton.fill(greeting, link),
            language=language,
        )
    )
    return Notice(mail=mail, message_id=message_id, deadline_at=deadline)
