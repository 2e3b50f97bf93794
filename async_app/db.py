"""Non-blocking database access for the asyncio app: connection pools and error mapping.

SQLite goes through aiosqlite (each connection owns a thread, so the event loop never
waits on the file); PostgreSQL uses psycopg_pool.AsyncConnectionPool — the async half of
the same driver family the sync app uses, so benchmarks compare models, not drivers.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import psycopg
import psycopg_pool

from shared_logic.config import Settings
from shared_logic.effects import DatabaseUnavailable
from shared_logic.sql import (
    SQLITE_SLEEP_FUNCTION,
    SQLITE_WRITER_TIMEOUT,
    Dialect,
    postgres_session_settings,
    sqlite_pragmas,
)
from shell_support.sqlite_functions import sqlite_sleep_ms


class AsyncDatabase(Protocol):
    dialect: Dialect

    # An async context manager yielding a connection; `write=True` for a write transaction.
    def connection(self, write: bool = False) -> Any: ...

    async def executemany(self, conn: Any, sql: str, params_seq: Any) -> None: ...

    async def close(self) -> None: ...


class AsyncSqlitePool:
    dialect: Dialect = "sqlite"

    def __init__(self, path: str, size: int, timeout_s: float, busy_timeout_ms: int) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._pragmas = sqlite_pragmas(busy_timeout_ms)
        self._slots = asyncio.BoundedSemaphore(size)
        self._idle: asyncio.LifoQueue[aiosqlite.Connection] = asyncio.LifoQueue()
        # SQLite has one writer at a time. Left to busy_timeout, waiting writers poll the
        # lock with sleeps of up to 100 ms, so a busy loop handed it on late and /updates
        # ran at ~10 req/s; queueing writers here hands it on at once (FIFO).
        self._writer = asyncio.Lock()
        self._closed = False

    async def _connect(self) -> aiosqlite.Connection:
        await asyncio.to_thread(Path(self._path).parent.mkdir, parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self._path, isolation_level=None)
        for pragma in self._pragmas:
            await conn.execute(pragma)
        await conn.create_function(SQLITE_SLEEP_FUNCTION, 1, sqlite_sleep_ms)
        return conn

    @asynccontextmanager
    async def connection(self, write: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        if not write:
            async with self._checkout() as conn:
                yield conn
            return
        await self._acquire(self._writer, SQLITE_WRITER_TIMEOUT)
        try:
            async with self._checkout() as conn:
                yield conn
        finally:
            self._writer.release()

    async def _acquire(self, lock: asyncio.Lock | asyncio.Semaphore, refusal: str) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await lock.acquire()
        except TimeoutError:
            raise DatabaseUnavailable(refusal) from None

    @asynccontextmanager
    async def _checkout(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._closed:
            raise DatabaseUnavailable("the SQLite pool is closed")
        await self._acquire(self._slots, "no SQLite connection became free in time")
        try:
            conn = self._idle.get_nowait() if not self._idle.empty() else await self._connect()
            try:
                yield conn
            finally:
                if conn.in_transaction:  # a failed UseConnection must not leak its BEGIN
                    await conn.rollback()
                self._idle.put_nowait(conn)
        finally:
            self._slots.release()

    async def executemany(self, conn: aiosqlite.Connection, sql: str, params_seq: Any) -> None:
        await conn.executemany(sql, params_seq)

    async def close(self) -> None:
        self._closed = True
        while not self._idle.empty():
            await self._idle.get_nowait().close()


class AsyncPostgresPool:
    dialect: Dialect = "postgresql"

    def __init__(self, conninfo: str, size: int, timeout_s: float, statement_timeout_s: float):
        settings = postgres_session_settings(statement_timeout_s)

        async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
            for statement in settings:
                await conn.execute(statement)

        self._timeout_s = timeout_s
        self._pool = psycopg_pool.AsyncConnectionPool(
            conninfo,
            min_size=size,
            max_size=size,
            timeout=timeout_s,
            kwargs={"autocommit": True},
            configure=configure,
            open=False,
        )

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=self._timeout_s)

    @asynccontextmanager
    async def connection(self, write: bool = False) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        # PostgreSQL locks rows, not the database: writers need no queue of ours.
        async with self._pool.connection() as conn:
            yield conn

    async def executemany(
        self, conn: psycopg.AsyncConnection[Any], sql: str, params_seq: Any
    ) -> None:
        async with conn.cursor() as cursor:
            await cursor.executemany(sql, params_seq)

    async def close(self) -> None:
        await self._pool.close()


async def open_database(settings: Settings) -> AsyncDatabase:
    config = settings.database
    try:
        if config.backend == "postgresql":
            pool = AsyncPostgresPool(
                config.target,
                settings.db_pool_size,
                settings.db_pool_timeout_s,
                settings.db_statement_timeout_s,
            )
            await pool.open()
            return pool
        return AsyncSqlitePool(
            config.target,
            settings.db_pool_size,
            settings.db_pool_timeout_s,
            settings.sqlite_busy_timeout_ms,
        )
    except (psycopg.Error, psycopg_pool.PoolTimeout, sqlite3.Error) as exc:
        raise DatabaseUnavailable(f"cannot open the {config.backend} database") from exc
