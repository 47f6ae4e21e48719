"""The job worker: leases due jobs, runs their handlers, records each outcome.

Jobs are leased, not locked: a claim sets ``locked_by`` and ``locked_until``, a heartbeat
extends the lease while the handler runs, and a job whose lease ran out (its worker died) is
claimed again by any worker. Delivery is therefore at least once, and handlers are idempotent.
An outcome is written only while the row still carries this worker's claim (same
``locked_by`` and ``attempts``), so a worker that lost its lease cannot overwrite a newer run.

Throughput comes from doing little per job: claims are batched, a few jobs are claimed ahead
so a slot never waits for the database, and the outcomes of finished jobs are written
together with the next claim, in one short transaction. Job handlers open their own sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import logging
import os
import random
import re
import secrets
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Integer, Text, and_, bindparam, func, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabellion.jobs.maintenance import ensure_periodic
from tabellion.jobs.registry import (
    PRIORITY_DEFAULT,
    GiveUp,
    RetryLater,
    TaskContext,
    TaskSpec,
    get_task,
    load_all_tasks,
    warm_ups,
)
from tabellion.kit import logs, metrics, tracing
from tabellion.kit.deadlines import Deadlines
from tabellion.kit.loop import running_loop_name
from tabellion.kit.time import utcnow
from tabellion.models.base import UTCDateTime
from tabellion.models.job import Job

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

logger = logging.getLogger("tabellion.jobs")

BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 6 * 3600.0
BACKOFF_JITTER = 0.2
MAX_ERROR_CHARS = 2_000

# Error texts are stored and shown to operators; a connection URL in a driver's message
# may carry a password.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@")


def backoff_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): 5 s doubling, ±20 %, ≤ 6 h."""
    base = BACKOFF_BASE_SECONDS * 2.0 ** min(max(attempt - 1, 0), 32)
    jitter = (rng or random).uniform(-BACKOFF_JITTER, BACKOFF_JITTER)
    return min(base * (1 + jitter), BACKOFF_CAP_SECONDS)


def describe_error(exc: BaseException) -> str:
    """A short, single-purpose error text: type and message, credentials masked, truncated."""
    message = str(exc).strip()
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return _URL_CREDENTIALS.sub(r"\1***@", text)[:MAX_ERROR_CHARS]


# Named tuples, not frozen dataclasses: several are made for every job run, and a frozen
# dataclass sets each field through ``object.__setattr__`` (0.15-0.25 µs; docs/performance.md,
# "6 December, late night").
class ClaimedJob(NamedTuple):
    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    priority: int = PRIORITY_DEFAULT
    request_id: str | None = None  # of the request that caused it, bound to its log lines


class Outcome(NamedTuple):
    job: ClaimedJob
    status: str  # done | queued | dead
    run_at: datetime | None = None  # None keeps the row's value
    error: str | None = None  # None keeps the row's value


def _this_claim() -> Any:
    # The row still holds the claim this worker made (a later claim bumps ``attempts``).
    return and_(
        Job.id == bindparam("b_id"),
        Job.attempts == bindparam("b_attempt"),
        Job.locked_by == bindparam("b_worker"),
        Job.status == "running",
    )


_WRITE_OUTCOME = (
    update(Job)
    .where(_this_claim())
    .values(
        status=bindparam("b_status"),
        run_at=func.coalesce(bindparam("b_run_at", type_=UTCDateTime()), Job.run_at),
        last_error=func.coalesce(bindparam("b_error", type_=Text()), Job.last_error),
        finished_at=bindparam("b_finished_at", type_=UTCDateTime()),
        locked_by=None,
        locked_until=None,
    )
)

# Most outcomes: one statement for every job done, built once (the claims expand into it).
_SETTLE_DONE = (
    update(Job)
    .where(
        tuple_(Job.id, Job.attempts).in_(bindparam("b_claims", expanding=True)),
        Job.locked_by == bindparam("b_worker"),
        Job.status == "running",
    )
    .values(
        status="done",
        finished_at=bindparam("b_now", type_=UTCDateTime()),
        locked_by=None,
        locked_until=None,
    )
)

# Back to the queue as if never claimed: a shutdown is not the job's fault.
_RELEASE = (
    update(Job)
    .where(_this_claim())
    .values(status="queued", attempts=Job.attempts - 1, locked_by=None, locked_until=None)
)


@functools.cache
def _claim_statement(*, postgres: bool, orphans: bool) -> Any:
    """``UPDATE ... WHERE id IN (SELECT due ids ... LIMIT n) RETURNING``, built once per shape."""
    now = bindparam("b_now", type_=UTCDateTime())
    claimable = and_(Job.status == literal("queued", literal_execute=True), Job.run_at <= now)
    if orphans:
        orphaned = and_(
            Job.status == literal("running", literal_execute=True),
            Job.locked_until < now,
            # Our own expired leases belong to handlers still running here.
            Job.locked_by.is_distinct_from(bindparam("b_worker")),
        )
        claimable = or_(claimable, orphaned)
    candidates = (
        select(Job.id)
        .where(claimable)
        # Urgent kinds first (a code e-mail is not queued behind 10,000 renders), then oldest.
        .order_by(Job.priority, Job.run_at, Job.id)
        .limit(bindparam("b_limit", type_=Integer()))
        # A subquery on the table being updated must not correlate to it.
        .correlate(None)
    )
    due: Any = candidates.scalar_subquery()
    if postgres:
        # Evaluated once, as a materialised CTE: a plain ``IN (SELECT ... LIMIT n FOR UPDATE
        # SKIP LOCKED)`` may be run again for each row the plan visits, each run skipping the
        # rows the previous ones locked, and so claim far more than ``n`` (300 instead of 62).
        locked = candidates.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        due = select(locked.c.id)
    return (
        update(Job)
        # Repeated outside the subquery so PostgreSQL re-checks it on a row another
        # transaction changed meanwhile.
        .where(Job.id.in_(due), claimable)
        .values(
            status="running",
            locked_by=bindparam("b_worker"),
            locked_until=bindparam("b_until", type_=UTCDateTime()),
            attempts=Job.attempts + 1,
            updated_at=now,
        )
        .returning(
            Job.id,
            Job.kind,
            Job.payload,
            Job.attempts,
            Job.max_attempts,
            Job.priority,
            Job.request_id,
        )
    )


_UNTRACED = contextlib.nullcontext()


def freeze_startup_heap() -> None:
    """Keep what a worker process built at startup out of the garbage collector's full passes.

    Modules, tables, templates and the task registry live as long as the process; walking
    them (~300,000 objects) made each full collection hold the event loop for ~170 ms, a
    stall that recurs as jobs allocate. Called once by ``tabellion worker`` when started,
    after every task module is imported and what tasks prepare ahead (``registry.warm_up``)
    is made; objects made later are collected as usual.
    """
    for prepare in warm_ups():
        prepare()
    gc.collect()
    gc.freeze()


def _worker_id(name: str | None) -> str:
    label = name or socket.gethostname()
    # Unique per process and instance, so a restarted worker never mistakes old leases for its own.
    return f"{label}:{os.getpid()}:{secrets.token_hex(4)}"[-100:]


@dataclass
class _State:
    running: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    # Claimed ahead, so a finishing job's slot is refilled without waiting for the database.
    ready: deque[ClaimedJob] = field(default_factory=deque)
    # Claims not yet settled in the database (ready, running, or finished but unwritten).
    leases: dict[int, ClaimedJob] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    processed: int = 0
    stopping: bool = False
    # Event-loop times: the next look for jobs whose worker died, the latest next exchange.
    orphans_due: float = 0.0
    exchange_due: float = 0.0

    @property
    def idle(self) -> bool:
        return not (self.running or self.ready or self.outcomes)


class Worker:
    """Runs jobs from the job table, ``concurrency`` at a time.

    Up to ``prefetch`` more jobs (default: ``concurrency``) are claimed ahead of need, so a
    slot is refilled the moment a job finishes instead of after the next database round trip.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        concurrency: int = 8,
        name: str | None = None,
        lease_seconds: float = 60.0,
        poll_interval: float = 1.0,
        grace_seconds: float = 30.0,
        prefetch: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.runtime = runtime
        self.concurrency = concurrency
        self.prefetch = concurrency if prefetch is None else max(prefetch, 0)
        self.name = _worker_id(name)
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_interval = poll_interval
        self.grace_seconds = grace_seconds
        self._postgres = runtime.engine.dialect.name == "postgresql"
        self._specs: dict[str, TaskSpec | None] = {}
        self._state = _State()
        # The running jobs' time limits (``TaskSpec.timeout_seconds``), one timer for all.
        self._deadlines = Deadlines()
        # Set when there may be something to do: a job finished, work was enqueued, stop.
        self._poke = asyncio.Event()
        self._start_run()

    # ---- entry points ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run jobs until ``stop`` is set, then shut down gracefully.

        On stop, no more jobs are claimed or started; running ones get ``grace_seconds`` to
        finish, and the rest are cancelled and put back in the queue without counting the
        attempt, as are jobs claimed ahead.
        """
        logger.info(
            "worker %s started (concurrency %d, event loop %s)",
            self.name,
            self.concurrency,
            running_loop_name(),
        )
        self._state.stopping = False
        self._start_run()
        # Before the first claim: imported on a first job instead (seconds on a busy machine),
        # they held the event loop, so the heartbeat missed the leases of the jobs claimed
        # with it, and other workers ran those jobs a second time.
        await asyncio.to_thread(load_all_tasks)
        await self._ensure_periodic()
        helpers = [
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(self._stop_on(stop)),
            asyncio.create_task(self._forward_wakeups()),
        ]
        try:
            while not stop.is_set():
                self._poke.clear()
                wait = self._until_exchange()
                if wait <= 0:
                    _, wait = await self._cycle(want_wait=True)
                await self._sleep(wait)
        finally:
            try:
                await self._shutdown(self.grace_seconds)
            finally:
                for helper in helpers:
                    helper.cancel()
                logger.info("worker %s stopped", self.name)

    async def run_until_idle(self, *, timeout: float = 30) -> int:
        """Run due jobs (``run_at`` ≤ now) until none is left; returns how many ran.

        For tests and benchmarks. Jobs a run schedules for later (retries) are left alone.
        Raises TimeoutError after ``timeout`` seconds, having put unfinished jobs back.
        """
        state = self._state
        start = state.processed
        state.stopping = False
        state.orphans_due = 0.0
        self._start_run()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._poke.clear()
                    wait = self._until_exchange()
                    if wait <= 0:
                        claimed, _ = await self._cycle(want_wait=False)
                        if not claimed and state.idle:
                            return state.processed - start
                        wait = self.poll_interval
                    await self._sleep(wait)
        finally:
            try:
                await self._shutdown(0)
            finally:
                heartbeat.cancel()

    async def claim(self, limit: int) -> list[ClaimedJob]:
        """Lease up to ``limit`` due jobs to this worker, without running them."""
        async with self.runtime.engine.begin() as conn:
            claimed = await self._claim(conn, limit, utcnow())
        for job in claimed:
            self._state.leases[job.id] = job
        return claimed

    # ---- the loop ---------------------------------------------------------------------------

    def _start_run(self) -> None:
        # What each job's task starts from (a copy each): the caller's context, so never the
        # log fields of the job whose end started it; and whether jobs get a tracing span,
        # looked up once (providers are set at startup).
        self._context = contextvars.copy_context()
        self._traced = tracing.recording()

    def _until_exchange(self) -> float:
        """Seconds before the next exchange with the job table; 0 for now.

        At once when slots or the buffer of jobs claimed ahead run low, or many outcomes wait;
        else at the latest one poll interval after the previous one. Batching this way keeps
        the worker's own write transactions few, which matters most on SQLite.
        """
        state = self._state
        room = self.concurrency + self.prefetch - len(state.running) - len(state.ready)
        if room > 0 and len(state.ready) <= self.prefetch // 2:
            return 0.0
        if len(state.outcomes) >= self.concurrency:
            return 0.0
        return max(0.0, state.exchange_due - asyncio.get_running_loop().time())

    async def _cycle(self, *, want_wait: bool) -> tuple[int, float]:
        """Settle finished jobs and claim more; returns (claimed, seconds to sleep)."""
        state = self._state
        state.exchange_due = asyncio.get_running_loop().time() + self.poll_interval
        wanted = self.concurrency + self.prefetch - len(state.running) - len(state.ready)
        try:
            claimed, wait = await self._exchange(wanted, want_wait=want_wait)
        except Exception:
            # The database is away; outcomes stay pending and are written on a later cycle.
            logger.exception("worker %s: job table unavailable", self.name)
            return 0, self.poll_interval
        for job in claimed:
            state.leases[job.id] = job
        backlog = max((job.priority for job in state.ready), default=None)
        state.ready.extend(claimed)
        if backlog is not None and any(job.priority < backlog for job in claimed):
            # A code e-mail claimed now starts before the renders claimed ahead of it.
            state.ready = deque(sorted(state.ready, key=lambda job: (job.priority, job.id)))
        self._fill_slots()
        return len(claimed), wait

    async def _exchange(self, wanted: int, *, want_wait: bool) -> tuple[list[ClaimedJob], float]:
        """One transaction: write finished outcomes, lease up to ``wanted`` jobs."""
        state = self._state
        outcomes = list(state.outcomes)
        now = utcnow()
        wait = self.poll_interval
        async with self.runtime.engine.begin() as conn:
            if outcomes:
                await self._write_outcomes(conn, outcomes)
            claimed = await self._claim(conn, wanted, now) if wanted > 0 else []
            if want_wait and len(claimed) < wanted:
                wait = await self._until_next(conn, now)
        # Handlers finishing during the transaction appended after the snapshot.
        del state.outcomes[: len(outcomes)]
        for outcome in outcomes:
            state.leases.pop(outcome.job.id, None)
        return claimed, wait

    def _fill_slots(self) -> None:
        state = self._state
        while state.ready and len(state.running) < self.concurrency and not state.stopping:
            job = state.ready.popleft()
            state.running[job.id] = asyncio.create_task(
                self._run_job(job), context=self._context.copy()
            )

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0 or self._poke.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._poke.wait()

    async def _shutdown(self, grace: float) -> None:
        state = self._state
        state.stopping = True
        state.ready.clear()  # still leased: released below
        running = list(state.running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for job_task in late:
                job_task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        try:
            if state.outcomes:
                await self._exchange(0, want_wait=False)
            await self._release_unfinished()
        except Exception:
            logger.exception("worker %s: could not settle jobs on shutdown", self.name)

    # ---- database ---------------------------------------------------------------------------

    async def _claim(self, conn: AsyncConnection, limit: int, now: datetime) -> list[ClaimedJob]:
        statement = _claim_statement(postgres=self._postgres, orphans=self._orphans_due())
        parameters = {
            "b_now": now,
            "b_limit": limit,
            "b_worker": self.name,
            "b_until": now + self.lease,
        }
        rows = (await conn.execute(statement, parameters)).all()
        return sorted((ClaimedJob(*row) for row in rows), key=lambda job: (job.priority, job.id))

    def _orphans_due(self) -> bool:
        """Whether to look for jobs of dead workers too: at most once per poll interval.

        The OR of both conditions defeats the ordered index scan, so the common claim avoids it.
        """
        state = self._state
        clock = asyncio.get_running_loop().time()
        if clock < state.orphans_due:
            return False
        state.orphans_due = clock + self.poll_interval
        return True

    async def _until_next(self, conn: AsyncConnection, now: datetime) -> float:
        """Seconds until the next scheduled job, capped at the poll interval."""
        nearest = await conn.scalar(
            select(func.min(Job.run_at)).where(Job.status == "queued", Job.run_at > now)
        )
        if nearest is None:
            return self.poll_interval
        return max(0.0, min(self.poll_interval, (nearest - now).total_seconds()))

    async def _write_outcomes(self, conn: AsyncConnection, outcomes: list[Outcome]) -> None:
        now = utcnow()
        # Most outcomes are "done": one statement for all of them (an executemany is one
        # statement per row on PostgreSQL, even pipelined).
        done = [o for o in outcomes if o.status == "done"]
        others = [o for o in outcomes if o.status != "done"]
        for start in range(0, len(done), 500):
            chunk = done[start : start + 500]
            claims = [(o.job.id, o.job.attempt) for o in chunk]
            await conn.execute(
                _SETTLE_DONE, {"b_claims": claims, "b_worker": self.name, "b_now": now}
            )
        if not others:
            return
        await conn.execute(
            _WRITE_OUTCOME,
            [
                {
                    "b_id": outcome.job.id,
                    "b_attempt": outcome.job.attempt,
                    "b_worker": self.name,
                    "b_status": outcome.status,
                    "b_run_at": outcome.run_at,
                    "b_error": outcome.error,
                    "b_finished_at": None if outcome.status == "queued" else now,
                }
                for outcome in others
            ],
        )

    async def _release_unfinished(self) -> None:
        leases = self._state.leases
        if not leases:
            return
        async with self.runtime.engine.begin() as conn:
            await conn.execute(
                _RELEASE,
                [
                    {"b_id": job.id, "b_attempt": job.attempt, "b_worker": self.name}
                    for job in leases.values()
                ],
            )
        logger.info("worker %s: put %d unfinished job(s) back", self.name, len(leases))
        leases.clear()

    async def _extend_leases(self) -> None:
        ids = list(self._state.leases)
        if not ids:
            return
        async with self.runtime.engine.begin() as conn:
            await conn.execute(
                update(Job)
                .where(Job.id.in_(ids), Job.locked_by == self.name, Job.status == "running")
                .values(locked_until=utcnow() + self.lease)
            )

    # ---- one job ----------------------------------------------------------------------------

    async def _run_job(self, job: ClaimedJob) -> None:
        try:
            outcome = await self._execute(job)
            self._state.outcomes.append(outcome)
            self._state.processed += 1
        finally:
            self._state.running.pop(job.id, None)
            self._fill_slots()
            self._poke.set()

    async def _execute(self, job: ClaimedJob) -> Outcome:
        start = time.perf_counter()
        # The job's task has a context of its own (``_fill_slots``), which ends with it.
        logs.bind(request_id=job.request_id, job_id=job.id, job_kind=job.kind)
        span = tracing.job_span(job.kind, job.id, job.request_id) if self._traced else _UNTRACED
        with span:
            outcome = await self._execute_bound(job)
            elapsed = time.perf_counter() - start
            metrics.job_run(job.kind, outcome.status, elapsed)
            logger.debug("job %d (%s) %s in %.3f s", job.id, job.kind, outcome.status, elapsed)
        return outcome

    async def _execute_bound(self, job: ClaimedJob) -> Outcome:
        spec = self._spec(job.kind)
        if spec is None:
            logger.error("job %d: no task registered for kind %r", job.id, job.kind)
            return Outcome(job, "dead", error=f"no task registered for kind {job.kind!r}")
        context = TaskContext(self.runtime, job.id, job.attempt, job.max_attempts)
        deadline = self._deadlines.within(spec.timeout_seconds)
        try:
            async with deadline:
                await spec.handler(context, job.payload)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            # Raised by something the handler awaited, not by our shutdown: a failure.
            return self._failed(job, exc)
        except TimeoutError as exc:
            if deadline.expired():
                error = f"TimeoutError: no result after {spec.timeout_seconds:g} s"
                return self._failed(job, exc, error=error)
            return self._failed(job, exc)
        except Exception as exc:
            return self._failed(job, exc)
        return Outcome(job, "done")

    def _failed(self, job: ClaimedJob, exc: BaseException, *, error: str | None = None) -> Outcome:
        error = error or describe_error(exc)
        expected = isinstance(exc, RetryLater | TimeoutError | GiveUp)
        if job.attempt >= job.max_attempts or isinstance(exc, GiveUp):
            logger.error(
                "job %d (%s) dead after %d attempt(s): %s",
                job.id,
                job.kind,
                job.attempt,
                error,
                exc_info=None if expected else exc,
            )
            return Outcome(job, "dead", error=error)
        delay = exc.delay if isinstance(exc, RetryLater) else None
        if delay is None:
            delay = backoff_delay(job.attempt)
        logger.warning(
            "job %d (%s) attempt %d/%d failed, next in %.0f s: %s",
            job.id,
            job.kind,
            job.attempt,
            job.max_attempts,
            delay,
            error,
            exc_info=None if expected else exc,
        )
        return Outcome(job, "queued", run_at=utcnow() + timedelta(seconds=delay), error=error)

    def _spec(self, kind: str) -> TaskSpec | None:
        if kind not in self._specs:
            self._specs[kind] = get_task(kind)
        return self._specs[kind]

    # ---- helpers running beside the loop ---------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await self._extend_leases()
            except Exception:
                logger.warning("worker %s: could not extend leases", self.name, exc_info=True)

    async def _stop_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._state.stopping = True
        self._poke.set()

    async def _forward_wakeups(self) -> None:
        wakeup = self.runtime.jobs_wakeup
        while True:
            await wakeup.wait()
            wakeup.clear()
            self._poke.set()

    async def _ensure_periodic(self) -> None:
        try:
            added = await ensure_periodic(self.runtime)
        except Exception:
            logger.exception("worker %s: could not schedule periodic jobs", self.name)
            return
        if added:
            logger.info("scheduled periodic jobs: %s", ", ".join(added))
