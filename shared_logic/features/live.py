"""GET /ws/live: the live feed, one WebSocket conversation written once for both apps.

The shell accepts the socket (after `handshake_problem`) and drives `conversation` with
its driver's `converse`; the socket effects (`NextInput`, `SendText`, `CloseSocket`,
`Subscribe`, `Unsubscribe`) are performed on that socket and the process's hub. Frames are
JSON text, decided here, so both apps send the same bytes and close codes:

- client `{"op": "subscribe", "topics": [...], "since": <event id>}` -> `subscribed`
  (the topics named, sorted), then, with `since`, the stored events after it that match
  those topics, then live ones; `unsubscribe` -> `unsubscribed`; `ping` -> `pong`;
  `echo` -> `{"type": "echo", "data": ...}`.
- events -> `{"type": "event", "id", "event", "topics", "data"}` (events.frame).
- not JSON or not an object: an `error` frame, then close 1007; an unknown op, topic or
  field: an `error` frame, then close 1008, the reason the same in both; a message over
  `ws_max_message_bytes`: close 1009; no client message for `ws_idle_timeout_s`: close
  1000 "idle"; more than `ws_max_queued_events` waiting (a client reading too slowly):
  close 1013, and the client reconnects with `since`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from shared_logic.context import Context
from shared_logic.effects import (
    ClientMessage,
    CloseSocket,
    DatabaseUnavailable,
    Event,
    Lagging,
    NextInput,
    SendText,
    SocketClosed,
    SocketGone,
    Subscribe,
    TimedOut,
    Unsubscribe,
    Workflow,
)
from shared_logic.events import POLL_BATCH, events_after, frame
from shared_logic.features.notes import TAG_PATTERN
from shared_logic.protocol.http import (
    ProblemError,
    Request,
    Response,
    service_unavailable,
    status_problem,
)
from shared_logic.routing import SWITCHING_PROTOCOLS
from shared_logic.validation import MAX_ID, ArrayOf, Integer, Invalid, ObjectOf

NORMAL, INVALID_DATA, POLICY, TOO_BIG, TRY_AGAIN_LATER = 1000, 1007, 1008, 1009, 1013
IDLE = "idle"
LAGGING = "too many events waiting; reconnect with since"
DATABASE_DOWN = "database unavailable; reconnect with since"
NOT_AN_OBJECT = "a message must be a JSON object"
TOO_BIG_REASON = "message too big"
UNKNOWN_OP = "op must be one of subscribe, unsubscribe, ping, echo"
MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes
MAX_TOPICS = 32
# Ids this socket has sent, kept to drop an event a replay and the live stream both carry.
RECENT_IDS = 2048

_ID = "[1-9][0-9]{0,18}"
TOPIC_PATTERN = f"notes|note:{_ID}|job:{_ID}|tag:{TAG_PATTERN}"


class _Topic:
    """One topic: `notes`, `note:<id>`, `tag:<tag>` (a note tag) or `job:<id>`."""

    name = "topic"
    description = "notes, note:<id>, tag:<tag> or job:<id>"

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or re.fullmatch(TOPIC_PATTERN, value) is None:
            raise Invalid(f"must be {self.description}")
        return value

    def absent(self) -> str:
        raise Invalid("is required")

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^({TOPIC_PATTERN})$"}


class _AnyJson:
    name = "data"
    description = "any JSON value"

    def check(self, value: Any) -> Any:
        return value

    def absent(self) -> Any:
        return None

    def schema(self) -> dict[str, Any]:
        return {}


class _Op:
    name = "op"
    description = ""

    def check(self, value: Any) -> Any:
        return value  # dispatched on before the message is checked

    def absent(self) -> Any:
        return None

    def schema(self) -> dict[str, Any]:
        return {"type": "string"}


TOPICS = ArrayOf("topics", _Topic(), "topics", MAX_TOPICS, min_items=1)
SINCE = Integer("since", -1, 0, MAX_ID, "Replay stored events after this id first.")
MESSAGES = {
    "subscribe": ObjectOf((_Op(), TOPICS, SINCE), unknown="is not a field of subscribe"),
    "unsubscribe": ObjectOf((_Op(), TOPICS), unknown="is not a field of unsubscribe"),
    "ping": ObjectOf((_Op(),), unknown="is not a field of ping"),
    "echo": ObjectOf((_Op(), _AnyJson()), unknown="is not a field of echo"),
}


class Refusal(Exception):
    """The client broke the protocol: the socket closes with `code` and `reason`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = _fit_close_frame(reason)


def _fit_close_frame(reason: str) -> str:
    encoded = reason.encode()
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return reason
    return encoded[: MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."


def _text(document: Any) -> str:
    return orjson.dumps(document).decode()


def read_message(data: str | bytes, max_bytes: int) -> tuple[str, dict[str, Any]]:
    """A client frame -> (op, checked fields), or Refusal."""
    try:
        raw = data.encode() if isinstance(data, str) else data
    except UnicodeEncodeError:
        raise Refusal(INVALID_DATA, NOT_AN_OBJECT) from None
    if len(raw) > max_bytes:
        raise Refusal(TOO_BIG, TOO_BIG_REASON)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Refusal(INVALID_DATA, NOT_AN_OBJECT) from None
    if not isinstance(document, dict):
        raise Refusal(INVALID_DATA, NOT_AN_OBJECT)
    op = document.get("op")
    if not isinstance(op, str) or op not in MESSAGES:
        raise Refusal(POLICY, UNKNOWN_OP)
    try:
        return op, MESSAGES[op].check(document)
    except Invalid as exc:
        reason = "; ".join(f"{name} {why}" if name else why for name, why in exc.errors)
        raise Refusal(POLICY, reason) from None


class _Sent:
    """What this socket has sent, so no event id goes out twice."""

    def __init__(self) -> None:
        self.recent: dict[int, None] = {}  # insertion-ordered: the oldest is evicted
        self.live_high = 0  # the highest id sent from the live stream
        # topic -> the `since` it was subscribed with: the client has everything up to it.
        # A hub that polled last before the subscription still delivers older events.
        self.floors: dict[str, int] = {}

    def wanted(self, event: Event, topics: set[str]) -> bool:
        """Whether a live event goes out: a topic of the socket wants it and it is new."""
        if event.id in self.recent:
            return False
        floors = self.floors
        return any(t in topics and event.id > floors.get(t, 0) for t in event.topics)

    def __contains__(self, event_id: int) -> bool:
        return event_id in self.recent

    def add(self, event_id: int, live: bool) -> None:
        self.recent[event_id] = None
        if len(self.recent) > RECENT_IDS:
            del self.recent[next(iter(self.recent))]
        if live:
            self.live_high = max(self.live_high, event_id)


def conversation(ctx: Context) -> Workflow[None]:
    """One accepted socket, from its first message to its close."""
    settings = ctx.settings
    topics: set[str] = set()
    sent = _Sent()
    idle_until = time.monotonic() + settings.ws_idle_timeout_s
    try:
        while True:
            incoming = yield from NextInput(max(0.0, idle_until - time.monotonic()))
            if isinstance(incoming, SocketClosed):
                return
            if isinstance(incoming, Lagging):
                yield from CloseSocket(TRY_AGAIN_LATER, LAGGING)
                return
            if isinstance(incoming, TimedOut):
                if time.monotonic() >= idle_until:
                    yield from CloseSocket(NORMAL, IDLE)
                    return
                continue
            if isinstance(incoming, Event):
                # Topics checked again: it may have been queued before an unsubscribe.
                if sent.wanted(incoming, topics):
                    yield from SendText(frame(incoming))
                    sent.add(incoming.id, live=True)
                continue
            assert isinstance(incoming, ClientMessage)
            idle_until = time.monotonic() + settings.ws_idle_timeout_s
            try:
                op, fields = read_message(incoming.data, settings.ws_max_message_bytes)
            except Refusal as refusal:
                if refusal.code != TOO_BIG:  # a client that floods gets no more frames
                    yield from SendText(_text({"type": "error", "reason": refusal.reason}))
                yield from CloseSocket(refusal.code, refusal.reason)
                return
            try:
                yield from _answer(ctx, op, fields, topics, sent)
            except DatabaseUnavailable:  # a replay could not read the event log
                yield from CloseSocket(TRY_AGAIN_LATER, DATABASE_DOWN)
                return
    except SocketGone:
        return


def _answer(
    ctx: Context, op: str, fields: dict[str, Any], topics: set[str], sent: _Sent
) -> Workflow[None]:
    if op == "ping":
        yield from SendText('{"type":"pong"}')
    elif op == "echo":
        yield from SendText(_text({"type": "echo", "data": fields["data"]}))
    elif op == "unsubscribe":
        named = sorted(set(fields["topics"]))
        topics.difference_update(named)
        for topic in named:
            sent.floors.pop(topic, None)
        yield from Unsubscribe(tuple(named))
        yield from SendText(_text({"type": "unsubscribed", "topics": named}))
    else:
        named = sorted(set(fields["topics"]))
        before = set(topics)
        # Registered before the replay reads the table: nothing published in between is
        # missed, and what both carry is sent once (`sent`).
        yield from Subscribe(tuple(named))
        topics.update(named)
        yield from SendText(_text({"type": "subscribed", "topics": named}))
        since = fields["since"]
        for topic in named:
            sent.floors[topic] = max(since, 0)
        if since >= 0:
            yield from _replay(ctx, since, set(named), before, sent)


def _replay(
    ctx: Context, since: int, named: set[str], before: set[str], sent: _Sent
) -> Workflow[None]:
    """The stored events after `since` that match `named` (within the retention), except
    those this socket already sent live for a topic it held before."""
    after = since
    while True:
        page = yield from events_after(ctx.sql.events, after, POLL_BATCH)
        for event in page:
            if event.id in sent or not named.intersection(event.topics):
                continue
            if event.id <= sent.live_high and before.intersection(event.topics):
                continue
            yield from SendText(frame(event))
            sent.add(event.id, live=False)
        if len(page) < POLL_BATCH:
            return
        after = page[-1].id


# ------------------------------------------------------------------ the handshake
def origin_allowed(origin: str, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Same host as the request, or listed in TWINPORT_WS_ALLOWED_ORIGINS.

    A browser sends `Origin` with every WebSocket handshake and cookies ride along, so
    without this check any site could open a socket as its visitor (cross-site WebSocket
    hijacking). Clients that are not browsers send no Origin and are not affected.
    """
    if origin.rstrip("/") in allowed:
        return True
    netloc = urlsplit(origin).netloc
    return bool(netloc) and host is not None and netloc.lower() == host.lower()


def handshake(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    """GET /ws/live before the upgrade: 101 accepts it; a foreign Origin gets 403."""
    origin = request.headers.get("Origin")
    if origin is not None and not origin_allowed(
        origin, request.headers.get("Host"), ctx.settings.ws_allowed_origins
    ):
        raise ProblemError(status_problem(403, "This Origin may not open a WebSocket here."))
    return Response(SWITCHING_PROTOCOLS, b"", None)
    yield


def too_many_sockets() -> Response:
    """The shell's refusal when its process holds `ws_max_sockets` open sockets."""
    return service_unavailable("This process holds its limit of WebSockets.", 1).to_response()
