"""Backends and fresh databases.

SQLite always; PostgreSQL as well when `--postgres-url`, `TWINPORT_TEST_POSTGRES_URL` or
`DATABASE_URL=postgresql://…` names a server. Every app under test gets a fresh database (a
temp SQLite file, or a fresh PostgreSQL schema via `options=-csearch_path=…`), so two twins
start from identical state.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import pytest

from tests.support.options import POSTGRES_ENV, postgres_url
from tests.support.session import TMP_ROOT

Backend = Literal["sqlite", "postgresql"]


def _backend_params() -> list[Any]:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", params=_backend_params())
def backend(request: pytest.FixtureRequest) -> Backend:
    chosen = request.config.getoption("--backend")
    name: Backend = request.param
    if chosen not in ("auto", name):
        pytest.skip(f"--backend={chosen}")
    if name == "postgresql" and postgres_url(request.config) is None:
        pytest.skip(
            f"PostgreSQL not configured: set {POSTGRES_ENV}=postgresql://postgres@127.0.0.1:5432/test"
            " (or --postgres-url) to run this on PostgreSQL too"
        )
    return name


@dataclass
class Databases:
    """Hands out fresh, isolated databases for one backend, and drops them afterwards."""

    backend: Backend
    root: Path
    pg_url: str | None = None
    schemas: list[str] = field(default_factory=list)

    def new(self, label: str) -> str:
        token = secrets.token_hex(4)
        if self.backend == "sqlite":
            path = self.root / f"{label}-{token}" / "twinport.sqlite3"
            path.parent.mkdir(parents=True)
            return f"sqlite:///{path}"
        import psycopg

        assert self.pg_url is not None
        schema = f"tw_{label.replace('-', '_')}_{token}"
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        self.schemas.append(schema)
        sep = "&" if "?" in self.pg_url else "?"
        return f"{self.pg_url}{sep}options={quote('-csearch_path=' + schema, safe='')}"

    def drop(self, url: str) -> None:
        if self.backend != "postgresql":
            return
        import psycopg

        schema = url.rsplit("%3D", 1)[-1]
        assert self.pg_url is not None
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        with contextlib.suppress(ValueError):
            self.schemas.remove(schema)

    def drop_all(self) -> None:
        for schema in list(self.schemas):
            self.drop(f"x%3D{schema}")


@pytest.fixture(scope="session")
def databases(backend: Backend, request: pytest.FixtureRequest) -> Iterator[Databases]:
    dbs = Databases(backend, TMP_ROOT / f"db-{backend}", postgres_url(request.config))
    dbs.root.mkdir(exist_ok=True)
    yield dbs
    dbs.drop_all()
