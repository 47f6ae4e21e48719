"""The verification snippets of docs/webhooks.md, run as written against a real delivery."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tabellion.runtime import Runtime
from tabellion.webhook.delivery import deliver
from tests.fixtures import tools
from tests.fixtures.receiver import Receiver
from tests.webhook.test_delivery import emit_event, setup_endpoint

DOC = Path(__file__).parents[2] / "docs" / "webhooks.md"


def snippet(language: str, after: str) -> str:
    """The first ```language block that follows the line starting with ``after``."""
    text = DOC.read_text()
    start = text.index("\n" + after)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"no {language} block after {after!r} in {DOC}"
    return match.group(1)


@dataclass
class Signed:
    old_secret: str
    new_secret: str
    webhook_id: str
    timestamp: str
    signature: str
    body: bytes


@pytest.fixture
async def signed(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> Signed:
    """A request as a receiver gets it during a rotation: signed with two secrets."""
    endpoint_id, old_secret = await setup_endpoint(runtime, org_key[0], receiver.url)
    rotated = await client.post(f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret", headers=auth)
    event_id = await emit_event(runtime, org_key[0])
    await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    (got,) = receiver.received
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    return Signed(
        old_secret,
        rotated.json()["secret"],
        got.headers["webhook-id"],
        got.headers["webhook-timestamp"],
        got.headers["webhook-signature"],
        got.body,
    )


def test_python_snippet(signed: Signed) -> None:
    code = snippet("python", "Python, with the `standardwebhooks` package")
    headers = {
        "webhook-id": signed.webhook_id,
        "webhook-timestamp": signed.timestamp,
        "webhook-signature": signed.signature,
    }
    for secret in (signed.old_secret, signed.new_secret):
        scope = {"request_body_bytes": signed.body, "request_headers": headers}
        exec(code.replace('"whsec_..."', repr(secret)), scope)  # noqa: S102 - our own docs
        assert scope["event"]["type"] == "delivery.accepted"
    scope = {"request_body_bytes": signed.body + b" ", "request_headers": headers}
    with pytest.raises(Exception, match="signature"):
        exec(code.replace('"whsec_..."', repr(signed.new_secret)), scope)  # noqa: S102


@tools.requires("bash", "openssl", "base64", "od")
def test_shell_snippet(signed: Signed, tmp_path: Path) -> None:
    code = snippet("sh", "Shell (bash")

    def run(secret: str, body: bytes, signature: str) -> str:
        (tmp_path / "body.json").write_bytes(body)
        env = {
            "PATH": "/usr/bin:/bin:/usr/local/bin",
            "SECRET": secret,
            "WEBHOOK_ID": signed.webhook_id,
            "WEBHOOK_TIMESTAMP": signed.timestamp,
            "WEBHOOK_SIGNATURE": signature,
        }
        done = subprocess.run(
            ["bash", "-c", code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.strip()

    assert run(signed.old_secret, signed.body, signed.signature) == "valid"
    assert run(signed.new_secret, signed.body, signed.signature) == "valid"
    assert run(signed.new_secret, signed.body + b"\n", signed.signature) == "FORGED"
    newest, oldest = signed.signature.split(" ")  # the newest secret signs first
    assert run(signed.old_secret, signed.body, oldest) == "valid"
    assert run(signed.new_secret, signed.body, oldest) == "FORGED"
    assert run(signed.old_secret, signed.body, newest) == "FORGED"


@tools.requires("node")
def test_node_snippet(signed: Signed) -> None:
    code = snippet("js", "Node.js")
    cases = [
        (signed.old_secret, signed.body, signed.signature),
        (signed.new_secret, signed.body, signed.signature),
        (signed.new_secret, signed.body + b" ", signed.signature),
        (signed.new_secret, signed.body, "v1,abc"),  # malformed: false, not an exception
        (signed.new_secret, signed.body, "v2," + signed.signature.split(",", 1)[1]),
        (signed.new_secret, signed.body, ""),
    ]
    calls = [
        {"secret": s, "body": b.decode(), "signature": sig, "id": signed.webhook_id}
        for s, b, sig in cases
    ]
    program = (
        code
        + "\nconst cases = JSON.parse(process.argv[1]);\n"
        + f"const ts = {json.dumps(signed.timestamp)};\n"
        + "console.log(JSON.stringify(cases.map((c) => [\n"
        + "  verify(c.secret, c.id, ts, Buffer.from(c.body), c.signature),\n"
        + "  verify(c.secret, c.id, ts, c.body, c.signature)])));\n"
    )
    done = subprocess.run(
        ["node", "-e", program, json.dumps(calls)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    results = json.loads(done.stdout)
    assert results == [[True, True], [True, True]] + [[False, False]] * 4
