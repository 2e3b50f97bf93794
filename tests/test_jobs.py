"""Background jobs, in both apps, on SQLite and PostgreSQL: the job lifecycle, progress
events, the bounded queue, shutdown within the grace period and start-up recovery.

The parity table (tests/cases.py, "jobs-*") covers the request/response contract row by
row; these tests cover what needs several steps, time, or a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from shared_logic.effects import ExecutorLost, FetchAll, UseConnection, Workflow
from shared_logic.events import events_after
from shared_logic.features.cpu import fibonacci_report
from shared_logic.features.jobs import kinds, lifecycle
from shared_logic.sql import STATEMENTS
from shared_logic.validation import ObjectOf
from tests.clients import Client, FlaskClient, QuartClient
from tests.parity import Reply
from tests.support.databases import Databases
from tests.support.session import TMP_ROOT
from tests.support.twins import Twins, TwinsFactory, app_settings

JSON = {"Content-Type": "application/json"}
WAIT = "?wait_ms=10000"
LONG_SLEEP = {"steps": 200, "step_ms": 50}  # 10 s: outlives every grace period below


def job_body(kind: str, **params: Any) -> bytes:
    return orjson.dumps({"kind": kind, "params": params})


async def submit(client: Client, kind: str, **params: Any) -> Reply:
    return await client.request("POST", "/jobs", headers=JSON, body=job_body(kind, **params))


async def finished(client: Client, job_id: int) -> dict[str, Any]:
    reply = await client.request("GET", f"/jobs/{job_id}{WAIT}")
    assert reply.status == 200, reply
    job: dict[str, Any] = reply.json()
    assert job["state"] in lifecycle.TERMINAL, job
    return job


async def until_running(client: Client, job_id: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # bounded poll
        job = (await client.request("GET", f"/jobs/{job_id}")).json()
        if job["state"] == "running" and job["progress"]["done"] > 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never started: {job}")


def parse_events(body: bytes) -> list[dict[str, Any]]:
    events = []
    for frame in body.decode().split("\n\n"):
        if not frame:
            continue
        fields = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append(
            {"id": fields.get("id"), "event": fields["event"], "data": orjson.loads(fields["data"])}
        )
    return events


# ------------------------------------------------------------------ the lifecycle
async def test_fibonacci_job_succeeds_with_the_same_result_in_both_apps(twins: Twins) -> None:
    created = await twins.same(
        "POST",
        "/jobs",
        status=202,
        compare="masked",
        headers=JSON,
        body=job_body("fibonacci", n=30, rounds=3),
    )
    assert created.header("location") == "/jobs/1"
    assert created.json()["state"] == "queued"
    done = await twins.same("GET", "/jobs/1" + WAIT, status=200, compare="masked")
    job = done.json()
    assert job["state"] == "succeeded", job
    assert job["progress"] == {"done": 3, "total": 3}
    assert job["result"] == fibonacci_report(30, 3)
    assert job["error"] is None and job["started_at"] and job["finished_at"]


async def test_events_stream_progress_then_done(twins: Twins) -> None:
    for client in (twins.flask, twins.quart):
        await submit(client, "sleep", steps=4, step_ms=60)
        reply = await client.request("GET", "/jobs/1/events")
        assert reply.status == 200 and reply.content_type == "text/event-stream; charset=utf-8"
        events = parse_events(reply.body)
        assert [event["id"] for event in events] == [str(i) for i in range(1, len(events) + 1)]
        assert {event["event"] for event in events[:-1]} <= {"progress"}, events
        assert events[-1]["event"] == "done"
        assert events[-1]["data"]["state"] == "succeeded"
        assert events[-1]["data"]["result"] == {"slept_ms": 240}
        done = [event["data"]["progress"]["done"] for event in events]
        assert done == sorted(done), events  # progress never goes back
    # Once the job has ended, the stream is exactly one `done` event in both apps.
    await twins.same("GET", "/jobs/1/events", status=200, compare="masked")


async def test_import_notes_job_creates_the_notes(twins: Twins) -> None:
    notes = [{"title": f"note {i}", "tags": ["imported"]} for i in range(7)]
    await twins.same(
        "POST",
        "/jobs",
        status=202,
        compare="masked",
        headers=JSON,
        body=job_body("import_notes", notes=notes, batch_size=3),
    )
    job = (await twins.same("GET", "/jobs/1" + WAIT, status=200, compare="masked")).json()
    assert job["state"] == "succeeded", job
    assert job["result"] == {"imported": 7, "ids": list(range(1, 8))}
    assert job["progress"] == {"done": 7, "total": 7}
    page = await twins.same("GET", "/api/notes?tag=imported&limit=10", status=200, compare="masked")
    assert [note["title"] for note in page.json()["items"]] == [
        f"note {i}" for i in range(6, -1, -1)
    ]


async def run_test_job(twins: Twins, name: str, body: lifecycle.JobBody) -> dict[str, Any]:
    """Register a job kind for one test, run it once in both apps, return its final state."""
    kinds.register(lifecycle.JobKind(name, "test only", ObjectOf(()), body))
    try:
        await twins.same(
            "POST", "/jobs", status=202, compare="masked", headers=JSON, body=job_body(name)
        )
        return (await twins.same("GET", "/jobs/1" + WAIT, status=200, compare="masked")).json()
    finally:
        del kinds.KINDS[name]


async def test_a_failing_job_is_marked_failed_without_details(twins: Twins) -> None:
    def explode(ctx: Any, job_id: int, params: Any) -> Workflow[Any]:
        yield from lifecycle.report_progress(ctx, job_id, 1, 2)
        raise RuntimeError("secret internal detail")

    job = await run_test_job(twins, "explode", explode)
    assert job["state"] == "failed"
    assert job["progress"] == {"done": 1, "total": 2}
    assert job["result"] is None
    assert "secret" not in job["error"], job


async def test_a_job_whose_worker_process_died_is_interrupted_not_failed(twins: Twins) -> None:
    """A Compute lost with its process (OOM kill, a process-group SIGTERM reaching Quart's
    pool) is not the job's fault: it ends `interrupted`, like a job cut by a shutdown."""

    def lost(ctx: Any, job_id: int, params: Any) -> Workflow[Any]:
        yield from lifecycle.report_progress(ctx, job_id, 1, 2)
        raise ExecutorLost("a process of the pool terminated abruptly")

    job = await run_test_job(twins, "lost", lost)
    assert job["state"] == "interrupted"
    assert job["error"] == lifecycle.WORKER_LOST_REASON
    assert job["progress"] == {"done": 1, "total": 2}


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"kind": "fibonacci", "params": {"n": 0, "rounds": "x"}}, ["params.n", "params.rounds"]),
        ({"kind": "fibonacci", "params": {"n": True}}, ["params.n"]),
        ({"kind": "fibonacci", "params": {"m": 1}}, ["params.m"]),
        ({"kind": "fibonacci", "params": []}, ["params"]),
        ({"kind": "rm -rf", "params": {}}, ["kind"]),
        ({"kind": 7}, ["kind"]),
        ({"params": {}}, ["kind"]),
        ({"kind": "sleep", "extra": 1}, ["extra"]),
        ([1, 2], ["body"]),
        ({"kind": "import_notes", "params": {"notes": []}}, ["params.notes"]),
        (
            {"kind": "import_notes", "params": {"notes": [{"title": ""}, 3], "batch_size": 0}},
            ["params.notes[0].title", "params.notes[1]", "params.batch_size"],
        ),
    ],
)
async def test_invalid_jobs_are_422_listing_each_field(
    twins: Twins, body: Any, names: list[str]
) -> None:
    reply = await twins.same("POST", "/jobs", status=422, headers=JSON, body=orjson.dumps(body))
    problem = reply.json()
    assert problem["type"] == "/problems/invalid-fields"
    assert [error["name"] for error in problem["errors"]] == names
    # Nothing was stored: the first valid job still gets id 1.
    created = await twins.same(
        "POST",
        "/jobs",
        status=202,
        compare="masked",
        headers=JSON,
        body=job_body("sleep", steps=1, step_ms=0),
    )
    assert created.header("location") == "/jobs/1"


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Type": "text/plain"}, b'{"kind": "sleep"}', 415),
        ({}, b'{"kind": "sleep"}', 415),
        (JSON, b'{"kind": ', 400),
        (JSON, b"", 400),
        (JSON, b'{"kind": "\xff"}', 400),
    ],
)
async def test_bad_job_bodies(twins: Twins, headers: Any, body: bytes, status: int) -> None:
    await twins.same("POST", "/jobs", status=status, headers=headers, body=body)


async def test_wait_ms_is_validated(twins: Twins) -> None:
    await twins.same("GET", "/jobs/1?wait_ms=30001", status=400)
    await twins.same("GET", "/jobs/1?wait_ms=-1", status=400)


# ------------------------------------------------------------------ the bounded queue
async def test_a_full_queue_answers_503_with_retry_after(twins_factory: TwinsFactory) -> None:
    async with twins_factory(job_workers=1, job_queue_size=1, job_grace_s=0.1) as pair:
        for _ in range(2):  # one running, one waiting: the capacity
            await pair.same(
                "POST",
                "/jobs",
                status=202,
                compare="masked",
                headers=JSON,
                body=job_body("sleep", **LONG_SLEEP),
            )
        full = await pair.same(
            "POST", "/jobs", status=503, headers=JSON, body=job_body("sleep", steps=1, step_ms=0)
        )
        assert full.header("retry-after") == str(lifecycle.QUEUE_FULL_RETRY_AFTER_S)
        assert full.json()["detail"] == "The job queue is full; try again later."
        # The refused job left no row behind.
        await pair.same("GET", "/jobs/3", status=404)


# ------------------------------------------------------------------ shutdown and restart
@contextlib.asynccontextmanager
async def one_app(
    kind: str, database_url: str, instance: Path, **settings: Any
) -> AsyncIterator[Client]:
    """One app (not a twin pair) on a given database; leaving the block shuts it down the
    way its server would (Flask: Resources.close, as atexit/worker_exit do; Quart:
    after_serving)."""
    config = app_settings(database_url, instance, "http://127.0.0.1:9", **settings)
    if kind == "flask":
        from sync_app.app import create_app as create_flask

        app = await asyncio.to_thread(create_flask, config)
        try:
            yield FlaskClient(app)
        finally:
            await asyncio.to_thread(app.extensions["twinport"].close)
    else:
        from async_app.app import create_app as create_quart

        app = create_quart(config)
        async with app.test_app() as test_app:
            yield QuartClient(test_app)


@pytest.fixture
def fresh_database(databases: Databases) -> Any:
    urls: list[str] = []

    def new(label: str) -> str:
        urls.append(databases.new(label))
        return urls[-1]

    yield new
    for url in urls:
        databases.drop(url)


@pytest.mark.parametrize("kind", ["flask", "quart"])
async def test_shutdown_waits_for_short_jobs_and_interrupts_long_ones(
    kind: str, fresh_database: Any
) -> None:
    url = await asyncio.to_thread(fresh_database, f"shutdown-{kind}")
    instance = TMP_ROOT / f"shutdown-{kind}-{time.monotonic_ns()}"
    async with one_app(kind, url, instance, job_workers=2, job_grace_s=1.5) as client:
        assert (await submit(client, "sleep", **LONG_SLEEP)).status == 202
        assert (await submit(client, "sleep", steps=10, step_ms=50)).status == 202
        await until_running(client, 1)
        await until_running(client, 2)
        started = time.monotonic()
    waited = time.monotonic() - started
    assert 0.3 < waited < 5, waited  # the short job's half second, at most the grace period
    async with one_app(kind, url, instance) as client:  # a restart on the same database
        long_job, short_job = await finished(client, 1), await finished(client, 2)
    assert short_job["state"] == "succeeded", short_job
    assert long_job["state"] == "interrupted", long_job
    assert long_job["error"] == lifecycle.SHUTDOWN_REASON
    assert 0 < long_job["progress"]["done"] < LONG_SLEEP["steps"]


@pytest.mark.parametrize("kind", ["flask", "quart"])
async def test_shutdown_interrupts_waiting_jobs_without_starting_them(
    kind: str, fresh_database: Any
) -> None:
    url = await asyncio.to_thread(fresh_database, f"queued-{kind}")
    instance = TMP_ROOT / f"queued-{kind}-{time.monotonic_ns()}"
    async with one_app(kind, url, instance, job_workers=1, job_grace_s=0.1) as client:
        await submit(client, "sleep", **LONG_SLEEP)
        await submit(client, "sleep", steps=1, step_ms=0)  # waits behind job 1
        await until_running(client, 1)
    async with one_app(kind, url, instance) as client:
        waiting = await finished(client, 2)
    assert waiting["state"] == "interrupted" and waiting["started_at"] is None, waiting


def _plant_jobs(backend: str, dead_heartbeat: float, live_heartbeat: float) -> Workflow[None]:
    """Two running jobs of other processes: one long silent (dead), one fresh (alive)."""
    sql = STATEMENTS["postgresql" if backend == "postgresql" else "sqlite"].jobs

    def steps() -> Workflow[None]:
        for owner, beat in (("dead-host:1:0", dead_heartbeat), ("live-host:2:0", live_heartbeat)):
            rows = yield FetchAll(sql.insert, ("sleep", "{}", owner, beat, beat))
            yield from lifecycle.write_alone(sql.start, (beat, beat, rows[0][0]))

    yield UseConnection(steps(), transaction=True, write=True)


@pytest.mark.parametrize("kind", ["flask", "quart"])
async def test_startup_interrupts_orphaned_jobs_but_not_a_live_workers(
    kind: str, fresh_database: Any, backend: str
) -> None:
    url = await asyncio.to_thread(fresh_database, f"orphans-{kind}")
    instance = TMP_ROOT / f"orphans-{kind}-{time.monotonic_ns()}"
    now = time.time()
    async with one_app(kind, url, instance) as client:
        app = client.app if isinstance(client, FlaskClient) else client.test_app.app
        driver = app.extensions["twinport"].driver
        planted = _plant_jobs(backend, now - 3600, now)
        if kind == "flask":
            await asyncio.to_thread(driver.run, planted)
        else:
            await driver.run(planted)
    async with one_app(kind, url, instance) as client:  # this start-up runs the recovery
        dead = (await client.request("GET", "/jobs/1")).json()
        alive = (await client.request("GET", "/jobs/2")).json()
        app = client.app if isinstance(client, FlaskClient) else client.test_app.app
        driver = app.extensions["twinport"].driver
        logged = events_after(STATEMENTS[backend].events, 0)
        if kind == "flask":
            logged_events = await asyncio.to_thread(driver.run, logged)
        else:
            logged_events = await driver.run(logged)
    assert dead["state"] == "interrupted" and dead["error"] == lifecycle.ORPHANED_REASON, dead
    assert alive["state"] == "running", alive  # its owner's heartbeat is fresh: not stolen
    # A job:<id> subscriber learns it ended, as it would of any other end.
    assert [(e.type, e.topics) for e in logged_events] == [("job.finished", ("job:1",))]
    assert orjson.loads(logged_events[0].payload)["state"] == "interrupted"


@pytest.mark.parametrize(
    "bad",
    [{"job_workers": 0}, {"job_queue_size": -1}, {"job_stale_s": 1.0, "job_heartbeat_s": 5.0}],
)
def test_job_settings_are_checked(bad: dict[str, Any]) -> None:
    from async_app.jobs import AsyncJobRunner
    from shared_logic.config import Settings
    from sync_app.jobs import JobRunner

    settings = dataclasses.replace(Settings(), **bad)
    for runner in (JobRunner, AsyncJobRunner):
        with pytest.raises(ValueError):
            runner(None, STATEMENTS["sqlite"], settings)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the Submit effect
async def test_submit_effect_in_both_drivers() -> None:
    """Submit goes to the shell's runner; without one, the error is thrown back."""
    from async_app.driver import AsyncDriver
    from shared_logic.effects import Submit
    from sync_app.driver import Driver

    def submitting(job: Workflow[None]) -> Workflow[Any]:
        try:
            accepted = yield Submit(job)
        except RuntimeError as exc:
            return str(exc)
        return accepted

    sync_driver = Driver(None, None, None)  # type: ignore[arg-type]
    async_driver = AsyncDriver(None, None, None)  # type: ignore[arg-type]
    for run in (lambda wf: asyncio.to_thread(sync_driver.run, wf), async_driver.run):
        assert await run(submitting(iter(()))) == "this process has no job runner"  # type: ignore[arg-type]
    taken: list[Any] = []
    for driver in (sync_driver, async_driver):
        driver.submit_job = lambda job: not taken.append(job)
    job: Any = iter(())
    assert await asyncio.to_thread(sync_driver.run, submitting(job)) is True
    assert await async_driver.run(submitting(job)) is True
    assert taken == [job, job]
