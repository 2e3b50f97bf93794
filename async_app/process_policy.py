"""The Quart app's process policy: how its worker treats SIGTERM, and where CPU work runs.

Kept apart from `app.py` so that the two shells' `app.py` files differ only in binding
(Flask vs Quart); the Flask app needs neither (Gunicorn handles its workers' signals, and
CPU work runs on the request thread).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from shared_logic.config import Settings
from shell_support.startup import cpu_workers

# Long enough for the parent's own SIGTERM handler to have run (microseconds), short
# enough not to matter to a deploy.
SIGTERM_FORWARD_DELAY_S = 0.5


def forward_sigterm_to_server() -> None:
    """Make SIGTERM to a Hypercorn worker process a graceful shutdown of the server.

    With `workers >= 1` (the default) Hypercorn runs the app in a spawned child that
    installs no SIGTERM handler: the parent catches SIGTERM and tells its children to
    stop through an event. A SIGTERM that reaches the child itself (systemd's default
    KillMode=control-group, `kill` of the process group, a container runtime signalling
    every process) killed it on the spot: no after_serving, jobs left `running`. Forward
    it to the parent instead, which then stops every worker the orderly way. An orphaned
    worker (parent gone) still dies as before. Skipped when something already handles
    SIGTERM, as Hypercorn does itself with `workers = 0`.

    The forward is delayed, and sent once. Hypercorn's parent handler calls
    `multiprocessing.Event.set()`, which is not reentrant: a second SIGTERM landing while
    the first handler holds the event's lock deadlocks the parent for good (seen with a
    process-group SIGTERM, where the parent gets the group's signal and ours microseconds
    apart). A forward that arrives after the first handler has returned is harmless.
    """
    if multiprocessing.parent_process() is None:
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    parent = os.getppid()
    loop = asyncio.get_running_loop()

    def forward() -> None:
        if os.getppid() == parent:
            os.kill(parent, signal.SIGTERM)
            return
        loop.remove_signal_handler(signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)

    def on_sigterm() -> None:
        # Runs on the loop, not inside the signal handler; later SIGTERMs are no-ops.
        loop.add_signal_handler(signal.SIGTERM, lambda: None)
        loop.call_later(SIGTERM_FORWARD_DELAY_S, forward)

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)


def cpu_executor(settings: Settings) -> Executor:
    """Where `Compute` effects run, so CPU work never stalls the event loop.

    Processes by default: pure-Python work holds the GIL, so a thread would still slow
    the loop. forkserver, because forking a process that runs an event loop and threads
    copies their state mid-flight.
    """
    if settings.cpu_executor == "thread":
        return ThreadPoolExecutor(cpu_workers(settings), thread_name_prefix="cpu")
    worker = multiprocessing.current_process()
    if worker.daemon:
        # Hypercorn starts workers as daemonic processes (its `daemon` setting, true by
        # default), and multiprocessing refuses children to a daemon. The flag only matters
        # to our parent; our pool's children exit on EOF if this worker dies.
        worker.daemon = False
    return ProcessPoolExecutor(
        cpu_workers(settings), mp_context=multiprocessing.get_context("forkserver")
    )
