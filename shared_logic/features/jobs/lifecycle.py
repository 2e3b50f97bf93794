"""A job's life in the `jobs` table: queued -> running -> succeeded | failed, or interrupted.

`run_job` is what a shell's job runner drives; `heartbeat` and `interrupt_owned` are its
periodic tick and its shutdown step. State lives in the table, so any worker of any
process answers for any job (docs/jobs.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from shared_logic.config import Settings
from shared_logic.context import Context
from shared_logic.effects import (
    EffectFailed,
    Execute,
    ExecutorLost,
    FetchAll,
    FetchOne,
    Row,
    UseConnection,
    Workflow,
)
from shared_logic.events import job_topics, publish
from shared_logic.protocol.http import ProblemError
from shared_logic.sql import Statements
from shared_logic.validation import ObjectOf, iso_timestamp

log = logging.getLogger("twinport.jobs")

QUEUED, RUNNING, SUCCEEDED, FAILED, INTERRUPTED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "interrupted",
)
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, INTERRUPTED)
TERMINAL = frozenset({SUCCEEDED, FAILED, INTERRUPTED})
QUEUE_FULL_RETRY_AFTER_S = 5
SHUTDOWN_REASON = "The server shut down before the job finished; submit it again."
ORPHANED_REASON = "The process running the job stopped; submit it again."
WORKER_LOST_REASON = "The process computing the job stopped; submit it again."


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else iso_timestamp(seconds)


def job_view(row: Row) -> dict[str, Any]:
    job_id, kind, state, done, total, result, error, created, started, finished = row
    return {
        "id": job_id,
        "kind": kind,
        "state": state,
        "progress": {"done": done, "total": total},
        "result": orjson.loads(result) if result is not None else None,
        "error": error,
        "created_at": _iso(created),
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "links": {"self": f"/jobs/{job_id}", "events": f"/jobs/{job_id}/events"},
    }


def runner_capacity(settings: Settings) -> int:
    """How many unfinished jobs one process's runner accepts; checks the job settings."""
    if settings.job_workers < 1 or settings.job_queue_size < 0:
        raise ValueError("TWINPORT_JOB_WORKERS must be >= 1, TWINPORT_JOB_QUEUE_SIZE >= 0")
    if settings.job_stale_s <= settings.job_heartbeat_s:
        raise ValueError("TWINPORT_JOB_STALE_S must exceed TWINPORT_JOB_HEARTBEAT_S")
    return settings.job_workers + settings.job_queue_size


JobBody = Callable[[Context, int, Mapping[str, Any]], Workflow[Any]]


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    description: str
    # The accepted `params`: POST /jobs checks them and /openapi.json documents them.
    params: ObjectOf
    # The work itself: reports progress with `report_progress` and returns the result.
    run: JobBody


def report_progress(ctx: Context, job_id: int, done: int, total: int) -> Workflow[None]:
    """Record progress (and so a heartbeat): what GET /jobs/<id> and its events show.

    Joins the caller's transaction when there is one (an import batch), so progress and
    its `job.progress` event commit with the work they count.
    """
    params = (done, total, time.time(), job_id)
    yield from UseConnection(
        _change_and_publish(ctx, job_id, ctx.sql.jobs.progress, params, "job.progress"),
        transaction=True,
        write=True,
    )


def _change_and_publish(
    ctx: Context, job_id: int, statement: str, params: tuple[Any, ...], event: str
) -> Workflow[int]:
    """Run a job's UPDATE and, when it changed the row, record the job as it now is."""
    changed = yield from Execute(statement, params)
    if changed:
        row = yield from FetchOne(ctx.sql.jobs.select, (job_id,))
        if row is not None:
            yield from publish(ctx.sql.events, event, job_topics(job_id), job_view(row))
    return changed


# ------------------------------------------------------------------ workflows
def write_alone(statement: str, params: tuple[Any, ...]) -> Workflow[int]:
    """One statement in its own write transaction; the result is the row count."""

    def steps() -> Workflow[int]:
        return (yield from Execute(statement, params))

    return (yield from UseConnection(steps(), transaction=True, write=True))


def insert_job(ctx: Context, kind: str, params: Mapping[str, Any], now: float) -> Workflow[int]:
    def steps() -> Workflow[int]:
        # FetchAll, not FetchOne: drains the RETURNING cursor before COMMIT (sqlite3).
        encoded = orjson.dumps(params).decode()
        rows = yield from FetchAll(ctx.sql.jobs.insert, (kind, encoded, ctx.worker_id(), now, now))
        return int(rows[0][0])

    return (yield from UseConnection(steps(), transaction=True, write=True))


def run_job(ctx: Context, job_id: int, kind: JobKind, params: Mapping[str, Any]) -> Workflow[None]:
    """What a job runner drives: queued -> running -> succeeded/failed, all in the table."""
    sql = ctx.sql.jobs
    now = time.time()
    started = yield from write_alone(sql.start, (now, now, job_id))
    if not started:  # interrupted while it waited (shutdown); nothing to do
        return
    payload: str | None = None
    error: str | None = None
    try:
        result = yield from kind.run(ctx, job_id, params)
    except ProblemError as exc:  # a job may refuse its input the way a handler does
        state, payload, error = FAILED, None, exc.problem.detail or exc.problem.title
    except ExecutorLost:  # not the job's fault: a stopped process, as with a shutdown
        state, payload, error = INTERRUPTED, None, WORKER_LOST_REASON
    except EffectFailed as exc:
        state, payload, error = FAILED, None, f"A dependency failed: {type(exc).__name__}."
    except Exception:
        log.exception("job %s (%s) failed", job_id, kind.name)
        state, payload, error = FAILED, None, "The job hit an unexpected error; it has been logged."
    else:
        state, payload, error = SUCCEEDED, orjson.dumps(result).decode(), None
    finish = (state, payload, error, time.time(), job_id)
    yield from UseConnection(
        _change_and_publish(ctx, job_id, sql.finish, finish, "job.finished"),
        transaction=True,
        write=True,
    )


def heartbeat(sql: Statements, owner: str, stale_s: float) -> Workflow[int]:
    """A runner's periodic tick (and its start-up recovery).

    Refreshes the heartbeat of the jobs `owner` holds, then marks interrupted every
    unfinished job whose heartbeat is older than `stale_s`: their owner died without its
    shutdown hook (SIGKILL, OOM, power loss). A live owner's jobs are never stale, so
    a worker starting up does not steal its siblings' jobs. Returns how many it marked.
    """
    now = time.time()
    yield from write_alone(sql.jobs.heartbeat, (now, owner))
    marked = yield from _interrupt(
        sql, sql.jobs.interrupt_stale, (ORPHANED_REASON, now, now - stale_s)
    )
    if marked:
        log.warning("marked %d orphaned job(s) interrupted", marked)
    return marked


def interrupt_owned(sql: Statements, owner: str) -> Workflow[int]:
    """On shutdown, after the grace period: this process's unfinished jobs are interrupted."""
    return (
        yield from _interrupt(sql, sql.jobs.interrupt_owned, (SHUTDOWN_REASON, time.time(), owner))
    )


def _interrupt(sql: Statements, statement: str, params: tuple[Any, ...]) -> Workflow[int]:
    """Mark jobs interrupted, each with its `job.finished` event, in one transaction."""

    def steps() -> Workflow[int]:
        rows = yield from FetchAll(statement, params)  # RETURNING id
        for (job_id,) in rows:
            row = yield from FetchOne(sql.jobs.select, (job_id,))
            if row is not None:
                yield from publish(sql.events, "job.finished", job_topics(job_id), job_view(row))
        return len(rows)

    return (yield from UseConnection(steps(), transaction=True, write=True))
