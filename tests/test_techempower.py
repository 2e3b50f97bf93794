"""TechEmpower Framework Benchmarks rules, checked on both apps (in-process and live).

https://github.com/TechEmpower/FrameworkBenchmarks/wiki/Project-Information-Framework-Tests-Overview
"""

from __future__ import annotations

import asyncio
import html
import re
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from shared_logic.effects import FetchOne
from shared_logic.sql import FORTUNES, STATEMENTS
from tests.clients import Client
from tests.parity import Reply
from tests.support.live import LivePair
from tests.support.twins import Twins

TE_ROUTES = ["/json", "/plaintext", "/db", "/queries?queries=2", "/fortunes", "/updates?queries=2"]
CONTENT_TYPES = {
    "/json": "application/json",
    "/plaintext": "text/plain; charset=utf-8",
    "/db": "application/json",
    "/queries?queries=2": "application/json",
    "/fortunes": "text/html; charset=utf-8",
    "/updates?queries=2": "application/json",
}


def clients(pair: Any) -> list[Client]:
    return [pair.flask, pair.quart] if isinstance(pair, Twins) else [pair.gunicorn, pair.hypercorn]


async def test_content_types_and_lengths(twins: Twins) -> None:
    for client in clients(twins):
        for target in TE_ROUTES:
            reply = await client.request("GET", target)
            assert reply.status == 200, reply
            assert reply.content_type == CONTENT_TYPES[target], reply
            assert reply.header("content-length") == str(len(reply.body)), reply


@pytest.mark.live
async def test_server_and_date_headers_over_live_servers(live: LivePair) -> None:
    for client in clients(live):
        for target in [*TE_ROUTES, "/nope"]:
            reply = await client.request("GET", target)
            assert reply.header("server"), f"{client.label} sends no Server header: {reply}"
            date = reply.header("date")
            assert date and parsedate_to_datetime(date).tzname() == "UTC", reply
            assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", date), date
            if target in CONTENT_TYPES:
                assert reply.content_type == CONTENT_TYPES[target], reply


async def test_json_is_serialised_per_request(twins: Twins) -> None:
    for client in clients(twins):
        reply = await client.request("GET", "/json")
        assert reply.body == b'{"message":"Hello, World!"}'


def assert_worlds(reply: Reply, count: int) -> list[dict[str, int]]:
    rows = reply.json()
    assert isinstance(rows, list) and len(rows) == count, reply
    for row in rows:
        assert list(row) == ["id", "randomNumber"]
        assert all(isinstance(v, int) and 1 <= v <= 10_000 for v in row.values())
    return rows


@pytest.mark.parametrize(
    ("query", "count"),
    [("", 1), ("?queries=0", 1), ("?queries=1", 1), ("?queries=20", 20),
     ("?queries=500", 500), ("?queries=501", 500), ("?queries=foo", 1), ("?queries=", 1),
     ("?queries=-1", 1)],
)
async def test_queries_and_updates_clamping(twins: Twins, query: str, count: int) -> None:
    for route in ("/queries", "/updates"):
        reply = await twins.same("GET", route + query, status=200)
        assert_worlds(reply, count)


async def test_db_is_one_object(twins: Twins) -> None:
    reply = await twins.same("GET", "/db", status=200)
    row = reply.json()
    assert list(row) == ["id", "randomNumber"]


async def test_fortunes_sorted_escaped_with_additional_fortune(twins: Twins) -> None:
    page = (await twins.same("GET", "/fortunes", status=200)).text()
    assert page.startswith("<!DOCTYPE html>")
    cells = re.findall(r"<tr><td>(\d+)</td><td>(.*?)</td></tr>", page)
    messages = [html.unescape(message) for _, message in cells]
    expected = sorted([m for _, m in FORTUNES] + ["Additional fortune added at request time."])
    assert messages == expected  # all 13, sorted by message
    assert ("0", "Additional fortune added at request time.") in cells
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#34;This should not be displayed" in page
    assert "フレームワークのベンチマーク" in page  # UTF-8, not escaped


async def read_world(twins: Twins, app: str, world_id: int) -> int:
    sql = STATEMENTS["postgresql" if twins.backend == "postgresql" else "sqlite"]

    def workflow() -> Any:
        row = yield FetchOne(sql.select_world, (world_id,))
        return row[1]

    if app == "flask":
        driver = twins.flask_app.extensions["twinport"].driver
        return int(await asyncio.to_thread(driver.run, workflow()))
    return int(await twins.quart_app.extensions["twinport"].driver.run(workflow()))


async def test_updates_are_persisted(twins: Twins) -> None:
    reply = await twins.same("GET", "/updates?queries=20", status=200)
    rows = assert_worlds(reply, 20)
    latest = {row["id"]: row["randomNumber"] for row in rows}  # a repeated id: last wins
    for app in ("flask", "quart"):
        for world_id, number in latest.items():
            assert await read_world(twins, app, world_id) == number


async def test_each_query_is_its_own_statement(twins: Twins) -> None:
    """Same seed: /queries?queries=3 returns the rows /db would return three times."""
    many = (await twins.same("GET", "/queries?queries=3", status=200)).json()
    assert len({row["id"] for row in many}) >= 1
    for row in many:
        assert await read_world(twins, "flask", row["id"]) == row["randomNumber"]
