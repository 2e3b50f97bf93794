"""Background jobs, written once: validation, the job workflows, and their HTTP routes.

A job is a row in the `jobs` table (state, progress, result) plus a workflow that one
process's job runner drives (a daemon thread in the Flask app, an asyncio task in the Quart
app; see sync_app/jobs.py and async_app/jobs.py). Everything a client sees is read from the
table, so any worker of any process answers for any job. docs/jobs.md has the design.

States: queued -> running -> succeeded | failed; queued/running -> interrupted when the
owning process shuts down before the job ends or dies (its heartbeat goes stale).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from shared_logic import notes
from shared_logic.bodies import read_json
from shared_logic.config import Settings
from shared_logic.context import Context
from shared_logic.cpu import fibonacci_report
from shared_logic.effects import (
    Compute,
    DatabaseUnavailable,
    EffectFailed,
    Emit,
    Execute,
    ExecutorLost,
    FetchAll,
    FetchOne,
    Row,
    Sleep,
    Submit,
    UseConnection,
    Workflow,
)
from shared_logic.http import (
    Problem,
    ProblemError,
    Request,
    Response,
    json_response,
    service_unavailable,
    status_problem,
)
from shared_logic.notes import INVALID_FIELDS
from shared_logic.params import IntParam
from shared_logic.sql import JobStatements
from shared_logic.streams import STREAM_SLACK_S, event_stream, sse_event

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
WAIT_MS = IntParam(
    "wait_ms",
    0,
    0,
    30_000,
    "Long poll: answer once the job has ended, or after this many milliseconds. The Flask "
    "app holds a request thread meanwhile.",
)
# Larger ids cannot be stored (bigint / SQLite integer); they name no job.
MAX_ID = 2**63 - 1
SHUTDOWN_REASON = "The server shut down before the job finished; submit it again."
ORPHANED_REASON = "The process running the job stopped; submit it again."
WORKER_LOST_REASON = "The process computing the job stopped; submit it again."


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


def runner_capacity(settings: Settings) -> int:
    """How many unfinished jobs one process's runner accepts; checks the job settings."""
    if settings.job_workers < 1 or settings.job_queue_size < 0:
        raise ValueError("TWINPORT_JOB_WORKERS must be >= 1, TWINPORT_JOB_QUEUE_SIZE >= 0")
    if settings.job_stale_s <= settings.job_heartbeat_s:
        raise ValueError("TWINPORT_JOB_STALE_S must exceed TWINPORT_JOB_HEARTBEAT_S")
    return settings.job_workers + settings.job_queue_size


# ------------------------------------------------------------------ validation
class InvalidFields(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['name']} {e['reason']}" for e in errors))
        self.errors = errors


def invalid_job(errors: list[dict[str, str]]) -> ProblemError:
    detail = "; ".join(f"{error['name']} {error['reason']}" for error in errors)
    return ProblemError(
        Problem(422, "Invalid fields", detail, type=INVALID_FIELDS, extra={"errors": errors})
    )


def int_field(
    params: Mapping[str, Any], name: str, default: int, minimum: int, maximum: int
) -> int:
    value = params.get(name, default)
    # bool is an int in Python, but `true` is not a number in JSON.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidFields([{"name": f"params.{name}", "reason": "must be an integer"}])
    if not minimum <= value <= maximum:
        raise InvalidFields(
            [{"name": f"params.{name}", "reason": f"must be from {minimum} to {maximum}"}]
        )
    return value


def _collect(params: Mapping[str, Any], *readers: Callable[[], Any]) -> list[Any]:
    """Run each field reader, reporting every invalid field at once."""
    values, errors = [], []
    for read in readers:
        try:
            values.append(read())
        except InvalidFields as exc:
            errors += exc.errors
    if errors:
        raise InvalidFields(errors)
    return values


# ------------------------------------------------------------------ kinds
JobBody = Callable[[Context, int, Mapping[str, Any]], Workflow[Any]]


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    description: str
    fields: tuple[str, ...]  # the accepted `params` keys
    # Validates `params` (raising InvalidFields) and returns them with defaults filled in.
    validate: Callable[[Mapping[str, Any]], dict[str, Any]]
    # The work itself: reports progress with `report_progress` and returns the result.
    run: JobBody


def report_progress(ctx: Context, job_id: int, done: int, total: int) -> Workflow[None]:
    """Record progress (and so a heartbeat): what GET /jobs/<id> and its events show."""
    yield from _write(ctx.sql.jobs.progress, (done, total, time.time(), job_id))


def _validate_fibonacci(params: Mapping[str, Any]) -> dict[str, Any]:
    n, rounds = _collect(
        params,
        lambda: int_field(params, "n", 1000, 1, 10_000),
        lambda: int_field(params, "rounds", 10, 1, 100),
    )
    return {"n": n, "rounds": rounds}


def _run_fibonacci(ctx: Context, job_id: int, params: Mapping[str, Any]) -> Workflow[Any]:
    """The /cpu/fib report, one round per step, so progress moves as the work does."""
    n, rounds = params["n"], params["rounds"]
    report: dict[str, Any] = {}
    yield from report_progress(ctx, job_id, 0, rounds)
    for done in range(1, rounds + 1):
        report = yield Compute(fibonacci_report, (n, 1))
        yield from report_progress(ctx, job_id, done, rounds)
    return {**report, "rounds": rounds}  # equal to fibonacci_report(n, rounds)


def _validate_sleep(params: Mapping[str, Any]) -> dict[str, Any]:
    steps, step_ms = _collect(
        params,
        lambda: int_field(params, "steps", 10, 1, 1000),
        lambda: int_field(params, "step_ms", 100, 0, 10_000),
    )
    return {"steps": steps, "step_ms": step_ms}


def _run_sleep(ctx: Context, job_id: int, params: Mapping[str, Any]) -> Workflow[Any]:
    """Wait-bound work: holds a job slot without CPU (exercises queueing and shutdown)."""
    steps = params["steps"]
    yield from report_progress(ctx, job_id, 0, steps)
    for done in range(1, steps + 1):
        yield Sleep(params["step_ms"] / 1000)
        yield from report_progress(ctx, job_id, done, steps)
    return {"slept_ms": steps * params["step_ms"]}


MAX_IMPORT = 1000


def _validate_import(params: Mapping[str, Any]) -> dict[str, Any]:
    """`notes`: 1..1000 notes as POST /api/notes takes them; `batch_size`: notes per commit."""
    errors: list[dict[str, str]] = []
    documents = params.get("notes")
    valid: list[dict[str, Any]] = []
    if not isinstance(documents, list) or not 1 <= len(documents) <= MAX_IMPORT:
        errors.append(
            {"name": "params.notes", "reason": f"must be an array of 1 to {MAX_IMPORT} notes"}
        )
    else:
        for index, document in enumerate(documents):
            if not isinstance(document, dict):
                errors.append({"name": f"params.notes[{index}]", "reason": "must be an object"})
                continue
            try:
                valid.append(notes.validate_note(document, partial=False))
            except ProblemError as exc:
                for error in exc.problem.extra.get("errors", ()):
                    name = f"params.notes[{index}]" + (f".{error['name']}" if error["name"] else "")
                    errors.append({"name": name, "reason": error["reason"]})
    try:
        batch_size = int_field(params, "batch_size", 100, 1, 500)
    except InvalidFields as exc:
        errors += exc.errors
    if errors:
        raise InvalidFields(errors)
    return {"notes": valid, "batch_size": batch_size}


def _run_import(ctx: Context, job_id: int, params: Mapping[str, Any]) -> Workflow[Any]:
    """Inserts the notes a batch per transaction, through the notes API's own insert.

    Progress is written in the batch's transaction, so `done` always equals the notes
    committed: an interrupted import says exactly how far it got.
    """
    documents, size = params["notes"], params["batch_size"]
    total = len(documents)
    ids: list[int] = []

    def batch(start: int) -> Workflow[list[int]]:
        inserted = []
        for fields in documents[start : start + size]:
            row = yield from notes.insert_note(ctx.sql.notes, fields)
            inserted.append(row[0])
        yield from report_progress(ctx, job_id, start + len(inserted), total)
        return inserted

    yield from report_progress(ctx, job_id, 0, total)
    for start in range(0, total, size):
        ids += yield UseConnection(batch(start), transaction=True, write=True)
    return {"imported": len(ids), "ids": ids}


KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        JobKind(
            "fibonacci",
            "The /cpu/fib report computed in the background, one round per progress step.",
            ("n", "rounds"),
            _validate_fibonacci,
            _run_fibonacci,
        ),
        JobKind(
            "import_notes",
            "Creates many notes (each as POST /api/notes takes it), a batch per transaction.",
            ("notes", "batch_size"),
            _validate_import,
            _run_import,
        ),
        JobKind(
            "sleep",
            "Waits `steps` x `step_ms` milliseconds, reporting progress after each step.",
            ("steps", "step_ms"),
            _validate_sleep,
            _run_sleep,
        ),
    )
}


def register(kind: JobKind) -> None:
    """Adds a kind defined next to the data it works on (e.g. notes import)."""
    KINDS[kind.name] = kind


def _integer(minimum: int, maximum: int, default: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, "default": default}


def _request(kind: str, params: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "kind": {"const": kind},
            "params": {
                "type": "object",
                "properties": params,
                "required": list(required),
                "additionalProperties": False,
            },
        },
        "required": ["kind"],
        "additionalProperties": False,
    }


# POST /jobs, for /openapi.json; validate_job enforces the same bounds.
JOB_REQUEST_SCHEMA: dict[str, Any] = {
    "oneOf": [
        _request("fibonacci", {"n": _integer(1, 10_000, 1000), "rounds": _integer(1, 100, 10)}),
        _request(
            "import_notes",
            {
                "notes": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_IMPORT,
                    "items": notes.NEW_NOTE_SCHEMA,
                },
                "batch_size": _integer(1, 500, 100),
            },
            ("notes",),
        ),
        _request("sleep", {"steps": _integer(1, 1000, 10), "step_ms": _integer(0, 10_000, 100)}),
    ]
}


def validate_job(body: Any) -> tuple[JobKind, dict[str, Any]]:
    """`{"kind": ..., "params": {...}}` -> the kind and its complete params, or a 422."""
    if not isinstance(body, dict):
        raise invalid_job([{"name": "body", "reason": "must be a JSON object"}])
    errors = [
        {"name": key, "reason": "is not a known field"}
        for key in body
        if key not in ("kind", "params")
    ]
    kind = KINDS.get(body["kind"]) if isinstance(body.get("kind"), str) else None
    if kind is None:
        reason = (
            "is required" if "kind" not in body else f"must be one of {', '.join(sorted(KINDS))}"
        )
        errors.insert(0, {"name": "kind", "reason": reason})
    params = body.get("params", {})
    if not isinstance(params, dict):
        errors.append({"name": "params", "reason": "must be a JSON object"})
    elif kind is not None:
        errors += [
            {"name": f"params.{key}", "reason": "is not a known field"}
            for key in params
            if key not in kind.fields
        ]
        try:
            params = kind.validate(params)
        except InvalidFields as exc:
            errors += exc.errors
    if errors:
        raise invalid_job(errors)
    assert kind is not None
    return kind, params


# ------------------------------------------------------------------ workflows
def _write(statement: str, params: tuple[Any, ...]) -> Workflow[int]:
    """One statement in its own write transaction; the result is the row count."""

    def steps() -> Workflow[int]:
        count: int = yield Execute(statement, params)
        return count

    count: int = yield UseConnection(steps(), transaction=True, write=True)
    return count


def _insert(ctx: Context, kind: str, params: Mapping[str, Any], now: float) -> Workflow[int]:
    def steps() -> Workflow[int]:
        # FetchAll, not FetchOne: drains the RETURNING cursor before COMMIT (sqlite3).
        encoded = orjson.dumps(params).decode()
        rows = yield FetchAll(ctx.sql.jobs.insert, (kind, encoded, ctx.worker_id(), now, now))
        return int(rows[0][0])

    job_id: int = yield UseConnection(steps(), transaction=True, write=True)
    return job_id


def run_job(ctx: Context, job_id: int, kind: JobKind, params: Mapping[str, Any]) -> Workflow[None]:
    """What a job runner drives: queued -> running -> succeeded/failed, all in the table."""
    sql = ctx.sql.jobs
    now = time.time()
    started = yield from _write(sql.start, (now, now, job_id))
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
    yield from _write(sql.finish, (state, payload, error, time.time(), job_id))


def heartbeat(sql: JobStatements, owner: str, stale_s: float) -> Workflow[int]:
    """A runner's periodic tick (and its start-up recovery).

    Refreshes the heartbeat of the jobs `owner` holds, then marks interrupted every
    unfinished job whose heartbeat is older than `stale_s`: their owner died without its
    shutdown hook (SIGKILL, OOM, power loss). A live owner's jobs are never stale, so
    a worker starting up does not steal its siblings' jobs. Returns how many it marked.
    """
    now = time.time()
    yield from _write(sql.heartbeat, (now, owner))
    marked: int = yield from _write(sql.interrupt_stale, (ORPHANED_REASON, now, now - stale_s))
    if marked:
        log.warning("marked %d orphaned job(s) interrupted", marked)
    return marked


def interrupt_owned(sql: JobStatements, owner: str) -> Workflow[int]:
    """On shutdown, after the grace period: this process's unfinished jobs are interrupted."""
    marked: int = yield from _write(sql.interrupt_owned, (SHUTDOWN_REASON, time.time(), owner))
    return marked


# ------------------------------------------------------------------ views and routes
def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    # The notes API's format: UTC, millisecond precision, `Z`.
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


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


def _job_not_found(job_id: int) -> ProblemError:
    return ProblemError(status_problem(404, f"There is no job {job_id}."))


def _load(ctx: Context, job_id: int) -> Workflow[Row]:
    row: Row | None = None
    if job_id <= MAX_ID:
        row = yield FetchOne(ctx.sql.jobs.select, (job_id,))
    if row is None:
        raise _job_not_found(job_id)
    return row


def create_job(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    kind, job_params = validate_job(read_json(request))
    now = time.time()
    job_id = yield from _insert(ctx, kind.name, job_params, now)
    accepted = yield Submit(run_job(ctx, job_id, kind, job_params))
    if not accepted:
        yield from _write(ctx.sql.jobs.delete, (job_id,))
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
        yield Sleep(min(left, ctx.settings.job_events_poll_s))
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
            yield Emit(sse_event(view, "done" if done else "progress", sequence))
            if done:
                return
        if time.monotonic() >= deadline:
            yield Emit(sse_event({"reason": "stream time limit; reconnect"}, "timeout"))
            return
        yield Sleep(poll_s)
        try:
            row = yield FetchOne(ctx.sql.jobs.select, (job_id,))
        except DatabaseUnavailable:
            yield Emit(sse_event({"reason": "database unavailable; reconnect"}, "error"))
            return
