"""Performs the core's effects with `await`, on the event loop.

The twin of `sync_app/driver.py`: same names, same order, so a side-by-side diff shows
only `async`/`await` and the resources each concurrency model needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from functools import partial
from typing import Any, Protocol, TypeVar, assert_never

import aiohttp

from async_app.db import AsyncDatabase
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
    ExecutorLost,
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

T = TypeVar("T")
DATABASE_EFFECTS = (FetchOne, FetchAll, Execute, ExecuteMany)


class Socket(Protocol):
    """An accepted WebSocket and its place in the hub (async_app/live.py)."""

    async def next_input(self, timeout_s: float) -> Incoming: ...

    async def send_text(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...

    def subscribe(self, topics: tuple[str, ...]) -> None: ...

    def unsubscribe(self, topics: tuple[str, ...]) -> None: ...


class AsyncDriver:
    def __init__(
        self,
        database: AsyncDatabase,
        http: aiohttp.ClientSession,
        cpu: Executor,
        new_cpu: Callable[[], Executor] | None = None,
    ):
        self.database = database
        self.http = http
        self.cpu = cpu
        self.new_cpu = new_cpu  # replaces a broken process pool
        # Set by the shell once its job runner exists; `Submit` effects go to it.
        self.submit_job: Callable[[Workflow[Any]], bool] | None = None

    async def run(self, workflow: Workflow[T], conn: Any = None) -> T:
        """Drive a workflow to completion; a failed effect is thrown back into it."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = workflow.throw(error) if error is not None else workflow.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            try:
                value, error = await self.perform(effect, conn), None
            except Exception as exc:
                value, error = None, exc

    async def iterate(self, stream: Workflow[None]) -> AsyncIterator[bytes]:
        """Drive a streaming body, handing each `Emit` to the ASGI server as a chunk."""
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
                    yield effect.data  # cancelled or closed here if the client left
                    continue
                try:
                    value, error = await self.perform(effect), None
                except Exception as exc:
                    value, error = None, exc
        finally:
            stream.close()

    async def converse(self, conversation: Workflow[None], socket: Socket) -> None:
        """Drive a WebSocket conversation on `socket`, in this (handler) task."""
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
                    value, error = await self.perform_on(socket, effect), None
                except Exception as exc:
                    value, error = None, exc
        finally:
            conversation.close()

    async def perform_on(self, socket: Socket, effect: Effect) -> Any:
        match effect:
            case NextInput(timeout_s):
                return await socket.next_input(timeout_s)
            case SendText(text):
                return await socket.send_text(text)
            case CloseSocket(code, reason):
                return await socket.close(code, reason)
            case Subscribe(topics):
                return socket.subscribe(topics)
            case Unsubscribe(topics):
                return socket.unsubscribe(topics)
        return await self.perform(effect)

    async def perform(self, effect: Effect, conn: Any = None) -> Any:
        if isinstance(effect, UseConnection):
            return await self.use_connection(effect, conn)
        if conn is None and isinstance(effect, DATABASE_EFFECTS):
            with translated_errors():
                async with self.database.connection() as conn:
                    return await self.perform(effect, conn)
        match effect:
            case FetchOne(sql, params):
                with translated_errors():
                    cursor = await conn.execute(sql, params)
                    return await cursor.fetchone()
            case FetchAll(sql, params):
                with translated_errors():
                    cursor = await conn.execute(sql, params)
                    return await cursor.fetchall()
            case Execute(sql, params):
                with translated_errors():
                    cursor = await conn.execute(sql, params)
                    return cursor.rowcount
            case ExecuteMany(sql, params_seq):
                with translated_errors():
                    await self.database.executemany(conn, sql, params_seq)
                    return None
            case Sleep(seconds):
                await asyncio.sleep(seconds)
                return None
            case Compute(function, args, offload):
                if not offload:
                    return function(*args)  # blocks the event loop: the naive port, on purpose
                loop = asyncio.get_running_loop()
                cpu = self.cpu
                try:
                    return await loop.run_in_executor(cpu, partial(function, *args))
                except BrokenProcessPool as exc:
                    # A broken pool refuses all later work: start a new one for the next
                    # request (once, however many were waiting on the old one).
                    if self.new_cpu is not None and self.cpu is cpu:
                        cpu.shutdown(wait=False, cancel_futures=True)
                        self.cpu = self.new_cpu()
                    raise ExecutorLost(str(exc)) from exc
            case HttpGet(url):
                try:
                    # httpx (the sync shell's client) follows no redirects either.
                    async with self.http.get(url, allow_redirects=False) as reply:
                        return reply.status, await reply.read()
                except TimeoutError as exc:
                    raise UpstreamFailed(UPSTREAM_TIMED_OUT) from exc
                except aiohttp.ClientConnectorError as exc:
                    raise UpstreamFailed(UPSTREAM_UNREACHABLE) from exc
                except aiohttp.ClientError as exc:
                    raise UpstreamFailed(UPSTREAM_INVALID_REPLY) from exc
            case Gather(effects):
                return list(await asyncio.gather(*(self.perform(e) for e in effects)))
            case WriteFile(path, data):
                with files.translated_errors():
                    return await asyncio.to_thread(files.write_atomically, path, data)
            case ReadFile(path, offset, length):
                with files.translated_errors():
                    return await asyncio.to_thread(files.read_range, path, offset, length)
            case DeleteFile(path):
                with files.translated_errors():
                    return await asyncio.to_thread(files.delete, path)
            case Submit(job):
                if self.submit_job is None:
                    raise RuntimeError("this process has no job runner")
                return self.submit_job(job)
            case Emit():  # `iterate` performs these; `run` has no client to send them to
                raise TypeError(f"{effect!r} outside a streaming response")
            case NextInput() | SendText() | CloseSocket() | Subscribe() | Unsubscribe():
                raise TypeError(f"{effect!r} outside a WebSocket conversation")
        assert_never(effect)

    async def use_connection(self, effect: UseConnection[T], conn: Any) -> T:
        if conn is not None:  # nested: join the connection (and transaction) already held
            return await self.run(effect.steps, conn)
        with translated_errors():
            async with self.database.connection(effect.transaction and effect.write) as conn:
                if not effect.transaction:
                    return await self.run(effect.steps, conn)
                await conn.execute(begin_statement(self.database.dialect, effect.write))
                try:
                    result = await self.run(effect.steps, conn)
                except BaseException:
                    with suppress(Exception):  # a broken connection must not mask the cause
                        await conn.execute("ROLLBACK")
                    raise
                await conn.execute("COMMIT")
                return result
