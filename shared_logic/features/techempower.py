"""The TechEmpower Framework Benchmarks workloads, to the letter of their rules.

Rules honoured here: JSON is serialised per request (no cached bytes); `/db` reads one
random row; `/queries` and `/updates` read each row with its own statement, clamp
`queries` to 1..500 (a non-integer or missing value counts as 1); `/updates` gives each
row a new random number and persists it (batched, in id order so concurrent
transactions cannot deadlock); `/fortunes` adds one fortune at request time, sorts by
message and renders through a template engine with HTML escaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared_logic.context import Context
from shared_logic.effects import ExecuteMany, FetchAll, FetchOne, Row, UseConnection, Workflow
from shared_logic.protocol.http import (
    Request,
    Response,
    html_response,
    json_response,
    text_response,
)
from shared_logic.sql import WORLD_ROWS, Statements
from shared_logic.templates import render
from shared_logic.validation import Integer

QUERIES = Integer(
    name="queries",
    default=1,
    minimum=1,
    maximum=500,
    description="Rows to read: a non-integer or missing value means 1; values are clamped "
    "into 1..500 (TechEmpower rule).",
    on_invalid="clamp",
)
ADDITIONAL_FORTUNE = "Additional fortune added at request time."


def json_hello(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    return json_response({"message": "Hello, World!"})
    yield  # a workflow with no effects: still a generator, so every handler is driven alike


def plaintext(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    return text_response("Hello, World!")
    yield


def _random_id(ctx: Context) -> int:
    return ctx.rng.randint(1, WORLD_ROWS)


def _world(row: Row | None) -> dict[str, int]:
    assert row is not None  # ids are drawn from 1..WORLD_ROWS, all seeded
    return {"id": row[0], "randomNumber": row[1]}


def single_query(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    row = yield from FetchOne(ctx.sql.select_world, (_random_id(ctx),))
    return json_response(_world(row))


def _read_worlds(sql: Statements, ids: list[int]) -> Workflow[list[dict[str, int]]]:
    worlds = []
    for world_id in ids:
        row = yield from FetchOne(sql.select_world, (world_id,))
        worlds.append(_world(row))
    return worlds


def multiple_queries(
    ctx: Context, request: Request, params: Mapping[str, Any]
) -> Workflow[Response]:
    ids = [_random_id(ctx) for _ in range(params["queries"])]
    worlds = yield from UseConnection(_read_worlds(ctx.sql, ids))
    return json_response(worlds)


def _read_and_update(
    sql: Statements, ids: list[int], new_numbers: list[int]
) -> Workflow[list[dict[str, int]]]:
    worlds = yield from _read_worlds(sql, ids)
    for world, number in zip(worlds, new_numbers, strict=True):
        world["randomNumber"] = number
    latest = {world["id"]: world["randomNumber"] for world in worlds}
    yield from ExecuteMany(sql.update_world, [(latest[i], i) for i in sorted(latest)])
    return worlds


def updates(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    count = params["queries"]
    ids = [_random_id(ctx) for _ in range(count)]
    new_numbers = [_random_id(ctx) for _ in range(count)]
    worlds = yield from UseConnection(
        _read_and_update(ctx.sql, ids, new_numbers), transaction=True, write=True
    )
    return json_response(worlds)


def fortunes(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    rows = yield from FetchAll(ctx.sql.select_fortunes)
    rows.append((0, ADDITIONAL_FORTUNE))
    rows.sort(key=lambda row: row[1])
    return html_response(render("fortunes.html", fortunes=rows))
