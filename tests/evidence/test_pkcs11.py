"""A seal key in a PKCS#11 token (SoftHSM 2, Debian package ``softhsm2``): JSON proofs, tree
heads and PDF proofs are sealed by the token, and the key never leaves it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pkcs11
import pytest
from cryptography.hazmat.primitives import serialization
from pkcs11.util.ec import encode_named_curve_parameters

from tabellion.config import ConfigError, Settings
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.sealing.pkcs11 import Pkcs11EcKey, Pkcs11Error
from tabellion.evidence.verification.verify import verify_json_proof, verify_pdf_proof
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.evidence.helpers import received_delivery, run_jobs
from tests.fixtures.pki import Issued, issue, name, seal_leaf
from tests.portal.helpers import status_of

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
TOKEN, KEY, PIN = "tabellion-seal", "seal-2026", "314159"


class Token:
    def __init__(self, root: Issued, seal: Issued) -> None:
        self.root, self.seal = root, seal


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    """One SoftHSM token for the module (the library reads its configuration once)."""
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n")
    monkey = pytest.MonkeyPatch()
    monkey.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--pin",
            PIN,
            "--so-pin",
            "27182818",
        ],
        check=True,
        capture_output=True,
    )
    with (
        pkcs11.lib(str(MODULE)).get_token(token_label=TOKEN).open(rw=True, user_pin=PIN) as session
    ):
        parameters = session.create_domain_parameters(
            pkcs11.KeyType.EC,
            {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        parameters.generate_keypair(store=True, label=KEY)
    key = Pkcs11EcKey(str(MODULE), TOKEN, KEY, PIN)
    root = issue(name("HSM Seal CA", "Test Trust Services"), ca=True)
    try:
        yield Token(root, seal_leaf(root, key=key))
    finally:
        monkey.undo()


@pytest.fixture
def settings(data_dir: Path, database_url: str, token: Token) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    chain = data_dir / "seal-chain.pem"
    chain.write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (token.seal.certificate, token.root.certificate)
        )
    )
    return make_settings(
        data_dir,
        database_url,
        seal_pkcs11_module=MODULE,
        seal_pkcs11_token=TOKEN,
        seal_pkcs11_key=KEY,
        seal_pkcs11_pin=PIN,
        seal_cert_file=chain,
    )


async def test_proofs_are_sealed_by_the_token(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, token: Token
) -> None:
    seal = load_seal(runtime.settings)
    assert isinstance(seal.key, Pkcs11EcKey) and not seal.self_issued
    with pytest.raises(Pkcs11Error):  # the key never leaves the token
        seal.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    ref = (await status_of(client, auth, delivery["id"]))["evidence"][0]
    proof = (await client.get(f"/v1/evidence/{ref['id']}", headers=auth)).content
    verdict = verify_json_proof(proof, [token.root.certificate])
    assert verdict.authentic, verdict.problems
    assert not verdict.self_issued
    pdf = await client.get(f"/v1/evidence/{ref['id']}/pdf", headers=auth)
    assert pdf.status_code == 200, pdf.text
    pdf_verdict = await verify_pdf_proof(pdf.content, [token.root.certificate])
    assert pdf_verdict.authentic, pdf_verdict.problems
    # The tree head is sealed by the token too.
    head = await client.get("/v1/transparency/tree-head")
    assert head.status_code == 200 and head.json()["self_issued_seal"] is False


def test_a_wrong_pin_or_label_is_a_configuration_error(
    data_dir: Path, database_url: str, settings: Settings
) -> None:
    wrong = settings.model_copy(update={"seal_pkcs11_key": "no-such-key"})
    with pytest.raises(ConfigError, match="PKCS#11 seal key cannot be used"):
        load_seal(wrong)
    incomplete = make_settings(data_dir, database_url, seal_pkcs11_module=MODULE)
    with pytest.raises(ConfigError, match="TABELLION_SEAL_PKCS11_TOKEN"):
        load_seal(incomplete)
    # A wrong PIN, in a process of its own (PKCS#11 logs a whole process in at once).
    script = (
        "from tabellion.evidence.sealing.pkcs11 import Pkcs11EcKey, Pkcs11Error\n"
        "try:\n"
        f"    Pkcs11EcKey({str(MODULE)!r}, {TOKEN!r}, {KEY!r}, '000000')\n"
        "except Pkcs11Error as exc:\n"
        "    print('refused', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.startswith("refused PinIncorrect"), done.stdout + done.stderr
