"""An OpenAPI 3.1 document generated from the route table, so it cannot drift from it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from shared_logic.protocol.http import PROBLEM_JSON
from shared_logic.routing import Reply, Route

_RULE_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
_CONVERTER_SCHEMA = {
    "int": {"type": "integer"},
    "string": {"type": "string"},
    None: {"type": "string"},
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
    "required": ["type", "title", "status"],
}

# Every route can answer these: the shells map framework errors to the same bodies.
COMMON_REPLIES = {
    405: Reply("Method not allowed (see the Allow header)", PROBLEM_JSON),
    500: Reply("Unexpected error (no details are disclosed)", PROBLEM_JSON),
}


def openapi_path(rule: str) -> str:
    return _RULE_PARAM.sub(lambda match: "{" + match["name"] + "}", rule)


def _response(reply: Reply) -> dict[str, Any]:
    if reply.content_type is None:
        return {"description": reply.description}
    return {"description": reply.description, "content": _content(reply.content_type, reply)}


def _content(content_type: str, reply: Reply) -> dict[str, Any]:
    if content_type == PROBLEM_JSON:
        schema: dict[str, Any] = {"$ref": "#/components/schemas/Problem"}
    else:
        schema = dict(reply.schema)
    media_type = content_type.split(";")[0]
    return {media_type: {"schema": schema}}


def _operation(route: Route) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": match["name"],
            "in": "path",
            "required": True,
            "schema": _CONVERTER_SCHEMA.get(match["converter"], {"type": "string"}),
        }
        for match in _RULE_PARAM.finditer(route.path)
    ]
    parameters += [
        {
            "name": p.name,
            "in": "query",
            "required": False,
            "description": p.description,
            "schema": p.schema(),
        }
        for p in route.params
    ]
    parameters += [
        {
            "name": h.name,
            "in": "header",
            "required": h.required,
            "description": h.description,
            "schema": {"type": "string"},
        }
        for h in route.headers
    ]
    replies = {**route.replies, **COMMON_REPLIES}
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": {str(status): _response(reply) for status, reply in sorted(replies.items())},
    }
    if parameters:
        operation["parameters"] = parameters
    if route.accepts:
        operation["requestBody"] = {
            "required": True,
            "content": {media: {"schema": dict(schema)} for media, schema in route.accepts.items()},
        }
    return operation


def document(routes: Iterable[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "twinport",
            "version": "0.1.0",
            "description": "One service, served by Flask/Gunicorn and Quart/Hypercorn alike.",
        },
        "paths": paths,
        "components": {"schemas": {"Problem": PROBLEM_SCHEMA}},
    }
