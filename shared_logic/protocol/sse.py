"""Server-sent events (text/event-stream), framed once for both shells."""

from __future__ import annotations

from typing import Any

import orjson

from shared_logic.effects import Workflow
from shared_logic.protocol.http import Response

# Streams end themselves this long before Quart's RESPONSE_TIMEOUT would cut them.
STREAM_SLACK_S = 1

EVENT_STREAM = "text/event-stream; charset=utf-8"
# Proxies (nginx) buffer responses unless told not to; caches must not store a stream.
STREAM_HEADERS = (("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"))


def sse_event(data: Any, event: str | None = None, event_id: int | str | None = None) -> bytes:
    """One SSE frame. `data` is JSON-encoded, so it never contains a raw newline."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append("data: " + orjson.dumps(data).decode())
    return ("\n".join(lines) + "\n\n").encode()


def event_stream(body: Workflow[None], status: int = 200) -> Response:
    return Response(status, b"", EVENT_STREAM, list(STREAM_HEADERS), stream=body)
