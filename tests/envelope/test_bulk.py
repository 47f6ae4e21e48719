"""Bulk send: one envelope per CSV row, copied from a draft, by API and by the CLI."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tabellion.cli.main import app
from tabellion.runtime import Runtime
from tests.cli.test_main import cli_env
from tests.conftest import count_rows, make_settings
from tests.envelope.helpers import field, invitations, pdf_bytes, upload
from tests.fixtures.factories import create_org_with_key
from tests.message.test_endpoints import assert_problem, fields

RECIPIENTS = [
    {"email": "legal@acme.test", "name": "Acme Legal", "role": "approver", "order": 1},
    {"email": "someone@example.test", "name": "Someone", "role": "signer", "order": 2},
]
CSV = (
    "r2.email,r2.name,r2.language,reference,Amount,Plan\n"
    "jane@example.test,Jane Doe,fr,CTR-1,1200,Pro\n"
    "john@example.test,John Roe,,CTR-2,900,Basic\n"
)


async def template(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    body = {"title": "Lease", "signing_order": "sequential", "recipients": RECIPIENTS}
    envelope = (await client.post("/v1/envelopes", json=body, headers=auth)).json()
    document = (await upload(client, auth, envelope["id"], pdf_bytes(1))).json()["id"]
    signer = envelope["recipients"][1]["id"]
    response = await client.post(
        f"/v1/envelopes/{envelope['id']}/fields",
        headers=auth,
        json={
            "fields": [
                field(signer, document),
                field(signer, document, type="number", y=10, height=4, meta={"label": "Amount"}),
                field(
                    signer,
                    document,
                    type="dropdown",
                    y=20,
                    height=4,
                    meta={"label": "Plan", "options": ["Basic", "Pro"]},
                ),
            ]
        },
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = envelope
    return result


async def _bulk(
    client: httpx.AsyncClient, auth: dict[str, str], envelope_id: str, text: str | bytes
) -> httpx.Response:
    return await client.post(
        f"/v1/envelopes/{envelope_id}/bulk-send",
        content=text,
        headers={**auth, "Content-Type": "text/csv"},
    )


async def test_one_envelope_per_row(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    draft = await template(client, auth)
    response = await _bulk(client, auth, draft["id"], CSV)
    assert response.status_code == 202, response.text
    rows = response.json()["data"]
    assert [(r["row"], r["status"]) for r in rows] == [(1, "pending"), (2, "pending")]
    jane = (await client.get(f"/v1/envelopes/{rows[0]['envelope_id']}", headers=auth)).json()
    assert jane["title"] == "Lease" and jane["reference"] == "CTR-1"
    assert [(r["email"], r["name"], r["language"], r["role"]) for r in jane["recipients"]] == [
        ("legal@acme.test", "Acme Legal", "en", "approver"),
        ("jane@example.test", "Jane Doe", "fr", "signer"),
    ]
    assert jane["documents"][0]["sha256"] == draft_sha(jane)
    values = {f["meta"].get("label"): f["meta"] for f in jane["fields"]}
    assert values["Amount"] == {"label": "Amount", "default": "1200", "read_only": True}
    assert values["Plan"]["default"] == "Pro" and values["Plan"]["read_only"] is True
    assert {f["recipient_id"] for f in jane["fields"]} == {jane["recipients"][1]["id"]}
    # The template stays a draft; the approver of each copy is invited.
    still = (await client.get(f"/v1/envelopes/{draft['id']}", headers=auth)).json()
    assert still["status"] == "draft"
    assert [m["To"] for m in await invitations(runtime)] == ["legal@acme.test"] * 2
    assert await count_rows(runtime, "envelopes") == 3


def draft_sha(envelope: dict[str, Any]) -> str:
    sha: str = envelope["documents"][0]["sha256"]
    return sha


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("r3.email\nx@example.test\n", "column r3.email", "the template has 2 recipient(s)"),
        ("r2.phone\n1\n", "column r2.phone", "unknown"),
        ("Amount,Amount\n1,2\n", "column Amount", "appears twice"),
        ("r2.email\n", "file", "no row after its header"),
        ("", "file", "no header row"),
        ("r2.email\nnot-an-address\n", "row 1, recipients.1.email", ""),
        (
            "r2.email,Plan\nok@example.test,Pro\nok@example.test,Gold\n",
            "row 2, column Plan",
            "choose one of",
        ),
        ("Amount\nlots\n", "row 1, column Amount", "a number is expected"),
        ("r2.email\na@example.test,extra\n", "row 1", "more cells than the header"),
    ],
)
async def test_bad_csv_sends_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: dict[str, str],
    text: str,
    where: str,
    message: str,
) -> None:
    draft = await template(client, auth)
    problem = assert_problem(await _bulk(client, auth, draft["id"], text), 422, "bad-bulk-csv")
    assert fields(problem) == [where]
    assert message in problem["detail"]
    assert await count_rows(runtime, "envelopes") == 1


async def test_bulk_send_needs_a_sendable_draft_of_ones_own(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    draft = await template(client, auth)
    assert_problem(await _bulk(client, auth, draft["id"], b"\xff\xfe"), 422, "bad-bulk-csv")
    _, other = await create_org_with_key(runtime, "Other")
    assert_problem(
        await _bulk(client, {"Authorization": f"Bearer {other}"}, draft["id"], CSV),
        404,
        "envelope-not-found",
    )
    bare = await client.post(
        "/v1/envelopes", json={"title": "T", "recipients": RECIPIENTS}, headers=auth
    )
    assert_problem(await _bulk(client, auth, bare.json()["id"], CSV), 422, "no-documents")
    assert (await client.post(f"/v1/envelopes/{draft['id']}/send", headers=auth)).status_code == 202
    assert_problem(await _bulk(client, auth, draft["id"], CSV), 409, "envelope-not-draft")


def test_the_cli_sends_a_csv(data_dir: Path, database_url: str, tmp_path: Path) -> None:
    async def prepare() -> str:
        from tabellion.app import create_app

        runtime = Runtime.build(make_settings(data_dir, database_url), pool_size=2)
        try:
            _, key = await create_org_with_key(runtime)
            transport = httpx.ASGITransport(app=create_app(runtime=runtime))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                draft = await template(client, {"Authorization": f"Bearer {key}"})
            return str(draft["id"])
        finally:
            await runtime.close()

    draft_id = asyncio.run(prepare())
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text(CSV, encoding="utf-8")
    runner = CliRunner()
    env = cli_env(data_dir, database_url)
    result = runner.invoke(
        app, ["envelope", "bulk-send", str(csv_file), "--template", draft_id], env=env
    )
    assert result.exit_code == 0, result.output
    assert re.findall(r"^row (\d)\tenv_[0-9a-z]{26}$", result.output, re.M) == ["1", "2"]
    assert "2 envelope(s) sent." in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("r9.email\nx@example.test\n", encoding="utf-8")
    result = runner.invoke(
        app, ["envelope", "bulk-send", str(bad), "--template", draft_id], env=env
    )
    assert result.exit_code == 1
    assert "column r9.email: the template has 2 recipient(s)" in result.output
    result = runner.invoke(
        app, ["envelope", "bulk-send", str(csv_file), "--template", "env_nope"], env=env
    )
    assert result.exit_code == 1 and "no envelope env_nope" in result.output


async def test_a_csv_over_the_json_limit_reaches_the_route_and_its_own_limit(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    """The bulk CSV may be 5 MiB: the 1 MiB limit of JSON and form bodies
    (``kit.bodylimit``) does not cut it; past 5 MiB the route answers its own 413."""
    draft = await template(client, auth)
    row = "jane{}@example.test,Jane Doe,fr,CTR-1,1200,Pro\n"
    rows = CSV.splitlines(keepends=True)[0] + "".join(row.format(n) for n in range(40_000))
    assert 1024 * 1024 < len(rows) < 5 * 1024 * 1024
    problem = assert_problem(await _bulk(client, auth, draft["id"], rows), 422, "bad-bulk-csv")
    assert "rows" in problem["detail"]
    too_large = await _bulk(client, auth, draft["id"], "x" * (5 * 1024 * 1024 + 1))
    assert_problem(too_large, 413, "bulk-csv-too-large")
    assert await count_rows(runtime, "envelopes") == 1
