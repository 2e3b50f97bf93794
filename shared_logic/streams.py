"""Server-sent events (text/event-stream), framed once for both shells."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson

from shared_logic.context import Context
from shared_logic.effects import Emit, Sleep, Workflow
from shared_logic.http import Problem, ProblemError, Request, Response
from shared_logic.params import INVALID_PARAMETERS, IntParam

log = logging.getLogger("twinport.streams")
STREAM_SLACK_S = 1

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
    sent = 0
    try:
        for tick in range(1, count + 1):
            if tick > 1:
                yield Sleep(interval_s)
            yield Emit(sse_event({"tick": tick, "count": count}, event="tick", event_id=tick))
            sent = tick
    finally:
        # Runs when the driver closes the workflow because the client went away: the
        # proof (tests/test_streams_live.py) that the server stops producing.
        if sent < count:
            log.info("ticks stream closed by the client after %d of %d events", sent, count)


def ticks(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    count, interval_ms = params["count"], params["interval_ms"]
    # Quart ends any response at RESPONSE_TIMEOUT and Flask never does; a stream that
    # would outlast the limit (less a second of slack) is refused in both, rather than
    # cut short in one.
    limit_s = ctx.settings.response_timeout_s
    if (count - 1) * interval_ms / 1000 > limit_s - STREAM_SLACK_S:
        reason = (
            f"count x interval_ms must end {STREAM_SLACK_S} s before the {limit_s:g} s "
            "response time limit"
        )
        raise ProblemError(
            Problem(
                400,
                "Invalid query parameters",
                f"count {reason}",
                type=INVALID_PARAMETERS,
                extra={"errors": [{"name": "count", "reason": reason}]},
            )
        )
    return event_stream(_ticks(count, interval_ms / 1000))
    yield
