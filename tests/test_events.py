"""The event log (transactional outbox): what each change records, the same from both apps
on each backend, and nothing for a change that did not commit."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from shared_logic.effects import Event
from shared_logic.events import TopicIndex, events_after, frame
from shared_logic.sql import STATEMENTS
from tests.support.twins import Twins

JSON = {"Content-Type": "application/json"}


async def logged(twins: Twins) -> tuple[list[Event], list[Event]]:
    flask = twins.flask_app.extensions["twinport"]
    quart = twins.quart_app.extensions["twinport"]
    sql = STATEMENTS[twins.backend].events
    a = await asyncio.to_thread(flask.driver.run, events_after(sql, 0))
    b = await quart.driver.run(events_after(sql, 0))
    return a, b


def summary(events: list[Event]) -> list[tuple[str, tuple[str, ...], Any]]:
    def stable(payload: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in payload.items() if not k.endswith("_at")}

    return [(e.type, e.topics, stable(orjson.loads(e.payload))) for e in events]


async def test_note_changes_are_logged_alike_and_only_when_committed(twins: Twins) -> None:
    body = orjson.dumps({"title": "t", "tags": ["b", "a"]})
    created = await twins.same("POST", "/api/notes", status=201, headers=JSON, body=body,
                               compare="shape")
    note_id = orjson.loads(created.body)["id"]
    url = f"/api/notes/{note_id}"
    await twins.same("POST", url + "/likes", status=200)
    stale = {"If-Match": '"1.999"', **JSON}
    await twins.same("PATCH", url, status=412, headers=stale, body=b'{"title": "x"}')
    patch = {"If-Match": f'"{note_id}.2"', **JSON}
    await twins.same("PATCH", url, status=200, headers=patch, body=b'{"tags": ["c"]}',
                     compare="shape")
    await twins.same("DELETE", url, status=204, headers={"If-Match": f'"{note_id}.3"'})
    a, b = await logged(twins)
    assert summary(a) == summary(b)
    assert [e.type for e in a] == ["note.created", "note.liked", "note.updated", "note.deleted"]
    assert a[0].topics == ("notes", f"note:{note_id}", "tag:a", "tag:b")
    assert a[2].topics == ("notes", f"note:{note_id}", "tag:a", "tag:b", "tag:c")  # old + new
    assert orjson.loads(a[1].payload)["likes"] == 1
    assert [e.id for e in a] == sorted(e.id for e in a)


async def test_techempower_routes_log_nothing(twins: Twins) -> None:
    await twins.same("GET", "/updates?queries=3", status=200, compare="shape")
    assert await logged(twins) == ([], [])


def test_frame_embeds_the_stored_payload() -> None:
    event = Event(7, "note.liked", ("notes", "note:1"), b'{"id":1}')
    assert orjson.loads(frame(event)) == {
        "type": "event", "id": 7, "event": "note.liked", "topics": ["notes", "note:1"],
        "data": {"id": 1},
    }


def test_topic_index_fans_out_once_and_forgets_closed_subscribers() -> None:
    index: TopicIndex[str] = TopicIndex()
    index.add("a", ["notes", "tag:x"])
    index.add("b", ["tag:x"])
    assert index.recipients(["notes", "tag:x"]) == {"a", "b"}
    index.remove("b", ["tag:x"])
    assert index.recipients(["tag:x"]) == {"a"}
    index.remove("a")
    assert index.recipients(["notes", "tag:x"]) == set()
    assert len(index) == 0 and index.by_topic == {}
