"""Blocking database access for the threaded app: connection pools and error mapping.

SQLite gets a small bounded pool (sqlite3 connections are cheap but not free to open,
and WAL wants long-lived connections); PostgreSQL uses psycopg_pool.ConnectionPool.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

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


class Database(Protocol):
    dialect: Dialect

    # A context manager yielding a DB-API connection; `write=True` for a write transaction.
    def connection(self, write: bool = False) -> Any: ...

    def close(self) -> None: ...


class SqlitePool:
    dialect: Dialect = "sqlite"

    def __init__(self, path: str, size: int, timeout_s: float, busy_timeout_ms: int) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._timeout_s = timeout_s
        self._pragmas = sqlite_pragmas(busy_timeout_ms)
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        # SQLite has one writer at a time; this process's writers queue here and hand the
        # lock on at once, instead of polling it through busy_timeout's sleeps (other
        # processes still do, which is what busy_timeout is for).
        self._writer = threading.Lock()
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (see UseConnection).
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        for pragma in self._pragmas:
            conn.execute(pragma)
        conn.create_function(SQLITE_SLEEP_FUNCTION, 1, sqlite_sleep_ms)
        return conn

    @contextmanager
    def connection(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if not write:
            with self._checkout() as conn:
                yield conn
            return
        if not self._writer.acquire(timeout=self._timeout_s):
            raise DatabaseUnavailable(SQLITE_WRITER_TIMEOUT)
        try:
            with self._checkout() as conn:
                yield conn
        finally:
            self._writer.release()

    @contextmanager
    def _checkout(self) -> Iterator[sqlite3.Connection]:
        if self._closed or not self._slots.acquire(timeout=self._timeout_s):
            raise DatabaseUnavailable("no SQLite connection became free in time")
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
            try:
                yield conn
            finally:
                if conn.in_transaction:  # a failed UseConnection must not leak its BEGIN
                    conn.rollback()
                self._idle.put(conn)
        finally:
            self._slots.release()

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class PostgresPool:
    dialect: Dialect = "postgresql"

    def __init__(self, conninfo: str, size: int, timeout_s: float, statement_timeout_s: float):
        settings = postgres_session_settings(statement_timeout_s)

        def configure(conn: psycopg.Connection[Any]) -> None:
            for statement in settings:
                conn.execute(statement)

        self._pool = psycopg_pool.ConnectionPool(
            conninfo,
            min_size=size,
            max_size=size,
            timeout=timeout_s,
            kwargs={"autocommit": True},
            configure=configure,
            open=False,
        )
        self._pool.open(wait=True, timeout=timeout_s)

    @contextmanager
    def connection(self, write: bool = False) -> Iterator[psycopg.Connection[Any]]:
        # PostgreSQL locks rows, not the database: writers need no queue of ours.
        with self._pool.connection() as conn:
            yield conn

    def close(self) -> None:
        self._pool.close()


def open_database(settings: Settings) -> Database:
    config = settings.database
    try:
        if config.backend == "postgresql":
            return PostgresPool(
                config.target,
                settings.db_pool_size,
                settings.db_pool_timeout_s,
                settings.db_statement_timeout_s,
            )
        return SqlitePool(
            config.target,
            settings.db_pool_size,
            settings.db_pool_timeout_s,
            settings.sqlite_busy_timeout_ms,
        )
    except (psycopg.Error, psycopg_pool.PoolTimeout, sqlite3.Error) as exc:
        raise DatabaseUnavailable(f"cannot open the {config.backend} database") from exc
