"""The notification e-mail: each mode, each language, what a registered notice must not say."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import httpx
import pytest
from markupsafe import escape

from tabellion.message.service.delivery import load_for_notice
from tabellion.models.organization import Organization
from tabellion.notification.compose import (
    _STAND_IN,
    Notice,
    Skeleton,
    _context,
    _templates,
    compose_notice,
)
from tabellion.organization.branding import brand_of
from tabellion.portal.service import delivery_by_token
from tabellion.runtime import Runtime
from tests.fixtures.factories import message_body
from tests.portal.helpers import dispatch

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
# 15 days after 2 March, to the end of the day in Paris.
DEADLINE = datetime(2026, 3, 17, 22, 59, 59, tzinfo=UTC)

# (mode, language) -> words of the subject, words of the body (text and HTML).
EXPECTED: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("registered", "en"): (
        "A registered electronic letter awaits you",
        ["Hello Jane Doe 0,", "confirm your identity", "See the letter", "March 17, 2026"],
    ),
    ("registered", "fr"): (
        "Une lettre recommandée électronique vous attend",
        ["Bonjour Jane Doe 0,", "Voir la lettre", "17 mars 2026", "ne transférez pas"],
    ),
    ("registered", "nl"): (
        "Er wacht een elektronische aangetekende brief op u",
        ["Hallo Jane Doe 0,", "De brief bekijken", "17 maart 2026", "aanvaarden of weigeren"],
    ),
    ("registered", "de"): (
        "Ein elektronisches Einschreiben wartet auf Sie",
        ["Guten Tag Jane Doe 0,", "Brief ansehen", "17. März 2026", "annehmen oder ablehnen"],
    ),
    ("simple", "en"): (
        "Acme sent you a document: Secret subject",
        ["Hello Jane Doe 0,", "Acme sent you \u201cSecret subject\u201d.", "Open the document"],
    ),
    ("simple", "fr"): (
        "Acme vous a envoyé un document : Secret subject",
        ["Bonjour Jane Doe 0,", "Ouvrir le document"],
    ),
    ("simple", "nl"): (
        "Acme heeft u een document gestuurd: Secret subject",
        ["Hallo Jane Doe 0,", "Het document openen"],
    ),
    ("simple", "de"): (
        "Acme hat Ihnen ein Dokument gesendet: Secret subject",
        ["Guten Tag Jane Doe 0,", "Dokument öffnen"],
    ),
    ("deliver", "en"): (
        "Acme placed a document in your secure space",
        ["Acme placed \u201cSecret subject\u201d in your secure space.", "Open my secure space"],
    ),
    ("deliver", "fr"): (
        "Acme a déposé un document dans votre espace sécurisé",
        ["Ouvrir mon espace sécurisé"],
    ),
    ("deliver", "nl"): (
        "Acme heeft een document in uw beveiligde ruimte geplaatst",
        ["Mijn beveiligde ruimte openen"],
    ),
    ("deliver", "de"): (
        "Acme hat ein Dokument in Ihrem sicheren Bereich abgelegt",
        ["Meinen sicheren Bereich öffnen"],
    ),
    ("secure", "en"): (
        "Acme sent you a secure message",
        ["You can read it and answer from the secure page.", "Read the message"],
    ),
    ("secure", "fr"): ("Acme vous a envoyé un message sécurisé", ["Lire le message"]),
    ("secure", "nl"): ("Acme heeft u een beveiligd bericht gestuurd", ["Het bericht lezen"]),
    ("secure", "de"): ("Acme hat Ihnen eine sichere Nachricht gesendet", ["Nachricht lesen"]),
}


async def notice_for(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, **extra: object
) -> tuple[dict, Notice]:
    delivery = await dispatch(client, auth, **extra)
    async with runtime.sessions() as session:
        loaded = await load_for_notice(session, delivery["id"])
    return delivery, compose_notice(runtime.settings, *loaded, at=AT)


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML bodies as a reader's mail program decodes them."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("mode", "language"), list(EXPECTED))
async def test_each_mode_in_each_language(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    mode: str,
    language: str,
) -> None:
    delivery, notice = await notice_for(client, auth, runtime, mode=mode, language=language)
    subject, words = EXPECTED[(mode, language)]
    mail = notice.message
    assert mail["Subject"] == subject
    assert mail["Content-Language"] == language
    text, html = parts(mail)
    for word in words:
        assert word in text, (word, text)
        assert str(escape(word)) in html, (word, html)
    assert f'<html lang="{language}">' in html
    assert mail["From"] == runtime.settings.mail_from
    assert mail["To"] == "jane0@example.test"
    assert mail["Message-ID"] == f"<{delivery['id']}.notice@tabellion.test>" == notice.message_id
    assert mail["X-Tabellion-Delivery"] == delivery["id"]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"].datetime == AT
    assert (notice.deadline_at == DEADLINE) is (mode == "registered")
    if mode != "registered":
        assert notice.deadline_at is None


@pytest.mark.parametrize("language", ["en", "fr", "nl", "de"])
async def test_registered_notice_reveals_neither_sender_nor_content(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, language: str
) -> None:
    _, notice = await notice_for(
        client, auth, runtime, language=language, subject="Termination of lease 42"
    )
    text, html = parts(notice.message)
    headers = "\n".join(f"{k}: {v}" for k, v in notice.message.items())
    for secret in ("Acme", "Termination", "lease 42", "Secret body", "contract.pdf"):
        for where in (headers, text, html):
            assert secret not in where, (secret, where)
    assert b"Acme" not in notice.message.as_bytes()
    # It does say what it is and who runs the service.
    assert "Tabellion" in text


async def test_link_resolves_to_the_delivery(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery, notice = await notice_for(client, auth, runtime, mode="simple")
    text, html = parts(notice.message)
    prefix = f"{runtime.settings.base_url}/r/"
    assert prefix == "http://tabellion.test/r/"
    link = next(word for word in text.split() if word.startswith(prefix))
    token = link.removeprefix(prefix)
    assert len(token) >= 22  # at least 128 bits in URL-safe base64
    assert f'href="{link}"' in html
    async with runtime.sessions() as session:
        found = await delivery_by_token(session, token)
        assert found is not None and found.id == delivery["id"]
        assert (
            await delivery_by_token(session, token[:-1] + ("A" if token[-1] != "A" else "B"))
            is None
        )
    assert (await client.get(f"/r/{token}")).status_code == 200


async def test_deadline_counts_from_the_day_of_sending(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth, acceptance_days=30, language="fr")
    async with runtime.sessions() as session:
        loaded = await load_for_notice(session, delivery["id"])
    late_evening = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # already 3 March in Paris
    notice = compose_notice(runtime.settings, *loaded, at=late_evening)
    assert notice.deadline_at == datetime(2026, 4, 2, 21, 59, 59, tzinfo=UTC)  # summer time
    text, _ = parts(notice.message)
    assert "2 avril 2026" in text


async def test_names_and_subjects_are_escaped_in_html(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, notice = await notice_for(
        client, auth, runtime, mode="simple", subject='<img src=x onerror="alert(1)">'
    )
    text, html = parts(notice.message)
    assert "<img" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert '<img src=x onerror="alert(1)">' in text  # plain text is not HTML


async def test_a_subject_with_line_breaks_still_makes_one_header(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, notice = await notice_for(
        client, auth, runtime, mode="simple", subject="Invoice 7\r\nBcc: victim@example.test"
    )
    assert (
        notice.message["Subject"] == "Acme sent you a document: Invoice 7 Bcc: victim@example.test"
    )
    assert notice.message["Bcc"] is None
    headers = notice.message.as_bytes().split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in headers


async def test_an_internationalised_domain_travels_in_ascii(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    recipient = {"email": "jane@exämple.test", "first_name": "Jane", "last_name": "Doe"}
    delivery = await dispatch(client, auth, mode="simple", recipients=[recipient])
    assert delivery["recipient"]["email"] == "jane@exämple.test"
    async with runtime.sessions() as session:
        loaded = await load_for_notice(session, delivery["id"])
    notice = compose_notice(runtime.settings, *loaded, at=AT)
    assert notice.message["To"] == "jane@xn--exmple-cua.test"
    assert b"To: jane@xn--exmple-cua.test" in notice.message.as_bytes()


async def test_a_company_is_greeted_by_its_name(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    recipient = {"email": "billing@corp.test", "company": "Corp SAS", "siren": "732829320"}
    _, notice = await notice_for(client, auth, runtime, mode="simple", recipients=[recipient])
    text, _ = parts(notice.message)
    assert text.startswith("Hello Corp SAS,")


# Greetings and links with what autoescaping changes, what it leaves, and a forged stand-in.
AWKWARD = [
    ("Hello Jane Doe 0,", "http://tabellion.test/r/abc_DEF-123"),
    ('Bonjour <script>alert(1)</script> O\'Brien & "Co",', "http://t.test/r/a?b=1&c=<2>"),
    ("Guten Tag Zoë Ünal,", ""),
    (f"Hello {_STAND_IN.format(1)} {{{{ link }}}},", "http://t.test/r/%00" + _STAND_IN),
]


@pytest.mark.parametrize("language", ["en", "fr", "nl", "de"])
@pytest.mark.parametrize("branded", [False, True])
def test_a_skeleton_fills_in_as_the_template_renders(language: str, branded: bool) -> None:
    organization = Organization(
        name='Acme <b>"&"</b>', legal_name="Acme SAS", siren="732829320", brand_color="#aa3300"
    )
    context = {
        **_context(language, "Europe/Paris"),
        "lines": ["A letter <for> you & \u201cyours\u201d.", "Until 17 March 2026."],
        "button": "See <the> letter",
        "mode": "simple" if branded else "registered",
        "brand": brand_of(organization, "http://t.test") if branded else None,
    }
    for template in _templates(language):
        skeleton = Skeleton.of(template, context)
        for greeting, link in AWKWARD:
            expected = template.render(**context, greeting=greeting, link=link)
            assert skeleton.fill(greeting, link) == expected


async def test_notices_of_one_message_greet_and_link_each_recipient(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    names = [("Jane", "Doe"), ("<Ann>", "O'Hara & Co")]
    recipients = [
        {"email": f"r{i}@example.test", "first_name": first, "last_name": last}
        for i, (first, last) in enumerate(names)
    ]
    created = await client.post(
        "/v1/messages",
        json=message_body(recipients=recipients),
        headers=auth,
    )
    sent = await client.post(f"/v1/messages/{created.json()['id']}/dispatch", headers=auth)
    notices = []
    for delivery in sent.json()["deliveries"]:
        async with runtime.sessions() as session:
            loaded = await load_for_notice(session, delivery["id"])
        notices.append(compose_notice(runtime.settings, *loaded, at=AT))
    links = []
    for (first, last), notice in zip(names, notices, strict=True):
        text, html = parts(notice.message)
        assert text.startswith(f"Hello {first} {last},")
        assert f"<p>{escape(f'Hello {first} {last},')}</p>" in html
        link = next(word for word in text.split() if "/r/" in word)
        assert f'href="{link}"' in html
        links.append(link)
    assert links[0] != links[1]
