"""Which database-driver exceptions mean "unavailable" and which mean "bug".

Both shells use the same drivers' exception types (sqlite3 — also raised by aiosqlite —
and psycopg), so the classification is written once. It inspects exceptions only, but it
imports the drivers, so it lives with the shells and not in the core.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import psycopg_pool

from shared_logic.effects import DatabaseUnavailable, IntegrityViolation

_SQLITE_UNAVAILABLE = ("locked", "busy", "unable to open", "disk i/o")


@contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise driver failures as the core's effect failures; anything else passes."""
    try:
        yield
    except (sqlite3.IntegrityError, psycopg.IntegrityError) as exc:
        raise IntegrityViolation(type(exc).__name__) from exc
    except sqlite3.OperationalError as exc:
        # SQL mistakes are OperationalErrors too; only contention and I/O mean "try later".
        if any(word in str(exc).lower() for word in _SQLITE_UNAVAILABLE):
            raise DatabaseUnavailable("SQLite is busy or unavailable") from exc
        raise
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        raise DatabaseUnavailable("PostgreSQL is unavailable or timed out") from exc
