"""Command-line options, markers and the report header of the parity suite."""

from __future__ import annotations

import os

import pytest

from tests.support.session import ENV_DATABASE_URL, TMP_ROOT

POSTGRES_ENV = "TWINPORT_TEST_POSTGRES_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("twinport")
    group.addoption(
        "--postgres-url",
        default=None,
        help=f"run every backend-parametrised test on PostgreSQL too (or set {POSTGRES_ENV} "
        "or DATABASE_URL=postgresql://...)",
    )
    group.addoption(
        "--backend",
        choices=("auto", "sqlite", "postgresql"),
        default="auto",
        help="auto: SQLite, plus PostgreSQL when configured; or one backend only",
    )
    group.addoption("--run-slow", action="store_true", help="also run tests marked slow")
    group.addoption("--no-live", action="store_true", help="skip tests that start real servers")


def postgres_url(config: pytest.Config) -> str | None:
    """The PostgreSQL server to test on, if one is configured."""
    url = config.getoption("--postgres-url") or os.environ.get(POSTGRES_ENV) or ""
    if not url and ENV_DATABASE_URL.startswith(("postgresql://", "postgres://")):
        url = ENV_DATABASE_URL
    return str(url) or None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backend_independent: no database involved")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow")
    skip_live = pytest.mark.skip(reason="live servers disabled by --no-live")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--run-slow"):
            item.add_marker(skip_slow)
        if "live" in item.keywords and config.getoption("--no-live"):
            item.add_marker(skip_live)


def pytest_report_header(config: pytest.Config) -> str:
    pg = postgres_url(config)
    return f"twinport: backends sqlite{' + postgresql' if pg else ''} (tmp {TMP_ROOT})"
