"""The recipient portal in a real headless Chromium, in each of its four languages.

Every flow runs in en, fr, nl and de: the recipient's ``language`` picks the pages' language
(the browser itself asks for English), and the vault, which knows no recipient yet, follows
the browser's Accept-Language. Each page is checked for its ``lang`` attribute, a translated
phrase, no English left over from the catalog, and no sideways scrolling on a phone; each is
saved as a screenshot at 1280 and 390 pixels wide (test-artifacts/screenshots/).

Links and codes come the way a recipient gets them: the served app's own worker sends the
notification and code e-mails through SMTP to the test's aiosmtpd server, and the test reads
them there (each checked for the recipient's language too) before using them in the browser.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from babel.messages.pofile import read_po
from playwright.async_api import Browser, Page

from tabellion.portal import i18n
from tabellion.runtime import Runtime
from tests.fixtures import browser as chromium
from tests.fixtures.factories import create_org_with_key, natural_recipient
from tests.fixtures.server import free_port, live_server
from tests.fixtures.smtp import ReceivedMail, SmtpServer
from tests.portal.helpers import (
    Inbox,
    code_in,
    is_answer,
    is_code,
    is_notice_of,
    link_in,
    status_of,
)

# The shared fixtures of tests/fixtures/browser.py, for this module's tests.
browser = chromium.browser
page = chromium.page
screenshots = chromium.screenshots

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.asyncio(loop_scope="session"),
]

LANGUAGES = pytest.mark.parametrize("lang", ["en", "fr", "nl", "de"])

# One phrase per page and language, written out here so that a missing translation fails.
PHRASES: dict[str, dict[str, str]] = {
    "notice": {
        "en": "A registered electronic letter awaits you",
        "fr": "Une lettre recommandée électronique vous attend",
        "nl": "Er wacht een elektronische aangetekende brief op u",
        "de": "Ein elektronisches Einschreiben wartet auf Sie",
    },
    "code-sent": {
        "en": "Code received by e-mail",
        "fr": "Code reçu par e-mail",
        "nl": "Code ontvangen per e-mail",
        "de": "Per E-Mail erhaltener Code",
    },
    "wrong-code": {
        "en": "That code is not right. 4 tries left.",
        "fr": "Ce code n’est pas le bon. Encore 4 essais.",
        "nl": "Die code klopt niet. Nog 4 pogingen.",
        "de": "Dieser Code ist nicht richtig. Noch 4 Versuche.",
    },
    "code-too-soon": {
        "en": "A code was sent less than a minute ago",
        "fr": "Un code a été envoyé il y a moins d’une minute",
        "nl": "Er werd minder dan een minuut geleden een code verstuurd",
        "de": "Vor weniger als einer Minute wurde ein Code gesendet",
    },
    "answer": {
        "en": "Accept the letter",
        "fr": "Accepter la lettre",
        "nl": "De brief aanvaarden",
        "de": "Brief annehmen",
    },
    "accepted": {
        "en": "You accepted this letter on",
        "fr": "Vous avez accepté cette lettre le",
        "nl": "U hebt deze brief aanvaard op",
        "de": "Sie haben diesen Brief am",
    },
    "already-answered": {
        "en": "This letter was already answered",
        "fr": "Cette lettre a déjà reçu une réponse",
        "nl": "Op deze brief werd al geantwoord",
        "de": "Dieser Brief wurde bereits beantwortet",
    },
    "refused": {
        "en": "You refused this letter on",
        "fr": "Vous avez refusé cette lettre le",
        "nl": "U hebt deze brief geweigerd op",
        "de": "abgelehnt",
    },
    "landing": {
        "en": "Open the message",
        "fr": "Ouvrir le message",
        "nl": "Het bericht openen",
        "de": "Nachricht öffnen",
    },
    "content": {"en": "View", "fr": "Afficher", "nl": "Bekijken", "de": "Ansehen"},
    "preview": {
        "en": "Back to the message",
        "fr": "Retour au message",
        "nl": "Terug naar het bericht",
        "de": "Zurück zur Nachricht",
    },
    "thread": {
        "en": "Send the reply",
        "fr": "Envoyer la réponse",
        "nl": "Het antwoord versturen",
        "de": "Antwort senden",
    },
    "no-reply": {
        "en": "No reply yet.",
        "fr": "Pas encore de réponse.",
        "nl": "Nog geen antwoord.",
        "de": "Noch keine Antwort.",
    },
    "deliver-landing": {
        "en": "Documents were placed in your secure space.",
        "fr": "Des documents ont été déposés dans votre espace sécurisé.",
        "nl": "Er werden documenten in uw beveiligde ruimte geplaatst.",
        "de": "Dokumente wurden in Ihrem sicheren Bereich abgelegt.",
    },
    "link-invalid": {
        "en": "This link is no longer valid",
        "fr": "Ce lien n’est plus valable",
        "nl": "Deze link is niet meer geldig",
        "de": "Dieser Link ist nicht mehr gültig",
    },
    "vault-sign-in": {
        "en": "Your e-mail address",
        "fr": "Votre adresse e-mail",
        "nl": "Uw e-mailadres",
        "de": "Ihre E-Mail-Adresse",
    },
    "vault-code": {
        "en": "a 6-digit code is on its way",
        "fr": "un code à 6 chiffres est en route",
        "nl": "is er een code van 6 cijfers onderweg",
        "de": "ist ein 6-stelliger Code unterwegs",
    },
    "vault": {"en": "Sign out", "fr": "Se déconnecter", "nl": "Afmelden", "de": "Abmelden"},
    "letter": {
        "en": "Registered electronic letter",
        "fr": "Lettre recommandée électronique",
        "nl": "Elektronische aangetekende brief",
        "de": "Elektronisches Einschreiben",
    },
    "vault-status": {"en": "notified", "fr": "notifiée", "nl": "gemeld", "de": "benachrichtigt"},
    "reply-sent": {
        "en": "Your reply was sent.",
        "fr": "Votre réponse a été envoyée.",
        "nl": "Uw antwoord werd verstuurd.",
        "de": "Ihre Antwort wurde gesendet.",
    },
    # The PDF's size (under 1000 bytes), its unit spelled out as each language does.
    "size": {"en": " bytes)", "fr": "\u00a0octets)", "nl": " byte)", "de": " Byte)"},
}

# A phrase of each e-mail's subject, in each language.
SUBJECTS: dict[str, dict[str, str]] = {
    "registered": PHRASES["notice"],
    "simple": {
        "en": "sent you a document:",
        "fr": "vous a envoyé un document :",
        "nl": "heeft u een document gestuurd:",
        "de": "hat Ihnen ein Dokument gesendet:",
    },
    "secure": {
        "en": "sent you a secure message",
        "fr": "vous a envoyé un message sécurisé",
        "nl": "heeft u een beveiligd bericht gestuurd",
        "de": "hat Ihnen eine sichere Nachricht gesendet",
    },
    "deliver": {
        "en": "placed a document in your secure space",
        "fr": "a déposé un document dans votre espace sécurisé",
        "nl": "heeft een document in uw beveiligde ruimte geplaatst",
        "de": "hat ein Dokument in Ihrem sicheren Bereich abgelegt",
    },
    "code": {"en": "Your code:", "fr": "Votre code :", "nl": "Uw code:", "de": "Ihr Code:"},
    "answer": {
        "en": "answered you",
        "fr": "vous a répondu",
        "nl": "heeft u geantwoord",
        "de": "hat Ihnen geantwortet",
    },
}


LONG_SUBJECT = "Termination_notice_CONTRACT_42_Acme_Corporation_2026_Q4_final_version"
LONG_NAME = "Termination_notice_CONTRACT_42_Acme_Corporation_2026_Q4_signed.pdf"


@cache
def english_leftovers(lang: str) -> tuple[str, ...]:
    """English phrases of the catalog that must not show on a page in ``lang``."""
    if lang == "en":
        return ()
    with (i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    return tuple(
        str(m.id)
        for m in catalog
        if isinstance(m.id, str)
        and m.id
        and m.string
        and m.string != m.id
        and "%(" not in m.id
        and " " in m.id.strip()
    )


def check_mail(mail: ReceivedMail, lang: str, kind: str) -> None:
    """The e-mail speaks ``lang``: its Content-Language, its subject, no English left over."""
    assert mail.message["Content-Language"] == lang
    subject = str(mail.message["Subject"])
    assert SUBJECTS[kind][lang] in subject, f"{kind}/{lang}: {subject}"
    for part in (subject, mail.text):
        left = [english for english in english_leftovers(lang) if english in part]
        assert not left, f"{kind}/{lang} e-mail shows English: {left}"


async def check_page(page: Page, lang: str, *phrases: str) -> str:
    """The page speaks ``lang``: its lang attribute, its phrases, no English left over."""
    assert await page.get_attribute("html", "lang") == lang
    text = await page.inner_text("body")
    for phrase in phrases:
        assert PHRASES[phrase][lang] in text, f"{phrase}/{lang}: {text}"
    left = [english for english in english_leftovers(lang) if english in text]
    assert not left, f"{phrases}/{lang} shows English: {left}"
    return text


@cache
def contract_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=16)
    pdf.cell(text="Contract 42: the signed copy")
    return bytes(pdf.output())


@dataclass
class Portal:
    """The app and its worker served on a loopback port, an API client for the sender, the
    runtime, and the recipients' inbox on the test SMTP server."""

    runtime: Runtime
    base: str
    api: httpx.AsyncClient
    inbox: Inbox

    def url(self, path: str) -> str:
        return self.base + path

    async def send(
        self,
        mode: str,
        lang: str,
        *,
        subject: str = "Secret subject",
        filename: str = "contract.pdf",
        recipient: int = 0,
    ) -> tuple[dict, str]:
        """Dispatch a message with one PDF to one recipient; returns its delivery and the link
        of its notification e-mail, once the delivery is ``notified``."""
        body = {
            "mode": mode,
            "subject": subject,
            "body_html": "<p>Secret body</p>",
            "recipients": [natural_recipient(recipient, language=lang)],
        }
        delivery = await self.dispatch(body, filename)
        return delivery, await self.notice(delivery, lang)

    async def dispatch(self, body: dict[str, object], filename: str) -> dict:
        created = (await self.api.post("/v1/messages", json=body)).json()
        uploaded = await self.api.post(
            f"/v1/messages/{created['id']}/attachments",
            params={"filename": filename},
            content=contract_pdf(),
            headers={"Content-Type": "application/pdf"},
        )
        assert uploaded.status_code == 201, uploaded.text
        dispatched = await self.api.post(f"/v1/messages/{created['id']}/dispatch")
        assert dispatched.status_code == 202, dispatched.text
        delivery: dict = dispatched.json()["deliveries"][0]
        return delivery

    async def notice(self, delivery: dict, lang: str) -> str:
        """The link of the delivery's notification e-mail, checked to speak ``lang``."""
        address = delivery["recipient"]["email"]
        mail = await self.inbox.receive(address, is_notice_of(delivery["id"]))
        check_mail(mail, lang, delivery["mode"])
        link = link_in(mail)
        assert link.startswith(self.url("/r/")), link
        # The worker records NOTIFIED once the server accepted: the e-mail may arrive first.
        await self.until_status(delivery["id"], "notified")
        return link

    async def code(self, address: str, lang: str) -> str:
        """The code of the next code e-mail to ``address``, checked to speak ``lang``."""
        mail = await self.inbox.receive(address, is_code)
        check_mail(mail, lang, "code")
        return code_in(mail)

    async def status(self, delivery_id: str) -> dict:
        return await status_of(self.api, {}, delivery_id)

    async def until_status(self, delivery_id: str, status: str) -> None:
        # Generous: the worker records NOTIFIED in batches behind sealing and renders.
        async with asyncio.timeout(30):
            while True:
                if (await self.status(delivery_id))["status"] == status:
                    return
                await asyncio.sleep(0.02)


@pytest_asyncio.fixture(loop_scope="session")
async def portal(
    data_dir: Path, database_url: str, smtp_server: SmtpServer
) -> AsyncIterator[Portal]:
    async with open_portal(data_dir, database_url, smtp_server) as served:
        yield served


@asynccontextmanager
async def open_portal(
    data_dir: Path, database_url: str, smtp_server: SmtpServer, **overrides: object
) -> AsyncIterator[Portal]:
    """The app served with its worker, sending through ``smtp_server``; ``overrides`` are
    settings (say, ``webhook_allowed_hosts``)."""
    # Links in e-mails lead to the served app: its address is chosen before the settings.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = smtp_server.settings(data_dir, database_url, public_url=base, **overrides)
    # Its own runtime in the session's loop (the shared ``runtime`` fixture lives in the
    # test's own loop, and database connections cannot cross loops).
    runtime = Runtime.build(settings, pool_size=5)
    try:
        _, key = await create_org_with_key(runtime)
        async with (
            live_server(runtime, run_worker=True, port=port),
            httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as api,
        ):
            yield Portal(runtime, base, api, Inbox(smtp_server))
    finally:
        await runtime.close()


async def ask_and_enter_code(page: Page, portal: Portal, address: str, lang: str) -> None:
    await page.click("form[action$='/code'] button")
    await page.fill("#code", await portal.code(address, lang))
    await page.click("form[action$='/verify'] button")


@LANGUAGES
async def test_registered(
    page: Page, portal: Portal, screenshots: chromium.Screenshots, lang: str
) -> None:
    delivery, link = await portal.send("registered", lang)
    await page.goto(link)
    text = await check_page(page, lang, "notice")
    deadline = datetime.fromisoformat((await portal.status(delivery["id"]))["deadline_at"])
    when = i18n.context(lang)["when"]  # the deadline as the page writes dates
    assert callable(when) and when(deadline) in text
    for secret in ("Acme", "Secret subject", "Secret body", "contract.pdf"):
        assert secret not in await page.content()
    await screenshots.take(page, "notice", lang)

    await page.click("form[action$='/code'] button")
    await check_page(page, lang, "code-sent")
    await screenshots.take(page, "code-sent", lang)
    right = await portal.code(delivery["recipient"]["email"], lang)
    await page.fill("#code", "000000" if right != "000000" else "111111")
    await page.click("form[action$='/verify'] button")
    await check_page(page, lang, "wrong-code")
    # The error page keeps the code field, and its language links lead back to the letter's
    # code step (no code in them).
    assert await page.locator("#code").is_visible()
    for href in await page.locator(".langs a").evaluate_all("els => els.map(a => a.href)"):
        assert href.startswith(link + "?sent=1&lang="), href
    await screenshots.take(page, "wrong-code", lang)
    # Asking again at once is refused, and the code already sent can still be entered.
    await page.click("form[action$='/code'] button")
    await check_page(page, lang, "code-too-soon")
    assert await page.locator("#code").is_visible()
    await screenshots.take(page, "code-too-soon", lang)
    await page.fill("#code", right)
    await page.click("form[action$='/verify'] button")
    assert page.url == link
    await check_page(page, lang, "answer")
    assert "Secret subject" not in await page.content()
    await screenshots.take(page, "answer", lang)
    # Switching language on the way keeps the letter and its state.
    other_lang = "de" if lang == "en" else "en"
    await page.click(f".langs a[lang={other_lang}]")
    await check_page(page, other_lang, "answer")
    await page.click(f".langs a[lang={lang}]")
    await check_page(page, lang, "answer")

    # A second tab still shows the answer form once the first has accepted.
    other = await page.context.new_page()
    await other.goto(link)
    await page.click("button[name=decision][value=accept]")  # not ticked: the form stays
    assert await page.evaluate("document.querySelector('#confirm').validity.valueMissing")
    assert (await portal.status(delivery["id"]))["status"] == "notified"
    await page.check("#confirm")
    await page.click("button[name=decision][value=accept]")
    text = await check_page(page, lang, "accepted")
    for shown in ("Acme", "Secret subject", "Secret body", "contract.pdf"):
        assert shown in text
    await screenshots.take(page, "accepted", lang)
    await other.check("#confirm")
    await other.click("button[name=decision][value=refuse]")
    await check_page(other, lang, "already-answered")
    await screenshots.take(other, "already-answered", lang)
    await other.close()
    state = await portal.status(delivery["id"])
    assert state["status"] == "accepted"
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED", "ACCEPTED"]

    refused, link = await portal.send("registered", lang, subject="Refused subject", recipient=1)
    await page.goto(link)
    await ask_and_enter_code(page, portal, refused["recipient"]["email"], lang)
    await page.check("#confirm")
    await page.click("button[name=decision][value=refuse]")
    text = await check_page(page, lang, "refused")
    assert "Refused subject" not in text and "Secret body" not in text
    assert await page.locator("form").count() == 0  # closed: nothing left to do
    await screenshots.take(page, "refused", lang)
    assert (await portal.status(refused["id"]))["status"] == "refused"


@LANGUAGES
async def test_simple(
    page: Page, portal: Portal, screenshots: chromium.Screenshots, lang: str
) -> None:
    # Long words that do not break (references, file names) must not widen a phone's page.
    delivery, link = await portal.send("simple", lang, subject=LONG_SUBJECT, filename=LONG_NAME)
    await page.goto(link)
    text = await check_page(page, lang, "landing")
    assert "Acme" in text and "Secret body" not in text
    await screenshots.take(page, "landing", lang)
    await page.click("form[action$='/open'] button")
    text = await check_page(page, lang, "content", "size")
    assert LONG_SUBJECT in text and "Secret body" in text and LONG_NAME in text
    await screenshots.take(page, "content", lang)

    async with page.expect_download() as downloading:
        await page.click(f"a[download]:text('{LONG_NAME}')")
    download = await downloading.value
    assert download.suggested_filename == LONG_NAME
    saved = await download.path()
    assert saved.read_bytes() == contract_pdf()
    state = await portal.status(delivery["id"])
    assert state["status"] == "received"
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED", "RECEIVED", "DOWNLOADED"]

    await page.click("a[href$='/preview']")
    await check_page(page, lang, "preview")
    image = page.locator("figure.page img")
    await image.scroll_into_view_if_needed()
    width = await image.evaluate("img => img.decode().then(() => img.naturalWidth, () => 0)")
    assert width > 0  # the first page, rendered as an image by the server
    await screenshots.take(page, "preview", lang)


@LANGUAGES
async def test_secure(
    page: Page, portal: Portal, screenshots: chromium.Screenshots, lang: str
) -> None:
    delivery, link = await portal.send("secure", lang)
    await page.goto(link)
    await check_page(page, lang, "landing")
    await page.click("form[action$='/open'] button")
    await check_page(page, lang, "no-reply")
    await screenshots.take(page, "thread-empty", lang)

    await page.fill("#body", "Thanks, the signed copy is attached.")
    await page.set_input_files(
        "#files", files=[{"name": "answer.txt", "mimeType": "text/plain", "buffer": b"signed"}]
    )
    await page.click("form[action$='/reply'] button")
    text = await check_page(page, lang, "thread", "reply-sent")
    assert "Thanks, the signed copy is attached." in text and "answer.txt" in text
    assert await page.locator("article.reply.recipient").count() == 1
    await screenshots.take(page, "replied", lang)

    answered = await portal.api.post(
        f"/v1/deliveries/{delivery['id']}/replies",
        json={"body_html": "<p>Received, thank you.</p>"},
    )
    assert answered.status_code == 201, answered.text
    # The recipient learns of the answer by e-mail, whose link leads back to the thread.
    mail = await portal.inbox.receive(delivery["recipient"]["email"], is_answer)
    check_mail(mail, lang, "answer")
    assert link_in(mail) == link
    await page.goto(link)
    text = await check_page(page, lang, "thread")
    assert PHRASES["reply-sent"][lang] not in text  # said once, after sending
    thread = page.locator("article.reply")
    assert await thread.evaluate_all("els => els.map(e => e.className)") == [
        "reply recipient",
        "reply sender",
    ]
    assert "Thanks, the signed copy" in await thread.nth(0).inner_text()
    assert "Received, thank you." in await thread.nth(1).inner_text()
    assert "Acme" in await thread.nth(1).inner_text()
    await screenshots.take(page, "answered", lang)
    evidence = [e["type"] for e in (await portal.status(delivery["id"]))["evidence"]]
    # The recipient's reply and the sender's answer are both proven.
    assert evidence == ["SENT", "NOTIFIED", "RECEIVED", "REPLIED", "SENDER_REPLIED"]


@LANGUAGES
async def test_vault(
    browser: Browser, portal: Portal, screenshots: chromium.Screenshots, lang: str
) -> None:
    # A recipient with no link at hand: the browser's language decides.
    async with chromium.open_page(browser, locale=lang) as page:
        await vault_tour(page, portal, screenshots, lang)


async def vault_tour(
    page: Page, portal: Portal, screenshots: chromium.Screenshots, lang: str
) -> None:
    # Sent one after the other (the vault lists the newest first), notified together.
    letter, older, newer = [
        await portal.dispatch(
            {
                "mode": mode,
                "subject": subject,
                "body_html": "<p>Secret body</p>",
                "recipients": [natural_recipient(0, language=lang)],
            },
            "contract.pdf",
        )
        for mode, subject in (
            ("registered", "Secret subject"),
            ("deliver", "Older documents"),
            ("deliver", "Newer documents"),
        )
    ]
    *_, link = await asyncio.gather(*(portal.notice(d, lang) for d in (letter, older, newer)))
    await page.goto(link)
    await check_page(page, lang, "deliver-landing")
    await screenshots.take(page, "deliver-landing", lang)
    await page.goto(portal.url("/r/" + "A" * 43))
    await check_page(page, lang, "link-invalid")
    await screenshots.take(page, "link-invalid", lang)

    await page.click("a.button[href='/vault']")
    await check_page(page, lang, "vault-sign-in")
    await screenshots.take(page, "sign-in", lang)
    await page.fill("#email", "jane0@example.test")
    await page.click("form[action='/vault/code'] button")
    await check_page(page, lang, "vault-code")
    await screenshots.take(page, "code", lang)
    # Switching language keeps the code step, with neither address nor code in the URL.
    other_lang = "de" if lang == "en" else "en"
    await page.click(f".langs a[lang={other_lang}]")
    await check_page(page, other_lang, "vault-code")
    assert "jane0" not in page.url and await page.locator("#code").is_visible()
    await page.click(f".langs a[lang={lang}]")
    await check_page(page, lang, "vault-code")
    await page.fill("#code", await portal.code("jane0@example.test", lang))
    await page.click("form[action='/vault/verify'] button")
    assert page.url == portal.url("/vault")
    await check_page(page, lang, "vault", "vault-status")
    listed = await page.locator(".deliveries li a").all_inner_texts()
    # Newest first; a registered letter not yet accepted keeps its subject to itself.
    assert listed == ["Newer documents", "Older documents", PHRASES["letter"][lang]]
    await screenshots.take(page, "list", lang)

    await page.click(f"a[href='/vault/d/{newer['id']}']")
    text = await check_page(page, lang, "content")
    assert "Newer documents" in text and "Secret body" in text and "contract.pdf" in text
    await screenshots.take(page, "delivery", lang)
    assert (await portal.status(newer["id"]))["status"] == "received"
    assert (await portal.status(older["id"]))["status"] == "notified"
    assert (await portal.status(letter["id"]))["status"] == "notified"

    await page.goto(portal.url("/vault"))
    await page.click("form[action='/vault/sign-out'] button")
    await check_page(page, lang, "vault-sign-in")
    await page.goto(portal.url(f"/vault/d/{older['id']}"))
    assert page.url == portal.url("/vault")  # signed out: back to the sign-in form
