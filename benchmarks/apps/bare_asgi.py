"""A bare ASGI hello world (no framework): `/json`, `/plaintext`, `/healthz`."""

from __future__ import annotations

from typing import Any

import orjson

_PLAIN = b"Hello, World!"


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
    path = scope["path"]
    status = 200
    if path == "/plaintext":
        body, ctype = _PLAIN, b"text/plain"
    elif path == "/json":
        body, ctype = orjson.dumps({"message": "Hello, World!"}), b"application/json"
    elif path == "/healthz":
        body, ctype = b'{"status":"ok"}', b"application/json"
    else:
        status, body, ctype = 404, b"not found", b"text/plain"
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
