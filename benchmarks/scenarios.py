"""What the lab measures: scenarios made of points (one endpoint, one load shape each).

A point is one generator run against one running configuration. Quick and full runs use the
same scenarios with fewer points and shorter durations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from benchmarks.servers import Config

# The articles' endpoint: Fibonacci(1000), computed once per request.
ARTICLE_FIB = "/cpu/fib?n=1000&rounds=1"
ARTICLE_COUNTS = (10, 100, 1000)
ARTICLE_CLIENTS = 100  # the client fires requests with up to this many in flight
# The CPU sweep repeats the computation so one request is ~7 ms of CPU: long enough that
# the work, not HTTP, dominates, short enough for hundreds of requests per point.
CPU_ROUNDS = 10
CPU_FIB = f"/cpu/fib?n=1000&rounds={CPU_ROUNDS}"
CPU_FIB_BLOCKING = f"/cpu/fib-blocking?n=1000&rounds={CPU_ROUNDS}"
IO_WAIT_MS = 50
FANOUT_CALLS, FANOUT_MS = 5, 20
SSE_COUNT, SSE_INTERVAL_MS = 20, 100
# A configuration "holds" S subscribers while >= 99% get every event, the first event
# arrives within 1 s (p99) and later events are at most 250 ms behind schedule (p99).
SSE_MAX_FAIL_RATIO = 0.01
SSE_MAX_FIRST_US = 1_000_000
SSE_MAX_LATE_US = 250_000

STANDARD = {
    "json": "/json",
    "plaintext": "/plaintext",
    "db": "/db",
    "queries": "/queries?queries=20",
    "fortunes": "/fortunes",
    "updates": "/updates?queries=20",
}
DB_ENDPOINTS = {"db", "queries", "fortunes", "updates"}


@dataclass(frozen=True)
class Point:
    scenario: str
    key: str  # unique within the scenario, e.g. "sleep c=64"
    path: str
    params: dict[str, Any]
    spec: dict[str, Any]  # loadgen spec minus port/paths
    applies: Callable[[Config], bool] = field(default=lambda c: True, compare=False)
    server_cpus: str = "pinned"  # "pinned" (server on its own CPU) or "all"
    db_only: bool = False  # rerun on the second database


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    points: list[Point]
    description: str


def _twinport(c: Config) -> bool:
    return c.app == "twinport"


def _async_twinport(c: Config) -> bool:
    return c.app == "twinport" and c.server.interface == "asgi"


def build(quick: bool, duration: float, database: str) -> dict[str, Scenario]:
    warm = 0.3 if quick else 0.5
    closed = {"mode": "closed", "duration": duration, "warmup": warm, "timeout": 30.0}
    out: dict[str, Scenario] = {}

    pts = [Point("articles", f"n={n}", ARTICLE_FIB,
                 {"requests": n, "concurrency": min(n, ARTICLE_CLIENTS)},
                 {"mode": "closed", "requests": n, "connections": min(n, ARTICLE_CLIENTS),
                  "timeout": 120.0, "max_time": 300.0}, _twinport)
           for n in ARTICLE_COUNTS]
    out["articles"] = Scenario(
        "articles", "The articles' experiment: Fibonacci(1000), 10/100/1000 requests", pts,
        f"`GET {ARTICLE_FIB}`: N requests issued at once with up to {ARTICLE_CLIENTS} in "
        "flight; total wall time and per-request latency.")

    conc: tuple[int, ...] = (1, 16, 64, 256) if quick else (1, 8, 64, 256, 1024)
    # The built-in client runs the I/O sweep even where wrk is installed: rates are low, and
    # it counts connections that got no answer at all (starvation), which wrk cannot.
    io = {**closed, "generator": "builtin"}
    pts = [Point("io", f"sleep c={c}", f"/io/sleep?ms={IO_WAIT_MS}",
                 {"endpoint": "io/sleep", "wait_ms": IO_WAIT_MS, "concurrency": c},
                 {**io, "connections": c}, _twinport) for c in conc]
    if database == "postgres":
        pts += [Point("io", f"db-sleep c={c}", f"/io/db-sleep?ms={IO_WAIT_MS}",
                      {"endpoint": "io/db-sleep", "wait_ms": IO_WAIT_MS, "concurrency": c},
                      {**io, "connections": c}, _twinport, db_only=True) for c in conc]
    out["io"] = Scenario(
        "io", f"I/O wait sweep: {IO_WAIT_MS} ms waits, concurrency 1 to {conc[-1]}", pts,
        "Closed loop, fixed connections. The Little's-law bound is slots / wait.")

    conc = (1, 8) if quick else (1, 2, 4, 16, 64)
    pts = [Point("cpu", f"fib c={c}", CPU_FIB,
                 {"endpoint": "cpu/fib", "rounds": CPU_ROUNDS, "concurrency": c},
                 {**closed, "connections": c}, _twinport, server_cpus="all") for c in conc]
    pts += [Point("cpu", f"fib-blocking c={c}", CPU_FIB_BLOCKING,
                  {"endpoint": "cpu/fib-blocking", "rounds": CPU_ROUNDS, "concurrency": c},
                  {**closed, "connections": c}, _async_twinport, server_cpus="all")
            for c in conc]
    out["cpu"] = Scenario(
        "cpu", f"CPU-bound sweep: Fibonacci(1000) x{CPU_ROUNDS}, concurrency 1 to {conc[-1]}",
        pts, "The server may use every CPU here (the generator needs little), so processes "
        "can show what the GIL denies threads.")

    names = ("json", "plaintext", "db", "fortunes") if quick else tuple(STANDARD)
    std_conc = 64
    pts = [Point("standard", name, STANDARD[name], {"endpoint": name, "concurrency": std_conc},
                 {**closed, "connections": std_conc},
                 (lambda c: True) if name in ("json", "plaintext") else _twinport,
                 db_only=name in DB_ENDPOINTS)
           for name in names]
    out["standard"] = Scenario(
        "standard", "Standard workloads (TechEmpower-style)", pts,
        f"Closed loop, {std_conc} connections.")

    conc = (16,) if quick else (1, 16)
    pts = [Point("fanout", f"{mode} c={c}",
                 f"/io/upstream?calls={FANOUT_CALLS}&ms={FANOUT_MS}&mode={mode}",
                 {"mode": mode, "calls": FANOUT_CALLS, "upstream_ms": FANOUT_MS,
                  "concurrency": c}, {**closed, "connections": c}, _twinport)
           for mode in ("sequential", "parallel") for c in conc]
    out["fanout"] = Scenario(
        "fanout", f"Fan-out: {FANOUT_CALLS} upstream calls of {FANOUT_MS} ms", pts,
        "Sequential calls cost the sum of the waits, parallel ones the longest.")

    steps = (8, 64) if quick else (8, 32, 128, 512, 1024)
    count = SSE_COUNT // 2 if quick else SSE_COUNT
    pts = [Point("sse", f"subscribers={s}",
                 f"/stream/ticks?count={count}&interval_ms={SSE_INTERVAL_MS}",
                 {"subscribers": s, "count": count, "interval_ms": SSE_INTERVAL_MS},
                 {"mode": "sse", "subscribers": s, "count": count,
                  "interval_ms": SSE_INTERVAL_MS}, _twinport) for s in steps]
    out["sse"] = Scenario(
        "sse", "Long-lived connections: SSE subscribers", pts,
        f"S subscribers each open `/stream/ticks` ({count} events, {SSE_INTERVAL_MS} ms "
        f"apart). Held while <= {SSE_MAX_FAIL_RATIO:.0%} fail, first event p99 <= "
        f"{SSE_MAX_FIRST_US // 1000} ms and event lateness p99 <= {SSE_MAX_LATE_US // 1000} ms.")

    out["overhead"] = Scenario(
        "overhead", "In-process cost per request: twinport vs minimal vs bare apps", [],
        "Each app called directly (no server, no network) on /json and /plaintext, in a fresh "
        "process pinned to the server CPU: 500 warm-up calls, then the median of 5 batches of "
        "2000.")

    # A server that sheds nothing ends 2x of T seconds with T seconds of work queued and
    # drains it at the 0.5x phase's spare 0.5x: the last phase must outlast 2T to show
    # recovery at all.
    phases = (1.0, 2.0, 8.0) if quick else (3.0, 5.0, 15.0)
    pts = [Point("overload", "json", "/json",
                 {"endpoint": "json", "phases_s": phases, "factors": (0.5, 2.0, 0.5)},
                 {"mode": "open", "connections": 256, "timeout": 5.0, "bucket": 0.5,
                  "phase_s": phases, "factors": (0.5, 2.0, 0.5)}, _twinport)]
    out["overload"] = Scenario(
        "overload", "Overload: open loop at 0.5x, 2x, then 0.5x of measured capacity", pts,
        "Constant arrival rate; latency from the intended send time; 5 s client timeout.")
    return out


# ---------------------------------------------------------------- response verification
def fib_expected(n: int, rounds: int) -> dict[str, Any]:
    """Computed here, independently of shared_logic, to check the server did the work."""
    hasher = hashlib.sha256()
    a, b, last = 0, 1, 0
    for _ in range(n):
        hasher.update(f"{a}\n".encode())
        last, (a, b) = a, (b, a + b)
    return {"n": n, "rounds": rounds, "last_digits": len(str(last)),
            "sha256": hasher.hexdigest()}


def _json(body: bytes) -> Any:
    return orjson.loads(body)


def _world(row: Any) -> bool:
    return (isinstance(row, dict) and isinstance(row.get("id"), int)
            and 1 <= row["id"] <= 10_000 and isinstance(row.get("randomNumber"), int))


def verify(path: str, status: int, headers: dict[str, str], body: bytes,
           elapsed_s: float) -> str | None:
    """None if the response is what the route promises, else why not."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    route, _, query = path.partition("?")
    args = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
    ctype = headers.get("content-type", "")
    try:
        if route == "/json":
            return None if _json(body) == {"message": "Hello, World!"} else f"body {body[:80]!r}"
        if route == "/plaintext":
            return None if body == b"Hello, World!" else f"body {body[:80]!r}"
        if route == "/db":
            return None if _world(_json(body)) else f"body {body[:80]!r}"
        if route in ("/queries", "/updates"):
            rows = _json(body)
            n = int(args.get("queries", 1))
            ok = isinstance(rows, list) and len(rows) == n and all(_world(r) for r in rows)
            return None if ok else f"expected {n} rows: {body[:80]!r}"
        if route == "/fortunes":
            text = body.decode()
            ok = ("text/html" in ctype and "<table>" in text
                  and "Additional fortune added at request time." in text
                  and "&lt;script&gt;" in text)
            return None if ok else f"not the fortunes page: {body[:80]!r}"
        if route in ("/cpu/fib", "/cpu/fib-blocking"):
            want = fib_expected(int(args["n"]), int(args["rounds"]))
            got = _json(body)
            return None if got == want else f"fib mismatch: got {got}, want {want}"
        if route in ("/io/sleep", "/io/db-sleep"):
            ms = int(args["ms"])
            got = _json(body)
            if got.get("slept_ms") != ms:
                return f"body {body[:80]!r}"
            return None if elapsed_s >= ms / 1000 * 0.95 else f"answered in {elapsed_s:.3f}s"
        if route == "/io/upstream":
            calls, ms = int(args["calls"]), int(args["ms"])
            floor = ms * (calls if args.get("mode") == "sequential" else 1) / 1000
            _json(body)
            return None if elapsed_s >= floor * 0.95 else f"answered in {elapsed_s:.3f}s"
        if route == "/stream/ticks":
            if "text/event-stream" not in ctype:
                return f"content-type {ctype}"
            n = body.count(b"data:")
            return None if n == int(args["count"]) else f"{n} events"
        if route == "/healthz":
            return None
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        return f"unparseable: {exc}"
    return f"no check for {route}"
