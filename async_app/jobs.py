"""The Quart app's job runner: a bounded set of asyncio tasks driving job workflows.

The twin of `sync_app/lifecycle.py`: same names, same order. CPU-bound steps are `Compute`
effects, which the driver sends to the app's executor, so a job never stalls the loop.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from async_app.driver import AsyncDriver
from shared_logic.config import Settings
from shared_logic.effects import Workflow
from shared_logic.features.jobs import lifecycle
from shared_logic.sql import Statements
from shell_support.worker import worker_id

log = logging.getLogger("twinport.async_app.jobs")


class AsyncJobRunner:
    """At most `job_workers` jobs run at once and `job_queue_size` more wait; more is refused."""

    def __init__(self, driver: AsyncDriver, sql: Statements, settings: Settings) -> None:
        self.capacity = lifecycle.runner_capacity(settings)
        self.driver = driver
        self.sql = sql
        self.settings = settings
        self.owner = worker_id()
        # Unbounded: `capacity` is enforced by counting in `submit`, not by the queue, so
        # a burst is accepted or refused the same way however the workers are scheduled.
        self._waiting: asyncio.Queue[Workflow[Any]] = asyncio.Queue()
        self._unfinished = 0  # accepted and not yet ended: waiting + running
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Recover orphaned jobs, then start the workers and the heartbeat."""
        self.owner = worker_id()
        await self.driver.run(lifecycle.heartbeat(self.sql, self.owner, self.settings.job_stale_s))
        for number in range(self.settings.job_workers):
            self._spawn(self._work(), f"job-{number}")
        self._spawn(self._heartbeat(), "job-heartbeat")

    def _spawn(self, coroutine: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    def submit(self, job: Workflow[Any]) -> bool:
        if self._closed or self._unfinished >= self.capacity:
            job.close()
            return False
        self._unfinished += 1
        self._waiting.put_nowait(job)
        return True

    async def _work(self) -> None:
        while True:
            job = await self._waiting.get()
            self._running += 1
            self._idle.clear()
            try:
                await self.driver.run(job)
            except Exception:
                log.exception("a job workflow failed outside its own error handling")
            finally:
                self._running -= 1
                self._unfinished -= 1
                if self._running == 0:
                    self._idle.set()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.job_heartbeat_s)
            try:
                await self.driver.run(
                    lifecycle.heartbeat(self.sql, self.owner, self.settings.job_stale_s)
                )
            except Exception:
                log.exception("job heartbeat failed")

    async def shutdown(self, grace_s: float | None = None) -> int:
        """Refuse new jobs, drop waiting ones, give running ones `grace_s` to finish, then
        mark whatever this process still holds `interrupted`. Returns how many it marked."""
        grace_s = self.settings.job_grace_s if grace_s is None else grace_s
        if self._closed:
            return 0
        self._closed = True
        dropped = []
        while not self._waiting.empty():
            dropped.append(self._waiting.get_nowait())
        self._unfinished -= len(dropped)
        with suppress(TimeoutError):
            async with asyncio.timeout(grace_s):
                await self._idle.wait()
        still_running = self._running
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        for job in dropped:
            job.close()
        try:
            marked = await self.driver.run(lifecycle.interrupt_owned(self.sql, self.owner))
        except Exception:
            log.exception("could not mark unfinished jobs interrupted")
            return 0
        if marked:
            log.warning(
                "marked %d job(s) interrupted at shutdown (%d still running)",
                marked,
                still_running,
            )
        return marked
