"""Streams and jobs on real servers: `gunicorn -w 4 --threads 2 sync_app:app` and
`hypercorn async_app:app`, each started here with extra settings, on SQLite and PostgreSQL.

What only real servers can show:
  * a client that disconnects mid-stream makes the server stop producing: the stream
    workflow's `finally` runs (it logs "closed by the client after K of N events", which
    the servers write to their log through a logging config given on the command line),
    K is a handful, not N, and the worker's threads are free again;
  * a stream longer than Gunicorn's worker `timeout` and Hypercorn's keep-alive timeout is
    not cut; a stream that would outlast Quart's RESPONSE_TIMEOUT is refused by both;
  * any worker process answers for any job (state lives in the database);
  * SIGTERM: a short job finishes within the grace period, a long one is marked
    interrupted, and a restarted server reports it so; SIGKILL: the next start-up finds
    the orphan by its stale heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from benchmarks import procs
from shared_logic.features.jobs import lifecycle
from tests.support.databases import Databases
from tests.support.live import server_env
from tests.support.processes import SCRIPTS, ServerProcess, start_server
from tests.support.session import TMP_ROOT

pytestmark = pytest.mark.live

SERVERS = ("gunicorn", "hypercorn")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(process)d %(name)s %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {},
}
CLOSED = re.compile(r"ticks stream closed by the client after (\d+) of (\d+) events")


def logging_config() -> Path:
    path = TMP_ROOT / "live-logging.json"
    path.write_text(json.dumps(LOGGING))
    return path


def argv(server: str, port: int) -> list[str]:
    """The documented commands, plus: the logging config, and short server timeouts that
    a long stream must survive (Gunicorn's worker heartbeat, Hypercorn's keep-alive)."""
    log_config = str(logging_config())
    bind = ["-b", f"127.0.0.1:{port}"]
    if server == "gunicorn":
        return [str(SCRIPTS / "gunicorn"), "-w", "4", "--threads", "2", *bind,
                "--timeout", "1", "--log-config-json", log_config, "sync_app:app"]
    return [str(SCRIPTS / "hypercorn"), *bind, "--keep-alive", "1",
            "--log-config", f"json:{log_config}", "async_app:app"]


class Server:
    """One server process on its own database; `restart` keeps database and instance."""

    def __init__(self, name: str, database_url: str, instance: Path, env: dict[str, str]):
        self.name = name
        self.database_url = database_url
        self.instance = instance
        self.env = env
        self.process: ServerProcess | None = None
        self.starts = 0

    def start(self) -> None:
        port = procs.free_port()
        env = {**server_env(self.database_url, self.instance, "http://127.0.0.1:9"), **self.env}
        self.starts += 1
        self.process = start_server(f"{self.name}-{self.starts}", argv(self.name, port), env,
                                    port)

    @property
    def url(self) -> str:
        assert self.process is not None
        return self.process.url

    @property
    def port(self) -> int:
        assert self.process is not None
        return self.process.port

    def log(self) -> str:
        assert self.process is not None
        return self.process.log_tail(1_000_000)

    def stop(self) -> None:  # SIGTERM to the group, as a supervisor would; SIGKILL after 10 s
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.proc.pid, signal.SIGKILL)
        self.process.proc.wait(timeout=10)


@contextlib.contextmanager
def server(name: str, databases: Databases, **env: str) -> Iterator[Server]:
    url = databases.new(f"live-{name}")
    instance = TMP_ROOT / f"live-{name}-{time.monotonic_ns()}"
    running = Server(name, url, instance, {k: str(v) for k, v in env.items()})
    running.start()
    try:
        yield running
    finally:
        running.stop()
        databases.drop(url)


@contextlib.asynccontextmanager
async def client(running: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        yield http


# ------------------------------------------------------------------ streams
def read_ticks_then_close(port: int, ticks: int) -> int:
    """Open a long stream on a raw socket, read `ticks` events, then close the socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /stream/ticks?count=10000&interval_ms=50 HTTP/1.1\r\n"
                     b"Host: 127.0.0.1\r\n\r\n")
        data = b""
        while data.count(b"event: tick") < ticks:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    return data.count(b"event: tick")


@pytest.mark.parametrize("name", SERVERS)
async def test_disconnected_streams_stop_producing(name: str, databases: Databases) -> None:
    streams = 8  # as many as Gunicorn's 4 workers x 2 threads can hold at once
    with server(name, databases) as running:
        read = await asyncio.gather(
            *(asyncio.to_thread(read_ticks_then_close, running.port, 3) for _ in range(streams))
        )
        assert min(read) >= 3
        for _ in range(100):  # up to 10 s
            if len(CLOSED.findall(running.log())) >= streams:
                break
            await asyncio.sleep(0.1)
        closed = [(int(k), int(n)) for k, n in CLOSED.findall(running.log())]
        assert len(closed) == streams, running.log()[-3000:]
        # Each stream stopped a few events after the client left (the first write after
        # the close can still succeed into the socket buffer), not at 10 000.
        assert all(n == 10_000 and k <= 20 for k, n in closed), closed
        # Nothing goes on producing: the count stays put, and every request thread is
        # free again, so eight more requests at once are answered promptly.
        await asyncio.sleep(0.5)
        assert len(CLOSED.findall(running.log())) == streams
        async with client(running) as http:
            started = time.monotonic()
            replies = await asyncio.gather(*(http.get("/healthz") for _ in range(streams)))
            assert all(reply.status_code == 200 for reply in replies)
            assert time.monotonic() - started < 2


@pytest.mark.parametrize("name", SERVERS)
async def test_long_streams_are_not_cut_and_too_long_ones_refused_alike(
    name: str, databases: Databases
) -> None:
    # Gunicorn runs with --timeout 1 and Hypercorn with --keep-alive 1 (see argv); the
    # response time limit (Quart's RESPONSE_TIMEOUT) is 4 s here.
    with server(name, databases, TWINPORT_RESPONSE_TIMEOUT_S="4") as running:
        async with client(running) as http:
            started = time.monotonic()
            reply = await http.get("/stream/ticks?count=4&interval_ms=800")  # 2.4 s
            assert reply.status_code == 200
            assert reply.text.count("event: tick") == 4
            assert time.monotonic() - started > 2.3
            refused = await http.get("/stream/ticks?count=5&interval_ms=1000")  # 4 s > 4 - 1
            assert refused.status_code == 400
            assert refused.json()["errors"][0]["name"] == "count"
        assert "WORKER TIMEOUT" not in running.log()


# ------------------------------------------------------------------ jobs
JSON = {"Content-Type": "application/json"}


async def submit(http: httpx.AsyncClient, kind: str, **params: Any) -> int:
    reply = await http.post("/jobs", headers=JSON,
                            content=orjson.dumps({"kind": kind, "params": params}))
    assert reply.status_code == 202, reply.text
    return int(reply.headers["location"].rsplit("/", 1)[1])


async def job(http: httpx.AsyncClient, job_id: int, wait_ms: int = 0) -> dict[str, Any]:
    reply = await http.get(f"/jobs/{job_id}?wait_ms={wait_ms}")
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def until_running(http: httpx.AsyncClient, job_id: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if (await job(http, job_id))["progress"]["done"] > 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not start")


@pytest.mark.parametrize("name", SERVERS)
async def test_any_worker_answers_for_any_job(name: str, databases: Databases) -> None:
    with server(name, databases) as running:
        # Fresh connections each time, so Gunicorn's four workers share the requests.
        async with client(running) as http:
            ids = [await submit(http, "fibonacci", n=200, rounds=3) for _ in range(12)]
        for job_id in ids:
            async with client(running) as http:
                done = await job(http, job_id, wait_ms=20_000)
            assert done["state"] == "succeeded", done
            assert done["result"]["rounds"] == 3
        async with client(running) as http:
            events = (await http.get(f"/jobs/{ids[-1]}/events")).text
        assert events.startswith(f"id: 1\nevent: done\ndata: {{\"id\":{ids[-1]},")


# A process-group SIGTERM (what systemd and `kill -- -PGID` send) reaches Hypercorn's
# parent and its worker microseconds apart; see async_app/app.py forward_sigterm_to_server
# for the parent deadlock an immediate forward could cause.
@pytest.mark.parametrize("name", SERVERS)
async def test_sigterm_finishes_short_jobs_and_interrupts_long_ones(
    name: str, databases: Databases
) -> None:
    with server(name, databases, TWINPORT_JOB_GRACE_S="2") as running:
        async with client(running) as http:
            long_id = await submit(http, "sleep", steps=600, step_ms=50)  # 30 s
            short_id = await submit(http, "sleep", steps=10, step_ms=100)  # 1 s
            # Both land on the worker that took the POSTs' connection (keep-alive).
            await until_running(http, long_id)
            await until_running(http, short_id)
        started = time.monotonic()
        await asyncio.to_thread(running.stop)
        assert time.monotonic() - started < 9, "shutdown should take about the grace period"
        assert running.process is not None and running.process.proc.returncode is not None
        # The stopped server's log, for a failure below (the restart reuses its file name).
        stopped_log = running.log()[-3000:]
        await asyncio.to_thread(running.start)  # same database: the restart reads the outcome
        async with client(running) as http:
            long_job, short_job = await job(http, long_id), await job(http, short_id)
    assert short_job["state"] == "succeeded", (short_job, stopped_log)
    assert long_job["state"] == "interrupted", (long_job, stopped_log)
    assert long_job["error"] == lifecycle.SHUTDOWN_REASON
    assert 0 < long_job["progress"]["done"] < 600


@pytest.mark.parametrize("name", SERVERS)
async def test_sigkill_orphans_are_recovered_at_the_next_start(
    name: str, databases: Databases
) -> None:
    beat = {"TWINPORT_JOB_HEARTBEAT_S": "0.2", "TWINPORT_JOB_STALE_S": "1"}
    with server(name, databases, **beat) as running:
        async with client(running) as http:
            job_id = await submit(http, "sleep", steps=600, step_ms=50)
            await until_running(http, job_id)
        await asyncio.to_thread(running.kill)  # no shutdown hook runs
        await asyncio.sleep(1.2)  # let the heartbeat go stale
        await asyncio.to_thread(running.start)
        async with client(running) as http:
            orphan = await job(http, job_id)
    assert orphan["state"] == "interrupted", orphan
    assert orphan["error"] == lifecycle.ORPHANED_REASON
