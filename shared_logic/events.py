"""The event log (a transactional outbox) and the pure rules of the live feed's hub.

Workflows that change notes or jobs call `publish` inside the transaction of the change,
so an event exists iff its change committed. Each process's hub (a twin in each shell:
`sync_app/live.py`, `async_app/live.py`) runs `poll` every `events_poll_s` and hands each
new event to the sockets subscribed to one of its topics, found with a `TopicIndex`.
Delivery is at-least-once and in id order; events older than `events_retention_s` are
pruned by the pollers, and a client reconnecting with `since` gets what it missed within
that retention (features/live.py).
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

from shared_logic.effects import Event, Execute, FetchAll, FetchOne, Row, UseConnection, Workflow
from shared_logic.sql import EventStatements

K = TypeVar("K", bound=Hashable)

POLL_BATCH = 500  # events read per poll (and per replay page)
PRUNE_EVERY_S = 10.0  # a poller prunes at most this often


def note_topics(note: Mapping[str, Any], *more_tags: str) -> list[str]:
    tags = sorted({*note["tags"], *more_tags})
    return ["notes", f"note:{note['id']}", *(f"tag:{tag}" for tag in tags)]


def job_topics(job_id: int) -> list[str]:
    return [f"job:{job_id}"]


def publish(
    sql: EventStatements, type_: str, topics: Sequence[str], payload: Any
) -> Workflow[None]:
    """Record an event; call it inside the transaction of the change it describes."""
    if sql.lock is not None:
        yield from FetchOne(sql.lock)
    yield from Execute(
        sql.insert,
        (orjson.dumps(list(topics)).decode(), type_, orjson.dumps(payload).decode(), time.time()),
    )


def event_from_row(row: Row) -> Event:
    event_id, topics, type_, payload = row
    return Event(int(event_id), type_, tuple(orjson.loads(topics)), payload.encode())


def frame(event: Event) -> str:
    """The text frame a subscriber receives for `event`."""
    head = orjson.dumps(
        {"type": "event", "id": event.id, "event": event.type, "topics": list(event.topics)}
    )
    return (head[:-1] + b',"data":' + event.payload + b"}").decode()


def latest_event_id(sql: EventStatements) -> Workflow[int]:
    """Where a new poller starts: it delivers only what is published after it started."""
    row = yield from FetchOne(sql.latest)
    return int(row[0]) if row is not None else 0


def events_after(
    sql: EventStatements, after: int, limit: int = POLL_BATCH
) -> Workflow[list[Event]]:
    rows = yield from FetchAll(sql.after, (after, limit))
    return [event_from_row(row) for row in rows]


@dataclass(slots=True)
class PollState:
    last: int
    next_prune: float = 0.0


def poll(sql: EventStatements, state: PollState, retention_s: float) -> Workflow[list[Event]]:
    """One tick of a hub's poller: the events after `state.last` (and, now and then, prune
    those older than the retention). Advances `state`."""
    now = time.time()
    if now >= state.next_prune:
        state.next_prune = now + min(PRUNE_EVERY_S, retention_s)
        yield from UseConnection(_prune(sql, now - retention_s), transaction=True, write=True)
    events = yield from events_after(sql, state.last)
    if events:
        state.last = events[-1].id
    return events


def _prune(sql: EventStatements, before: float) -> Workflow[int]:
    return (yield from Execute(sql.prune, (before,)))


@dataclass(slots=True)
class TopicIndex(Generic[K]):
    """Which subscriber (a shell's socket inbox) wants which topic; pure, not thread-safe
    (the sync hub holds a lock around it, the async hub uses it from one event loop)."""

    by_topic: dict[str, set[K]] = field(default_factory=dict)
    by_subscriber: dict[K, set[str]] = field(default_factory=dict)

    def add(self, subscriber: K, topics: Iterable[str]) -> None:
        mine = self.by_subscriber.setdefault(subscriber, set())
        for topic in topics:
            mine.add(topic)
            self.by_topic.setdefault(topic, set()).add(subscriber)

    def remove(self, subscriber: K, topics: Iterable[str] | None = None) -> None:
        """Drop some topics of a subscriber, or all of them (None: the socket closed)."""
        mine = self.by_subscriber.get(subscriber)
        if mine is None:
            return
        for topic in list(mine) if topics is None else topics:
            mine.discard(topic)
            subscribers = self.by_topic.get(topic)
            if subscribers is not None:
                subscribers.discard(subscriber)
                if not subscribers:
                    del self.by_topic[topic]
        if topics is None or not mine:
            del self.by_subscriber[subscriber]

    def recipients(self, topics: Iterable[str]) -> set[K]:
        """Every subscriber to at least one of `topics`, once."""
        found: set[K] = set()
        for topic in topics:
            found |= self.by_topic.get(topic, set())
        return found

    def __len__(self) -> int:
        return len(self.by_subscriber)
