"""The server matrix: every configuration the lab can start, with its exact command line.

A *server* is a way to run an app (`gunicorn -w 4 --threads 2 {app}`); a *configuration* is a
server plus an app (twinport's own, a minimal framework hello-world, or a bare one). Each
configuration records the command exactly as a user would type it, the argv actually run
(the same plus a bind address), its worker shape and how many requests it can have in
flight in blocking code at once (its "slots", the numerator of the Little's-law bound).
"""

from __future__ import annotations

import http.client
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from benchmarks import procs
from benchmarks.results import ConfigInfo

ROOT = Path(__file__).resolve().parent.parent
NCPU = os.cpu_count() or 1
BIN = Path(sys.executable).parent

Interface = Literal["wsgi", "asgi"]
APPS: dict[str, dict[str, Any]] = {
    # label: (WSGI target, ASGI target, description)
    "twinport": {"wsgi": "sync_app:app", "asgi": "async_app:app",
                 "desc": "twinport (shared_logic + Flask / Quart shell)"},
    "hello": {"wsgi": "benchmarks.apps.hello_flask:app",
              "asgi": "benchmarks.apps.hello_quart:app",
              "desc": "minimal Flask / Quart hello-world"},
    "bare": {"wsgi": "benchmarks.apps.bare_wsgi:app", "asgi": "benchmarks.apps.bare_asgi:app",
             "desc": "bare WSGI / ASGI callable, no framework"},
}


@dataclass(frozen=True)
class Server:
    name: str
    interface: Interface
    typed: str  # what a user types; {app} is filled in
    argv: tuple[str, ...]  # what we run; {app}, {host}, {port}, {py}, {bin}, {root}
    shape: str
    processes: int
    slots: int | None  # blocking-request slots; None = one per connection / event loop
    keepalive: bool
    notes: str = ""


def _gunicorn(*args: str) -> tuple[str, ...]:
    # No access log is gunicorn's default; the bind address is the only flag we add.
    return ("{py}", "-m", "gunicorn", *args, "--bind", "{host}:{port}", "{app}")


SERVERS: dict[str, Server] = {s.name: s for s in [
    Server("flask-dev", "wsgi", "app.run(threaded=False)",
           ("{py}", "-m", "benchmarks.apps.dev_server", "--app", "{app}", "--port", "{port}",
            "--threaded", "0"),
           "1 process, 1 thread", 1, 1, False,
           "Werkzeug development server; HTTP/1.0, a new connection per request; "
           "logs every request to stderr"),
    Server("flask-dev-threaded", "wsgi", "app.run(threaded=True)",
           ("{py}", "-m", "benchmarks.apps.dev_server", "--app", "{app}", "--port", "{port}",
            "--threaded", "1"),
           "1 process, 1 thread per connection", 1, None, True,
           "Werkzeug development server, a new thread per connection (Flask's default); "
           "threaded, it switches to HTTP/1.1 keep-alive"),
    Server("gunicorn-sync", "wsgi", "gunicorn -w 4 {app}", _gunicorn("-w", "4"),
           "4 processes x 1 thread (sync worker)", 4, 4, False,
           "the sync worker closes the connection after every response"),
    Server("gunicorn-gthread", "wsgi", "gunicorn -w 4 --threads 2 {app}",
           _gunicorn("-w", "4", "--threads", "2"),
           "4 processes x 2 threads (gthread)", 4, 8, True,
           "twinport's documented command"),
    Server("gunicorn-conf", "wsgi", "gunicorn -c sync_app/gunicorn.conf.py {app}",
           ("{py}", "-m", "gunicorn", "-c", "sync_app/gunicorn.conf.py", "--bind",
            "{host}:{port}", "{app}"),
           "4 processes x 2 threads (gthread), backlog 2048, keepalive 5 s", 4, 8, True,
           "the project's production config file (README); --bind overrides its bind"),
    Server("gunicorn-gthread-wc", "wsgi", "gunicorn -w 4 --threads 2 --worker-connections 2 {app}",
           _gunicorn("-w", "4", "--threads", "2", "--worker-connections", "2"),
           "4 processes x 2 threads (gthread), at most 2 connections per worker", 4, 8, False,
           "a worker accepts only what its threads can serve, so the kernel spreads "
           "connections over workers (gunicorn then closes each connection after its "
           "response: worker_connections - threads = 0 keep-alive slots)"),
    Server("gunicorn-gthread-32", "wsgi", "gunicorn -w 4 --threads 32 {app}",
           _gunicorn("-w", "4", "--threads", "32"),
           "4 processes x 32 threads (gthread)", 4, 128, True,
           "tuned for I/O wait: more thread slots per process"),
    Server("waitress", "wsgi", "waitress-serve {app}",
           ("{bin}/waitress-serve", "--listen={host}:{port}", "{app}"),
           "1 process x 4 threads (waitress default)", 1, 4, True),
    Server("uwsgi", "wsgi",
           "uwsgi --http11-socket :PORT --master --processes 4 --threads 2 --module {app}",
           ("{bin}/uwsgi", "--http11-socket", "{host}:{port}", "--master", "--processes", "4",
            "--threads", "2", "--module", "{app}", "--chdir", "{root}", "--home", "{prefix}",
            "--die-on-term", "--disable-logging", "--listen", "1024"),
           "4 processes x 2 threads", 4, 8, True,
           "--http11-socket (keep-alive, no router process); request logging off"),
    Server("granian-wsgi", "wsgi", "granian --interface wsgi {app}",
           ("{py}", "-m", "granian", "--interface", "wsgi", "--host", "{host}", "--port",
            "{port}", "--workers", "1", "--log-level", "warning", "{app}"),
           "1 process, Rust I/O + Python blocking threads (granian defaults)", 1, None, True,
           "the same server for both interfaces separates framework from server"),
    Server("hypercorn", "asgi", "hypercorn {app}",
           ("{py}", "-m", "hypercorn", "--bind", "{host}:{port}", "{app}"),
           "1 process, asyncio event loop", 1, None, True, "twinport's documented command"),
    Server("hypercorn-conf", "asgi", "hypercorn -c async_app/hypercorn.toml {app}",
           ("{py}", "-m", "hypercorn", "-c", "async_app/hypercorn.toml", "--bind",
            "{host}:{port}", "{app}"),
           "1 process, asyncio event loop, backlog 2048", 1, None, True,
           "the project's production config file (README); --bind overrides its bind"),
    Server("hypercorn-uvloop", "asgi", "hypercorn -k uvloop {app}",
           ("{py}", "-m", "hypercorn", "-k", "uvloop", "--bind", "{host}:{port}", "{app}"),
           "1 process, uvloop event loop", 1, None, True),
    Server(f"hypercorn-w{NCPU}", "asgi", f"hypercorn -w {NCPU} {{app}}",
           ("{py}", "-m", "hypercorn", "-w", str(NCPU), "--bind", "{host}:{port}", "{app}"),
           f"{NCPU} processes, asyncio event loop each", NCPU, None, True),
    Server(f"hypercorn-w{NCPU}-uvloop", "asgi", f"hypercorn -w {NCPU} -k uvloop {{app}}",
           ("{py}", "-m", "hypercorn", "-w", str(NCPU), "-k", "uvloop", "--bind",
            "{host}:{port}", "{app}"),
           f"{NCPU} processes, uvloop event loop each", NCPU, None, True),
    Server("uvicorn", "asgi", "uvicorn --no-access-log {app}",
           ("{py}", "-m", "uvicorn", "--host", "{host}", "--port", "{port}", "--no-access-log",
            "--log-level", "warning", "{app}"),
           "1 process, uvloop, h11 parser (httptools not installed)", 1, None, True,
           "access log off to match hypercorn/gunicorn, which log no requests by default"),
    Server("granian-asgi", "asgi", "granian --interface asgi {app}",
           ("{py}", "-m", "granian", "--interface", "asgi", "--host", "{host}", "--port",
            "{port}", "--workers", "1", "--log-level", "warning", "{app}"),
           "1 process, Rust I/O + Python event loop", 1, None, True),
]}


@dataclass(frozen=True)
class Config:
    """One measured configuration: a server running an app."""

    server: Server
    app: str  # key of APPS

    @property
    def name(self) -> str:
        return self.server.name if self.app == "twinport" else f"{self.server.name}+{self.app}"

    @property
    def target(self) -> str:
        return str(APPS[self.app][self.server.interface])

    @property
    def typed(self) -> str:
        return self.server.typed.replace("{app}", self.target)

    def argv(self, port: int, host: str = "127.0.0.1") -> list[str]:
        subs = {"{py}": sys.executable, "{bin}": str(BIN), "{root}": str(ROOT),
                "{prefix}": sys.prefix, "{host}": host, "{port}": str(port),
                "{app}": self.target}
        out = []
        for part in self.server.argv:
            for key, value in subs.items():
                part = part.replace(key, value)
            out.append(part)
        return out

    def describe(self) -> ConfigInfo:
        s = self.server
        return {"server": s.name, "app": self.app, "interface": s.interface,
                "target": self.target, "typed": self.typed, "shape": s.shape,
                "processes": s.processes, "slots": s.slots, "keepalive": s.keepalive,
                "notes": s.notes}


def config(name: str) -> Config:
    server, _, app = name.partition("+")
    if server not in SERVERS or (app or "twinport") not in APPS:
        raise KeyError(name)
    return Config(SERVERS[server], app or "twinport")


FULL_MATRIX = [
    "flask-dev", "flask-dev-threaded", "gunicorn-sync", "gunicorn-gthread", "gunicorn-conf",
    "gunicorn-gthread-wc", "gunicorn-gthread-32", "waitress", "uwsgi", "granian-wsgi",
    "hypercorn", "hypercorn-conf", "hypercorn-uvloop", f"hypercorn-w{NCPU}",
    f"hypercorn-w{NCPU}-uvloop",
    "uvicorn", "granian-asgi",
    # Controls: minimal framework apps and bare callables on the same servers.
    "gunicorn-gthread+hello", "hypercorn+hello", "granian-wsgi+hello", "granian-asgi+hello",
    "gunicorn-gthread+bare", "hypercorn+bare", "granian-wsgi+bare", "granian-asgi+bare",
    "uvicorn+bare",
]
QUICK_MATRIX = [
    "flask-dev", "gunicorn-sync", "gunicorn-gthread", "hypercorn", "hypercorn-uvloop",
    "gunicorn-gthread+hello", "hypercorn+hello", "gunicorn-gthread+bare", "hypercorn+bare",
]


class ServerError(RuntimeError):
    pass


class Running:
    """A started configuration: its process, port and log; use as a context manager."""

    def __init__(self, cfg: Config, *, env: dict[str, str], log_path: Path,
                 cpus: set[int] | None) -> None:
        self.cfg = cfg
        self.port = procs.free_port()
        self.argv = cfg.argv(self.port)
        self.log_path = log_path
        self.cpus = cpus
        self.env = env
        self._log = log_path.open("ab")
        self._log.write(f"$ {' '.join(self.argv)}\n".encode())
        self._log.flush()
        self.proc = procs.spawn(self.argv, cwd=ROOT, env=env, log=self._log, cpus=cpus)
        self.started = time.monotonic()

    @property
    def sid(self) -> int:
        return self.proc.pid

    def wait_ready(self, path: str = "/healthz", timeout: float = 30.0) -> float:
        """Poll until `path` answers 200; the seconds it took."""
        end = self.started + timeout
        last = ""
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.cfg.name} exited with {self.proc.returncode}:\n"
                                  + self.log_tail())
            try:
                status, _, _ = get(self.port, path, timeout=2.0)
                if status == 200:
                    return time.monotonic() - self.started
                last = f"HTTP {status}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise ServerError(f"{self.cfg.name} not ready after {timeout}s ({last}):\n"
                          + self.log_tail())

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        procs.stop(self.proc)
        self._log.close()

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """One plain GET (verification and readiness; never used for load)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()
