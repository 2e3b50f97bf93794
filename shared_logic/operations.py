"""Liveness, readiness and the API description."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson

from shared_logic.context import Context
from shared_logic.effects import DatabaseUnavailable, FetchOne, Workflow
from shared_logic.http import JSON, Request, Response, json_response, service_unavailable


def healthz(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    return json_response({"status": "ok"})
    yield


def readyz(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    try:
        yield FetchOne(ctx.sql.ping)
    except DatabaseUnavailable:
        return service_unavailable("The database does not answer.", 5).to_response()
    return json_response({"status": "ready", "database": ctx.sql.dialect})


@cache
def _openapi_bytes() -> bytes:
    from shared_logic.openapi import document
    from shared_logic.routes import ROUTES

    return orjson.dumps(document(ROUTES))


def openapi(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    return Response(200, _openapi_bytes(), JSON)
    yield
