"""Performs the core's effects with blocking calls, on the calling thread.

The twin of `async_app/driver.py`: same names, same order, so a side-by-side diff shows
only `async`/`await` and the resources each concurrency model needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any, Protocol, TypeVar, assert_never

import httpx

from shared_logic.effects import (
    UPSTREAM_INVALID_REPLY,
    UPSTREAM_TIMED_OUT,
    UPSTREAM_UNREACHABLE,
    CloseSocket,
    Compute,
    DeleteFile,
    Effect,
    Emit,
    Execute,
    ExecuteMany,
    FetchAll,
    FetchOne,
    Gather,
    HttpGet,
    Incoming,
    NextInput,
    ReadFile,
    SendText,
    Sleep,
    Submit,
    Subscribe,
    Unsubscribe,
    UpstreamFailed,
    UseConnection,
    Workflow,
    WriteFile,
)
from shared_logic.sql import begin_statement
from shell_support import files
from shell_support.db_errors import translated_errors
from sync_app.db import Database

T = TypeVar("T")
DATABASE_EFFECTS = (FetchOne, FetchAll, Execute, ExecuteMany)


class Socket(Protocol):
    """An accepted WebSocket and its place in the hub (sync_app/live.py)."""

    def next_input(self, timeout_s: float) -> Incoming: ...

    def send_text(self, text: str) -> None: ...

    def close(self, code: int, reason: str) -> None: ...

    def subscribe(self, topics: tuple[str, ...]) -> None: ...

    def unsubscribe(self, topics: tuple[str, ...]) -> None: ...


class Driver:
    def __init__(self, database: Database, http: httpx.Client, fanout: ThreadPoolExecutor):
        self.database = database
        self.http = http
        self.fanout = fanout
        # Set by the shell once its job runner exists; `Submit` effects go to it.
        self.submit_job: Callable[[Workflow[Any]], bool] | None = None

    def run(self, workflow: Workflow[T], conn: Any = None) -> T:
        """Drive a workflow to completion; a failed effect is thrown back into it."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = workflow.throw(error) if error is not None else workflow.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            try:
                value, error = self.perform(effect, conn), None
            except Exception as exc:
                value, error = None, exc

    def iterate(self, stream: Workflow[None]) -> Iterator[bytes]:
        """Drive a streaming body, handing each `Emit` to the WSGI server as a chunk."""
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    effect = stream.throw(error) if error is not None else stream.send(value)
                except StopIteration:
                    return
                if isinstance(effect, Emit):
                    value, error = None, None
                    yield effect.data  # the server closes us here if the client left
                    continue
                try:
                    value, error = self.perform(effect), None
                except Exception as exc:
                    value, error = None, exc
        finally:
            stream.close()

    def converse(self, conversation: Workflow[None], socket: Socket) -> None:
        """Drive a WebSocket conversation on `socket`, on this (request) thread."""
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    effect = (
                        conversation.throw(error) if error is not None else conversation.send(value)
                    )
                except StopIteration:
                    return
                try:
                    value, error = self.perform_on(socket, effect), None
                except Exception as exc:
                    value, error = None, exc
        finally:
            conversation.close()

    def perform_on(self, socket: Socket, effect: Effect) -> Any:
        match effect:
            case NextInput(timeout_s):
                return socket.next_input(timeout_s)
            case SendText(text):
                return socket.send_text(text)
            case CloseSocket(code, reason):
                return socket.close(code, reason)
            case Subscribe(topics):
                return socket.subscribe(topics)
            case Unsubscribe(topics):
                return socket.unsubscribe(topics)
        return self.perform(effect)

    def perform(self, effect: Effect, conn: Any = None) -> Any:
        if isinstance(effect, UseConnection):
            return self.use_connection(effect, conn)
        if conn is None and isinstance(effect, DATABASE_EFFECTS):
            with translated_errors(), self.database.connection() as conn:
                return self.perform(effect, conn)
        match effect:
            case FetchOne(sql, params):
                with translated_errors():
                    return conn.execute(sql, params).fetchone()
            case FetchAll(sql, params):
                with translated_errors():
                    return conn.execute(sql, params).fetchall()
            case Execute(sql, params):
                with translated_errors():
                    return conn.execute(sql, params).rowcount
            case ExecuteMany(sql, params_seq):
                with translated_errors():
                    conn.cursor().executemany(sql, params_seq)
                    return None
            case Sleep(seconds):
                time.sleep(seconds)
                return None
            case Compute(function, args):
                return function(*args)  # on this request thread, holding the GIL
            case HttpGet(url):
                try:
                    reply = self.http.get(url)
                except httpx.TimeoutException as exc:
                    raise UpstreamFailed(UPSTREAM_TIMED_OUT) from exc
                except httpx.ConnectError as exc:
                    raise UpstreamFailed(UPSTREAM_UNREACHABLE) from exc
                except httpx.HTTPError as exc:
                    raise UpstreamFailed(UPSTREAM_INVALID_REPLY) from exc
                return reply.status_code, reply.content
            case Gather(effects):
                return list(self.fanout.map(self.perform, effects))
            case WriteFile(path, data):
                with files.translated_errors():
                    return files.write_atomically(path, data)
            case ReadFile(path, offset, length):
                with files.translated_errors():
                    return files.read_range(path, offset, length)
            case DeleteFile(path):
                with files.translated_errors():
                    return files.delete(path)
            case Submit(job):
                if self.submit_job is None:
                    raise RuntimeError("this process has no job runner")
                return self.submit_job(job)
            case Emit():  # `iterate` performs these; `run` has no client to send them to
                raise TypeError(f"{effect!r} outside a streaming response")
            case NextInput() | SendText() | CloseSocket() | Subscribe() | Unsubscribe():
                raise TypeError(f"{effect!r} outside a WebSocket conversation")
        assert_never(effect)

    def use_connection(self, effect: UseConnection[T], conn: Any) -> T:
        if conn is not None:  # nested: join the connection (and transaction) already held
            return self.run(effect.steps, conn)
        with (
            translated_errors(),
            self.database.connection(effect.transaction and effect.write) as conn,
        ):
            if not effect.transaction:
                return self.run(effect.steps, conn)
            conn.execute(begin_statement(self.database.dialect, effect.write))
            try:
                result = self.run(effect.steps, conn)
            except BaseException:
                with suppress(Exception):  # a broken connection must not mask the cause
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
