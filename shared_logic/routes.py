"""The route table: the single list both shells register their URL rules from.

A route exists in both apps or in neither, because neither app has a route of its own.
Paths use werkzeug's rule syntax, which Flask and Quart share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared_logic import operations, probes, standard, streams
from shared_logic.context import Context
from shared_logic.effects import DatabaseUnavailable, Workflow
from shared_logic.http import (
    HTML,
    JSON,
    PROBLEM_JSON,
    TEXT,
    ProblemError,
    Request,
    Response,
    service_unavailable,
)
from shared_logic.params import Param, parse_query

Handler = Callable[[Context, Request, Mapping[str, Any]], Workflow[Response]]


@dataclass(frozen=True, slots=True)
class Reply:
    """Documentation of one response a route can give (for /openapi.json)."""

    description: str
    content_type: str = JSON
    schema: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    handler: Handler
    summary: str
    tag: str
    params: tuple[Param, ...] = ()
    replies: Mapping[int, Reply] = field(default_factory=dict)
    # What the shell must read before calling the core; GET routes read nothing.
    body: Literal[None, "raw"] = None


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


INTEGER = {"type": "integer"}
STRING = {"type": "string"}
WORLD = _object(id=INTEGER, randomNumber=INTEGER)
WORLDS = {"type": "array", "items": WORLD}
FIB = _object(n=INTEGER, rounds=INTEGER, last_digits=INTEGER, sha256=STRING)
BAD_PARAMS = {400: Reply("Invalid query parameters", PROBLEM_JSON)}
DB_DOWN = {503: Reply("Database unavailable", PROBLEM_JSON)}

ROUTES: tuple[Route, ...] = (
    Route(
        "json",
        "GET",
        "/json",
        standard.json_hello,
        "JSON serialisation (TechEmpower)",
        "standard",
        replies={200: Reply("Hello, World!", JSON, _object(message=STRING))},
    ),
    Route(
        "plaintext",
        "GET",
        "/plaintext",
        standard.plaintext,
        "Plain text (TechEmpower)",
        "standard",
        replies={200: Reply("Hello, World!", TEXT, STRING)},
    ),
    Route(
        "db",
        "GET",
        "/db",
        standard.single_query,
        "One random World row (TechEmpower)",
        "standard",
        replies={200: Reply("A World row", JSON, WORLD), **DB_DOWN},
    ),
    Route(
        "queries",
        "GET",
        "/queries",
        standard.multiple_queries,
        "N random World rows, one query each (TechEmpower)",
        "standard",
        params=(standard.QUERIES,),
        replies={200: Reply("World rows", JSON, WORLDS), **DB_DOWN},
    ),
    Route(
        "fortunes",
        "GET",
        "/fortunes",
        standard.fortunes,
        "Fortunes, sorted, rendered by template (TechEmpower)",
        "standard",
        replies={200: Reply("HTML table of fortunes", HTML, STRING), **DB_DOWN},
    ),
    Route(
        "updates",
        "GET",
        "/updates",
        standard.updates,
        "Read and update N random World rows (TechEmpower)",
        "standard",
        params=(standard.QUERIES,),
        replies={200: Reply("Updated rows", JSON, WORLDS), **DB_DOWN},
    ),
    Route(
        "cpu_fib",
        "GET",
        "/cpu/fib",
        probes.fib,
        "CPU-bound work, offloaded from the event loop in the async app",
        "probes",
        params=(probes.FIB_N, probes.FIB_ROUNDS),
        replies={200: Reply("Report of the work", JSON, FIB), **BAD_PARAMS},
    ),
    Route(
        "cpu_fib_blocking",
        "GET",
        "/cpu/fib-blocking",
        probes.fib_blocking,
        "The same work run on the event loop in the async app (the naive port)",
        "probes",
        params=(probes.FIB_N, probes.FIB_ROUNDS),
        replies={200: Reply("Report of the work", JSON, FIB), **BAD_PARAMS},
    ),
    Route(
        "io_sleep",
        "GET",
        "/io/sleep",
        probes.sleep,
        "A pure wait: time.sleep in the sync app, asyncio.sleep in the async app",
        "probes",
        params=(probes.SLEEP_MS,),
        replies={200: Reply("Done waiting", JSON, _object(slept_ms=INTEGER)), **BAD_PARAMS},
    ),
    Route(
        "io_db_sleep",
        "GET",
        "/io/db-sleep",
        probes.db_sleep,
        "A wait inside the database, holding one pooled connection",
        "probes",
        params=(probes.SLEEP_MS,),
        replies={
            200: Reply("Done waiting", JSON, _object(slept_ms=INTEGER, database=STRING)),
            **BAD_PARAMS,
            **DB_DOWN,
        },
    ),
    Route(
        "io_upstream",
        "GET",
        "/io/upstream",
        probes.upstream,
        "Fan-out to the upstream HTTP service, sequential or parallel",
        "probes",
        params=(probes.UPSTREAM_CALLS, probes.UPSTREAM_MS, probes.UPSTREAM_MODE),
        replies={
            200: Reply("Upstream results", JSON),
            **BAD_PARAMS,
            502: Reply("Upstream failed", PROBLEM_JSON),
        },
    ),
    Route(
        "stream_ticks",
        "GET",
        "/stream/ticks",
        streams.ticks,
        "Server-sent events: `count` ticks `interval_ms` apart",
        "streams",
        params=(streams.TICK_COUNT, streams.TICK_INTERVAL_MS),
        replies={200: Reply("An event stream", streams.EVENT_STREAM, STRING), **BAD_PARAMS},
    ),
    Route(
        "healthz",
        "GET",
        "/healthz",
        operations.healthz,
        "Liveness: the process answers",
        "operations",
        replies={200: Reply("Alive", JSON, _object(status=STRING))},
    ),
    Route(
        "readyz",
        "GET",
        "/readyz",
        operations.readyz,
        "Readiness: the database answers",
        "operations",
        replies={200: Reply("Ready", JSON, _object(status=STRING, database=STRING)), **DB_DOWN},
    ),
    Route(
        "openapi",
        "GET",
        "/openapi.json",
        operations.openapi,
        "This document",
        "operations",
        replies={200: Reply("OpenAPI 3.1 document", JSON)},
    ),
)

ROUTES_BY_NAME: dict[str, Route] = {route.name: route for route in ROUTES}
NO_PARAMS: Mapping[str, Any] = {}


def dispatch(route: Route, ctx: Context, request: Request) -> Workflow[Response]:
    """The whole request path in the core: validate, run the handler, map failures."""
    try:
        params = parse_query(route.params, request.query) if route.params else NO_PARAMS
        return (yield from route.handler(ctx, request, params))
    except ProblemError as exc:
        return exc.problem.to_response()
    except DatabaseUnavailable:
        return service_unavailable(
            "The database is unavailable; try again shortly.", 1
        ).to_response()
