"""What the PDF proof shows, in the reader's language: one row per fact of the content.

Every time shown is the one the JSON proof holds (its ISO 8601 text beside the local form),
so the PDF and the JSON proof never disagree. Contents of format 1 and 2 are both read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tabellion.evidence.events import REASON_BASE
from tabellion.evidence.rendering.language import N_, translations
from tabellion.portal import i18n

TITLES = {
    "SENT": N_("Evidence of sending"),
    "NOTIFIED": N_("Evidence of notification"),
    "UNDELIVERED": N_("Evidence of non-delivery"),
    "RECEIVED": N_("Evidence of receipt"),
    "ACCEPTED": N_("Evidence of acceptance"),
    "REFUSED": N_("Evidence of refusal"),
    "EXPIRED": N_("Evidence of expiry"),
    "DOWNLOADED": N_("Evidence of download"),
    "REPLIED": N_("Evidence of reply"),
    "SENDER_REPLIED": N_("Evidence of the sender's reply"),
}
EVENTS = {
    "SENT": N_("Sending"),
    "NOTIFIED": N_("Notification"),
    "UNDELIVERED": N_("Non-delivery"),
    "RECEIVED": N_("Receipt"),
    "ACCEPTED": N_("Acceptance"),
    "REFUSED": N_("Refusal"),
    "EXPIRED": N_("Expiry of the acceptance period"),
    "DOWNLOADED": N_("Download of a document"),
    "REPLIED": N_("Reply"),
    "SENDER_REPLIED": N_("Reply by the sender"),
}
REPLY_TYPES = frozenset({"REPLIED", "SENDER_REPLIED"})
REASONS = {
    "refused-by-recipient": N_("Refused by the recipient"),
    "acceptance-period-expired": N_("Acceptance period expired"),
    "notification-rejected": N_("Notification refused by the recipient's mail server"),
    "notification-bounced": N_("Notification bounced by the recipient's mail server"),
    "notification-undeliverable": N_("Notification could not be delivered"),
}
CHANNELS = {
    "portal-link": N_("personal link in the notification"),
    "personal-link": N_("personal link in the notification"),
    "portal": N_("recipient page"),
    "portal-session": N_("recipient page session"),
    "vault-session": N_("vault session"),
    "email-otp": N_("one-time code sent to the address"),
    "vault-email-otp": N_("one-time code sent to the address"),
}
IDENTIFIERS = {"siren": N_("SIREN"), "kvk": N_("KvK"), "vat": N_("VAT")}
FOOTER = N_(
    "This document is sealed. Its signature and the embedded evidence.json can be checked "
    "with any PDF reader, with `tabellion verify`, or at %(url)s."
)
QR_CAPTION = N_("Scan to verify")


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    mono: bool = False  # digests and ids: a fixed-width font


class Facts:
    """The rows of one content in one language."""

    def __init__(self, content: dict[str, Any], language: str) -> None:
        self.content = content
        self.language = language
        self._ = translations(language).gettext
        formats = i18n.context(language)
        self._when: Callable[[datetime], str] = formats["when"]  # type: ignore[assignment]
        self._size: Callable[[int], str] = formats["size"]  # type: ignore[assignment]

    def title(self) -> str:
        return self._(TITLES.get(self.content["type"], N_("Evidence")))

    def qr_caption(self) -> str:
        return self._(QR_CAPTION)

    def footer(self, url: str) -> str:
        return self._(FOOTER) % {"url": url}

    def time(self, value: Any) -> str:
        """A time as the proof holds it (ISO 8601, UTC), after its local long form."""
        if not isinstance(value, str):
            return "-"
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return f"{self._when(moment)} ({value})"

    def rows(self) -> list[Row]:
        _ = self._
        content = self.content
        event = EVENTS.get(content["type"])
        rows = [
            Row(_("Event"), _(event) if event else content["type"]),
            Row(_("Date and time"), self.time(content["occurred_at"])),
            Row(_("Issuer"), self._issuer(content["issuer"])),
            Row(_("Sender"), self._sender(content["sender"])),
            Row(_("Sender authentication"), self._sender_auth(content["sender"])),
            Row(_("Recipient"), self._recipient(content["recipient"])),
        ]
        action = content["recipient"].get("action")
        if action:
            rows += self._action(action)
        rows += [
            Row(_("Message"), content["message_id"], mono=True),
            Row(_("Delivery"), content["delivery_id"], mono=True),
        ]
        rows += self._reasons(content["event"].get("reasons") or [])
        rows += self._parts(content["content"])
        rows += self._reply(content)
        chain = content["chain"]
        rows.append(Row(_("Chain"), self._chain(chain), mono=True))
        return rows

    def _issuer(self, issuer: dict[str, Any]) -> str:
        names = [issuer["name"]]
        if issuer.get("legal_name") and issuer["legal_name"] != issuer["name"]:
            names.append(issuer["legal_name"])
        if issuer.get("identifier"):
            names.append(issuer["identifier"])
        return ", ".join(names) + f"\n{issuer['url']}"

    def _sender(self, sender: dict[str, Any]) -> str:
        organization = sender["organization"]
        legal = organization.get("legal_name") or organization.get("name")
        lines = [sender["name"]]
        if legal and legal != sender["name"]:
            lines.append(legal)
        identifiers = organization.get("identifiers") or {}
        numbers = [
            f"{self._(IDENTIFIERS[scheme])} {value}"
            for scheme, value in identifiers.items()
            if scheme in IDENTIFIERS
        ]
        if sender.get("email"):
            lines.append(sender["email"])
        lines.append(", ".join([*numbers, organization["id"]]))
        return "\n".join(lines)

    def _sender_auth(self, sender: dict[str, Any]) -> str:
        _ = self._
        auth = sender.get("authentication") or {}
        key = auth.get("api_key_id") or "-"
        if auth.get("method") == "client-key-jwt":
            text = _("client key %(key)s (signed JWT)") % {"key": key}
        else:
            text = _("API key %(key)s") % {"key": key}
        if auth.get("submitted_by_organization_id"):
            text += "\n" + _("sent on its behalf by %(organization)s") % {
                "organization": auth["submitted_by_organization_id"]
            }
        return text

    def _recipient(self, recipient: dict[str, Any]) -> str:
        person = " ".join(
            str(p) for p in (recipient.get("first_name"), recipient.get("last_name")) if p
        )
        lines = [p for p in (person, recipient.get("company"), recipient.get("email")) if p]
        return "\n".join(str(p) for p in lines) or "-"

    def _action(self, action: dict[str, Any]) -> list[Row]:
        """How the recipient was authenticated (with the time of the JSON proof's
        ``recipient.action.authentication``), then the action itself."""
        _ = self._
        auth = action.get("authentication") or {}
        if auth.get("confirmed"):
            text = _("one-time code sent to %(address)s, confirmed on %(time)s") % {
                "address": auth.get("address") or "-",
                "time": self.time(auth.get("time")),
            }
            if auth.get("ip"):
                text += "\n" + _("from IP %(ip)s") % {"ip": auth["ip"]}
        else:
            method = str(auth.get("method") or "personal-link")
            text = _(CHANNELS[method]) if method in CHANNELS else method
        done = [self.time(action.get("time"))]
        if action.get("ip"):
            done.append(_("from IP %(ip)s") % {"ip": action["ip"]})
        if action.get("user_agent"):
            done.append(_("browser: %(agent)s") % {"agent": action["user_agent"]})
        return [
            Row(_("Recipient authentication"), text),
            Row(_("Action by the recipient"), "\n".join(done)),
        ]

    def _reasons(self, reasons: list[Any]) -> list[Row]:
        _ = self._
        rows = []
        for reason in reasons:
            if not isinstance(reason, dict):  # format 1: the words recorded
                rows.append(Row(_("Reason"), str(reason)))
                continue
            code = str(reason.get("uri", "")).removeprefix(REASON_BASE)
            lines = [_(REASONS[code]) if code in REASONS else str(reason.get("uri"))]
            if reason.get("text"):
                lines.append(_("as recorded: %(text)s") % {"text": reason["text"]})
            if reason.get("smtp_code"):
                lines.append(_("SMTP reply %(code)s") % {"code": reason["smtp_code"]})
            rows.append(Row(_("Reason"), "\n".join(lines)))
        return rows

    def _parts(self, parts: dict[str, Any]) -> list[Row]:
        _ = self._
        rows = []
        for name, label in (
            ("subject", N_("Subject")),
            ("body_submitted", N_("Body as submitted")),
            ("body", N_("Body as shown")),
            ("body_text", N_("Plain-text body")),
        ):
            part = parts.get(name)
            if isinstance(part, dict):
                rows.append(Row(_(label), f"SHA-256 {part['sha256']}", mono=True))
            elif parts.get(f"{name}_sha256"):  # format 1
                rows.append(Row(_(label), f"SHA-256 {parts[f'{name}_sha256']}", mono=True))
        for attachment in parts.get("attachments") or []:
            described = [attachment["filename"], self._size(int(attachment["size"]))]
            if attachment.get("media_type"):
                described.append(attachment["media_type"])
            rows.append(
                Row(
                    _("Document"),
                    ", ".join(described) + f"\nSHA-256 {attachment['sha256']}",
                )
            )
        return rows

    def _reply(self, content: dict[str, Any]) -> list[Row]:
        """A reply's files (either side's): the digests its proof holds."""
        details = content.get("details")
        if content["type"] not in REPLY_TYPES or not isinstance(details, dict):
            return []
        rows = [Row(self._("Reply"), str(details.get("reply_id", "-")), mono=True)]
        for item in details.get("attachments") or []:
            rows.append(Row(self._("Reply file"), f"{item['filename']}\nSHA-256 {item['sha256']}"))
        return rows

    def _chain(self, chain: dict[str, Any]) -> str:
        _ = self._
        if not chain.get("previous"):
            return _("no. %(sequence)s, the organisation's first proof") % {
                "sequence": chain["sequence"]
            }
        return _("no. %(sequence)s, after the proof %(hash)s") % {
            "sequence": chain["sequence"],
            "hash": chain["previous"],
        }
