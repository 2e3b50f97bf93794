"""The kinds of background job: each one's parameters, validation and workflow."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared_logic.context import Context
from shared_logic.effects import Compute, Sleep, UseConnection, Workflow
from shared_logic.features import notes
from shared_logic.features.cpu import fibonacci_report
from shared_logic.features.jobs.lifecycle import JobKind, report_progress
from shared_logic.features.notes import INVALID_FIELDS
from shared_logic.protocol.http import Problem, ProblemError


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
    report: Mapping[str, Any] = {}
    yield from report_progress(ctx, job_id, 0, rounds)
    for done in range(1, rounds + 1):
        report = yield from Compute(fibonacci_report, (n, 1))
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
        yield from Sleep(params["step_ms"] / 1000)
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
        ids += yield from UseConnection(batch(start), transaction=True, write=True)
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

