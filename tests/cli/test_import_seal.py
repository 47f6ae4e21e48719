"""``tabellion evidence import-seal``: an operator's own seal, checked as verifiers will."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from typer.testing import CliRunner

from tabellion.cli.main import app
from tabellion.config import Settings
from tabellion.evidence.sealing.keys import load_seal
from tests.fixtures.pki import Issued, issue, name, seal_leaf

runner = CliRunner()
PEM = serialization.Encoding.PEM


def import_seal(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["evidence", "import-seal", *args],
        env={"TABELLION_DATA_DIR": str(data_dir), "TABELLION_ENV": "development"},
    )
    return result.exit_code, " ".join(result.output.split())


def test_a_p12_seal_is_checked_stored_and_loaded(tmp_path: Path) -> None:
    root = issue(name("Operator Root"), ca=True)
    inter = issue(name("Operator Seals CA"), issuer=root, ca=True, path_length=0)
    leaf = seal_leaf(inter)
    p12 = tmp_path / "seal.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"seal",
            leaf.key,  # type: ignore[arg-type]
            leaf.certificate,
            [inter.certificate, root.certificate],
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    data_dir = tmp_path / "data"
    code, output = import_seal(data_dir, "--p12", str(p12), "--password", "secret")
    assert code == 0, output
    seal_dir = data_dir / "seal"
    key_file, chain_file = seal_dir / "imported-seal.key", seal_dir / "imported-seal.pem"
    assert f"TABELLION_SEAL_KEY_FILE={key_file}" in output
    assert f"--trust {seal_dir / 'imported-seal-root.pem'}" in output
    for path in (key_file, chain_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "other",
        seal_key_file=key_file,
        seal_cert_file=chain_file,
    )
    seal = load_seal(settings)
    assert not seal.self_issued
    assert seal.chain == (leaf.certificate, inter.certificate, root.certificate)


def test_a_seal_verifiers_would_refuse_is_not_imported(tmp_path: Path) -> None:
    root = issue(name("Operator Root"), ca=True)
    end_entity = seal_leaf(root)
    forged = seal_leaf(end_entity)  # issued by a certificate that is not a CA
    key = tmp_path / "seal.key"
    key.write_bytes(
        forged.key.private_bytes(
            PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(c.certificate.public_bytes(PEM) for c in (forged, end_entity, root)))
    code, output = import_seal(tmp_path / "data", "--key", str(key), "--chain", str(chain))
    assert code == 1
    assert "Verifiers would refuse proofs sealed with it" in output
    assert "basicConstraints.cA must be asserted" in output
    assert not (tmp_path / "data" / "seal" / "imported-seal.key").exists()
    # A key that is not the certificate's.
    other: Issued = seal_leaf(root)
    chain.write_bytes(b"".join(c.certificate.public_bytes(PEM) for c in (other, root)))
    code, output = import_seal(tmp_path / "data", "--key", str(key), "--chain", str(chain))
    assert code == 1 and "does not match the seal key" in output
    code, output = import_seal(tmp_path / "data")
    assert code == 2 and "--p12 FILE" in output
