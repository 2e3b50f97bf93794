"""The jobs API: POST /jobs, GET /jobs/<id> (long poll) and GET /jobs/<id>/events (SSE)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from shared_logic.context import Context
from shared_logic.effects import DatabaseUnavailable, Emit, FetchOne, Row, Sleep, Submit, Workflow
from shared_logic.features.jobs.kinds import validate_job
from shared_logic.features.jobs.lifecycle import (
    QUEUE_FULL_RETRY_AFTER_S,
    QUEUED,
    STATES,
    TERMINAL,
    insert_job,
    job_view,
    run_job,
    write_alone,
)
from shared_logic.protocol.bodies import read_json
from shared_logic.protocol.http import (
    ProblemError,
    Request,
    Response,
    json_response,
    service_unavailable,
    status_problem,
)
from shared_logic.protocol.sse import STREAM_SLACK_S, event_stream, sse_event
from shared_logic.validation import MAX_ID, Integer

WAIT_MS = Integer(
    "wait_ms",
    0,
    0,
    30_000,
    "Long poll: answer once the job has ended, or after this many milliseconds. The Flask "
    "app holds a request thread meanwhile.",
)
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string"},
        "state": {"type": "string", "enum": list(STATES)},
        "progress": {
            "type": "object",
            "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}},
        },
        "result": {"description": "The kind's result once succeeded, else null"},
        "error": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": _NULLABLE_TIME,
        "finished_at": _NULLABLE_TIME,
        "links": {"type": "object"},
    },
    "required": ["id", "kind", "state", "progress", "result", "error", "created_at"],
}


# ------------------------------------------------------------------ routes
def _job_not_found(job_id: int) -> ProblemError:
    return ProblemError(status_problem(404, f"There is no job {job_id}."))


def _load(ctx: Context, job_id: int) -> Workflow[Row]:
    row: Row | None = None
    if job_id <= MAX_ID:
        row = yield from FetchOne(ctx.sql.jobs.select, (job_id,))
    if row is None:
        raise _job_not_found(job_id)
    return row


def create_job(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    kind, job_params = validate_job(read_json(request))
    now = time.time()
    job_id = yield from insert_job(ctx, kind.name, job_params, now)
    accepted = yield from Submit(run_job(ctx, job_id, kind, job_params))
    if not accepted:
        yield from write_alone(ctx.sql.jobs.delete, (job_id,))
        raise ProblemError(
            service_unavailable("The job queue is full; try again later.", QUEUE_FULL_RETRY_AFTER_S)
        )
    # Built from what was inserted, not re-read: the runner may already have started it.
    view = job_view((job_id, kind.name, QUEUED, 0, 0, None, None, now, None, None))
    return json_response(view, 202, [("Location", f"/jobs/{job_id}")])


def get_job(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    """The job now, or, with `wait_ms`, once it has ended or that long has passed."""
    job_id = request.path_params["job_id"]
    row = yield from _load(ctx, job_id)
    deadline = time.monotonic() + params["wait_ms"] / 1000
    while row[2] not in TERMINAL and (left := deadline - time.monotonic()) > 0:
        yield from Sleep(min(left, ctx.settings.job_events_poll_s))
        row = yield from _load(ctx, job_id)
    return json_response(job_view(row))


def job_events(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    """SSE: a `progress` event whenever state or progress changes, then one `done` event.

    State crosses processes through the table: this stream polls it every
    `job_events_poll_s`, so it works whichever worker runs the job. It ends itself (event
    `timeout`) before Quart's RESPONSE_TIMEOUT would cut it, so both apps end it alike;
    a client reconnects for more.
    """
    job_id = request.path_params["job_id"]
    first = yield from _load(ctx, job_id)
    return event_stream(_events(ctx, job_id, first))


def _events(ctx: Context, job_id: int, row: Row | None) -> Workflow[None]:
    poll_s = ctx.settings.job_events_poll_s
    deadline = time.monotonic() + ctx.settings.response_timeout_s - STREAM_SLACK_S - poll_s
    last: tuple[Any, ...] | None = None
    sequence = 0
    while row is not None:
        view = job_view(row)
        key = (view["state"], view["progress"]["done"], view["progress"]["total"])
        if key != last:
            last = key
            sequence += 1
            done = view["state"] in TERMINAL
            yield from Emit(sse_event(view, "done" if done else "progress", sequence))
            if done:
                return
        if time.monotonic() >= deadline:
            yield from Emit(sse_event({"reason": "stream time limit; reconnect"}, "timeout"))
            return
        yield from Sleep(poll_s)
        try:
            row = yield from FetchOne(ctx.sql.jobs.select, (job_id,))
        except DatabaseUnavailable:
            yield from Emit(sse_event({"reason": "database unavailable; reconnect"}, "error"))
            return
