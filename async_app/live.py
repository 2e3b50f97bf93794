"""The Quart app's live feed: one hub per process (a poller task) and a socket per client.

The twin of `sync_app/live.py`: same names, same order. Everything runs on the one event
loop, so the `TopicIndex` needs no lock. A socket is Quart's `websocket` in its handler
task; a reader task moves client messages into the same inbox the hub fills, so the
conversation awaits one queue for whichever comes first. When the client goes away Quart
cancels the handler task, and the `finally` in the binding forgets the socket.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from async_app.driver import AsyncDriver
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

log = logging.getLogger("twinport.async_app.live")


class LiveHub:
    """This process's subscriptions, its open-socket count and the poller feeding them."""

    def __init__(self, driver: AsyncDriver, sql: EventStatements, settings: Settings) -> None:
        self.driver = driver
        self.sql = sql
        self.settings = settings
        self.index: events.TopicIndex[Inbox] = events.TopicIndex()
        self.open_sockets = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        state = events.PollState(await self.driver.run(events.latest_event_id(self.sql)))
        self._task = asyncio.create_task(self._poll(state), name="live-poller")

    async def _poll(self, state: events.PollState) -> None:
        retention_s = self.settings.events_retention_s
        while True:
            await asyncio.sleep(self.settings.events_poll_s)
            try:
                batch = await self.driver.run(events.poll(self.sql, state, retention_s))
            except Exception:  # the database is down: try again next tick
                log.exception("reading the event log failed")
                continue
            for event in batch:
                for inbox in self.index.recipients(event.topics):
                    inbox.deliver(event)

    def reserve(self) -> bool:
        """Count one more open socket, unless the process holds `ws_max_sockets`."""
        if self.open_sockets >= self.settings.ws_max_sockets:
            return False
        self.open_sockets += 1
        return True

    def release(self) -> None:
        self.open_sockets -= 1

    def forget(self, inbox: Inbox) -> None:
        """The socket closed: no subscription of it stays behind."""
        self.index.remove(inbox)

    def subscribe(self, inbox: Inbox, topics: tuple[str, ...]) -> None:
        self.index.add(inbox, topics)

    def unsubscribe(self, inbox: Inbox, topics: tuple[str, ...]) -> None:
        self.index.remove(inbox, topics)

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task


class Inbox:
    """One accepted socket (Quart's `websocket`) and what is waiting for it."""

    def __init__(self, ws: Any, hub: LiveHub) -> None:
        self.ws = ws
        self.hub = hub
        self.events: asyncio.Queue[Incoming] = asyncio.Queue()
        self.lagging = False
        self._reader: asyncio.Task[None] | None = None

    def deliver(self, event: Event) -> None:
        if self.events.qsize() >= self.hub.settings.ws_max_queued_events:
            if not self.lagging:  # the conversation closes the socket; nothing more is queued
                self.lagging = True
                self.events.put_nowait(Lagging())  # wakes a waiting next_input
        elif not self.lagging:
            self.events.put_nowait(event)

    async def next_input(self, timeout_s: float) -> Incoming:
        if self.lagging:
            return Lagging()
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())
        try:
            async with asyncio.timeout(timeout_s):
                return await self.events.get()
        except TimeoutError:
            return TimedOut()

    async def _read(self) -> None:
        try:
            while True:
                self.events.put_nowait(ClientMessage(await self.ws.receive()))
        except Exception:  # the connection is gone
            self.events.put_nowait(SocketClosed())

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except Exception as exc:
            raise SocketGone(str(exc)) from exc

    async def close(self, code: int, reason: str) -> None:
        try:
            await self.ws.close(code, reason)
        except Exception:  # already closed by the client: nothing to say
            log.debug("socket already closed", exc_info=True)

    def subscribe(self, topics: tuple[str, ...]) -> None:
        self.hub.subscribe(self, topics)

    def unsubscribe(self, topics: tuple[str, ...]) -> None:
        self.hub.unsubscribe(self, topics)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
