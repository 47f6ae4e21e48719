"""``tabellion key create / list / revoke``: keys made on the command line work as the API's do."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from click.testing import Result
from typer.testing import CliRunner

from tabellion.cli.main import app
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.runtime import Runtime
from tests.cli.test_main import cli_env
from tests.conftest import count_rows
from tests.fixtures.factories import bearer, create_org_with_key, message_body
from tests.fixtures.jwt import key_pair, make_jwt
from tests.message.test_endpoints import assert_problem
from tests.organization.test_customers import answer, events, register_customer

runner = CliRunner()


def cli(data_dir: Path, database_url: str, *args: str) -> Result:
    # Wide enough that the list's table never folds an id.
    env = cli_env(data_dir, database_url, COLUMNS="300")
    return runner.invoke(app, list(args), env=env)


async def acli(data_dir: Path, database_url: str, *args: str) -> Result:
    """The command from an async test: it runs its own event loop, so in a thread."""
    return await asyncio.to_thread(cli, data_dir, database_url, *args)


def created(result: Result) -> tuple[str, str]:
    """The key id and secret that ``key create`` printed."""
    assert result.exit_code == 0, result.output
    key_id = re.search(r"^Key: (key_\w+) \(", result.output, re.M)
    secret = re.search(r"^API key: (tbl_[0-9A-Za-z]{40})$", result.output, re.M)
    assert key_id and secret, result.output
    return key_id.group(1), secret.group(1)


def to_the_second(value: str) -> str:
    """An API time as the list shows it."""
    return isoformat_z(datetime.fromisoformat(value).replace(microsecond=0))


def table_row(listing: Result, key_id: str) -> list[str]:
    assert listing.exit_code == 0, listing.output
    [line] = [line for line in listing.output.splitlines() if key_id in line]
    return [cell.strip() for cell in line.split("│")[1:-1]]


async def test_create_with_scopes_list_and_revoke(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    data_dir: Path,
    database_url: str,
) -> None:
    org_id = org_key[0]
    made = await acli(
        data_dir, database_url, "key", "create", org_id, "--name", "reader",
        "--scope", "messages:read", "--scope", "webhooks", "--scope", "messages:read",
    )  # fmt: skip
    key_id, secret = created(made)
    assert f"Key: {key_id} (scopes: messages:read, webhooks; expires: never)" in made.output
    reader = bearer(secret)

    # Within its scopes it authenticates; outside them it is 403, as an API-made key is.
    assert (await client.get("/v1/messages", headers=reader)).status_code == 200
    assert (await client.get("/v1/events", headers=reader)).status_code == 200
    assert_problem(
        await client.post("/v1/messages", json=message_body(), headers=reader),
        403,
        "insufficient-scope",
    )
    assert_problem(await client.get("/v1/api-keys", headers=reader), 403, "insufficient-scope")
    [listed] = [
        k
        for k in (await client.get("/v1/api-keys", headers=auth)).json()["data"]
        if k["id"] == key_id
    ]
    assert listed["name"] == "reader"
    assert listed["scopes"] == ["messages:read", "webhooks"]
    assert listed["prefix"] == secret[:12]
    assert listed["expires_at"] is None and listed["revoked_at"] is None
    assert listed["last_used_at"] is not None

    listing = await acli(data_dir, database_url, "key", "list", org_id)
    assert secret not in listing.output
    row = table_row(listing, key_id)
    assert row[:4] == [key_id, "reader", secret[:12], "messages:read, webhooks"]
    assert row[4] == to_the_second(listed["created_at"])
    assert row[5] == to_the_second(listed["last_used_at"])
    assert row[6:] == ["", ""]
    # The organisation's first key is listed too.
    assert len([line for line in listing.output.splitlines() if "key_" in line]) == 2

    revoked = await acli(data_dir, database_url, "key", "revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert re.search(rf"^Revoked key {key_id} \({org_id}\) at \S+Z\.$", revoked.output, re.M)
    assert (await client.get("/v1/messages", headers=reader)).status_code == 401
    again = await acli(data_dir, database_url, "key", "revoke", key_id)
    assert again.exit_code == 0, again.output
    assert "already revoked" in again.output
    [listed] = [
        k
        for k in (await client.get("/v1/api-keys", headers=auth)).json()["data"]
        if k["id"] == key_id
    ]
    assert listed["revoked_at"] is not None
    assert listed["revoked_at"] in revoked.output and listed["revoked_at"] in again.output
    after = table_row(await acli(data_dir, database_url, "key", "list", org_id), key_id)
    assert after[7] == to_the_second(listed["revoked_at"])
    # The organisation's other key is untouched.
    assert (await client.get("/v1/messages", headers=auth)).status_code == 200


async def test_default_is_an_admin_key_and_expiry_is_kept(
    client: httpx.AsyncClient, org_key: tuple[str, str], data_dir: Path, database_url: str
) -> None:
    org_id = org_key[0]
    _, secret = created(await acli(data_dir, database_url, "key", "create", org_id))
    admin = bearer(secret)
    [_first, made] = (await client.get("/v1/api-keys", headers=admin)).json()["data"]
    assert made["prefix"] == secret[:12]
    assert (made["name"], made["scopes"], made["expires_at"]) == ("default", ["admin"], None)

    expiry = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    result = await acli(
        data_dir, database_url, "key", "create", org_id, "--expires-at", expiry.isoformat()
    )
    key_id, expiring = created(result)
    assert f"expires: {isoformat_z(expiry)})" in result.output
    got = (await client.get("/v1/api-keys", headers=bearer(expiring))).json()["data"]
    assert [k["expires_at"] for k in got if k["id"] == key_id] == [isoformat_z(expiry)]


def test_bad_options_are_refused_and_create_nothing(data_dir: Path, database_url: str) -> None:
    made = cli(data_dir, database_url, "org", "create", "Acme", "--email", "ops@acme.test")
    org_id = re.search(r"Organization: (org_\w+)", made.output).group(1)  # type: ignore[union-attr]
    past = isoformat_z(utcnow() - timedelta(minutes=1))
    cases = {
        ("--scope", "god"): ["--scope:", "'god'", "messages:write"],
        ("--scope", "admin", "--scope", "root"): ["--scope:", "'root'"],
        ("--expires-at", past): ["--expires-at: must be in the future"],
        ("--expires-at", "2099-01-01T00:00:00"): ["--expires-at: give a time zone"],
        ("--expires-at", "next week"): ["--expires-at:", "'next week'"],
        ("--name", ""): ["--name:"],
        ("--name", "two\nlines"): ["--name: must not contain control characters"],
    }
    for options, expected in cases.items():
        result = cli(data_dir, database_url, "key", "create", org_id, *options)
        assert result.exit_code == 2, (options, result.output)
        for text in expected:
            assert text in result.output, (options, result.output)
        assert "API key:" not in result.output

    unknown = cli(data_dir, database_url, "key", "create", "org_01jd0000000000000000000000")
    assert unknown.exit_code == 1
    assert "No organisation org_01jd0000000000000000000000." in unknown.output
    assert "API key:" not in unknown.output

    # Only the key `org create` made exists.
    listing = cli(data_dir, database_url, "key", "list", org_id)
    assert len([line for line in listing.output.splitlines() if "key_" in line]) == 1


def test_unknown_organisation_or_key(data_dir: Path, database_url: str) -> None:
    listing = cli(data_dir, database_url, "key", "list", "org_nope")
    assert listing.exit_code == 1
    assert "No organisation org_nope." in listing.output
    for key_id in ("key_01jd0000000000000000000000", "x" * 100, "[red]key"):
        revoked = cli(data_dir, database_url, "key", "revoke", key_id)
        assert revoked.exit_code == 1, revoked.output
        assert "No API key" in revoked.output


async def test_key_names_are_shown_as_given(
    runtime: Runtime, org_key: tuple[str, str], data_dir: Path, database_url: str
) -> None:
    name = "[bold]ops[/bold] key"
    key_id, _ = created(
        await acli(data_dir, database_url, "key", "create", org_key[0], "--name", name)
    )
    assert (
        table_row(await acli(data_dir, database_url, "key", "list", org_key[0]), key_id)[1] == name
    )
    assert await count_rows(runtime, "api_keys") == 2


async def test_a_customer_gets_a_key_and_revokes_its_reseller_with_it(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    data_dir: Path,
    database_url: str,
) -> None:
    customer = await register_customer(client, auth)
    await answer(client, runtime, customer["id"], "accept")

    # A key without `admin` may not withdraw the delegation...
    _, reader = created(
        await acli(
            data_dir, database_url, "key", "create", customer["id"], "--scope", "messages:read"
        )
    )
    assert_problem(
        await client.post("/v1/organization/revoke-reseller", headers=bearer(reader)),
        403,
        "insufficient-scope",
    )
    # ...the customer's own admin key may.
    _, secret = created(
        await acli(data_dir, database_url, "key", "create", customer["id"], "--name", "own")
    )
    own = bearer(secret)
    assert (await client.get("/v1/organization", headers=own)).json()["id"] == customer["id"]
    revoked = await client.post("/v1/organization/revoke-reseller", headers=own)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["customer_state"] == "REVOKED"
    got = (await client.get(f"/v1/customers/{customer['id']}", headers=auth)).json()
    assert got["state"] == "REVOKED"
    assert "customer.revoked" in await events(client, auth)
    late = await client.post(
        "/v1/messages", json=message_body(on_behalf_of=customer["id"]), headers=auth
    )
    assert_problem(late, 422, "customer-not-registered")


async def test_narrow_terminal_lists_one_block_per_key(
    data_dir: Path, database_url: str, org_key: tuple[str, str]
) -> None:
    key_id, _ = created(
        await acli(data_dir, database_url, "key", "create", org_key[0], "--name", "ci")
    )
    env = cli_env(data_dir, database_url, COLUMNS="80")
    listing = await asyncio.to_thread(runner.invoke, app, ["key", "list", org_key[0]], env=env)
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert key_id in lines  # whole, on its own line: copy it into `key revoke`
    block = lines[lines.index(key_id) + 1 : lines.index(key_id) + 8]
    assert [line.split(":")[0].strip() for line in block] == [
        "name",
        "prefix",
        "scopes",
        "created",
        "last used",
        "expires",
        "revoked",
    ]
    assert block[0].split()[-1] == "ci"


def test_commands_on_a_database_not_set_up_say_what_to_do(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    for args in (["org", "list"], ["key", "list", "org_x"], ["jobs", "list"]):
        result = runner.invoke(app, args, env=cli_env(tmp_path, url))
        assert result.exit_code == 1, result.output
        assert "not set up yet: run `tabellion db upgrade`" in result.output
        assert "Traceback" not in result.output


async def test_register_public_key(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    data_dir: Path,
    database_url: str,
    tmp_path: Path,
) -> None:
    pem = tmp_path / "crm.pem"
    pem.write_text(key_pair("EC").public_pem)
    # The only organisation is the default; its key then signs requests.
    made = await acli(data_dir, database_url, "key", "register-public", str(pem))
    assert made.exit_code == 0, made.output
    issuer = re.search(r"^Issuer: (\w{32})$", made.output, re.M)
    key_id = re.search(
        rf"^Client key: (ckey_\w+) \(organisation {org_key[0]}\)$", made.output, re.M
    )
    assert issuer and key_id, made.output
    token = make_jwt(key_pair("EC"), issuer.group(1))
    assert (await client.get("/v1/messages", headers=bearer(token))).status_code == 200
    [listed] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
    assert listed["id"] == key_id.group(1) and listed["name"] == "crm"
    assert listed["scopes"] == ["messages:write"]

    # Scopes and name as options; --org names the organisation.
    named = await acli(
        data_dir, database_url, "key", "register-public", str(pem), "--org", org_key[0],
        "--name", "reader", "--scope", "messages:read",
    )  # fmt: skip
    assert named.exit_code == 0, named.output
    listed = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
    assert [(k["name"], k["scopes"]) for k in listed] == [
        ("crm", ["messages:write"]),
        ("reader", ["messages:read"]),
    ]


async def test_register_public_key_refused(
    org_key: tuple[str, str], data_dir: Path, database_url: str, tmp_path: Path, runtime: Runtime
) -> None:
    private = tmp_path / "private.pem"
    private.write_bytes(key_pair("EC").private_pem)
    refused = await acli(data_dir, database_url, "key", "register-public", str(private))
    assert refused.exit_code == 2 and "never a private key" in refused.output
    missing = await acli(data_dir, database_url, "key", "register-public", str(tmp_path / "no"))
    assert missing.exit_code == 2 and "cannot read" in missing.output
    public = tmp_path / "public.pem"
    public.write_text(key_pair("EC").public_pem)
    bad_scope = await acli(
        data_dir, database_url, "key", "register-public", str(public), "--scope", "root"
    )
    assert bad_scope.exit_code == 2 and "--scope" in bad_scope.output
    unknown = await acli(
        data_dir, database_url, "key", "register-public", str(public), "--org", "org_nope"
    )
    assert unknown.exit_code == 1 and "org_nope" in unknown.output
    await create_org_with_key(runtime, name="Second")
    several = await acli(data_dir, database_url, "key", "register-public", str(public))
    assert several.exit_code == 1 and "--org" in several.output
    assert await count_rows(runtime, "client_keys") == 0
