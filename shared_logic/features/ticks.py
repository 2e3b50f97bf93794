"""GET /stream/ticks: a server-sent event every `interval_ms`, `count` times."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared_logic.context import Context
from shared_logic.effects import Emit, Sleep, Workflow
from shared_logic.protocol.http import Request, Response
from shared_logic.protocol.sse import STREAM_SLACK_S, event_stream, sse_event
from shared_logic.validation import Integer, invalid_parameters

log = logging.getLogger("twinport.streams")

TICK_COUNT = Integer("count", 10, 1, 10_000, "How many events to send.")
TICK_INTERVAL_MS = Integer("interval_ms", 1000, 0, 60_000, "Milliseconds between events.")


def _ticks(count: int, interval_s: float) -> Workflow[None]:
    sent = 0
    try:
        for tick in range(1, count + 1):
            if tick > 1:
                yield from Sleep(interval_s)
            yield from Emit(sse_event({"tick": tick, "count": count}, event="tick", event_id=tick))
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
        raise invalid_parameters([("count", reason)])
    return event_stream(_ticks(count, interval_ms / 1000))
    yield
