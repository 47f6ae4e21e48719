"""Sealing speed: JSON proofs per second and PDF proofs per second, on one core.

JSON: dispatch one message to N recipients (N SENT evidence rows), then time the sealing job
(chain, canonical JSON, ES256 JWS, Merkle log append, bulk update) until all are sealed. The
baseline in the same run is the bare cryptographic floor: SHA-256 and an ES256 signature of
the same canonical payloads. Target: ≥ 0.5× that floor.
PDF: render and PAdES-seal M proofs one after the other; the floor is rendering them alone.
Target: ≥ 25 PDF proofs/s and ≥ 0.6× rendering alone.
Each side's CPU time per proof (``time.process_time``, all threads) is printed too: on a
loaded machine it moves less than the wall-clock ratio.

    .venv/bin/python -m bench.bench_evidence [--recipients 10000] [--pdfs 100] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.common import bench_settings, fresh_postgres, report
from tabellion.app import create_app
from tabellion.evidence.proofs import proof_document
from tabellion.evidence.rendering import pdf
from tabellion.evidence.sealing.jws import b64url_decode, protected_header, sign_flattened
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.sealing.seal import PROOF_TYPE, seal_pending
from tabellion.migrations import upgrade_database
from tabellion.models import Evidence
from tabellion.organization.service import create_api_key, create_organization
from tabellion.runtime import Runtime


async def run(recipients: int, pdfs: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(Path(tmp), database_url)
        await asyncio.to_thread(upgrade_database, settings.resolved_database_url)
        runtime = Runtime.build(settings)
        try:
            async with runtime.sessions() as session, session.begin():
                org = await create_organization(session, name="Bench", timezone="Europe/Paris")
                key = await create_api_key(session, org, name="bench")
            app = create_app(runtime=runtime)
            headers = {"Authorization": f"Bearer {key.secret}"}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as c:
                body = {
                    "mode": "registered",
                    "subject": "Bench",
                    "body_html": "<p>Bench</p>",
                    "recipients": [
                        {"email": f"r{i}@example.test", "first_name": "J", "last_name": f"D{i}"}
                        for i in range(recipients)
                    ],
                }
                created = (await c.post("/v1/messages", json=body, headers=headers)).json()
                await c.post(
                    f"/v1/messages/{created['id']}/attachments?filename=a.pdf",
                    content=b"%PDF-1.4\n%%EOF\n",
                    headers={**headers, "Content-Type": "application/pdf"},
                )
                response = await c.post(f"/v1/messages/{created['id']}/dispatch", headers=headers)
                assert response.status_code == 202, response.text
            seal = load_seal(settings)
            started, cpu = time.perf_counter(), time.process_time()
            sealed = await seal_pending(runtime)
            ours = sealed / (time.perf_counter() - started)
            ours_cpu = (time.process_time() - cpu) / sealed
            async with runtime.sessions() as session:
                rows = list(await session.scalars(select(Evidence).order_by(Evidence.seq)))
            payloads = [b64url_decode(json.loads(r.jws or "{}")["payload"]) for r in rows]
            protected = protected_header(seal, PROOF_TYPE)
            started, cpu = time.perf_counter(), time.process_time()
            for payload in payloads:
                hashlib.sha256(payload).digest()
                sign_flattened(seal, payload, protected)
            floor = len(payloads) / (time.perf_counter() - started)
            floor_cpu = (time.process_time() - cpu) / len(payloads)
            print(f"JSON proofs sealed: {sealed} in the sealing job")
            print(f"  ours:     {ours:10.0f} proofs/s  (target >= 0.5x the baseline)")
            print(f"  baseline: {floor:10.0f} signatures/s (sha256 + ES256 of the same payloads)")
            print(f"  ratio:    {ours / floor:10.2f}")
            print(
                f"  CPU per proof: ours {ours_cpu * 1e6:.0f} µs, baseline {floor_cpu * 1e6:.0f} µs"
            )
            dialect = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[runtime.engine.dialect.name]
            report(f"sealed JSON proofs ({sealed}), {dialect}", ours, floor, "/s", "≥ 0.5× floor")
            sample = rows[:pdfs]
            async with runtime.sessions() as session:
                documents = [await proof_document(session, r) for r in sample]
            started, cpu = time.perf_counter(), time.process_time()
            for row, document in zip(sample, documents, strict=True):
                content = json.loads(b64url_decode(json.loads(row.jws or "{}")["payload"]))
                data = pdf.render(settings, content, pdf.proof_bytes(document), "fr")
                await pdf.seal_pdf(settings, data, row.id)
            pdf_rate = len(sample) / (time.perf_counter() - started)
            pdf_cpu = (time.process_time() - cpu) / len(sample)
            started, cpu = time.perf_counter(), time.process_time()
            for row, document in zip(sample, documents, strict=True):
                content = json.loads(b64url_decode(json.loads(row.jws or "{}")["payload"]))
                pdf.render(settings, content, pdf.proof_bytes(document), "fr")
            render_rate = len(sample) / (time.perf_counter() - started)
            render_cpu = (time.process_time() - cpu) / len(sample)
            print(f"PDF proofs: {len(sample)}")
            print(f"  rendered and PAdES-sealed: {pdf_rate:8.1f} /s  (target >= 25, 0.6x render)")
            print(f"  rendered only (baseline):  {render_rate:8.1f} /s")
            print(f"  ratio:                     {pdf_rate / render_rate:8.2f}")
            print(
                f"  CPU per proof: {pdf_cpu * 1e3:.1f} ms, rendering only {render_cpu * 1e3:.1f} ms"
            )
            report(
                f"PDF proofs ({len(sample)}), {dialect}",
                pdf_rate,
                render_rate,
                "/s",
                "≥ 25/s, ≥ 0.6× render",
            )
        finally:
            await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--pdfs", type=int, default=100)
    parser.add_argument("--postgres", action="store_true", help="run on PostgreSQL too")
    args = parser.parse_args()
    print("== SQLite")
    asyncio.run(run(args.recipients, args.pdfs, None))
    if args.postgres and (url := fresh_postgres()):
        print("== PostgreSQL")
        asyncio.run(run(args.recipients, args.pdfs, url))


if __name__ == "__main__":
    main()
