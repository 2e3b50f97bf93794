"""The two drivers, one behaviour: every test runs on sync_app.driver.Driver and
async_app.driver.AsyncDriver, on SQLite and (when configured) PostgreSQL.

The workflows here are plain generators, like the core's: they yield effects and get
results (or exceptions) back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from benchmarks import procs
from shared_logic.config import Settings
from shared_logic.effects import (
    UPSTREAM_TIMED_OUT,
    UPSTREAM_UNREACHABLE,
    Compute,
    DatabaseUnavailable,
    Execute,
    ExecuteMany,
    ExecutorLost,
    FetchAll,
    FetchOne,
    Gather,
    HttpGet,
    IntegrityViolation,
    Sleep,
    UpstreamFailed,
    UseConnection,
)
from shared_logic.features.cpu import fibonacci_report
from shared_logic.sql import STATEMENTS
from tests.support.databases import Databases
from tests.support.session import TMP_ROOT

UPSTREAM_TIMEOUT_S = 1.0


@dataclass
class DriverUnderTest:
    kind: str
    run: Callable[[Any], Any]  # async: workflow -> result
    dialect: str

    def q(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.dialect == "postgresql" else statement


@contextlib.asynccontextmanager
async def open_driver(kind: str, settings: Settings) -> AsyncIterator[DriverUnderTest]:
    dialect = settings.database.backend
    if kind == "sync":
        from sync_app.db import open_database
        from sync_app.driver import Driver

        database = await asyncio.to_thread(open_database, settings)
        http = httpx.Client(timeout=UPSTREAM_TIMEOUT_S)
        fanout = ThreadPoolExecutor(8)
        driver = Driver(database, http, fanout)
        try:
            yield DriverUnderTest(kind, lambda wf: asyncio.to_thread(driver.run, wf), dialect)
        finally:
            await asyncio.to_thread(fanout.shutdown, wait=True)
            await asyncio.to_thread(http.close)
            await asyncio.to_thread(database.close)
    else:
        from async_app.db import open_database as open_async
        from async_app.driver import AsyncDriver

        adatabase = await open_async(settings)
        ahttp = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S))
        cpu = ThreadPoolExecutor(2)
        adriver = AsyncDriver(adatabase, ahttp, cpu)
        try:
            yield DriverUnderTest(kind, adriver.run, dialect)
        finally:
            await asyncio.to_thread(cpu.shutdown, wait=True)
            await ahttp.close()
            await adatabase.close()


@pytest.fixture(params=["sync", "async"])
async def driver(
    request: pytest.FixtureRequest, databases: Databases
) -> AsyncIterator[DriverUnderTest]:
    url = await asyncio.to_thread(databases.new, f"driver-{request.param}")
    settings = Settings(
        instance_path=TMP_ROOT / "drivers",
        database_url=url,
        db_pool_size=1,  # one connection: a nested checkout would time out, not pass
        db_pool_timeout_s=0.5,
    )
    async with open_driver(request.param, settings) as under_test:
        await under_test.run(create_scratch(under_test))
        yield under_test
    await asyncio.to_thread(databases.drop, url)


def create_scratch(d: DriverUnderTest) -> Any:
    yield Execute("CREATE TABLE IF NOT EXISTS scratch (id integer PRIMARY KEY, v text)")
    yield Execute("DELETE FROM scratch")


def count(d: DriverUnderTest) -> Any:
    (n,) = yield FetchOne("SELECT count(*) FROM scratch")
    return n


async def test_fetch_execute_executemany(driver: DriverUnderTest) -> None:
    q = driver.q

    def workflow() -> Any:
        yield ExecuteMany(q("INSERT INTO scratch (id, v) VALUES (?, ?)"), [(1, "a"), (2, "b")])
        changed = yield Execute(q("UPDATE scratch SET v = ? WHERE id >= ?"), ("z", 1))
        one = yield FetchOne(q("SELECT v FROM scratch WHERE id = ?"), (2,))
        missing = yield FetchOne(q("SELECT v FROM scratch WHERE id = ?"), (3,))
        rows = yield FetchAll("SELECT id, v FROM scratch ORDER BY id")
        return changed, tuple(one), missing, [tuple(r) for r in rows]

    assert await driver.run(workflow()) == (2, ("z",), None, [(1, "z"), (2, "z")])


async def test_sql_error_is_thrown_back_into_the_workflow(driver: DriverUnderTest) -> None:
    def workflow() -> Any:
        try:
            yield FetchOne("SELECT * FROM no_such_table")
        except Exception as exc:  # the driver's own error type: a bug, not "unavailable"
            assert not isinstance(exc, DatabaseUnavailable)
            return "caught"
        return "not raised"

    assert await driver.run(workflow()) == "caught"


async def test_integrity_violation_is_translated(driver: DriverUnderTest) -> None:
    q = driver.q

    def workflow() -> Any:
        yield Execute(q("INSERT INTO scratch (id, v) VALUES (?, ?)"), (1, "a"))
        try:
            yield Execute(q("INSERT INTO scratch (id, v) VALUES (?, ?)"), (1, "b"))
        except IntegrityViolation:
            return "violation"
        return "no violation"

    assert await driver.run(workflow()) == "violation"
    assert await driver.run(count(driver)) == 1  # the connection is usable afterwards


async def test_uncaught_error_rolls_the_transaction_back(driver: DriverUnderTest) -> None:
    q = driver.q

    def steps() -> Any:
        yield Execute(q("INSERT INTO scratch (id, v) VALUES (?, ?)"), (1, "a"))
        raise ValueError("boom")

    def workflow() -> Any:
        yield UseConnection(steps(), transaction=True, write=True)

    with pytest.raises(ValueError, match="boom"):
        await driver.run(workflow())
    assert await driver.run(count(driver)) == 0


async def test_failed_effect_rolls_the_transaction_back(driver: DriverUnderTest) -> None:
    q = driver.q

    def steps() -> Any:
        yield Execute(q("INSERT INTO scratch (id, v) VALUES (?, ?)"), (1, "a"))
        yield Execute(q("INSERT INTO scratch (id, v) VALUES (?, ?)"), (1, "dup"))

    def workflow() -> Any:
        yield UseConnection(steps(), transaction=True, write=True)

    with pytest.raises(IntegrityViolation):
        await driver.run(workflow())
    assert await driver.run(count(driver)) == 0


async def test_commit_when_the_steps_succeed(driver: DriverUnderTest) -> None:
    q = driver.q

    def steps() -> Any:
        yield Execute(q("INSERT INTO scratch (id, v) VALUES (?, ?)"), (1, "a"))
        return "done"

    def workflow() -> Any:
        return (yield UseConnection(steps(), transaction=True, write=True))

    assert await driver.run(workflow()) == "done"
    assert await driver.run(count(driver)) == 1


async def test_nested_use_connection_joins_the_outer_transaction(
    driver: DriverUnderTest,
) -> None:
    """Pool size 1: a nested UseConnection that checked out again would time out (503)."""
    q = driver.q

    def inner() -> Any:
        yield Execute(q("INSERT INTO scratch (id, v) VALUES (?, ?)"), (2, "inner"))
        return (yield from count(driver))

    def outer() -> Any:
        yield Execute(q("INSERT INTO scratch (id, v) VALUES (?, ?)"), (1, "outer"))
        seen = yield UseConnection(inner(), transaction=True, write=True)
        assert seen == 2  # the inner steps see the outer's uncommitted row
        raise RuntimeError("abort outer")

    def workflow() -> Any:
        yield UseConnection(outer(), transaction=True, write=True)

    with pytest.raises(RuntimeError, match="abort outer"):
        await driver.run(workflow())
    assert await driver.run(count(driver)) == 0  # inner work rolled back with the outer


async def test_exhausted_pool_is_database_unavailable(driver: DriverUnderTest) -> None:
    def holder() -> Any:
        try:
            # Gather runs its effects without the held connection: needs a second one.
            yield Gather((FetchOne("SELECT 1"),))
        except DatabaseUnavailable:
            return "unavailable"
        return "got a second connection"

    def workflow() -> Any:
        return (yield UseConnection(holder()))

    started = time.monotonic()
    assert await driver.run(workflow()) == "unavailable"
    assert time.monotonic() - started < 5


async def test_gather_runs_concurrently_in_order(driver: DriverUnderTest) -> None:
    def workflow() -> Any:
        return (
            yield Gather(
                (
                    Sleep(0.3),
                    Compute(fibonacci_report, (10, 1)),
                    Sleep(0.3),
                    Compute(pow, (2, 10)),
                    Sleep(0.3),
                )
            )
        )

    started = time.monotonic()
    results = await driver.run(workflow())
    assert time.monotonic() - started < 0.8  # three 0.3 s sleeps, overlapped
    assert results == [None, fibonacci_report(10, 1), None, 1024, None]


async def test_compute_on_loop_and_offloaded(driver: DriverUnderTest) -> None:
    def workflow() -> Any:
        a = yield Compute(fibonacci_report, (20, 2))
        b = yield Compute(fibonacci_report, (20, 2), offload=False)
        return a, b

    a, b = await driver.run(workflow())
    assert a == b == fibonacci_report(20, 2)


async def test_http_get_and_upstream_failure(driver: DriverUnderTest, upstream_url: str) -> None:
    dead = f"http://127.0.0.1:{procs.free_port()}/wait?ms=0"

    def workflow() -> Any:
        status, body = yield HttpGet(f"{upstream_url}/wait?ms=5")
        try:
            yield HttpGet(dead)
        except UpstreamFailed as exc:
            return status, body, str(exc)
        return status, body, None

    status, body, failure = await driver.run(workflow())
    assert (status, body) == (200, b'{"waited_ms":5}')
    assert failure == UPSTREAM_UNREACHABLE  # the same words from httpx and aiohttp


async def test_upstream_timeout_is_reported_the_same(
    driver: DriverUnderTest, upstream_url: str
) -> None:
    def workflow() -> Any:
        try:
            yield HttpGet(f"{upstream_url}/wait?ms={int(UPSTREAM_TIMEOUT_S * 1000) + 500}")
        except UpstreamFailed as exc:
            return str(exc)
        return None

    assert await driver.run(workflow()) == UPSTREAM_TIMED_OUT


async def test_gather_failure_is_thrown_back(driver: DriverUnderTest) -> None:
    dead = f"http://127.0.0.1:{procs.free_port()}/"

    def workflow() -> Any:
        try:
            yield Gather((Sleep(0), HttpGet(dead)))
        except UpstreamFailed:
            return "failed"
        return "ok"

    assert await driver.run(workflow()) == "failed"


async def test_schema_seeding_is_identical(driver: DriverUnderTest) -> None:
    """ensure_schema through either driver seeds the same rows for the same seed."""
    import random

    from shared_logic.sql import ensure_schema

    sql = STATEMENTS[driver.dialect]  # type: ignore[index]
    assert await driver.run(ensure_schema(sql, random.Random(7))) is True
    assert await driver.run(ensure_schema(sql, random.Random(7))) is False  # idempotent

    def worlds() -> Any:
        rows = yield FetchAll("SELECT id, randomnumber FROM world ORDER BY id")
        return [tuple(r) for r in rows]

    rows = await driver.run(worlds())
    expected_rng = random.Random(7)
    assert rows == [(i, expected_rng.randint(1, 10_000)) for i in range(1, 10_001)]


def test_unknown_effect_fails_assert_never(tmp_path: Path) -> None:
    from sync_app.driver import Driver

    settings = Settings(instance_path=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db")
    from sync_app.db import open_database

    database = open_database(replace(settings, db_pool_size=1))
    with httpx.Client() as http, ThreadPoolExecutor(1) as pool:
        driver = Driver(database, http, pool)

        def workflow() -> Any:
            try:
                yield object()
            except AssertionError:  # what typing.assert_never raises
                return "not an effect"

        assert driver.run(workflow()) == "not an effect"  # type: ignore[arg-type]
    database.close()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_sqlite_writers_queue_in_the_shell_and_readers_pass(kind: str) -> None:
    """SQLite has one writer at a time. Each shell queues its own writers (a lock ahead of
    the pool) rather than leaving them to poll the file lock through busy_timeout, which
    handed the lock on up to 100 ms late and held /updates on Quart to ~10 req/s."""
    settings = Settings(
        instance_path=TMP_ROOT / "drivers",
        database_url=f"sqlite:///{TMP_ROOT / 'drivers' / f'writers-{kind}.sqlite3'}",
        db_pool_size=3,
        db_pool_timeout_s=0.4,
        sqlite_busy_timeout_ms=10_000,  # without the queue, the writer would wait on this
    )
    async with open_driver(kind, settings) as d:
        await d.run(create_scratch(d))

        def long_writer() -> Any:
            def steps() -> Any:
                yield Execute("INSERT INTO scratch (v) VALUES ('first')")
                yield Sleep(1.0)

            yield UseConnection(steps(), transaction=True, write=True)

        def writer() -> Any:
            def steps() -> Any:
                yield Execute("INSERT INTO scratch (v) VALUES ('second')")

            try:
                yield UseConnection(steps(), transaction=True, write=True)
            except DatabaseUnavailable as exc:
                return str(exc)
            return "written"

        holding = asyncio.create_task(d.run(long_writer()))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        assert await d.run(count(d)) == 0  # WAL: a reader neither waits nor sees the write
        assert time.monotonic() - started < 0.3
        assert await d.run(writer()) == "the SQLite write lock did not come free in time"
        assert time.monotonic() - started < 0.9  # the pool timeout, not busy_timeout
        await holding
        assert await d.run(writer()) == "written"
        assert await d.run(count(d)) == 2


async def test_a_dead_cpu_worker_is_executor_lost_and_the_pool_is_replaced() -> None:
    """A killed process-pool worker breaks the whole pool for good; the async driver
    reports the lost work as ExecutorLost (503, or an interrupted job) and starts a new
    pool, so one OOM kill does not turn every later /cpu/fib into an error."""
    import os

    from async_app.driver import AsyncDriver
    from async_app.process_policy import cpu_executor

    settings = Settings(instance_path=TMP_ROOT / "drivers", cpu_executor="process", cpu_workers=1)
    first = cpu_executor(settings)
    adriver = AsyncDriver(None, None, first, lambda: cpu_executor(settings))  # type: ignore[arg-type]

    def workflow() -> Any:
        try:
            yield Compute(os._exit, (3,))  # the worker process dies mid-task
        except ExecutorLost:
            lost = True
        else:
            lost = False
        return lost, (yield Compute(pow, (2, 10)))

    try:
        assert await adriver.run(workflow()) == (True, 1024)
        assert adriver.cpu is not first
    finally:
        await asyncio.to_thread(adriver.cpu.shutdown, wait=True)
