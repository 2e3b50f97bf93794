"""The kinds of background job: each one's parameters, validation and workflow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared_logic.context import Context
from shared_logic.effects import Compute, Sleep, UseConnection, Workflow
from shared_logic.features import notes
from shared_logic.features.cpu import fibonacci_report
from shared_logic.features.jobs.lifecycle import JobKind, report_progress
from shared_logic.validation import ArrayOf, Integer, Invalid, ObjectOf, invalid_fields

FIBONACCI = ObjectOf((Integer("n", 1000, 1, 10_000), Integer("rounds", 10, 1, 100)))


def _run_fibonacci(ctx: Context, job_id: int, params: Mapping[str, Any]) -> Workflow[Any]:
    """The /cpu/fib report, one round per step, so progress moves as the work does."""
    n, rounds = params["n"], params["rounds"]
    report: Mapping[str, Any] = {}
    yield from report_progress(ctx, job_id, 0, rounds)
    for done in range(1, rounds + 1):
        report = yield from Compute(fibonacci_report, (n, 1))
        yield from report_progress(ctx, job_id, done, rounds)
    return {**report, "rounds": rounds}  # equal to fibonacci_report(n, rounds)


SLEEP = ObjectOf((Integer("steps", 10, 1, 1000), Integer("step_ms", 100, 0, 10_000)))


def _run_sleep(ctx: Context, job_id: int, params: Mapping[str, Any]) -> Workflow[Any]:
    """Wait-bound work: holds a job slot without CPU (exercises queueing and shutdown)."""
    steps = params["steps"]
    yield from report_progress(ctx, job_id, 0, steps)
    for done in range(1, steps + 1):
        yield from Sleep(params["step_ms"] / 1000)
        yield from report_progress(ctx, job_id, done, steps)
    return {"slept_ms": steps * params["step_ms"]}


MAX_IMPORT = 1000
# `notes`: as POST /api/notes takes them; `batch_size`: notes per commit.
IMPORT_NOTES = ObjectOf(
    (
        ArrayOf("notes", notes.NOTE, "notes", MAX_IMPORT, min_items=1),
        Integer("batch_size", 100, 1, 500),
    )
)


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
            row = yield from notes.insert_note(ctx.sql.notes, fields, ctx.sql.events)
            inserted.append(row[0])
        yield from report_progress(ctx, job_id, start + len(inserted), total)
        return inserted

    yield from report_progress(ctx, job_id, 0, total)
    for start in range(0, total, size):
        ids += yield from UseConnection(batch(start), transaction=True, write=True)
    return {"imported": len(ids), "ids": ids}


KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        JobKind(
            "fibonacci",
            "The /cpu/fib report computed in the background, one round per progress step.",
            FIBONACCI,
            _run_fibonacci,
        ),
        JobKind(
            "import_notes",
            "Creates many notes (each as POST /api/notes takes it), a batch per transaction.",
            IMPORT_NOTES,
            _run_import,
        ),
        JobKind(
            "sleep",
            "Waits `steps` x `step_ms` milliseconds, reporting progress after each step.",
            SLEEP,
            _run_sleep,
        ),
    )
}


def register(kind: JobKind) -> None:
    """Adds a kind defined next to the data it works on (e.g. notes import)."""
    KINDS[kind.name] = kind


def _request(kind: JobKind) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"kind": {"const": kind.name}, "params": kind.params.schema()},
        "required": ["kind"],
        "additionalProperties": False,
    }


# POST /jobs, for /openapi.json: from the same declarations validate_job enforces.
JOB_REQUEST_SCHEMA: dict[str, Any] = {"oneOf": [_request(kind) for kind in KINDS.values()]}


def validate_job(body: Any) -> tuple[JobKind, dict[str, Any]]:
    """`{"kind": ..., "params": {...}}` -> the kind and its complete params, or a 422."""
    if not isinstance(body, dict):
        raise invalid_fields([("body", "must be a JSON object")])
    errors = [(key, "is not a known field") for key in body if key not in ("kind", "params")]
    kind = KINDS.get(body["kind"]) if isinstance(body.get("kind"), str) else None
    if kind is None:
        reason = (
            "is required" if "kind" not in body else f"must be one of {', '.join(sorted(KINDS))}"
        )
        errors.insert(0, ("kind", reason))
    params = body.get("params", {})
    if not isinstance(params, dict):
        errors.append(("params", "must be a JSON object"))
    elif kind is not None:
        try:
            params = kind.params.check(params)
        except Invalid as exc:
            errors += [(f"params.{name}", reason) for name, reason in exc.errors]
    if errors:
        raise invalid_fields(errors)
    assert kind is not None
    return kind, params
