"""The upstream HTTP service that `/io/upstream` fans out to.

A bare ASGI app (no framework, so it is never the slow side of a benchmark) served by
uvicorn. `GET /wait?ms=M` sleeps M milliseconds on the event loop and answers
`{"waited_ms": M}`; thousands of concurrent waits cost one process almost nothing.

    python -m benchmarks.upstream --port 8900
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any
from urllib.parse import parse_qs

import orjson

MAX_WAIT_MS = 60_000


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    status, payload = 200, b""
    if scope["path"] == "/wait":
        query = parse_qs(scope["query_string"].decode("latin-1"))
        try:
            ms = int(query.get("ms", ["0"])[0])
        except ValueError:
            ms = -1
        if 0 <= ms <= MAX_WAIT_MS:
            await asyncio.sleep(ms / 1000)
            payload = orjson.dumps({"waited_ms": ms})
        else:
            status, payload = 400, orjson.dumps({"error": f"ms must be 0..{MAX_WAIT_MS}"})
    elif scope["path"] == "/healthz":
        payload = orjson.dumps({"status": "ok"})
    else:
        status, payload = 404, orjson.dumps({"error": "not found"})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    args = parser.parse_args(argv)
    # A large backlog and no access log: the upstream must never be what a benchmark measures.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                backlog=4096, lifespan="on")


if __name__ == "__main__":
    main()
