"""The Flask app's live feed: one hub per process (a poller thread) and a socket per client.

The twin of `async_app/live.py`. The hub reads the event log every `events_poll_s`
(`shared_logic.events.poll`) and puts each event in the inbox of every socket subscribed to
one of its topics (`TopicIndex`, under a lock: sockets subscribe from their own threads).
A socket is simple-websocket's `Server` (through flask-sock) on the Gunicorn thread that
accepted it: the conversation holds that thread until the socket closes, and
simple-websocket adds one reader thread per socket (docs/porting.md).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from shared_logic import events
from shared_logic.config import Settings
from shared_logic.effects import (
    ClientMessage,
    Event,
    Incoming,
    Lagging,
    SocketClosed,
    SocketGone,
    TimedOut,
)
from shared_logic.sql import EventStatements
from sync_app.driver import Driver

log = logging.getLogger("twinport.sync_app.live")


class LiveHub:
    """This process's subscriptions, its open-socket count and the poller feeding them."""

    def __init__(self, driver: Driver, sql: EventStatements, settings: Settings) -> None:
        self.driver = driver
        self.sql = sql
        self.settings = settings
        self.index: events.TopicIndex[Inbox] = events.TopicIndex()
        self.open_sockets = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        state = events.PollState(self.driver.run(events.latest_event_id(self.sql)))
        self._thread = threading.Thread(
            target=self._poll, args=(state,), name="live-poller", daemon=True
        )
        self._thread.start()

    def _poll(self, state: events.PollState) -> None:
        retention_s = self.settings.events_retention_s
        while not self._stop.wait(self.settings.events_poll_s):
            try:
                batch = self.driver.run(events.poll(self.sql, state, retention_s))
            except Exception:  # the database is down: try again next tick
                log.exception("reading the event log failed")
                continue
            for event in batch:
                with self._lock:
                    inboxes = self.index.recipients(event.topics)
                for inbox in inboxes:
                    inbox.deliver(event)

    def reserve(self) -> bool:
        """Count one more open socket, unless the process holds `ws_max_sockets`."""
        with self._lock:
            if self.open_sockets >= self.settings.ws_max_sockets:
                return False
            self.open_sockets += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.open_sockets -= 1

    def forget(self, inbox: Inbox) -> None:
        """The socket closed: no subscription of it stays behind."""
        with self._lock:
            self.index.remove(inbox)

    def subscribe(self, inbox: Inbox, topics: tuple[str, ...]) -> None:
        with self._lock:
            self.index.add(inbox, topics)

    def unsubscribe(self, inbox: Inbox, topics: tuple[str, ...]) -> None:
        with self._lock:
            self.index.remove(inbox, topics)

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Inbox:
    """One accepted socket (a simple-websocket `Server`) and the events waiting for it.

    simple-websocket's reader thread appends client messages to `ws.input_buffer` and sets
    `ws.event`; the hub puts events in `events` and sets the same event, so the request
    thread waits on one `threading.Event` for whichever comes first.
    """

    def __init__(self, ws: Any, hub: LiveHub) -> None:
        self.ws = ws
        self.hub = hub
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.lagging = False

    def deliver(self, event: Event) -> None:  # on the poller thread
        if self.lagging or self.events.qsize() >= self.hub.settings.ws_max_queued_events:
            self.lagging = True  # the conversation closes the socket; nothing more is queued
        else:
            self.events.put(event)
        self.ws.event.set()

    def next_input(self, timeout_s: float) -> Incoming:
        ws = self.ws
        deadline = time.monotonic() + timeout_s
        while True:
            ws.event.clear()  # before looking: a message arriving after this sets it again
            if self.lagging:
                return Lagging()
            if ws.input_buffer:
                return ClientMessage(ws.input_buffer.pop(0))
            try:
                return self.events.get_nowait()
            except queue.Empty:
                pass
            if not ws.connected:
                return SocketClosed()
            left = deadline - time.monotonic()
            if left <= 0:
                return TimedOut()
            ws.event.wait(left)

    def send_text(self, text: str) -> None:
        try:
            self.ws.send(text)
        except Exception as exc:  # simple_websocket.ConnectionClosed, or OSError mid-send
            raise SocketGone(str(exc)) from exc

    def close(self, code: int, reason: str) -> None:
        try:
            self.ws.close(code, reason)
        except Exception:  # already closed by the client: nothing to say
            log.debug("socket already closed", exc_info=True)

    def subscribe(self, topics: tuple[str, ...]) -> None:
        self.hub.subscribe(self, topics)

    def unsubscribe(self, topics: tuple[str, ...]) -> None:
        self.hub.unsubscribe(self, topics)
