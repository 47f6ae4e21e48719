"""``POST /v1/deliveries/{id}/resend-notice``: the notice e-mailed again through the real
worker and SMTP server, with the same link and its own Message-ID; refused with its reason
while the first notice is on its way; a key without ``messages:write`` and another
organisation refused."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tabellion.config import Settings
from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.fixtures.factories import bearer, create_key, create_org_with_key, message_body
from tests.fixtures.smtp import SmtpServer

LINK = re.compile(r"http://tabellion\.test/r/[A-Za-z0-9_-]+")


@pytest.fixture
def settings(data_dir: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
    return smtp_server.settings(data_dir, database_url)


async def test_a_notice_is_sent_again_while_it_awaits_its_recipient(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    runtime: Runtime,
    smtp_server: SmtpServer,
) -> None:
    sent = await client.post(
        "/v1/messages?dispatch=true", json=message_body(mode="simple"), headers=auth
    )
    delivery_id = sent.json()["deliveries"][0]["id"]
    path = f"/v1/deliveries/{delivery_id}/resend-notice"
    early = await client.post(path, headers=auth)
    assert early.status_code == 409 and early.json()["code"] == "notice-not-resendable"
    assert "still on its way" in early.json()["detail"]

    await Worker(runtime, poll_interval=0.05).run_until_idle()
    [first] = await smtp_server.wait_for(1)
    again = await client.post(path, headers=auth)
    assert again.status_code == 202, again.text
    assert again.json()["id"] == delivery_id and again.json()["status"] == "notified"
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    first, second = await smtp_server.wait_for(2)
    assert second.rcpt_tos == first.rcpt_tos
    assert LINK.findall(second.text) == LINK.findall(first.text) != []
    assert second.message["Message-ID"] != first.message["Message-ID"]
    assert second.message["X-Tabellion-Delivery"] == delivery_id
    evidence = (await client.get(f"/v1/deliveries/{delivery_id}", headers=auth)).json()
    assert [e["type"] for e in evidence["evidence"]] == ["SENT", "NOTIFIED"]

    reader = bearer(await create_key(runtime, org_key[0], ["messages:read"]))
    assert (await client.post(path, headers=reader)).status_code == 403
    _, other = await create_org_with_key(runtime, name="Other")
    refused = await client.post(path, headers=bearer(other))
    assert refused.status_code == 404 and refused.json()["code"] == "delivery-not-found"
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    assert len(smtp_server.messages) == 2
