"""Accessibility of the dashboard: axe-core (npm's ``axe-core``, pinned in tests/fixtures/axe)
injected into every page, in English and in French, in a real Chromium finds no serious or
critical violation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.dashboard.helpers import PASSWORD
from tests.envelope.helpers import ready_draft
from tests.fixtures import browser as chromium
from tests.fixtures.factories import message_body
from tests.fixtures.smtp import SmtpServer
from tests.organization.test_users import token_of
from tests.portal.test_browser import open_portal

browser = chromium.browser

AXE = Path(__file__).resolve().parents[1] / "fixtures" / "axe" / "node_modules" / "axe-core"
# The impacts that fail a page; "minor" and "moderate" findings are printed, not failed.
FAILING = ("serious", "critical")

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.asyncio(loop_scope="session"),
]


def axe_source() -> str:
    script = AXE / "axe.min.js"
    if not script.exists():
        pytest.fail(f"{script} is missing: run scripts/install-test-oidc-provider")
    return script.read_text()


async def violations(page: Page, source: str) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is. Evaluated through the DevTools protocol,
    which the page's CSP (no inline script) does not apply to."""
    await page.evaluate(source)
    result: dict[str, Any] = await page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return list(result["violations"])


def report(found: list[dict[str, Any]]) -> str:
    return json.dumps(
        [
            {
                "rule": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [n["target"] for n in v["nodes"][:5]],
            }
            for v in found
        ],
        indent=1,
    )


def forbidden(role: str, path: str) -> bool:
    """Whether ``role`` is refused ``path`` (a 403 page, itself checked): the settings are an
    admin's; writing letters and envelopes a sender's or an admin's."""
    if role == "admin" or path in ("/app/sessions", "/app/authenticator"):
        return False
    if path.startswith("/app/settings"):
        return True
    return role == "viewer" and (path.endswith("/new") or path.endswith("/fields"))


@pytest.mark.parametrize("role", ["admin", "sender", "viewer"])
async def test_no_serious_accessibility_violation_on_any_dashboard_page(
    browser: Browser, data_dir: Path, database_url: str, smtp_server: SmtpServer, role: str
) -> None:
    """Every page in each role, in a real Chromium: the admin's in English and French, the
    others' in English, the refusals (403) included."""
    source = axe_source()
    async with open_portal(
        data_dir, database_url, smtp_server, webhook_allowed_hosts="127.0.0.1"
    ) as portal:
        created = await portal.api.post(
            "/v1/messages", json=message_body(subject="Lease renewal", reference="LEASE-7")
        )
        assert created.status_code == 201, created.text
        message_id = created.json()["id"]
        assert (await portal.api.post(f"/v1/messages/{message_id}/dispatch")).status_code == 202
        envelope, _ = await ready_draft(portal.api, {})
        assert (await portal.api.post(f"/v1/envelopes/{envelope['id']}/send")).status_code == 202
        draft, _ = await ready_draft(portal.api, {})
        hook = await portal.api.post(
            "/v1/webhook-endpoints",
            json={"url": "http://127.0.0.1:9/tabellion", "events": ["delivery.accepted"]},
        )
        assert hook.status_code == 201, hook.text
        user = await portal.api.post(
            "/v1/users", json={"email": f"{role}@acme.test", "name": "Ada", "role": role}
        )
        assert user.status_code == 201, user.text
        token = await token_of(portal.runtime, user.json()["id"])
        pages = [
            "/app",
            "/app/letters",
            f"/app/letters/{message_id}",
            "/app/signatures",
            f"/app/signatures/{envelope['id']}",
            "/app/letters/new",
            "/app/signatures/new",
            f"/app/signatures/{draft['id']}/fields",
            "/app/settings",
            "/app/settings/keys",
            "/app/settings/users",
            "/app/settings/client-keys",
            "/app/settings/webhooks",
            f"/app/settings/webhooks/{hook.json()['id']}",
            "/app/settings/customers",
            "/app/settings/seal",
            "/app/sessions",
            "/app/authenticator",
        ]

        async with chromium.open_page(browser) as page:
            failures: dict[str, list[dict[str, Any]]] = {}
            await page.goto(f"{portal.base}/account/sign-in")
            signed_out = [v for v in await violations(page, source) if v["impact"] in FAILING]
            if signed_out:
                failures["/account/sign-in"] = signed_out
            await page.goto(f"{portal.base}/account/activate/{token}")
            await page.fill("#password", PASSWORD)
            await page.fill("#confirm", PASSWORD)
            await page.click("button[type=submit]")
            await page.goto(f"{portal.base}/account/sign-in")
            await page.fill("#email", f"{role}@acme.test")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{portal.base}/account**")
            # axe bites: a picture without a text alternative, added to a page, is caught.
            await page.goto(f"{portal.base}/app")
            await page.evaluate(
                "() => document.querySelector('main').appendChild(document.createElement('img'))"
            )
            assert "image-alt" in [v["id"] for v in await violations(page, source)]
            # Each page in English, then the admin's in French (longer words, its own `lang`).
            french = [f"{p}?lang=fr" for p in pages] if role == "admin" else []
            for path in [*pages, *french]:
                response = await page.goto(f"{portal.base}{path}")
                expected = 403 if forbidden(role, path.split("?")[0]) else 200
                assert response is not None and response.status == expected, (path, role)
                found = await violations(page, source)
                for v in found:
                    print(path, v["impact"], v["id"], v["help"])
                serious = [v for v in found if v["impact"] in FAILING]
                if serious:
                    failures[path] = serious
        assert not failures, "\n".join(f"{p}: {report(v)}" for p, v in failures.items())
