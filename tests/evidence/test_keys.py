"""The seal: loaded once per process, generated files private, a self-issued seal said so."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from tabellion.cli.main import start_notices
from tabellion.evidence.rendering import pdf
from tabellion.evidence.sealing import keys
from tabellion.evidence.sealing.keys import (
    SELF_ISSUED_WARNING,
    is_self_issued,
    load_seal,
    offline_root_key,
)
from tabellion.evidence.verification.verify import SELF_ISSUED_CHECK, verify_json_proof
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.evidence.helpers import received_delivery, run_jobs, sealed_first_proof, trust_of
from tests.portal.helpers import status_of


async def test_the_key_is_loaded_once_not_per_signature(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loads: list[object] = []
    original = keys._load

    def counting(settings: object) -> keys.Seal:
        loads.append(settings)
        return original(settings)  # type: ignore[arg-type]

    monkeypatch.setattr(keys, "_CACHE", {})
    monkeypatch.setattr(keys, "_load", counting)
    pdf._signer.cache_clear()
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    for ref in (await status_of(client, auth, delivery["id"]))["evidence"]:
        assert (await client.get(f"/v1/evidence/{ref['id']}/pdf", headers=auth)).status_code == 200
    assert len(loads) == 1  # three JSON proofs, a tree head and three PDFs: one load
    info = pdf._signer.cache_info()
    assert info.misses == 1 and info.hits >= 2  # the PAdES signer is built once too
    assert load_seal(runtime.settings) is load_seal(runtime.settings)


def test_generated_files_are_private(runtime: Runtime) -> None:
    seal = load_seal(runtime.settings)
    assert seal.self_issued and is_self_issued(seal.chain)
    for name in ("root-ca.pem", "seal.pem", "seal.key"):
        mode = stat.S_IMODE((runtime.settings.seal_dir / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    # The root's key is not kept beside the seal key: written once, outside the seal folder,
    # and the operator is told to move it offline.
    assert sorted(p.name for p in runtime.settings.seal_dir.iterdir() if p.name != ".lock") == [
        "root-ca.pem",
        "seal.key",
        "seal.pem",
    ]
    offline = offline_root_key(runtime.settings.seal_dir)
    assert offline.parent != runtime.settings.seal_dir
    assert stat.S_IMODE(offline.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(offline.read_bytes(), None)
    assert key.public_key() == seal.root.public_key()
    assert any(f"Move {offline} offline" in n for n in start_notices(runtime.settings))


def test_production_warns_loudly_about_a_self_issued_seal(
    data_dir: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(data_dir, database_url)
    production = settings.model_copy(update={"env": "production"})
    with caplog.at_level(logging.WARNING, logger="tabellion.evidence.sealing.keys"):
        keys._load(production)
    assert SELF_ISSUED_WARNING in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tabellion.evidence.sealing.keys"):
        keys._load(settings)
    assert SELF_ISSUED_WARNING not in caplog.text


async def test_a_self_issued_seal_is_flagged_by_every_verifier(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    proof = await sealed_first_proof(client, auth, runtime)
    verdict = verify_json_proof(proof, trust_of(runtime))
    assert verdict.authentic and verdict.self_issued
    assert SELF_ISSUED_CHECK in verdict.warnings  # a warning (!), not a check (✓)
    answer = (await client.post("/v1/verify", files={"file": ("p.json", proof)})).json()
    assert SELF_ISSUED_CHECK in answer["warnings"]
    assert answer["self_issued_seal"] is True
    head = (await client.get("/v1/transparency/tree-head")).json()
    assert head["self_issued_seal"] is True
    page = await client.get("/verify")
    assert "self-issued certificate" in page.text
