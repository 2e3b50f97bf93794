"""Routing types and the request path through the core: what a route is, and `dispatch`.

The table itself is `shared_logic.routes`; the OpenAPI generator reads these types
without importing the table, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared_logic.context import Context
from shared_logic.effects import DatabaseUnavailable, ExecutorLost, Workflow
from shared_logic.protocol.http import (
    JSON,
    ProblemError,
    Request,
    Response,
    service_unavailable,
)
from shared_logic.validation import QueryParam, parse_query

Handler = Callable[[Context, Request, Mapping[str, Any]], Workflow[Response]]
# A WebSocket conversation (features/live.py): driven on the accepted socket.
Conversation = Callable[[Context], Workflow[None]]
# What a WebSocket route's handler answers to accept the handshake; anything else refuses it.
SWITCHING_PROTOCOLS = 101


@dataclass(frozen=True, slots=True)
class Reply:
    """Documentation of one response a route can give (for /openapi.json)."""

    description: str
    content_type: str | None = JSON  # None: no body (204, 304)
    schema: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Header:
    """Documentation of a request header the handler reads (for /openapi.json)."""

    name: str
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    handler: Handler
    summary: str
    tag: str
    params: tuple[QueryParam, ...] = ()
    replies: Mapping[int, Reply] = field(default_factory=dict)
    # What the shell must read before calling the core; GET routes read nothing.
    body: Literal[None, "raw"] = None
    # Documentation of the request body (for /openapi.json): media type -> JSON Schema.
    accepts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    headers: tuple[Header, ...] = ()
    # Set for a WebSocket route: the shells register it as one (Flask through flask-sock,
    # Quart with add_websocket). `handler` then decides the handshake (101 accepts it, a
    # problem refuses it) and the shell drives `conversation` on the accepted socket.
    conversation: Conversation | None = None


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
    except ExecutorLost:
        return service_unavailable(
            "The process computing this request stopped; try again shortly.", 1
        ).to_response()
