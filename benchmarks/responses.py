"""What each route must answer: the lab checks every endpoint once before loading it.

The checks are computed here, independently of shared_logic, so a server that skips the work
(or answers something else) is caught before it is measured.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


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
