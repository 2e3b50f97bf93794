"""SQL functions the shells register on every SQLite connection."""

from __future__ import annotations

import time


def sqlite_sleep_ms(ms: int) -> int:
    """SQLite's stand-in for pg_sleep (`shared_logic.sql.SQLITE_SLEEP_FUNCTION`).

    It runs inside the database call, on the thread that executes the statement (the
    request thread in the sync app, aiosqlite's connection thread in the async app), so
    like pg_sleep it holds one pooled connection for the whole wait.
    """
    time.sleep(max(0, ms) / 1000)
    return ms
