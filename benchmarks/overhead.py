"""In-process cost of one request, without any server or network: the app alone.

    python -m benchmarks.overhead wsgi sync_app:app /json

Calls the WSGI/ASGI callable directly with a minimal request, 500 times to warm up and then
in 7 batches of 1000, and prints the fastest batch's microseconds per request as JSON (the
minimum is the least disturbed by other work on the machine; the median is kept too).

Under load, a server's throughput also depends on how it spreads connections and on whatever
else the machine runs; this number isolates what the issue's targets are about: what
twinport's shared core and shell cost per request next to a minimal app of the framework.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BATCH = 1000
BATCHES = 7
ROUNDS = 2  # every app measured in each round, rounds interleaved

PAIRS = {
    "wsgi": ("sync_app:app", "benchmarks.apps.hello_flask:app", "benchmarks.apps.bare_wsgi:app"),
    "asgi": ("async_app:app", "benchmarks.apps.hello_quart:app", "benchmarks.apps.bare_asgi:app"),
}


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _wsgi(app: Any, path: str) -> tuple[int, bytes]:
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
        "HTTP_HOST": "127.0.0.1:8000", "HTTP_ACCEPT": "*/*", "REMOTE_ADDR": "127.0.0.1",
    }
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    return int(status[0][:3]), body


async def _asgi(app: Any, path: str) -> tuple[int, bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "extensions": {},
             "state": {}}
    sent: list[dict[str, Any]] = []
    done = asyncio.Event()
    first = [True]

    async def receive() -> dict[str, Any]:
        if first[0]:
            first[0] = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # a client that stays connected until the response is sent
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    done.set()
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(sent[0]["status"]), body


async def _lifespan(app: Any) -> asyncio.Task[None]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"},
                                    "state": {}}, inbox.get, outbox.put))
    await asyncio.wait_for(outbox.get(), 30)
    return task


def measure(kind: str, target: str, path: str) -> dict[str, Any]:
    app = _load(target)
    batches = []
    if kind == "wsgi":
        status, body = _wsgi(app, path)
        for _ in range(500):
            _wsgi(app, path)
        for _ in range(BATCHES):
            t0 = time.perf_counter()
            for _ in range(BATCH):
                _wsgi(app, path)
            batches.append((time.perf_counter() - t0) / BATCH * 1e6)
    else:
        async def run() -> tuple[int, bytes]:
            await _lifespan(app)
            status, body = await _asgi(app, path)
            for _ in range(500):
                await _asgi(app, path)
            for _ in range(BATCHES):
                t0 = time.perf_counter()
                for _ in range(BATCH):
                    await _asgi(app, path)
                batches.append((time.perf_counter() - t0) / BATCH * 1e6)
            return status, body

        status, body = asyncio.run(run())
    return {"target": target, "path": path, "status": status, "body_bytes": len(body),
            "us_per_request": round(min(batches), 2),
            "us_median": round(statistics.median(batches), 2),
            "batches_us": [round(b, 2) for b in batches]}


def run_all(root: Path, env: dict[str, str], cpus: set[int] | None,
            rounds: int = ROUNDS) -> list[dict[str, Any]]:
    """Every app of both pairs on /json and /plaintext, each in a fresh pinned process.

    Rounds are interleaved and the fastest round kept, so a burst of other work on the
    machine does not land on one app only.
    """
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(rounds):
        for kind, targets in PAIRS.items():
            for target in targets:
                for path in ("/json", "/plaintext"):
                    res = _one(root, env, cpus, kind, target, path)
                    prev = best.get((target, path))
                    if prev is None or res.get("us_per_request", 1e9) < prev.get(
                            "us_per_request", 1e9):
                        best[(target, path)] = res
    return list(best.values())


def _one(root: Path, env: dict[str, str], cpus: set[int] | None, kind: str, target: str,
         path: str) -> dict[str, Any]:
    from benchmarks import procs

    proc = procs.spawn([sys.executable, "-m", "benchmarks.overhead", kind, target, path],
                       cwd=root, env=env, log=None, cpus=cpus, stdout=subprocess.PIPE)
    try:
        stdout, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        stdout = b""
    finally:
        procs.stop(proc, grace=1.0)
    if proc.returncode == 0 and stdout:
        return {"kind": kind, **json.loads(stdout)}
    return {"kind": kind, "target": target, "path": path, "error": f"exit {proc.returncode}"}


def main() -> None:
    kind, target, path = sys.argv[1:4]
    os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/twinport-overhead.sqlite3")
    json.dump(measure(kind, target, path), sys.stdout)
    sys.stdout.flush()
    # The async app's executor and job threads are never shut down here (no lifespan
    # shutdown); the measurement is on stdout, so skip interpreter teardown.
    os._exit(0)


if __name__ == "__main__":
    main()
