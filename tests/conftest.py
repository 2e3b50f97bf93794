"""Fixtures for the parity suite: backends, twin apps in-process, live servers, upstream.

Import-time environment (before anything imports `sync_app`/`async_app`, whose package
`__init__` builds an app from the environment): every app and server the suite starts
keeps its state under one temporary instance folder, removed at the end of the session.

Backends: SQLite always; PostgreSQL as well when `--postgres-url`,
`TWINPORT_TEST_POSTGRES_URL` or `DATABASE_URL=postgresql://…` names a server. Every app
under test gets a fresh database (a temp SQLite file, or a fresh PostgreSQL schema via
`options=-csearch_path=…`), so two twins start from identical state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

# ---------------------------------------------------------------- import-time environment
REPO = Path(__file__).resolve().parent.parent
TMP_ROOT = Path(tempfile.mkdtemp(prefix="twinport-tests-"))
_ENV_DATABASE_URL = os.environ.pop("DATABASE_URL", "")
os.environ["TWINPORT_INSTANCE_PATH"] = str(TMP_ROOT / "import-time")
os.environ.setdefault("TWINPORT_DB_POOL_SIZE", "2")
os.environ.setdefault("TWINPORT_CPU_EXECUTOR", "thread")
os.environ.setdefault("TWINPORT_RANDOM_SEED", "1")

from tests.clients import FlaskClient, LiveClient, QuartClient, both  # noqa: E402
from tests.parity import Compare, Reply, assert_same  # noqa: E402

SEED = 20260101
BIN = Path(sys.executable).parent
POSTGRES_ENV = "TWINPORT_TEST_POSTGRES_URL"


# ---------------------------------------------------------------------------- hypothesis
from hypothesis import HealthCheck, Verbosity  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

_HYPOTHESIS_COMMON: dict[str, Any] = {
    "deadline": None,  # requests hit real databases and threads; timing is not the point
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
# `pytest` uses "default"; `pytest --hypothesis-profile=thorough` for the long run.
hypothesis_settings.register_profile(
    "default", max_examples=60, stateful_step_count=20, **_HYPOTHESIS_COMMON
)
hypothesis_settings.register_profile(
    "thorough", max_examples=1500, stateful_step_count=50, **_HYPOTHESIS_COMMON
)
hypothesis_settings.register_profile(
    "debug", max_examples=20, verbosity=Verbosity.verbose, **_HYPOTHESIS_COMMON
)
hypothesis_settings.load_profile(os.environ.get("TWINPORT_HYPOTHESIS_PROFILE", "default"))


# ---------------------------------------------------------------------------- options
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
    url = config.getoption("--postgres-url") or os.environ.get(POSTGRES_ENV) or ""
    if not url and _ENV_DATABASE_URL.startswith(("postgresql://", "postgres://")):
        url = _ENV_DATABASE_URL
    return url or None


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


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(TMP_ROOT, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str:
    pg = postgres_url(config)
    return f"twinport: backends sqlite{' + postgresql' if pg else ''} (tmp {TMP_ROOT})"


# ---------------------------------------------------------------------------- backends
def _backend_params() -> list[Any]:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", params=_backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    chosen = request.config.getoption("--backend")
    name: str = request.param
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

    backend: str
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
def databases(backend: str, request: pytest.FixtureRequest) -> Iterator[Databases]:
    dbs = Databases(backend, TMP_ROOT / f"db-{backend}", postgres_url(request.config))
    dbs.root.mkdir(exist_ok=True)
    yield dbs
    dbs.drop_all()


# ---------------------------------------------------------------------------- upstream
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    database_url: str = ""

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def start_process(
    name: str, argv: list[str], env: dict[str, str], port: int, ready_path: str = "/healthz"
) -> Process:
    log = TMP_ROOT / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: one killpg stops the workers too
        )
    process = Process(name, proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # bounded readiness poll
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{process.log_tail()}")
        try:
            if httpx.get(process.url + ready_path, timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"{name} did not become ready in 60 s:\n{process.log_tail()}")


@pytest.fixture(scope="session")
def upstream_url() -> Iterator[str]:
    port = free_port()
    process = start_process(
        "upstream",
        [sys.executable, "-m", "benchmarks.upstream", "--port", str(port)],
        dict(os.environ),
        port,
    )
    yield process.url
    process.stop()


# ---------------------------------------------------------------------------- twin apps
def app_settings(database_url: str, instance: Path, upstream: str, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "instance_path": instance,
        "upstream_url": upstream,
        "random_seed": SEED,
        "db_pool_size": 2,
        "db_pool_timeout_s": 10.0,
        "cpu_executor": "thread",
        "cpu_workers": 2,
        "fanout_threads": 8,
        "upstream_timeout_s": 10.0,
        **extra,
    }


@dataclass
class Twins:
    """The Flask and the Quart app, in-process, each on its own fresh database."""

    flask: FlaskClient
    quart: QuartClient
    flask_app: Any
    quart_app: Any
    backend: str

    async def both(
        self,
        method: str,
        target: str,
        *,
        headers: Any = None,
        body: bytes | None = None,
    ) -> tuple[Reply, Reply]:
        return await both(self.flask, self.quart, method, target, headers=headers, body=body)

    async def same(
        self,
        method: str,
        target: str,
        *,
        status: int | None = None,
        compare: Compare = "bytes",
        headers: Any = None,
        body: bytes | None = None,
    ) -> Reply:
        """Send to both, assert equal (and the status, if given); return Flask's reply."""
        a, b = await self.both(method, target, headers=headers, body=body)
        if status is not None:
            assert a.status == status, a
            assert b.status == status, b
        assert_same(a, b, compare=compare)
        return a


@contextlib.asynccontextmanager
async def make_twins(
    databases: Databases, upstream: str, **settings: Any
) -> AsyncIterator[Twins]:
    from async_app.app import create_app as create_quart
    from sync_app.app import create_app as create_flask

    flask_url = await asyncio.to_thread(databases.new, "flask")
    quart_url = await asyncio.to_thread(databases.new, "quart")
    instance = TMP_ROOT / f"instance-{secrets.token_hex(4)}"
    flask_app = await asyncio.to_thread(
        create_flask, app_settings(flask_url, instance / "flask", upstream, **settings)
    )
    try:
        quart_app = create_quart(app_settings(quart_url, instance / "quart", upstream, **settings))
        async with quart_app.test_app() as test_app:
            yield Twins(
                FlaskClient(flask_app),
                QuartClient(test_app),
                flask_app,
                quart_app,
                databases.backend,
            )
    finally:
        await asyncio.to_thread(flask_app.extensions["twinport"].close)
        await asyncio.to_thread(databases.drop, flask_url)
        await asyncio.to_thread(databases.drop, quart_url)


@pytest.fixture
async def twins(databases: Databases, upstream_url: str) -> AsyncIterator[Twins]:
    """A fresh pair of apps (same seed, same fresh data) for one test."""
    async with make_twins(databases, upstream_url) as pair:
        yield pair


@pytest.fixture
def twins_factory(databases: Databases, upstream_url: str) -> Any:
    """`async with twins_factory(max_body_bytes=10) as pair:` for non-default settings."""

    def factory(**settings: Any) -> contextlib.AbstractAsyncContextManager[Twins]:
        return make_twins(databases, upstream_url, **settings)

    return factory


# ---------------------------------------------------------------------------- live servers
@dataclass
class LivePair:
    gunicorn: LiveClient
    hypercorn: LiveClient
    processes: dict[str, Process]
    backend: str

    async def both(self, method: str, target: str, **kwargs: Any) -> tuple[Reply, Reply]:
        return await both(self.gunicorn, self.hypercorn, method, target, **kwargs)


def server_env(database_url: str, instance: Path, upstream: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TWINPORT_") and key != "DATABASE_URL"
    }
    env.update(
        DATABASE_URL=database_url,
        TWINPORT_INSTANCE_PATH=str(instance),
        UPSTREAM_URL=upstream,
        TWINPORT_RANDOM_SEED=str(SEED),
        TWINPORT_DB_POOL_SIZE="4",
        PYTHONPATH=str(REPO),
    )
    return env


@pytest.fixture(scope="session")
def live_servers(
    backend: str, databases: Databases, upstream_url: str, request: pytest.FixtureRequest
) -> Iterator[dict[str, Process]]:
    """`gunicorn -w 4 --threads 2 sync_app:app` and `hypercorn async_app:app`, as users run them."""
    if request.config.getoption("--no-live"):
        pytest.skip("--no-live")
    processes: dict[str, Process] = {}
    try:
        for name, argv in (
            ("gunicorn", [str(BIN / "gunicorn"), "-w", "4", "--threads", "2", "sync_app:app"]),
            ("hypercorn", [str(BIN / "hypercorn"), "async_app:app"]),
        ):
            port = free_port()
            url = databases.new(name)
            env = server_env(url, TMP_ROOT / f"live-{backend}-{name}", upstream_url)
            processes[name] = start_process(
                f"{name}-{backend}", [*argv, "-b", f"127.0.0.1:{port}"], env, port
            )
            processes[name].database_url = url
        yield processes
    finally:
        for process in processes.values():
            process.stop()


@pytest.fixture(scope="session")
async def live(live_servers: dict[str, Process], backend: str) -> AsyncIterator[LivePair]:
    pair = LivePair(
        LiveClient(live_servers["gunicorn"].url, "gunicorn"),
        LiveClient(live_servers["hypercorn"].url, "hypercorn"),
        live_servers,
        backend,
    )
    yield pair
    await pair.gunicorn.aclose()
    await pair.hypercorn.aclose()
