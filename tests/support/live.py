"""Gunicorn and Hypercorn over real sockets, started as users run them, for the session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmarks import procs
from tests.clients import LiveClient, both
from tests.parity import Reply
from tests.support.databases import Backend, Databases
from tests.support.processes import SCRIPTS, ServerProcess, start_server
from tests.support.session import REPO, TMP_ROOT
from tests.support.twins import SEED

# The documented Gunicorn command (README), as the live suites start it.
GUNICORN = [str(SCRIPTS / "gunicorn"), "-w", "4", "--threads", "2", "sync_app:app"]


@dataclass
class LivePair:
    gunicorn: LiveClient
    hypercorn: LiveClient
    processes: dict[str, ServerProcess]  # by client label
    backend: Backend

    async def both(self, method: str, target: str, **kwargs: Any) -> tuple[Reply, Reply]:
        return await both(self.gunicorn, self.hypercorn, method, target, **kwargs)


def server_env(database_url: str, instance: Path, upstream: str) -> dict[str, str]:
    """The caller's environment without twinport settings, plus the server's own."""
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
    backend: Backend, databases: Databases, upstream_url: str, request: pytest.FixtureRequest
) -> Iterator[dict[str, ServerProcess]]:
    """`gunicorn -w 4 --threads 2 sync_app:app` and `hypercorn async_app:app`, as users run them."""
    if request.config.getoption("--no-live"):
        pytest.skip("--no-live")
    servers: dict[str, ServerProcess] = {}
    try:
        start_servers(
            servers,
            {"gunicorn": GUNICORN, "hypercorn": [str(SCRIPTS / "hypercorn"), "async_app:app"]},
            lambda name: server_env(
                databases.new(name), TMP_ROOT / f"live-{backend}-{name}", upstream_url
            ),
            f"-{backend}",
        )
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def start_servers(
    servers: dict[str, ServerProcess],
    commands: dict[str, list[str]],
    env_for: Callable[[str], dict[str, str]],
    suffix: str,
) -> None:
    """Start each command on a free port into `servers` (by name), so that the caller's
    `finally` stops whatever did start if a later one fails."""
    for name, argv in commands.items():
        port = procs.free_port()
        servers[name] = start_server(
            f"{name}{suffix}", [*argv, "-b", f"127.0.0.1:{port}"], env_for(name), port
        )


@pytest.fixture(scope="session")
async def live(
    live_servers: dict[str, ServerProcess], backend: Backend
) -> AsyncIterator[LivePair]:
    pair = LivePair(
        LiveClient(live_servers["gunicorn"].url, "gunicorn"),
        LiveClient(live_servers["hypercorn"].url, "hypercorn"),
        live_servers,
        backend,
    )
    yield pair
    await pair.gunicorn.aclose()
    await pair.hypercorn.aclose()
