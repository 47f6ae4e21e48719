"""RFC 3161 timestamps of sealed JSON proofs, requested by a job outside any transaction.

With ``TABELLION_TSA_URL`` set, sealing marks each proof ``awaiting`` and queues one
``evidence.timestamp`` job per sealing batch, in the sealing transaction; sealing itself never
waits for the authority. The job reads the proofs' hashes and closes its session, asks the
authority for one token per proof (a few requests at a time, over one HTTP client), checks
every answer, and stores the tokens in one short transaction (``stamped``).

The imprint is the proof's hash: SHA-256 of its canonical content, i.e. of the decoded JWS
payload, the same value that links the organisation's chain and is the proof's leaf in the
transparency log. Anyone holding the proof recomputes it from the payload alone.

``TABELLION_TSA_URL`` may list several authorities, comma-separated: each proof's token is
asked of the first, then of the next when one cannot be reached, answers an HTTP error or an
answer that fails a check. When none gives a token, the job stops asking, keeps what it got,
leaves the rest ``awaiting`` and is retried with backoff; after its last attempt it queues a
fresh job for later. Local time is never used in place of a token.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import transaction
from tabellion.evidence.timestamping.rfc3161 import (
    QUERY_MEDIA_TYPE,
    REPLY_MEDIA_TYPE,
    TimestampInvalid,
    new_nonce,
    request_body,
    token_from_reply,
)
from tabellion.jobs.queue import enqueue, enqueue_many
from tabellion.kit import metrics
from tabellion.kit.time import utcnow
from tabellion.models.evidence import Evidence

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

TIMESTAMP_TASK = "evidence.timestamp"
NONE, AWAITING, STAMPED = "none", "awaiting", "stamped"
# Requests in flight per job: enough to stamp a sealing batch in seconds, few enough for a
# public authority.
CONCURRENCY = 8
REQUEST_TIMEOUT_SECONDS = 10.0
# After a job's last attempt, a fresh one carries on after this delay.
RESUME_DELAY = timedelta(hours=6)


class AuthorityUnavailable(Exception):
    """The authority could not be reached or answered with an HTTP error."""


@dataclass
class StampResult:
    stamped: int = 0
    waiting: list[str] = field(default_factory=list)  # still awaiting their timestamp
    problem: str | None = None  # why, when some are still waiting


async def queue_timestamps(session: AsyncSession, evidence_ids: Sequence[str]) -> None:
    """In the sealing transaction: one job to stamp these proofs once it commits."""
    if evidence_ids:
        await enqueue_many(session, TIMESTAMP_TASK, [{"evidence_ids": list(evidence_ids)}])


async def request_token(client: httpx.AsyncClient, url: str, digest: bytes) -> bytes:
    """A checked DER token over ``digest`` (SHA-256) from the authority at ``url``."""
    nonce = new_nonce()
    try:
        response = await client.post(
            url,
            content=request_body(digest, nonce),
            headers={"Content-Type": QUERY_MEDIA_TYPE, "Accept": REPLY_MEDIA_TYPE},
        )
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise AuthorityUnavailable(f"the timestamp authority cannot be reached ({reason})") from exc
    if response.status_code != 200:
        raise AuthorityUnavailable(f"the timestamp authority answered HTTP {response.status_code}")
    try:
        return token_from_reply(response.content, digest=digest, nonce=nonce)
    except TimestampInvalid as exc:
        raise TimestampInvalid(f"the timestamp authority's answer was refused: {exc}") from exc


async def request_token_any(client: httpx.AsyncClient, urls: Sequence[str], digest: bytes) -> bytes:
    """A checked token from the first of ``urls`` that gives one; raises when none does."""
    failures: list[str] = []
    for url in urls:
        try:
            with metrics.tsa_request():
                return await request_token(client, url, digest)
        except (AuthorityUnavailable, TimestampInvalid) as exc:
            failures.append(f"{url}: {exc}" if len(urls) > 1 else str(exc))
    raise AuthorityUnavailable("; ".join(failures))


async def _request_all(
    urls: Sequence[str], digests: dict[str, bytes]
) -> tuple[dict[str, bytes], str | None]:
    """Tokens by evidence id, and the first problem met (after which no new request starts)."""
    tokens: dict[str, bytes] = {}
    problems: list[str] = []
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as client:

        async def one(evidence_id: str, digest: bytes) -> None:
            async with gate:
                if problems:
                    return
                try:
                    tokens[evidence_id] = await request_token_any(client, urls, digest)
                except (AuthorityUnavailable, TimestampInvalid) as exc:
                    problems.append(str(exc))

        await asyncio.gather(*(one(i, d) for i, d in digests.items()))
    return tokens, problems[0] if problems else None


_STORE = (
    update(Evidence.__table__)  # type: ignore[arg-type]
    .where(
        Evidence.__table__.c.id == bindparam("b_id"),
        Evidence.__table__.c.timestamp_status == AWAITING,
    )
    .values(timestamp_status=STAMPED, timestamp_token=bindparam("b_token"))
)


async def stamp_proofs(runtime: Runtime, evidence_ids: Sequence[str]) -> StampResult:
    """Timestamp those of ``evidence_ids`` still awaiting one; idempotent."""
    async with runtime.sessions() as session:
        rows = (
            await session.execute(
                select(Evidence.id, Evidence.hash).where(
                    Evidence.id.in_(list(evidence_ids)),
                    Evidence.timestamp_status == AWAITING,
                    Evidence.hash.is_not(None),
                )
            )
        ).all()
    # The session is closed: no transaction stays open while the authority answers.
    if not rows:
        return StampResult()
    digests = {evidence_id: bytes.fromhex(str(digest)) for evidence_id, digest in rows}
    urls = runtime.settings.tsa_urls
    if not urls:
        unset = "no timestamp authority is configured (TABELLION_TSA_URL)"
        return StampResult(waiting=list(digests), problem=unset)
    tokens, problem = await _request_all(urls, digests)
    if tokens:
        async with transaction(runtime.sessions) as session:
            await session.execute(
                _STORE,
                [
                    {"b_id": evidence_id, "b_token": base64.b64encode(der).decode()}
                    for evidence_id, der in tokens.items()
                ],
            )
    waiting = [evidence_id for evidence_id in digests if evidence_id not in tokens]
    return StampResult(stamped=len(tokens), waiting=waiting, problem=problem if waiting else None)


async def resume_later(runtime: Runtime, evidence_ids: Sequence[str]) -> None:
    """A fresh job for proofs still waiting after a job's last attempt: never give up."""
    payload: dict[str, Any] = {"evidence_ids": list(evidence_ids)}
    async with transaction(runtime.sessions) as session:
        enqueue(session, TIMESTAMP_TASK, payload, run_at=utcnow() + RESUME_DELAY)
