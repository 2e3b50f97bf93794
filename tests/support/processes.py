"""Servers the suite starts: benchmarks.procs starts, waits for and stops them; this adds
what tests need on top, a log per server for assertion messages and a health check."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks import procs
from tests.support.session import REPO, TMP_ROOT

# The virtualenv's scripts (gunicorn, hypercorn), as a user runs them.
SCRIPTS = Path(sys.executable).parent
READY_TIMEOUT_S = 60.0
# What a supervisor gives a server between SIGTERM and SIGKILL: jobs finish in between.
STOP_GRACE_S = 10.0


@dataclass
class ServerProcess:
    """One server process (with its workers, in one process group) and its log."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after STOP_GRACE_S."""
        procs.stop(self.proc, grace=STOP_GRACE_S)


def start_server(
    name: str, argv: list[str], env: dict[str, str], port: int, ready_path: str = "/healthz"
) -> ServerProcess:
    """Start `argv` (which binds `port`), logging to TMP_ROOT/<name>.log; return once
    `ready_path` answers 200, or raise with the log's tail."""
    log = TMP_ROOT / f"{name}.log"
    with log.open("wb") as out:
        proc = procs.spawn(argv, cwd=REPO, env=env, log=out)
    server = ServerProcess(name, proc, port, log)
    try:
        procs.wait_listening(port, proc, timeout=READY_TIMEOUT_S)
        # Connections wait in the listen queue until the app is loaded: one request will do.
        status = httpx.get(server.url + ready_path, timeout=READY_TIMEOUT_S).status_code
        if status != 200:
            raise RuntimeError(f"{ready_path} answered {status}")
    except (RuntimeError, httpx.HTTPError) as exc:
        server.stop()
        raise RuntimeError(f"{name} did not start: {exc}\n{server.log_tail()}") from exc
    return server
