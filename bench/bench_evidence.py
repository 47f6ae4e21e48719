"""Sealing speed: JSON proofs per second and PDF proofs per second, on one core.

JSON: dispatch one message to N recipients (N SENT evidence rows), then time the sealing job
(chain, canonical JSON, ES256 JWS, Merkle log append, bulk update) until all are sealed. The
baseline in the same run is the bare cryptographic floor: SHA-256 and an ES256 signature of
the same canonical payloads. Target: ≥ 0.5× that floor.
PDF: render and PAdES-seal M proofs one after the other; the floor is rendering them alone.
Target: ≥ 25 PDF proofs/s and ≥ 0.6× rendering alone.
Each side's CPU time per proof (``time.process_time``, all threads) is printed too: on a
loaded machine it moves less than the wall-clock ratio.

On SQLite it also prints a *bound*: the essential work of a proof by plain means, in CPU per
proof, on a copy of the database taken before sealing. Our builders make each proof's content
and canonical JSON (the members a message's proofs share written once), SHA-256 and ES256 sign
it, and the stdlib's ``sqlite3`` stores it: the evidence row's update, the Merkle log's nodes,
the chain head and the log's size, one transaction per batch of 250. It does not count reading
the rows, the log's lock, or jobs. The floor over the bound is the best ratio any sealing
that stores its proofs could reach on this machine.

    .venv/bin/python -m bench.bench_evidence [--recipients 10000] [--pdfs 100] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.common import bench_settings, fresh_postgres, report
from tabellion.app import create_app
from tabellion.evidence.content import (
    EVIDENCE_COLUMNS,
    delivery_members,
    issuer_of,
    message_members,
)
from tabellion.evidence.proofs import proof_document
from tabellion.evidence.rendering import pdf
from tabellion.evidence.sealing.jws import (
    b64url_decode,
    flattened_json,
    protected_header,
    sign_flattened,
)
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.sealing.seal import (
    BATCH,
    PROOF_TYPE,
    _load_context,
    _Messages,
    seal_pending,
)
from tabellion.evidence.transparency import merkle
from tabellion.jobs.worker import freeze_startup_heap
from tabellion.kit import loop as event_loop
from tabellion.kit.jcs import SharedMembers
from tabellion.kit.time import utcnow
from tabellion.migrations import upgrade_database
from tabellion.models import Evidence
from tabellion.organization.service import create_api_key, create_organization
from tabellion.runtime import Runtime


async def plain_bound(runtime: Runtime, copy: Path) -> float:
    """CPU seconds per proof of the essential work by plain means (module docstring)."""
    settings = runtime.settings
    seal = load_seal(settings)
    protected = protected_header(seal, PROOF_TYPE)
    issuer = issuer_of(settings, seal)
    async with runtime.sessions() as session:
        pending = (
            select(*EVIDENCE_COLUMNS)
            .where(Evidence.sealed_at.is_(None), Evidence.delivery_id.is_not(None))
            .order_by(Evidence.id)
        )
        rows = (await session.execute(pending)).all()
        context = await _load_context(session, rows, _Messages())
    connection = sqlite3.connect(copy, isolation_level=None)
    started = time.process_time()
    shared: dict[str, SharedMembers] = {}
    known: dict[tuple[int, int], bytes] = {}  # the Merkle log's nodes, kept in memory
    size, previous = 0, None
    for start in range(0, len(rows), BATCH):
        connection.execute("BEGIN IMMEDIATE")
        now = utcnow().isoformat()
        updates, nodes = [], []
        for row in rows[start : start + BATCH]:
            if row.message_id not in shared:
                message = context.messages.rows[row.message_id]
                parts = context.messages.parts[row.message_id]
                organization = context.organizations[row.organization_id]
                members = message_members(issuer, row, message, organization, parts)
                shared[row.message_id] = SharedMembers(members)
            delivery = context.deliveries[row.delivery_id]
            own = delivery_members(row, delivery, sequence=size + 1, previous=previous)
            payload = shared[row.message_id].canonicalize(own)
            digest = hashlib.sha256(payload).digest()
            jws = flattened_json(sign_flattened(seal, payload, protected))
            updates.append((size + 1, previous, digest.hex(), jws, now, "none", size, row.id))
            previous = digest.hex()
            index, level, node = size, 0, merkle.leaf_hash(digest)
            known[(0, index)] = node
            nodes.append((0, index, node))
            while index & 1:
                node = merkle.node_hash(known[(level, index - 1)], node)
                level, index = level + 1, index >> 1
                known[(level, index)] = node
                nodes.append((level, index, node))
            size += 1
        connection.executemany(
            "UPDATE evidence SET seq = ?, prev_hash = ?, hash = ?, jws = ?, sealed_at = ?,"
            " timestamp_status = ?, leaf_index = ? WHERE id = ?",
            updates,
        )
        connection.executemany(
            "INSERT INTO transparency_nodes (level, idx, hash) VALUES (?, ?, ?)", nodes
        )
        connection.execute(
            "UPDATE evidence_chains SET seq = ?, head_hash = ? WHERE organization_id = ?",
            (size, previous, rows[0].organization_id),
        )
        connection.execute("UPDATE transparency_log SET size = ?", (size,))
        connection.execute("COMMIT")
    spent = time.process_time() - started
    connection.close()
    return spent / len(rows)


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
            # As the app's lifespan and `tabellion worker` do once started (ASGITransport runs
            # no lifespan): without it a full collection walked the ~320,000 objects the
            # process built at startup in the middle of sealing (130-200 ms of a 10,000-proof
            # run, 5-8 % of it).
            freeze_startup_heap()
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
            bound = None
            if runtime.engine.dialect.name == "sqlite":
                copy = Path(tmp) / "bound.db"
                with (
                    sqlite3.connect(runtime.engine.url.database or "") as source,
                    sqlite3.connect(copy) as target,
                ):
                    source.backup(target)
                bound = await plain_bound(runtime, copy)
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
            if bound is not None:
                print(
                    f"  bound (the essential work by plain means, stored with sqlite3):"
                    f" {bound * 1e6:.0f} µs CPU per proof; baseline ÷ bound"
                    f" {floor_cpu / bound:.2f}x, the best ratio a sealing that stores could reach"
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
    event_loop.run(run(args.recipients, args.pdfs, None))
    if args.postgres and (url := fresh_postgres()):
        print("== PostgreSQL")
        event_loop.run(run(args.recipients, args.pdfs, url))


if __name__ == "__main__":
    main()
