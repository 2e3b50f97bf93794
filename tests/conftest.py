"""Fixtures and hooks of the parity suite: the modules of tests/support, one per concern.

Import-time environment (before anything imports `sync_app`/`async_app`, whose package
`__init__` builds an app from the environment): every app and server the suite starts
keeps its state under one temporary instance folder, removed at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# ---------------------------------------------------------------- import-time environment
REPO = Path(__file__).resolve().parent.parent
TMP_ROOT = Path(tempfile.mkdtemp(prefix="twinport-tests-"))
_ENV_DATABASE_URL = os.environ.pop("DATABASE_URL", "")
os.environ["TWINPORT_INSTANCE_PATH"] = str(TMP_ROOT / "import-time")
os.environ.setdefault("TWINPORT_DB_POOL_SIZE", "2")
os.environ.setdefault("TWINPORT_CPU_EXECUTOR", "thread")
os.environ.setdefault("TWINPORT_RANDOM_SEED", "1")

# Imported after the environment above is set (pytest loads them once this module has run).
pytest_plugins = [
    "tests.support.options",
    "tests.support.hypothesis_profiles",
    "tests.support.databases",
    "tests.support.upstream",
    "tests.support.twins",
    "tests.support.live",
]


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(TMP_ROOT, ignore_errors=True)
