"""Render the recipient portal's pages (or the sender dashboard's) in headless Chromium.

    PYTHONPATH=src .venv-test/bin/python scripts/screenshots.py [--out docs/images]
    PYTHONPATH=src .venv-test/bin/python scripts/screenshots.py --dashboard [--out docs/dashboard]

The first renders the portal for docs/portal.md; ``--dashboard`` renders the dashboard for
docs/dashboard.md, at desktop width, in English and (some pages) in French: an admin invited
through the API, activated from the e-mailed link, signed in; a letter accepted and one
refused by their recipient through the portal, others on their way, a review with a line of
a CSV file that cannot be sent, envelopes (one sent, one a draft in the field editor) and a
webhook endpoint.

Starts a real server (``python -m tabellion serve``) on a free port with a fresh data dir,
gives its organisation a name, legal name, colour and logo, sends a registered letter, a
refused one and a secure message through the API, and walks the recipient's pages as a person
would: codes and links are read from the e-mails in the outbox. Each page is saved as a PNG,
reduced to a small palette so the images stay light in the repository.

Needs Debian's ``chromium`` (Playwright drives ``/usr/bin/chromium``).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
from PIL import Image, ImageDraw
from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 760, "height": 640}
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
RECIPIENT = {"email": "jane.doe@example.test", "first_name": "Jane", "last_name": "Doe"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def logo() -> bytes:
    """A plain mark: a teal square with a white "A"-like chevron."""
    image = Image.new("RGB", (96, 96), "#0f766e")
    draw = ImageDraw.Draw(image)
    draw.polygon([(20, 78), (48, 16), (76, 78), (62, 78), (48, 44), (34, 78)], fill="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Server:
    """``tabellion serve`` in a child process, with its data dir and outbox."""

    def __init__(self, data_dir: Path, **env_extra: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABELLION_")}
        env.update(TABELLION_DATA_DIR=str(data_dir), TABELLION_SEAL_DELAY_SECONDS="0")
        env.update(env_extra)
        self.log = (data_dir.parent / "serve.log").open("w")
        command = [sys.executable, "-m", "tabellion", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and command
            [*command, "--org-name", "Acme Lettings"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {self.log.name}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        key = (data_dir / "first-api-key.txt").read_text().strip()
        self.api = httpx.Client(
            base_url=f"{self.base}/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()

    def mails(self) -> list[EmailMessage]:
        found = []
        for path in sorted((self.data_dir / "outbox").glob("*.eml")):
            mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(mail, EmailMessage)
            found.append(mail)
        return found

    def wait_mail(self, test: object, *, timeout: float = 60) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for mail in reversed(self.mails()):
                if test(mail):  # type: ignore[operator]
                    return mail
            time.sleep(0.2)
        raise SystemExit("an expected e-mail did not arrive")

    def send(self, mode: str, subject: str, body: str) -> str:
        """A message to Jane, with one PDF, dispatched; returns the portal link of its notice."""
        draft = self.api.post(
            "/messages",
            json={
                "mode": mode,
                "subject": subject,
                "body_html": body,
                "recipients": [RECIPIENT],
                "reference": "LEASE-2027-014",
            },
        ).json()
        self.api.post(
            f"/messages/{draft['id']}/attachments?filename=lease-termination.pdf",
            content=PDF,
            headers={"Content-Type": "application/pdf"},
        ).raise_for_status()
        delivery = self.api.post(f"/messages/{draft['id']}/dispatch").json()["deliveries"][0]
        notice = self.wait_mail(lambda m: m["X-Tabellion-Delivery"] == delivery["id"])
        return link_in(notice, self.base)


def link_in(mail: EmailMessage, base: str) -> str:
    text = mail.get_body(("plain",))
    assert text is not None
    match = re.search(re.escape(base) + r"/r/[A-Za-z0-9_-]+", text.get_content())
    assert match, text.get_content()
    return match.group(0)


def is_code(mail: EmailMessage) -> bool:
    return ".code@" in str(mail["Message-ID"])


async def new_code(server: Server, before: int) -> str:
    """The code of the first code e-mail after the ``before`` already in the outbox."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        codes = [m for m in server.mails() if is_code(m)]
        if len(codes) > before:
            match = re.search(r"\d{6}", str(codes[-1]["Subject"]))
            assert match
            return match.group(0)
        await asyncio.sleep(0.2)
    raise SystemExit("no code e-mail arrived")


def codes_sent(server: Server) -> int:
    return len([m for m in server.mails() if is_code(m)])


def shrink(png: bytes, target: Path) -> None:
    """A 64-colour palette: text pages lose nothing visible and weigh a fraction."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    image.save(target, format="PNG", optimize=True)
    print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} KiB")


async def shoot(page: Page, out: Path, name: str) -> None:
    await page.wait_for_load_state("networkidle")
    shrink(await page.screenshot(full_page=True), out / f"portal-{name}.png")


async def walk(server: Server, out: Path) -> None:
    letter = server.send(
        "registered",
        "Notice of termination of your lease",
        "<p>Dear Ms Doe,</p><p>We hereby give notice that the lease of the flat at 12 rue des "
        "Lilas ends on 31 March 2027. The signed notice is attached.</p><p>Acme Lettings</p>",
    )
    refused = server.send("registered", "Rent review", "<p>Dear Ms Doe, ...</p>")
    secure = server.send(
        "secure",
        "Your deposit",
        "<p>Dear Ms Doe,</p><p>Please send us your bank details for the deposit refund.</p>",
    )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        context = await browser.new_context(viewport=VIEWPORT, locale="en-GB")
        page = await context.new_page()
        # A registered letter: notice, code, answer, then the letter itself.
        await page.goto(letter)
        await shoot(page, out, "registered-notice")
        before = codes_sent(server)
        await page.get_by_role("button", name="Send me a code").click()
        await shoot(page, out, "registered-code")
        await page.get_by_label("Code received by e-mail").fill(await new_code(server, before))
        await page.get_by_role("button", name="Confirm").click()
        await shoot(page, out, "registered-answer")
        await page.get_by_label("I understand").check()
        await page.get_by_role("button", name="Accept the letter").click()
        await shoot(page, out, "registered-accepted")
        # Another, refused (the page says so in its heading).
        await page.goto(refused)
        before = codes_sent(server)
        await page.get_by_role("button", name="Send me a code").click()
        await page.get_by_label("Code received by e-mail").fill(await new_code(server, before))
        await page.get_by_role("button", name="Confirm").click()
        await page.get_by_label("I understand").check()
        await page.get_by_role("button", name="Refuse the letter").click()
        await shoot(page, out, "registered-refused")
        # The French notice of a new letter, for the language switch and the localised date.
        french = await browser.new_context(viewport=VIEWPORT, locale="fr-FR")
        fr_page = await french.new_page()
        await fr_page.goto(letter + "?lang=fr")
        await shoot(fr_page, out, "registered-reopen-fr")
        # A secure message: opened, answered with a file, and the sender's answer.
        await page.goto(secure)
        await shoot(page, out, "secure-landing")
        await page.get_by_role("button", name="Open the message").click()
        await page.get_by_label("Your reply").fill("Here are my bank details, as asked.")
        await page.set_input_files(
            "#files",
            files=[{"name": "bank-details.pdf", "mimeType": "application/pdf", "buffer": PDF}],
        )
        await page.get_by_role("button", name="Send the reply").click()
        delivery = server.api.get("/deliveries", params={"status": "received"}).json()["data"][0]
        server.api.post(
            f"/deliveries/{delivery['id']}/replies",
            json={"body_html": "<p>Thank you: the refund leaves on Monday.</p>"},
        ).raise_for_status()
        await page.reload()
        await shoot(page, out, "secure-thread")
        # The vault: every delivery to the address.
        vault = await browser.new_context(viewport=VIEWPORT, locale="en-GB")
        v_page = await vault.new_page()
        await v_page.goto(f"{server.base}/vault")
        await shoot(v_page, out, "vault-sign-in")
        await v_page.get_by_label("Your e-mail address").fill(RECIPIENT["email"])
        before = codes_sent(server)
        await v_page.get_by_role("button", name="Send me a code").click()
        await v_page.get_by_label("Code received by e-mail").fill(await new_code(server, before))
        await v_page.get_by_role("button", name="Sign in").click()
        await shoot(v_page, out, "vault")
        await browser.close()


# ---- the sender dashboard (--dashboard) ---------------------------------------------------

DESKTOP = {"width": 1280, "height": 800}
PASSWORD = "correct horse battery staple"  # noqa: S105 - a scratch server's throwaway admin
CSV = (
    "email,first_name,last_name,language\n"
    "paul.martin@example.test,Paul,Martin,fr\n"
    "not-an-address,Lena,Vogel,de\n"
    "sofia.janssens@example.test,Sofia,Janssens,nl\n"
)


def agreement_pdf() -> bytes:
    """A two-page lease annex drawn as text, for the field editor's page previews."""
    pages = []
    for number in (1, 2):
        image = Image.new("RGB", (1240, 1754), "white")
        draw = ImageDraw.Draw(image)
        draw.text((120, 140), f"Lease annex, page {number} of 2", fill="black", font_size=44)
        for line in range(24):
            draw.rectangle((120, 260 + line * 48, 1120 - (line % 5) * 90, 276 + line * 48),
                           fill="#d0d7de")  # fmt: skip
        pages.append(image)
    buffer = io.BytesIO()
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:], resolution=150)
    return buffer.getvalue()


async def answer(page: Page, server: Server, link: str, button: str) -> None:
    """The recipient opens a registered letter's notice, confirms the code, and answers."""
    await page.goto(link)
    before = codes_sent(server)
    await page.get_by_role("button", name="Send me a code").click()
    await page.get_by_label("Code received by e-mail").fill(await new_code(server, before))
    await page.get_by_role("button", name="Confirm").click()
    await page.get_by_label("I understand").check()
    await page.get_by_role("button", name=button).click()


def envelope(server: Server, title: str, *, send: bool) -> str:
    """An envelope with the annex and a signature field per signer; sent, or left a draft."""
    created = server.api.post(
        "/envelopes",
        json={
            "title": title,
            "message": "Please sign the annex to your lease.",
            "language": "en",
            "reference": "LEASE-2027-014",
            "signing_order": "sequential",
            "recipients": [
                {"email": "claire@acme-lettings.example", "name": "Claire Dubois",
                 "role": "approver", "order": 1},
                {"email": RECIPIENT["email"], "name": "Jane Doe", "role": "signer", "order": 2},
                {"email": "archive@acme-lettings.example", "name": "Archive", "role": "cc"},
            ],
        },
    )  # fmt: skip
    created.raise_for_status()
    body = created.json()
    document = server.api.post(
        f"/envelopes/{body['id']}/documents?filename=lease-annex.pdf",
        content=agreement_pdf(),
        headers={"Content-Type": "application/pdf"},
    )
    document.raise_for_status()
    signers = [r["id"] for r in body["recipients"] if r["role"] == "signer"]
    server.api.post(
        f"/envelopes/{body['id']}/fields",
        json={"fields": [
            {"recipient_id": r, "document_id": document.json()["id"], "type": "signature",
             "page": 2, "x": 55, "y": 80, "width": 30, "height": 7}
            for r in signers
        ]},
    ).raise_for_status()  # fmt: skip
    if send:
        server.api.post(f"/envelopes/{body['id']}/send").raise_for_status()
    return str(body["id"])


def activation_link(server: Server, address: str) -> str:
    """The link of the invitation e-mailed to ``address``."""
    pattern = re.escape(server.base) + r"/account/activate/[A-Za-z0-9_.-]+"

    def invitation(mail: EmailMessage) -> bool:
        text = mail.get_body(("plain",))
        return (
            address in str(mail["To"])
            and text is not None
            and (re.search(pattern, text.get_content()) is not None)
        )

    text = server.wait_mail(invitation).get_body(("plain",))
    assert text is not None
    match = re.search(pattern, text.get_content())
    assert match
    return match.group(0)


async def walk_dashboard(server: Server, out: Path) -> None:
    accepted = server.send(
        "registered",
        "Notice of termination of your lease",
        "<p>Dear Ms Doe,</p><p>We hereby give notice that the lease of the flat at 12 rue des "
        "Lilas ends on 31 March 2027.</p><p>Acme Lettings</p>",
    )
    refused = server.send("registered", "Rent review", "<p>Dear Ms Doe, ...</p>")
    for subject, mode in (("Inventory of fixtures", "deliver"), ("Your deposit", "secure")):
        server.send(mode, subject, "<p>Dear Ms Doe, ...</p>")
    sent = envelope(server, "Lease annex: parking space", send=True)
    draft = envelope(server, "Lease annex: storage room", send=False)
    server.api.post(
        "/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/crm/hooks", "events": ["*"], "description": "CRM"},
    ).raise_for_status()
    server.api.post(
        "/users", json={"email": "claire@acme-lettings.example", "name": "Claire Dubois",
                        "role": "admin"},
    ).raise_for_status()  # fmt: skip
    activate = activation_link(server, "claire@acme-lettings.example")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        recipient = await (await browser.new_context(viewport=VIEWPORT)).new_page()
        await answer(recipient, server, accepted, "Accept the letter")
        await answer(recipient, server, refused, "Refuse the letter")

        context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
        page = await context.new_page()
        await page.goto(activate)
        await page.fill("#password", PASSWORD)
        await page.fill("#confirm", PASSWORD)
        await page.click("button[type=submit]")
        await page.goto(f"{server.base}/account/sign-in")
        await page.fill("#email", "claire@acme-lettings.example")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{server.base}/account**")

        async def shot(path: str, name: str, lang: str = "en") -> None:
            await page.goto(f"{server.base}{path}{'&' if '?' in path else '?'}lang={lang}")
            await page.wait_for_load_state("networkidle")
            shrink(await page.screenshot(full_page=True), out / f"dashboard-{name}-{lang}.png")

        await shot("/app", "home")
        await shot("/app", "home", "fr")
        await shot("/app/letters", "letters")
        letter = server.api.get("/messages", params={"limit": 10}).json()["data"]
        first = next(m for m in letter if m["subject"].startswith("Notice of termination"))
        await shot(f"/app/letters/{first['id']}", "letter")
        await shot(f"/app/letters/{first['id']}", "letter", "fr")
        await shot("/app/letters/new", "compose")
        # The review of a letter whose CSV file has a line that cannot be sent.
        await page.goto(f"{server.base}/app/letters/new?lang=en")
        await page.check("#mode-registered")
        await page.fill("#subject", "Rent review 2027")
        await page.fill("#body", "Dear tenant,\n\nThe rent review for 2027 is attached.")
        await page.set_input_files(
            "#recipients_csv",
            {"name": "tenants.csv", "mimeType": "text/csv", "buffer": CSV.encode()},
        )
        await page.click("#compose button[type=submit]")
        await page.wait_for_selector("#skipped")  # the form's answer: its lines are not kept
        shrink(await page.screenshot(full_page=True), out / "dashboard-review-en.png")
        await shot("/app/signatures", "signatures")
        await shot(f"/app/signatures/{sent}", "envelope")
        await shot(f"/app/signatures/{sent}", "envelope", "fr")
        await page.goto(f"{server.base}/app/signatures/{draft}/fields?lang=en")
        await page.wait_for_selector("img")
        await shot(f"/app/signatures/{draft}/fields", "envelope-fields")
        await shot("/app/settings", "settings")
        await shot("/app/settings/webhooks", "webhooks")
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--dashboard", action="store_true", help="the sender dashboard's pages")
    args = parser.parse_args()
    args.out = args.out or ROOT / "docs" / ("dashboard" if args.dashboard else "images")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # The dashboard's webhook endpoint is on loopback, which the SSRF guard refuses unless
        # allowed (nothing listens there: its attempts fail, as the page shows).
        server = Server(Path(scratch) / "data", TABELLION_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
        try:
            org = server.api.patch(
                "/organization",
                json={
                    "legal_name": "Acme Lettings SAS",
                    "identifiers": {"siren": "732829320"},
                    "brand_color": "#0f766e",
                },
            )
            org.raise_for_status()
            server.api.put(
                "/organization/logo", content=logo(), headers={"Content-Type": "image/png"}
            ).raise_for_status()
            page_walk = walk_dashboard if args.dashboard else walk
            asyncio.run(page_walk(server, args.out.resolve()))
        finally:
            server.stop()
    prefix = "dashboard" if args.dashboard else "portal"
    print(json.dumps({"images": sorted(p.name for p in args.out.glob(f"{prefix}-*.png"))}))


if __name__ == "__main__":
    main()
