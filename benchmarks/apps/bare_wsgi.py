"""A bare WSGI hello world (no framework): `/json`, `/plaintext`, `/healthz`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

_PLAIN = b"Hello, World!"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/plaintext":
        body, ctype = _PLAIN, "text/plain"
    elif path == "/json":
        body, ctype = orjson.dumps({"message": "Hello, World!"}), "application/json"
    elif path == "/healthz":
        body, ctype = b'{"status":"ok"}', "application/json"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]
