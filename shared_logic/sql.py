"""Every SQL statement the service runs, for each supported dialect.

Statements are written once in qmark style (`?`) and rewritten to psycopg's `%s` for
PostgreSQL, so the two dialects differ only where the databases really do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from shared_logic.effects import Execute, ExecuteMany, FetchOne, UseConnection, Workflow

Dialect = Literal["sqlite", "postgresql"]

WORLD_ROWS = 10_000
# An arbitrary constant identifying twinport's schema lock in pg_advisory_xact_lock.
SCHEMA_LOCK_KEY = 0x7477696E

# The twelve standard TechEmpower fortunes (the 13th is added per request).
FORTUNES: tuple[tuple[int, str], ...] = (
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. \u2014 Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"),
)


def _for(dialect: Dialect, statement: str) -> str:
    return statement.replace("?", "%s") if dialect == "postgresql" else statement


@dataclass(frozen=True, slots=True)
class Statements:
    dialect: Dialect
    select_world: str
    update_world: str
    select_fortunes: str
    db_sleep: str
    ping: str
    schema: tuple[str, ...]
    # PostgreSQL serialises concurrent start-ups with an advisory lock; SQLite's
    # BEGIN IMMEDIATE already excludes other writers.
    schema_lock: str | None
    count_worlds: str
    count_fortunes: str
    insert_world: str
    insert_fortune: str

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> Statements:
        def q(statement: str) -> str:
            return _for(dialect, statement)

        return cls(
            dialect=dialect,
            select_world=q("SELECT id, randomnumber FROM world WHERE id = ?"),
            update_world=q("UPDATE world SET randomnumber = ? WHERE id = ?"),
            select_fortunes="SELECT id, message FROM fortune",
            # SQLite has no sleep(); each shell registers `twinport_sleep_ms` on its
            # connections, so the wait happens inside the database call, holding it.
            db_sleep=q("SELECT pg_sleep(? / 1000.0)")
            if dialect == "postgresql"
            else "SELECT twinport_sleep_ms(?)",
            ping="SELECT 1",
            schema=(
                "CREATE TABLE IF NOT EXISTS world ("
                " id integer PRIMARY KEY, randomnumber integer NOT NULL)",
                "CREATE TABLE IF NOT EXISTS fortune ("
                " id integer PRIMARY KEY, message text NOT NULL)",
            ),
            schema_lock=f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})"
            if dialect == "postgresql"
            else None,
            count_worlds="SELECT count(*) FROM world",
            count_fortunes="SELECT count(*) FROM fortune",
            insert_world=q("INSERT INTO world (id, randomnumber) VALUES (?, ?)"),
            insert_fortune=q("INSERT INTO fortune (id, message) VALUES (?, ?)"),
        )


STATEMENTS: dict[Dialect, Statements] = {
    "sqlite": Statements.for_dialect("sqlite"),
    "postgresql": Statements.for_dialect("postgresql"),
}


def ensure_schema(sql: Statements, rng: random.Random) -> Workflow[bool]:
    """Create and seed the schema once; safe when every worker runs it at start-up.

    Returns True when this call seeded the tables. One write transaction holds the lock
    (BEGIN IMMEDIATE / advisory lock) from the emptiness check to the commit, so two
    workers starting together cannot both seed.
    """
    seeded: bool = yield UseConnection(_create_and_seed(sql, rng), transaction=True, write=True)
    return seeded


def _create_and_seed(sql: Statements, rng: random.Random) -> Workflow[bool]:
    if sql.schema_lock is not None:
        yield FetchOne(sql.schema_lock)
    for statement in sql.schema:
        yield Execute(statement)
    seeded = False
    (worlds,) = yield FetchOne(sql.count_worlds)
    if worlds == 0:
        rows = [(i, rng.randint(1, WORLD_ROWS)) for i in range(1, WORLD_ROWS + 1)]
        yield ExecuteMany(sql.insert_world, rows)
        seeded = True
    (fortunes,) = yield FetchOne(sql.count_fortunes)
    if fortunes == 0:
        yield ExecuteMany(sql.insert_fortune, FORTUNES)
        seeded = True
    return seeded


def begin_statement(dialect: Dialect, write: bool) -> str:
    # SQLite: take the write lock at BEGIN, so a writer waits on busy_timeout up front
    # rather than failing with "database is locked" when it first writes.
    return "BEGIN IMMEDIATE" if dialect == "sqlite" and write else "BEGIN"


def sqlite_pragmas(busy_timeout_ms: int) -> tuple[str, ...]:
    """Run on every new SQLite connection, by both shells."""
    return (
        f"PRAGMA busy_timeout = {int(busy_timeout_ms)}",
        "PRAGMA journal_mode = WAL",  # readers never block the writer, or it them
        "PRAGMA synchronous = NORMAL",  # durable at checkpoints; the usual WAL pairing
        "PRAGMA foreign_keys = ON",
    )


def postgres_session_settings(statement_timeout_s: float) -> tuple[str, ...]:
    """Run on every new PostgreSQL connection, by both shells."""
    return (f"SET statement_timeout = {int(statement_timeout_s * 1000)}",)


SQLITE_SLEEP_FUNCTION = "twinport_sleep_ms"


def sqlite_sleep_ms(ms: int) -> int:
    """SQLite's stand-in for pg_sleep, registered on each connection by the shells.

    It runs inside the database call, on the thread that executes the statement (the
    request thread in the sync app, aiosqlite's connection thread in the async app), so
    like pg_sleep it holds one pooled connection for the whole wait.
    """
    import time

    time.sleep(max(0, ms) / 1000)
    return ms
