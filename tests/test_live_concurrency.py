"""Concurrency parity over the live servers: many writers at once, same final state on
both, no lost update, no 5xx; many SSE subscribers get the same events.

`gunicorn -w 4 --threads 2` means four processes writing one SQLite file: the
"database is locked" failure mode of a naive port. Hypercorn serves the same load from one
event loop. Both must come out clean.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson
import pytest

from tests.clients import Client, LiveClient, Step
from tests.parity import Reply
from tests.support.live import LivePair

pytestmark = pytest.mark.live
JSON = {"Content-Type": "application/json"}


async def hammer(client: Client, requests: list[Step], width: int) -> list[Reply]:
    gate = asyncio.Semaphore(width)

    async def one(step: Step) -> Reply:
        async with gate:
            return await client.request(
                step.method, step.target, headers=step.headers, body=step.body
            )

    return list(await asyncio.gather(*(one(step) for step in requests)))


def servers(live: LivePair) -> list[LiveClient]:
    return [live.gunicorn, live.hypercorn]


async def test_concurrent_updates_never_lock_or_fail(live: LivePair) -> None:
    requests = [Step("GET", "/updates?queries=20")] * 120
    for client in servers(live):
        replies = await hammer(client, requests, width=32)
        statuses = Counter(reply.status for reply in replies)
        assert statuses == {200: len(requests)}, (client.label, statuses, replies[:3])
        process = live.processes[client.label]
        log = process.log_tail(200_000).lower()
        assert "database is locked" not in log, process.log_tail()
        assert "traceback" not in log, process.log_tail()


async def create_note(client: Client, title: str) -> dict[str, Any]:
    body = orjson.dumps({"title": title, "tags": ["concurrency"]})
    reply = await client.request("POST", "/api/notes", headers=JSON, body=body)
    assert reply.status == 201, reply
    note: dict[str, Any] = reply.json()
    return note


async def test_concurrent_likes_are_not_lost(live: LivePair) -> None:
    likes = 150
    finals = []
    for client in servers(live):
        note = await create_note(client, "liked")
        replies = await hammer(
            client, [Step("POST", f"/api/notes/{note['id']}/likes")] * likes, width=32
        )
        assert Counter(r.status for r in replies) == {200: likes}, client.label
        counts = sorted(r.json()["likes"] for r in replies)
        assert counts == list(range(1, likes + 1)), f"{client.label}: duplicate like counts"
        final = (await client.request("GET", f"/api/notes/{note['id']}")).json()
        assert final["likes"] == likes and final["revision"] == 1 + likes
        finals.append({k: final[k] for k in ("likes", "revision", "title", "tags")})
    assert finals[0] == finals[1]


async def test_concurrent_if_match_edits_exactly_one_wins(live: LivePair) -> None:
    writers = 24
    outcomes = []
    for client in servers(live):
        note = await create_note(client, "contended")
        etag = f'"{note["id"]}.{note["revision"]}"'
        requests = [
            Step(
                "PATCH",
                f"/api/notes/{note['id']}",
                headers={**JSON, "If-Match": etag},
                body=orjson.dumps({"body": f"writer {i}"}),
            )
            for i in range(writers)
        ]
        replies = await hammer(client, requests, width=writers)
        statuses = Counter(r.status for r in replies)
        assert statuses == {200: 1, 412: writers - 1}, (client.label, statuses)
        winner = next(r for r in replies if r.status == 200).json()
        final = (await client.request("GET", f"/api/notes/{note['id']}")).json()
        assert final["body"] == winner["body"] and final["revision"] == 2
        outcomes.append(statuses)
    assert outcomes[0] == outcomes[1]


async def test_concurrent_job_submissions_all_finish(live: LivePair) -> None:
    jobs = 16
    body = orjson.dumps({"kind": "fibonacci", "params": {"n": 200, "rounds": 2}})
    results = []
    for client in servers(live):
        replies = await hammer(
            client, [Step("POST", "/jobs", headers=JSON, body=body)] * jobs, width=jobs
        )
        assert Counter(r.status for r in replies) == {202: jobs}, (client.label, replies[:2])
        ids = [r.json()["id"] for r in replies]
        assert len(set(ids)) == jobs
        done = await hammer(
            client, [Step("GET", f"/jobs/{i}?wait_ms=20000") for i in ids], width=jobs
        )
        states = Counter(r.json()["state"] for r in done)
        assert states == {"succeeded": jobs}, (client.label, states)
        results.append({orjson.dumps(r.json()["result"]) for r in done})
    assert results[0] == results[1] and len(results[0]) == 1


async def test_sse_subscribers_get_the_same_events(live: LivePair) -> None:
    subscribers = 24
    target = "/stream/ticks?count=4&interval_ms=50"
    bodies = []
    for client in servers(live):
        replies = await hammer(client, [Step("GET", target)] * subscribers, subscribers)
        assert {r.status for r in replies} == {200}
        assert len({r.body for r in replies}) == 1, client.label
        bodies.append(replies[0].body)
    assert bodies[0] == bodies[1]
    assert bodies[0].count(b"event: tick") == 4
