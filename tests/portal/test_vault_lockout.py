"""A vault lockout is no denial of service on its owner: the guessing client is stopped
first, and when many clients lock the code, the owner gets a sign-in link by e-mail."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest

from tabellion.config import Settings
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.factories import natural_recipient
from tests.fixtures.server import client_from
from tests.portal.helpers import age_codes, csrf, dispatch, latest_code, outbox_mails
from tests.portal.test_other_modes import ask_vault_code

OWNER = "jane0@example.test"


async def guess(client: httpx.AsyncClient, code: str, email: str = OWNER) -> httpx.Response:
    form = csrf((await client.get("/vault")).text)
    return await client.post(
        "/vault/verify", data={"email": email, "code": code, "csrf_token": form}
    )


def wrong_for(right: str) -> str:
    return "000000" if right != "000000" else "111111"


async def test_one_guessing_client_is_stopped_before_the_code_locks(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await dispatch(client, auth, mode="simple")
    async with client_from(client, "203.0.113.66") as attacker:
        await ask_vault_code(attacker, OWNER)
        right = await latest_code(runtime, OWNER)
        for left in (4, 3, 2, 1):
            assert f"{left} tries left" in (await guess(attacker, wrong_for(right))).text
        stopped = await guess(attacker, wrong_for(right))
        # A page, not a problem document: the recipient reads how long to wait.
        assert stopped.status_code == 429 and "<h1>Too many attempts</h1>" in stopped.text
        assert int(stopped.headers["retry-after"]) > 0
    # The code still has its last try, and the owner's browser signs in with it.
    assert (await guess(client, right)).status_code == 303
    assert OWNER in (await client.get("/vault")).text


async def test_a_code_locked_by_many_clients_sends_the_owner_a_link(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await dispatch(client, auth, mode="simple")
    await ask_vault_code(client, OWNER)
    right = await latest_code(runtime, OWNER)
    caplog.set_level(logging.INFO, "tabellion.portal")
    for n in range(6):
        async with client_from(client, f"198.51.100.{n}") as attacker:
            refused = await guess(attacker, wrong_for(right))
    assert "Too many wrong codes" in refused.text
    assert "Too many wrong codes" in (await guess(client, right)).text  # locked for all
    locked = [r.getMessage() for r in caplog.records if "vault code locked" in r.message]
    assert locked[0] == (
        "vault code locked for *@example.test after wrong codes, the last from 198.51.100.4;"
        " recovery link sent"
    )
    assert OWNER not in " ".join(locked)  # the log names the domain only
    [mail] = await outbox_mails(runtime, "vault-link")
    assert mail["To"] == OWNER
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [link] = re.findall(r"http://tabellion\.test(/vault/link/[\w.-]+)", text)
    page = await client.get(link)
    assert page.status_code == 200 and "Sign in to the secure space of" in page.text
    signed = await client.post(link, data={"csrf_token": csrf(page.text)})
    assert signed.status_code == 303 and signed.headers["location"] == "/vault"
    assert "Your e-mail address" not in (await client.get("/vault")).text  # signed in
    assert any("recovery link used" in r.message for r in caplog.records)
    # Once only, and a forged link is the same invalid page.
    assert (await client.post(link, data={"csrf_token": csrf(page.text)})).status_code == 404
    assert (await client.get(link[:-4] + "0000")).status_code == 404
    # More locks the same hour send no more links (the address's own quota).
    await age_codes(runtime, OWNER)
    await ask_vault_code(client, OWNER)
    for n in range(6):
        async with client_from(client, f"198.51.100.{10 + n}") as attacker:
            await guess(attacker, "000001")
    assert len(await outbox_mails(runtime, "vault-link")) == 1
    locked = [r.getMessage() for r in caplog.records if "vault code locked" in r.message]
    assert locked[-1].endswith(
        "recovery link not sent (sent recently, or no delivery to the address)"
    )


async def lock_code(
    client: httpx.AsyncClient, runtime: Runtime, email: str, ips: str, **headers: str
) -> None:
    """Ask for ``email``'s code, then lock it: five wrong codes from five clients ``ips``.n."""
    await ask_vault_code(client, email)
    right = await latest_code(runtime, email)
    for n in range(5):
        async with client_from(client, f"{ips}.{n}") as attacker:
            attacker.headers.update(headers)
            await guess(attacker, wrong_for(right), email)


async def test_the_recovery_link_speaks_the_language_of_the_sign_in(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await dispatch(client, auth, mode="simple")
    await lock_code(client, runtime, OWNER, "198.51.100", **{"Accept-Language": "fr-FR,fr"})
    [mail] = await outbox_mails(runtime, "vault-link")
    assert mail["Content-Language"] == "fr"
    assert mail["Subject"] == "Connectez-vous à votre espace sécurisé"


async def test_each_address_has_its_own_quota_of_recovery_links(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """Three links a day per address: locks of other addresses take none of an owner's."""
    owners = [f"jane{n}@example.test" for n in range(4)]
    for n in range(4):
        await dispatch(client, auth, mode="simple", recipients=[natural_recipient(n)])
    for n, owner in enumerate(owners):
        await lock_code(client, runtime, owner, f"198.51.{100 + n}")
    mails = await outbox_mails(runtime, "vault-link")
    assert sorted(str(m["To"]) for m in mails) == owners


class TestTheAddressQuota:
    """Wrong codes count against the address as well as the client (``code-check.address``,
    here two an hour): clients that each stay under their own quota are stopped together."""

    @pytest.fixture
    def settings(self, data_dir: Path, database_url: str) -> Settings:
        return make_settings(data_dir, database_url, rate_limits={"code-check.address": "2/hour"})

    async def test_clients_under_their_own_quota_share_the_address_quota(
        self, client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
    ) -> None:
        await dispatch(client, auth, mode="simple")
        await ask_vault_code(client, OWNER)
        right = await latest_code(runtime, OWNER)
        for n, left in enumerate((4, 3)):
            async with client_from(client, f"198.51.100.{n}") as attacker:
                assert f"{left} tries left" in (await guess(attacker, wrong_for(right))).text
        async with client_from(client, "198.51.100.9") as third:
            stopped = await guess(third, right)
        assert stopped.status_code == 429 and "<h1>Too many attempts</h1>" in stopped.text
