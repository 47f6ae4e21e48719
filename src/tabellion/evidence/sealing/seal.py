"""Sealing: evidence rows written by requests get their chain position, hash, JWS and log leaf.

Rows are inserted in the transaction of the event they prove; a job then seals them in
batches, in id order, under the log's lock, so each organisation's chain and the global Merkle
log are appended in one order. One ECDSA signature and a few hashes per proof: thousands per
second per core.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, event, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from tabellion.config import Settings
from tabellion.db import SETTINGS_INFO, bulk_update, named_rows, transaction
from tabellion.evidence.content import (
    DELIVERY_COLUMNS,
    EVIDENCE_COLUMNS,
    MESSAGE_COLUMNS,
    ORGANIZATION_COLUMNS,
    build_data_content,
    build_envelope_content,
    delivery_members,
    issuer_of,
    message_members,
    message_parts,
)
from tabellion.evidence.sealing.jws import flattened_json, protected_header, sign_flattened
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.timestamping.stamps import AWAITING, NONE, queue_timestamps
from tabellion.evidence.transparency.log import append_leaves, lock_log
from tabellion.jobs.queue import ENQUEUED, any_due, enqueue_many, new_job
from tabellion.kit import metrics
from tabellion.kit.jcs import SharedMembers, canonicalize
from tabellion.kit.time import utcnow
from tabellion.models.base import table_of
from tabellion.models.envelope import Envelope, EnvelopeDocument
from tabellion.models.evidence import Evidence, EvidenceChain
from tabellion.models.job import Job
from tabellion.models.message import Attachment

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

SEAL_TASK = "evidence.seal"
RENDER_TASK = "evidence.render_pdf"
PROOF_TYPE = "tabellion-evidence+json"
# Rows per transaction: the log's lock (and on SQLite the write lock) is held meanwhile.
BATCH = 250
# PDFs are rendered in the background within a minute (or on first request), so that the
# notification e-mails and the sealing of a large dispatch go first.
RENDER_DELAY = timedelta(seconds=60)
# Proofs per render job: a job row per proof cost a tenth of a proof's sealing; groups this
# small still spread a large dispatch's PDFs over every worker.
RENDER_GROUP = 25
_REQUESTED = "tabellion.seal_requested"


def request_sealing(session: AsyncSession) -> None:
    """Ask for the evidence this transaction writes to be sealed, once it commits.

    The sealing job is added just before the commit. With a seal delay (the default), one
    queued job serves every transaction until it runs: it is locked (``FOR UPDATE SKIP
    LOCKED`` on PostgreSQL; SQLite serialises writers) so no worker can start it before this
    transaction commits, and it then sees this transaction's rows. A transaction that finds
    no such job, or only a locked one, queues its own.
    """
    session.info[_REQUESTED] = True


@event.listens_for(Session, "after_rollback")
def _forget_request(session: Session) -> None:
    session.info.pop(_REQUESTED, None)


@event.listens_for(Session, "before_commit")
def _enqueue_sealing(session: Session) -> None:
    if not session.info.pop(_REQUESTED, False):
        return
    settings = session.info.get(SETTINGS_INFO)
    delay = settings.seal_delay_seconds if settings is not None else 0.0
    # Runs inside AsyncSession.commit's greenlet, where synchronous calls are allowed.
    _queue_seal_job(session, timedelta(seconds=delay), reuse_queued=delay > 0)


def _queue_seal_job(session: Session, delay: timedelta, *, reuse_queued: bool) -> None:
    """Queue a sealing job ``delay`` from now, unless ``reuse_queued`` and one is queued already
    (locked with ``SKIP LOCKED``: a job a worker is starting does not count)."""
    if reuse_queued:
        # The values written into the statement, not bound: PostgreSQL's generic plan of a
        # prepared statement could not use the partial index of this row (``models.job``).
        queued = session.execute(
            select(Job.id)
            .where(
                Job.kind == literal(SEAL_TASK, literal_execute=True),
                Job.status == literal("queued", literal_execute=True),
            )
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if queued is not None:
            return
    session.add(new_job(SEAL_TASK, {}, run_at=utcnow() + delay))
    session.info[ENQUEUED] = True


# While jobs the caller names (the notices) are due, background sealing steps aside: it comes
# back STEP_ASIDE later, but never waits longer than YIELD_AT_MOST after the oldest unsealed
# evidence. A proof someone asks for is sealed at once anyway. With a zero seal delay (seal
# after every change) it never steps aside.
YIELD_AT_MOST = timedelta(seconds=30)
STEP_ASIDE = timedelta(seconds=2)


async def step_aside_for(session: AsyncSession, settings: Settings, busy_kind: str) -> bool:
    """Whether sealing waits for the ``busy_kind`` jobs due now; if so, a later sealing job is
    queued in this transaction."""
    if settings.seal_delay_seconds <= 0:
        return False
    oldest = await session.scalar(
        select(Evidence.occurred_at)
        .where(Evidence.sealed_at.is_(None))
        .order_by(Evidence.id)
        .limit(1)
    )
    if oldest is None or oldest <= utcnow() - YIELD_AT_MOST:
        return False
    if not await any_due(session, busy_kind):
        return False
    await session.run_sync(_queue_seal_job, STEP_ASIDE, reuse_queued=True)
    return True


@dataclass
class _Messages:
    """The messages a sealing run has read, by id: rows of the columns proofs read, and their
    parts (``content.message_parts``, the subject, bodies and files hashed once per message).

    Those columns do not change once a message is dispatched (a purge records the digests the
    parts had), so a run reads each message once, not once per batch. On SQLite that read
    walks through the message's recipient list (1.4 MB of JSON for 10,000 recipients): the
    columns added since the first schema are stored after it.
    """

    rows: dict[str, Row[Any]] = field(default_factory=dict)
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Context:
    """What the proofs of a batch are built from, by id: rows of the columns they read."""

    deliveries: dict[str, Row[Any]]
    messages: _Messages
    organizations: dict[str, Row[Any]]


async def _rows_by_id(
    session: AsyncSession, columns: tuple[Any, ...], ids: set[str]
) -> dict[str, Row[Any]]:
    id_column = columns[0]
    found: dict[str, Row[Any]] = {}
    wanted = list(ids)
    for start in range(0, len(wanted), 500):
        statement = select(*columns).where(id_column.in_(wanted[start : start + 500]))
        found.update((row.id, row) for row in named_rows((await session.execute(statement)).all()))
    return found


async def _load_context(
    session: AsyncSession, rows: Sequence[Row[Any]], messages: _Messages
) -> _Context:
    """The deliveries, messages and organisations of ``rows``, the messages that ``messages``
    lacks added to it; not a message's recipient list, which no proof reads."""
    deliveries = await _rows_by_id(
        session, DELIVERY_COLUMNS, {r.delivery_id for r in rows if r.delivery_id is not None}
    )
    new = {r.message_id for r in rows if r.message_id is not None} - messages.rows.keys()
    if new:
        found = await _rows_by_id(session, MESSAGE_COLUMNS, new)
        attachments: dict[str, list[Attachment]] = defaultdict(list)
        for a in await session.scalars(
            select(Attachment)
            .where(Attachment.message_id.in_(list(found)))
            .order_by(Attachment.created_at, Attachment.id)
        ):
            attachments[a.message_id].append(a)
        messages.rows.update(found)
        messages.parts.update(
            (i, message_parts(m, attachments.get(i, []))) for i, m in found.items()
        )
    organizations = await _rows_by_id(
        session, ORGANIZATION_COLUMNS, {r.organization_id for r in rows}
    )
    return _Context(deliveries, messages, organizations)


async def _load_envelopes(
    session: AsyncSession, rows: Sequence[Row[Any]]
) -> tuple[dict[str, Envelope], dict[str, list[EnvelopeDocument]]]:
    """The envelopes (and their documents) of the envelope evidence among ``rows``."""
    envelope_ids = list({r.envelope_id for r in rows if r.envelope_id is not None})
    if not envelope_ids:
        return {}, {}
    envelopes = {
        e.id: e
        for e in await session.scalars(select(Envelope).where(Envelope.id.in_(envelope_ids)))
    }
    documents: dict[str, list[EnvelopeDocument]] = defaultdict(list)
    for d in await session.scalars(
        select(EnvelopeDocument)
        .where(EnvelopeDocument.envelope_id.in_(envelope_ids))
        .order_by(EnvelopeDocument.created_at, EnvelopeDocument.id)
    ):
        documents[d.envelope_id].append(d)
    return envelopes, documents


async def seal_batch(
    runtime: Runtime, *, limit: int = BATCH, messages: _Messages | None = None
) -> int:
    """Seal up to ``limit`` pending evidence rows in one transaction; returns how many.
    ``messages``: those that earlier batches of the same run read."""
    settings = runtime.settings
    seal = load_seal(settings)
    protected = protected_header(seal, PROOF_TYPE)
    issuer = issuer_of(settings, seal)
    async with transaction(runtime.sessions) as session:
        log = await lock_log(session)
        pending = (
            select(*EVIDENCE_COLUMNS)
            .where(Evidence.sealed_at.is_(None))
            .order_by(Evidence.id)
            .limit(limit)
        )
        rows = named_rows((await session.execute(pending)).all())
        if not rows:
            return 0
        context = await _load_context(session, rows, messages or _Messages())
        envelopes, envelope_documents = await _load_envelopes(session, rows)
        org_ids = list({r.organization_id for r in rows})
        heads = {
            c.organization_id: c
            for c in await session.scalars(
                select(EvidenceChain).where(EvidenceChain.organization_id.in_(org_ids))
            )
        }
        # Each organisation's chain as it grows in this batch: (sequence, hash) of its head.
        chains = {org_id: (head.seq, head.head_hash) for org_id, head in heads.items()}
        now = utcnow()
        updates: list[dict[str, Any]] = []
        leaves: list[bytes] = []
        # With an authority, tokens are requested by a job after commit (timestamping/stamps.py).
        stamped = AWAITING if settings.tsa_url else NONE
        # The members a message's proofs share, canonicalised once per message and batch.
        shared: dict[tuple[str, str], SharedMembers] = {}
        for row in rows:
            sequence, previous = chains.get(row.organization_id, (0, None))
            sequence += 1
            organization = context.organizations[row.organization_id]
            if row.envelope_id is not None:
                content = build_envelope_content(
                    issuer,
                    row,
                    envelopes[row.envelope_id],
                    organization,
                    envelope_documents.get(row.envelope_id, []),
                    sequence=sequence,
                    previous=previous,
                )
                payload = canonicalize(content)
            elif row.delivery_id is None:
                content = build_data_content(
                    issuer, row, organization, sequence=sequence, previous=previous
                )
                payload = canonicalize(content)
            else:
                assert row.message_id is not None
                key = (row.message_id, row.organization_id)
                if key not in shared:
                    message = context.messages.rows[row.message_id]
                    parts = context.messages.parts[row.message_id]
                    members = message_members(issuer, row, message, organization, parts)
                    shared[key] = SharedMembers(members)
                own = delivery_members(
                    row, context.deliveries[row.delivery_id], sequence=sequence, previous=previous
                )
                payload = shared[key].canonicalize(own)
            digest = hashlib.sha256(payload).digest()
            jws = sign_flattened(seal, payload, protected)
            chains[row.organization_id] = (sequence, digest.hex())
            leaves.append(digest)
            updates.append(
                {
                    "id": row.id,
                    "seq": sequence,
                    "prev_hash": previous,
                    "hash": chains[row.organization_id][1],
                    "jws": flattened_json(jws),
                    "sealed_at": now,
                    "timestamp_status": stamped,
                }
            )
        for org_id, (sequence, head_hash) in chains.items():
            if org_id not in heads:
                heads[org_id] = EvidenceChain(organization_id=org_id)
                session.add(heads[org_id])
            heads[org_id].seq = sequence
            heads[org_id].head_hash = head_hash
            heads[org_id].updated_at = now
        first = await append_leaves(session, log, leaves)
        for offset, item in enumerate(updates):
            item["leaf_index"] = first + offset
        await session.flush()
        await bulk_update(session, table_of(Evidence), updates)
        ids = [u["id"] for u in updates]
        if settings.tsa_url:
            await queue_timestamps(session, ids)
        # A PDF proof is a delivery's (an envelope's events are told by its audit certificate).
        rendered = [r.id for r in rows if r.delivery_id is not None]
        groups = [rendered[i : i + RENDER_GROUP] for i in range(0, len(rendered), RENDER_GROUP)]
        await enqueue_many(
            session, RENDER_TASK, [{"evidence_ids": g} for g in groups], run_at=now + RENDER_DELAY
        )
        return len(rows)


async def seal_pending(runtime: Runtime) -> int:
    """Seal everything pending; returns how many were sealed."""
    total = 0
    messages = _Messages()
    while True:
        count = await seal_batch(runtime, messages=messages)
        metrics.proofs_sealed(count)
        total += count
        if count < BATCH:
            return total
