"""Server-sent events (text/event-stream), framed once for both shells."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from shared_logic.context import Context
from shared_logic.effects import Emit, Sleep, Workflow
from shared_logic.http import Request, Response
from shared_logic.params import IntParam

EVENT_STREAM = "text/event-stream; charset=utf-8"
# Proxies (nginx) buffer responses unless told not to; caches must not store a stream.
STREAM_HEADERS = (("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"))

TICK_COUNT = IntParam("count", 10, 1, 10_000, "How many events to send.")
TICK_INTERVAL_MS = IntParam("interval_ms", 1000, 0, 60_000, "Milliseconds between events.")


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


def _ticks(count: int, interval_s: float) -> Workflow[None]:
    for tick in range(1, count + 1):
        if tick > 1:
            yield Sleep(interval_s)
        yield Emit(sse_event({"tick": tick, "count": count}, event="tick", event_id=tick))


def ticks(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    return event_stream(_ticks(params["count"], params["interval_ms"] / 1000))
    yield
