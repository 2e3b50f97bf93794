"""Effects: the requests a workflow makes of the outside world.

A workflow is a generator that performs an effect with `yield from` and gets its result:

    row = yield from FetchOne(sql.select_world, (world_id,))

Each effect is an `EffectOf[R]`, R being its result type, so `row` is `Row | None` under
mypy --strict. `yield from` runs the effect's `__iter__`, which yields the effect itself to
the driver and returns what the driver sends back (asyncio's `Future.__iter__` did the
same). A bare `yield effect` also works, but its result is typed `object`.

`sync_app/driver.py` performs effects with blocking calls on a thread; `async_app/driver.py`
performs the same effects with `await`. Both match on the `Effect` union, which lists every
effect, so mypy proves that each driver handles them all. A failed effect is thrown back
into the workflow as one of the exceptions below, so error handling is written once, here
in the core.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeAlias, TypeVar, TypeVarTuple

T = TypeVar("T")
R = TypeVar("R", covariant=True)  # an effect's result
Args = TypeVarTuple("Args")

Row: TypeAlias = tuple[Any, ...]


class EffectOf(Generic[R]):
    """Base of every effect: performing it (`yield from effect`) results in an R."""

    __slots__ = ()

    def __iter__(self) -> Generator[Self, object, R]:
        # The driver sends back this effect's result: the one place its type is trusted.
        return (yield self)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class FetchOne(EffectOf[Row | None]):
    sql: str
    params: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class FetchAll(EffectOf[list[Row]]):
    sql: str
    params: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class Execute(EffectOf[int]):
    """Run one statement; the result is the affected row count."""

    sql: str
    params: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class ExecuteMany(EffectOf[None]):
    sql: str
    params_seq: Sequence[Sequence[Any]]


@dataclass(frozen=True, slots=True)
class UseConnection(EffectOf[R]):
    """Run `steps` on one pooled connection, inside a transaction when `transaction` is set;
    the result is what `steps` returns.

    Effects yielded by `steps` go to that connection, so N queries cost one pool checkout.
    A `write` transaction on SQLite begins with `BEGIN IMMEDIATE`, taking the write lock up
    front so concurrent writers wait on `busy_timeout` instead of failing mid-transaction.
    """

    steps: Workflow[R]
    transaction: bool = False
    write: bool = False


@dataclass(frozen=True, slots=True)
class Sleep(EffectOf[None]):
    seconds: float


@dataclass(frozen=True, slots=True)
class Compute(EffectOf[R], Generic[R, *Args]):
    """Call a pure, picklable CPU-bound function; the result is what it returns.

    The sync driver calls it on the request thread. The async driver sends it to its
    executor unless `offload` is False, in which case it runs on the event loop (the
    deliberately naive variant the benchmarks compare against).
    """

    function: Callable[[*Args], R]
    args: tuple[*Args]
    offload: bool = True


@dataclass(frozen=True, slots=True)
class HttpGet(EffectOf[tuple[int, bytes]]):
    """GET a URL; the result is `(status, body_bytes)`."""

    url: str


@dataclass(frozen=True, slots=True, init=False)
class Gather(EffectOf[list[R]]):
    """Perform independent effects concurrently; the result lists theirs in order.

    Threads from the shell's bounded pool in the sync app, `asyncio.gather` in the async app.
    Effects with different results make R their union.
    """

    effects: tuple[Effect, ...]

    def __init__(self, effects: tuple[EffectOf[R], ...]) -> None:
        # Typed as the union the drivers match on: every EffectOf subclass is a member.
        object.__setattr__(self, "effects", effects)


@dataclass(frozen=True, slots=True)
class Emit(EffectOf[None]):
    """Send `data` to the client now (streaming responses only); the result is None.

    A streaming response's body is a workflow that yields `Emit` between ordinary
    effects. The drivers turn it into an iterator (sync) or async iterator (async) for the
    framework to write out; when the client goes away, the framework closes that
    iterator and the driver closes the workflow, so its `finally` blocks run.
    """

    data: bytes


@dataclass(frozen=True, slots=True)
class WriteFile(EffectOf[None]):
    """Store `data` at `path` all or nothing; the result is None.

    The drivers write a temporary file beside `path`, flush it to disk and rename it into
    place (`shell_support.files.write_atomically`), so a failed or interrupted write never
    leaves a partial file under the final name.
    """

    path: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ReadFile(EffectOf[bytes]):
    """Read up to `length` bytes of `path` from `offset`; the result is the bytes read."""

    path: str
    offset: int = 0
    length: int = -1


@dataclass(frozen=True, slots=True)
class DeleteFile(EffectOf[None]):
    """Remove `path` if it exists; the result is None."""

    path: str


@dataclass(frozen=True, slots=True)
class Submit(EffectOf[bool]):
    """Hand a background workflow to this process's bounded job runner.

    The result is True when the runner took it, False when its queue is full (the caller
    answers 503). The runner drives `job` on its own worker (a thread in the sync app, an
    asyncio task in the async app), outside any request.
    """

    job: Workflow[Any]


# ------------------------------------------------------------------ WebSocket conversations
# A conversation (features/live.py) is a workflow the shell drives with `converse` on one
# accepted socket; these effects mean nothing outside it (the drivers' `run` refuses them).


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the event log (shared_logic/events.py)."""

    id: int
    type: str
    topics: tuple[str, ...]
    payload: bytes  # JSON, as stored: framed without decoding


@dataclass(frozen=True, slots=True)
class ClientMessage:
    """A message the client sent: text, or bytes for a binary frame."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class SocketClosed:
    """The client closed the socket or went away."""


@dataclass(frozen=True, slots=True)
class TimedOut:
    """Nothing arrived within the timeout."""


@dataclass(frozen=True, slots=True)
class Lagging:
    """More events wait for this socket than `ws_max_queued_events`: the client reads too
    slowly, and the hub has stopped queuing for it."""


Incoming: TypeAlias = ClientMessage | Event | SocketClosed | TimedOut | Lagging


@dataclass(frozen=True, slots=True)
class NextInput(EffectOf[Incoming]):
    """Wait up to `timeout_s` for the next client message or subscribed event, whichever
    comes first; the result says which (or that the socket closed, or the time ran out)."""

    timeout_s: float


@dataclass(frozen=True, slots=True)
class SendText(EffectOf[None]):
    """Send one text frame; a socket that is gone raises `SocketGone`."""

    text: str


@dataclass(frozen=True, slots=True)
class CloseSocket(EffectOf[None]):
    """Close the socket with this code and reason (at most 123 bytes of UTF-8)."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Subscribe(EffectOf[None]):
    """Register this socket with the process's hub for `topics`; events published after
    this returns are delivered through `NextInput`."""

    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unsubscribe(EffectOf[None]):
    topics: tuple[str, ...]


# Every effect. One left out here is a mypy error where a workflow yields it, and one a
# driver's `match` misses is an error at its `assert_never`.
Effect: TypeAlias = (
    FetchOne
    | FetchAll
    | Execute
    | ExecuteMany
    | UseConnection[Any]
    | Sleep
    | Compute[Any, *tuple[Any, ...]]
    | HttpGet
    | Gather[Any]
    | Emit
    | WriteFile
    | ReadFile
    | DeleteFile
    | Submit
    | NextInput
    | SendText
    | CloseSocket
    | Subscribe
    | Unsubscribe
)
SOCKET_EFFECTS = (NextInput, SendText, CloseSocket, Subscribe, Unsubscribe)
# Sent `object`, not Any: a result is typed only through `yield from effect`.
Workflow: TypeAlias = Generator[Effect, object, T]


class EffectFailed(Exception):
    """Base of the failures a driver throws back into a workflow."""


class DatabaseUnavailable(EffectFailed):
    """No connection could be had (pool exhausted, server down, lock timeout)."""


class ExecutorLost(EffectFailed):
    """The process that ran a `Compute` died (killed, out of memory, or taken down by a
    SIGTERM to the process group), so the work did not finish. Nothing was computed; the
    same work may succeed on the next try."""


class UpstreamFailed(EffectFailed):
    """The upstream HTTP service could not be reached, timed out or sent no valid reply.

    The message is one of the UPSTREAM_* reasons below, whichever HTTP client the shell
    uses, so the 502 body is the same from both apps.
    """


UPSTREAM_UNREACHABLE = "unreachable"
UPSTREAM_TIMED_OUT = "timed out"
UPSTREAM_INVALID_REPLY = "invalid reply"


class IntegrityViolation(EffectFailed):
    """A constraint rejected a write (unique key, foreign key, check)."""


class SocketGone(EffectFailed):
    """The WebSocket closed before a frame could be sent."""


class StorageFailed(EffectFailed):
    """A file effect failed (missing file, full disk, permissions)."""


def run_pure(workflow: Workflow[T]) -> T:
    """Run a workflow that must not yield any effect (pure handlers, tests)."""
    try:
        effect = next(workflow)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise TypeError(f"pure workflow yielded an effect: {effect!r}")
