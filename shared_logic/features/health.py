"""Liveness and readiness."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared_logic.context import Context
from shared_logic.effects import DatabaseUnavailable, FetchOne, Workflow
from shared_logic.protocol.http import Request, Response, json_response, service_unavailable


def healthz(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    return json_response({"status": "ok"})
    yield


def readyz(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    try:
        yield from FetchOne(ctx.sql.ping)
    except DatabaseUnavailable:
        return service_unavailable("The database does not answer.", 5).to_response()
    return json_response({"status": "ready", "database": ctx.sql.dialect})
