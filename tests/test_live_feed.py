"""GET /ws/live, the WebSocket live feed: conversations as data rows, run against the Quart
app in process and against live Gunicorn and Hypercorn always, on each backend; the
handshake refusals; events crossing processes through the database; reconnecting with
`since`.

Every wait is a bounded receive (WAIT_S), never a sleep: a frame arrives or the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from shared_logic.config import Settings
from shared_logic.effects import (
    ClientMessage,
    CloseSocket,
    DatabaseUnavailable,
    Event,
    FetchAll,
    Lagging,
    NextInput,
    SendText,
    Subscribe,
)
from shared_logic.features import live
from shared_logic.sql import STATEMENTS
from tests.support.databases import Backend, Databases
from tests.support.live import GUNICORN, LivePair, server_env, start_servers
from tests.support.processes import SCRIPTS, ServerProcess
from tests.support.session import TMP_ROOT
from tests.support.twins import Twins, TwinsFactory

WAIT_S = 20.0  # generous: a loaded 2-core machine; a healthy server answers in milliseconds
HANDSHAKE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


@dataclass(frozen=True)
class Talk:
    """One conversation: frames sent in order, the text frames expected back in order, and
    how the server closes (None: it stays open, and the test closes it)."""

    id: str
    sends: tuple[str | bytes, ...]
    expects: tuple[str, ...]
    close: tuple[int, str] | None = None


def error(reason: str) -> str:
    return json.dumps({"type": "error", "reason": reason}, separators=(",", ":"))


TOPICS_REASON = "topics[0] must be notes, note:<id>, tag:<tag> or job:<id>"
TALKS = (
    Talk("ping", ('{"op":"ping"}',), ('{"type":"pong"}',)),
    Talk("echo", ('{"op":"echo","data":[1,{"a":null},"é"]}',),
         ('{"type":"echo","data":[1,{"a":null},"é"]}',)),
    Talk("subscribe-sorted-once",
         ('{"op":"subscribe","topics":["tag:b","notes","job:12","note:3","tag:b"]}',),
         ('{"type":"subscribed","topics":["job:12","note:3","notes","tag:b"]}',)),
    Talk("unsubscribe", ('{"op":"subscribe","topics":["notes"]}',
                         '{"op":"unsubscribe","topics":["notes"]}'),
         ('{"type":"subscribed","topics":["notes"]}',
          '{"type":"unsubscribed","topics":["notes"]}')),
    Talk("not-json-1007", ("nope",), (error(live.NOT_AN_OBJECT),),
         (1007, live.NOT_AN_OBJECT)),
    Talk("array-1007", ("[1,2]",), (error(live.NOT_AN_OBJECT),), (1007, live.NOT_AN_OBJECT)),
    Talk("binary-not-utf8-1007", (b"\xff\xfe",), (error(live.NOT_AN_OBJECT),),
         (1007, live.NOT_AN_OBJECT)),
    Talk("unknown-op-1008", ('{"op":"dance"}',), (error(live.UNKNOWN_OP),),
         (1008, live.UNKNOWN_OP)),
    Talk("no-op-1008", ("{}",), (error(live.UNKNOWN_OP),), (1008, live.UNKNOWN_OP)),
    Talk("bad-topic-1008", ('{"op":"subscribe","topics":["tag:UPPER"]}',),
         (error(TOPICS_REASON),), (1008, TOPICS_REASON)),
    Talk("empty-topics-1008", ('{"op":"subscribe","topics":[]}',),
         (error("topics must be an array of 1 to 32 topics"),),
         (1008, "topics must be an array of 1 to 32 topics")),
    Talk("unknown-field-1008", ('{"op":"ping","x":1}',),
         (error("x is not a field of ping"),), (1008, "x is not a field of ping")),
    Talk("negative-since-1008", ('{"op":"subscribe","topics":["notes"],"since":-1}',),
         (error("since must be from 0 to 9223372036854775807"),),
         (1008, "since must be from 0 to 9223372036854775807")),
    Talk("after-an-answer-1008", ('{"op":"ping"}', '{"op":"nope"}'),
         ('{"type":"pong"}', error(live.UNKNOWN_OP)), (1008, live.UNKNOWN_OP)),
    # No error frame: a client that floods gets nothing more.
    Talk("too-big-1009", ("x" * 65537,), (), (1009, live.TOO_BIG_REASON)),
)


# ------------------------------------------------------------------ clients
def ws_url(base: str) -> str:
    return "ws" + base.removeprefix("http") + "/ws/live"


def open_socket(base: str, close_timeout: float = WAIT_S) -> ClientConnection:
    return connect(ws_url(base), open_timeout=WAIT_S, close_timeout=close_timeout,
                   max_size=None)


def talk_live(
    base: str, talk: Talk, close_timeout: float = WAIT_S
) -> tuple[list[str], tuple[int, str] | None]:
    """Run `talk` over a real socket; what came back, and the close (code, reason)."""
    received: list[str] = []
    with open_socket(base, close_timeout) as ws:
        for message in talk.sends:
            ws.send(message)
        for _ in talk.expects:
            received.append(str(ws.recv(timeout=WAIT_S)))
        if talk.close is None:
            return received, None
        with pytest.raises(ConnectionClosed):
            extra = ws.recv(timeout=WAIT_S)
            received.append(str(extra))  # only reached if the server said more
        assert ws.close_code is not None
        return received, (ws.close_code, ws.close_reason or "")


def recv_json(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(ws.recv(timeout=WAIT_S))
    return frame


def hubs_are_empty(app: Any) -> bool:
    hub = app.extensions["twinport"].hub
    return len(hub.index) == 0 and hub.open_sockets == 0


# ------------------------------------------------------------------ in process
# Rows the Flask app cannot run under werkzeug's dev server: after a 64 KiB message the
# server's drain loop and simple-websocket's reader thread both read the socket, and in
# about two runs of five the client never sees the close. Gunicorn runs it (test_conversation_live;
# 150 of 150 in a loop).
NOT_ON_WERKZEUG = {"too-big-1009"}

@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """The in-process Flask app behind werkzeug's threaded server (Flask has no WebSocket
    test client; simple-websocket takes werkzeug's socket as it takes Gunicorn's)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(WAIT_S)


@pytest.mark.parametrize("talk", TALKS, ids=lambda t: t.id)
async def test_conversation_in_process(twins: Twins, talk: Talk) -> None:
    """Quart through its test client; Flask through werkzeug's server (sockets of its own);
    afterwards neither hub holds a subscription or counts a socket."""
    from quart.testing.connections import WebsocketDisconnectError

    client = twins.quart_app.test_client()
    async with client.websocket("/ws/live") as ws:
        for message in talk.sends:
            await ws.send(message)
        for expected in talk.expects:
            assert await asyncio.wait_for(ws.receive(), WAIT_S) == expected
        if talk.close is not None:
            with pytest.raises(WebsocketDisconnectError) as closed:
                await asyncio.wait_for(ws.receive(), WAIT_S)
            assert closed.value.args[0] == talk.close[0]  # the test client drops the reason
    if talk.id not in NOT_ON_WERKZEUG:
        with served(twins.flask_app) as base:
            # After a close werkzeug's dev server drains the connection until EOF
            # (serving.py), so the client ends TCP itself 1 s after the close handshake.
            got = await asyncio.to_thread(talk_live, base, talk, 1.0)
            assert got == (list(talk.expects), talk.close)
    await _until(lambda: hubs_are_empty(twins.quart_app))
    await _until(lambda: hubs_are_empty(twins.flask_app))


async def _until(condition: Any) -> None:
    """Wait (bounded) for something the server does after the client has gone."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_idle_client_is_closed_in_process(twins_factory: TwinsFactory) -> None:
    from quart.testing.connections import WebsocketDisconnectError

    async with (
        twins_factory(ws_idle_timeout_s=0.3) as twins,
        twins.quart_app.test_client().websocket("/ws/live") as ws,
    ):
        await ws.send('{"op":"ping"}')
        assert await ws.receive() == '{"type":"pong"}'
        with pytest.raises(WebsocketDisconnectError) as closed:
            await asyncio.wait_for(ws.receive(), WAIT_S)
        assert closed.value.args[0] == 1000


async def test_job_events_reach_a_job_subscriber_in_process(twins_factory: TwinsFactory) -> None:
    async with twins_factory(events_poll_s=0.02) as twins:
        client = twins.quart_app.test_client()
        reply = await client.post("/jobs", json={"kind": "sleep",
                                                 "params": {"steps": 2, "step_ms": 200}})
        job_id = (await reply.get_json())["id"]
        async with client.websocket("/ws/live") as ws:
            # `since: 0`: whatever the job already did is replayed, the rest arrives live.
            await ws.send(json.dumps({"op": "subscribe", "topics": [f"job:{job_id}"],
                                      "since": 0}))
            assert orjson.loads(await ws.receive())["type"] == "subscribed"
            frames = []
            while not frames or frames[-1]["event"] != "job.finished":
                frames.append(orjson.loads(await asyncio.wait_for(ws.receive(), WAIT_S)))
        assert [f["data"]["progress"]["done"] for f in frames[:-1]] == [0, 1, 2]
        assert {f["event"] for f in frames[:-1]} == {"job.progress"}
        assert frames[-1]["data"]["state"] == "succeeded"
        assert all(f["topics"] == [f"job:{job_id}"] for f in frames)
        assert [f["id"] for f in frames] == sorted({f["id"] for f in frames})


async def test_event_reaches_subscriber_in_process(twins_factory: TwinsFactory) -> None:
    async with twins_factory(events_poll_s=0.02) as twins:
        client = twins.quart_app.test_client()
        async with client.websocket("/ws/live") as ws:
            await ws.send('{"op":"subscribe","topics":["tag:live"]}')
            await ws.receive()
            reply = await client.post("/api/notes", json={"title": "a", "tags": ["live"]})
            note = await reply.get_json()
            frame = orjson.loads(await asyncio.wait_for(ws.receive(), WAIT_S))
            assert frame["event"] == "note.created" and frame["data"] == note
            assert frame["topics"] == ["notes", f"note:{note['id']}", "tag:live"]
        await _until(lambda: hubs_are_empty(twins.quart_app))


# ------------------------------------------------------------------ handshake refusals
async def refusal(twins: Twins, headers: dict[str, str]) -> tuple[tuple[int, bytes], ...]:
    """The reply to a refused handshake from each app (Flask through its test client, with
    the upgrade headers; Quart through its WebSocket test client)."""
    from quart.testing.connections import WebsocketResponseError

    flask = await twins.flask.request("GET", "/ws/live", headers={**HANDSHAKE, **headers})
    with pytest.raises(WebsocketResponseError) as refused:
        async with twins.quart_app.test_client().websocket("/ws/live", headers=headers) as ws:
            await asyncio.wait_for(ws.receive(), WAIT_S)
    quart = refused.value.response
    return (flask.status, flask.body), (quart.status_code, await quart.get_data())


async def test_foreign_origin_is_refused_alike(twins: Twins) -> None:
    flask, quart = await refusal(twins, {"Origin": "https://evil.example"})
    assert flask == quart
    assert flask[0] == 403


async def test_socket_limit_refuses_with_503_alike(twins_factory: TwinsFactory) -> None:
    async with twins_factory(ws_max_sockets=0) as twins:
        flask, quart = await refusal(twins, {})
        assert flask == quart
        assert flask[0] == 503 and orjson.loads(flask[1])["status"] == 503


# ------------------------------------------------------------------ a client reading too slowly
class FakeSimpleWebsocket:
    """What sync_app.live.Inbox uses of simple-websocket's Server."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.input_buffer: list[str] = []
        self.connected = True


def test_a_lagging_socket_is_told_so_in_both_shells() -> None:
    from async_app.live import Inbox as AsyncInbox
    from sync_app.live import Inbox

    hub = SimpleNamespace(settings=Settings(ws_max_queued_events=2))
    events = [Event(i, "note.created", ("notes",), b"{}") for i in (1, 2, 3, 4)]
    inbox = Inbox(FakeSimpleWebsocket(), hub)  # type: ignore[arg-type]
    for event in events:
        inbox.deliver(event)
    assert isinstance(inbox.next_input(WAIT_S), Lagging)

    async def on_a_loop() -> Any:
        inbox = AsyncInbox(object(), hub)  # type: ignore[arg-type]
        inbox._reader = asyncio.create_task(asyncio.sleep(WAIT_S))  # no client messages
        for event in events:
            inbox.deliver(event)
        try:
            return await inbox.next_input(WAIT_S)
        finally:
            await inbox.stop()

    assert isinstance(asyncio.run(on_a_loop()), Lagging)

    conversation = live.conversation(cast(Any, SimpleNamespace(settings=Settings())))
    assert isinstance(next(conversation), NextInput)
    assert conversation.send(Lagging()) == CloseSocket(1013, live.LAGGING)


def test_a_replay_without_the_database_closes_with_1013() -> None:
    ctx = cast(Any, SimpleNamespace(settings=Settings(), sql=STATEMENTS["sqlite"]))
    conversation = live.conversation(ctx)
    next(conversation)
    subscribe = ClientMessage('{"op":"subscribe","topics":["notes"],"since":0}')
    assert isinstance(conversation.send(subscribe), Subscribe)
    assert isinstance(conversation.send(None), SendText)  # subscribed
    assert isinstance(conversation.send(None), FetchAll)  # the replay's first page
    closed = conversation.throw(DatabaseUnavailable("down"))
    assert closed == CloseSocket(1013, live.DATABASE_DOWN)


def test_origin_rules() -> None:
    allowed = ("https://app.example",)
    assert live.origin_allowed("http://localhost:8000", "localhost:8000", ())
    assert live.origin_allowed("https://app.example/", "api.example", allowed)
    assert not live.origin_allowed("https://evil.example", "localhost:8000", allowed)
    assert not live.origin_allowed("null", "localhost", ())


# ------------------------------------------------------------------ live servers
@pytest.mark.live
@pytest.mark.parametrize("talk", TALKS, ids=lambda t: t.id)
async def test_conversation_live(live: LivePair, talk: Talk) -> None:
    """The same frames, close code and reason from Gunicorn (flask-sock) and Hypercorn."""
    before = {name: p.log_tail(1 << 20).count("Traceback") for name, p in live.processes.items()}
    got = {
        client.label: await asyncio.to_thread(talk_live, client.base_url, talk)
        for client in (live.gunicorn, live.hypercorn)
    }
    assert got["gunicorn"] == got["hypercorn"]
    assert got["gunicorn"] == (list(talk.expects), talk.close)
    after = {name: p.log_tail(1 << 20).count("Traceback") for name, p in live.processes.items()}
    assert after == before, {name: p.log_tail() for name, p in live.processes.items()}


def _reconnect_with_since(base: str) -> None:
    tag = f"tag:x{secrets.token_hex(4)}"  # its own topic, as in _across

    def create(title: str) -> int:
        reply = httpx.post(base + "/api/notes", json={"title": title, "tags": [tag[4:]]},
                           timeout=WAIT_S)
        assert reply.status_code == 201, reply.text
        return int(reply.json()["id"])

    def next_event(ws: ClientConnection) -> dict[str, Any]:
        frame = recv_json(ws)
        assert frame["type"] == "event", frame
        return frame

    with open_socket(base) as ws:
        ws.send(json.dumps({"op": "subscribe", "topics": [tag]}))
        assert recv_json(ws)["type"] == "subscribed"
        first = create("first")
        seen = next_event(ws)
        assert seen["data"]["id"] == first
    missed = [create("missed-1"), create("missed-2")]
    with open_socket(base) as ws:
        ws.send(json.dumps({"op": "subscribe", "topics": [tag], "since": seen["id"]}))
        assert recv_json(ws) == {"type": "subscribed", "topics": [tag]}
        replayed = [next_event(ws), next_event(ws)]
        assert [e["data"]["id"] for e in replayed] == missed
        assert replayed[0]["id"] < replayed[1]["id"]
        later = create("later")
        frame = next_event(ws)
        assert frame["data"]["id"] == later, "an event came twice, or out of order"
        ws.send('{"op":"ping"}')  # and nothing else was queued in between
        assert recv_json(ws) == {"type": "pong"}


@pytest.mark.live
async def test_reconnect_with_since_gets_what_was_missed(live: LivePair) -> None:
    for client in (live.gunicorn, live.hypercorn):
        await asyncio.to_thread(_reconnect_with_since, client.base_url)


# ------------------------------------------------------------------ across processes
@pytest.fixture(scope="module")
def shared_servers(
    backend: Backend, databases: Databases, upstream_url: str, request: pytest.FixtureRequest
) -> Iterator[dict[str, ServerProcess]]:
    """`gunicorn -w 4 --threads 2 sync_app:app` and `hypercorn -w 2 async_app:app`, both
    on one database: six processes, each with its own hub."""
    if request.config.getoption("--no-live"):
        pytest.skip("--no-live")
    url = databases.new("shared-live")
    servers: dict[str, ServerProcess] = {}
    try:
        start_servers(
            servers,
            {"gunicorn": GUNICORN,
             "hypercorn": [str(SCRIPTS / "hypercorn"), "-w", "2", "async_app:app"]},
            lambda name: server_env(url, TMP_ROOT / f"shared-{backend}-{name}", upstream_url),
            f"-shared-{backend}",
        )
        yield servers
    finally:
        for server in servers.values():
            server.stop()
        databases.drop(url)


def _across(servers: dict[str, ServerProcess], writer: str) -> dict[str, float]:
    """Subscribe on both servers, create a note through `writer`; each subscriber's delay
    from the creating request's reply to the event's arrival.

    A tag of its own: a hub that last polled just before the subscription may still hand
    it an event published a moment earlier (at-least-once), e.g. the previous test's.
    """
    tag = f"x{secrets.token_hex(4)}"
    with contextlib.ExitStack() as stack:
        sockets = {name: stack.enter_context(open_socket(s.url)) for name, s in servers.items()}
        for ws in sockets.values():
            ws.send(json.dumps({"op": "subscribe", "topics": [f"tag:{tag}"]}))
            assert recv_json(ws)["type"] == "subscribed"
        reply = httpx.post(servers[writer].url + "/api/notes",
                           json={"title": writer, "tags": [tag]}, timeout=WAIT_S)
        created = time.monotonic()
        assert reply.status_code == 201, reply.text
        delays = {}
        for name, ws in sockets.items():
            frame = recv_json(ws)
            delays[name] = time.monotonic() - created
            assert frame["event"] == "note.created", frame
            assert frame["data"] == reply.json(), frame
        return delays


@pytest.mark.live
@pytest.mark.parametrize("writer", ["gunicorn", "hypercorn"])
async def test_note_created_reaches_subscribers_in_every_process(
    shared_servers: dict[str, ServerProcess], writer: str
) -> None:
    delays = await asyncio.to_thread(_across, shared_servers, writer)
    assert all(delay < 1.0 for delay in delays.values()), delays
