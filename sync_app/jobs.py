"""The Flask app's job runner: a bounded set of daemon threads driving job workflows.

The twin of `async_app/lifecycle.py`. Why not a `ThreadPoolExecutor`: its worker threads are
joined by the interpreter *before* `atexit` handlers run, so a long job would hold the
process past any grace period (until Gunicorn's SIGKILL) and nothing could mark it
interrupted. Daemon threads let `shutdown` wait exactly `job_grace_s`, then record the
outcome in the table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from shared_logic.config import Settings
from shared_logic.effects import Workflow
from shared_logic.features.jobs import lifecycle
from shared_logic.sql import Statements
from shell_support.worker import worker_id
from sync_app.driver import Driver

log = logging.getLogger("twinport.sync_app.jobs")


class JobRunner:
    """At most `job_workers` jobs run at once and `job_queue_size` more wait; more is refused."""

    def __init__(self, driver: Driver, sql: Statements, settings: Settings) -> None:
        self.capacity = lifecycle.runner_capacity(settings)
        self.driver = driver
        self.sql = sql
        self.settings = settings
        self.owner = worker_id()
        self._waiting: deque[Workflow[Any]] = deque()
        self._unfinished = 0  # accepted and not yet ended: waiting + running
        self._running = 0
        self._closed = False
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Recover orphaned jobs, then start the workers and the heartbeat."""
        self.owner = worker_id()  # after the fork, if the app was preloaded
        self.driver.run(lifecycle.heartbeat(self.sql, self.owner, self.settings.job_stale_s))
        for number in range(self.settings.job_workers):
            self._spawn(self._work, f"job-{number}")
        self._spawn(self._heartbeat, "job-heartbeat")

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def submit(self, job: Workflow[Any]) -> bool:
        with self._changed:
            if self._closed or self._unfinished >= self.capacity:
                job.close()
                return False
            self._unfinished += 1
            self._waiting.append(job)
            self._changed.notify()
            return True

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                job = self._waiting.popleft()
                self._running += 1
            try:
                self.driver.run(job)
            except Exception:
                log.exception("a job workflow failed outside its own error handling")
            finally:
                with self._changed:
                    self._running -= 1
                    self._unfinished -= 1
                    self._changed.notify_all()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.settings.job_heartbeat_s):
            try:
                stale_s = self.settings.job_stale_s
                self.driver.run(lifecycle.heartbeat(self.sql, self.owner, stale_s))
            except Exception:
                log.exception("job heartbeat failed")

    def shutdown(self, grace_s: float | None = None) -> int:
        """Refuse new jobs, drop waiting ones, give running ones `grace_s` to finish, then
        mark whatever this process still holds `interrupted`. Returns how many it marked."""
        grace_s = self.settings.job_grace_s if grace_s is None else grace_s
        with self._changed:
            if self._closed:
                return 0
            self._closed = True
            dropped = list(self._waiting)
            self._waiting.clear()
            self._unfinished -= len(dropped)
            self._changed.notify_all()
            deadline = time.monotonic() + grace_s
            while self._running and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            still_running = self._running
        self._stop.set()
        for job in dropped:
            job.close()
        try:
            marked = self.driver.run(lifecycle.interrupt_owned(self.sql, self.owner))
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
