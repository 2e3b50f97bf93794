"""The route table: the single list both shells register their URL rules from.

A route exists in both apps or in neither, because neither app has a route of its own.
Paths use werkzeug's rule syntax, which Flask and Quart share.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson

from shared_logic.context import Context
from shared_logic.effects import Workflow
from shared_logic.features import (
    attachments,
    health,
    live,
    notes,
    pages,
    techempower,
    ticks,
    workloads,
)
from shared_logic.features.jobs import handlers as jobs
from shared_logic.features.jobs import kinds
from shared_logic.openapi import document
from shared_logic.protocol.http import HTML, JSON, PROBLEM_JSON, TEXT, Request, Response
from shared_logic.protocol.sse import EVENT_STREAM
from shared_logic.routing import Header, Reply, Route


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


INTEGER = {"type": "integer"}
STRING = {"type": "string"}
WORLD = _object(id=INTEGER, randomNumber=INTEGER)
WORLDS = {"type": "array", "items": WORLD}
FIB = _object(n=INTEGER, rounds=INTEGER, last_digits=INTEGER, sha256=STRING)
BAD_PARAMS = {400: Reply("Invalid query parameters", PROBLEM_JSON)}
DB_DOWN = {503: Reply("Database unavailable", PROBLEM_JSON)}
NOTE_NOT_FOUND = {404: Reply("No such note", PROBLEM_JSON)}
# What a bad JSON body gets (shared_logic/bodies.py), besides 422 for invalid fields.
BAD_JSON_BODY = {
    400: Reply("Empty body, invalid UTF-8 or malformed JSON", PROBLEM_JSON),
    413: Reply("Body larger than the configured limit", PROBLEM_JSON),
    415: Reply("Not a JSON body (Content-Type)", PROBLEM_JSON),
    422: Reply("Invalid fields, each listed in `errors`", PROBLEM_JSON),
}
IF_MATCH_REPLIES = {
    412: Reply("If-Match names a revision that is no longer current", PROBLEM_JSON),
    428: Reply("If-Match is missing", PROBLEM_JSON),
}
NOTE_REPLY = Reply("The note; ETag names its revision", JSON, notes.NOTE_SCHEMA)
IF_NONE_MATCH = Header("If-None-Match", "ETags the client holds: a match answers 304")
IF_MATCH = Header(
    "If-Match", "The ETag of the revision being changed (or *); stale: 412, absent: 428", True
)
NOT_MODIFIED = Reply("Not modified (If-None-Match matched)", None)
BINARY = "application/octet-stream"
FILE = {"type": "string", "format": "binary"}

@cache
def _openapi_bytes() -> bytes:
    return orjson.dumps(document(ROUTES))


def serve_openapi(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    """GET /openapi.json: generated from the table above, once per process."""
    return Response(200, _openapi_bytes(), JSON)
    yield


ROUTES: tuple[Route, ...] = (
    Route(
        "json",
        "GET",
        "/json",
        techempower.json_hello,
        "JSON serialisation (TechEmpower)",
        "standard",
        replies={200: Reply("Hello, World!", JSON, _object(message=STRING))},
    ),
    Route(
        "plaintext",
        "GET",
        "/plaintext",
        techempower.plaintext,
        "Plain text (TechEmpower)",
        "standard",
        replies={200: Reply("Hello, World!", TEXT, STRING)},
    ),
    Route(
        "db",
        "GET",
        "/db",
        techempower.single_query,
        "One random World row (TechEmpower)",
        "standard",
        replies={200: Reply("A World row", JSON, WORLD), **DB_DOWN},
    ),
    Route(
        "queries",
        "GET",
        "/queries",
        techempower.multiple_queries,
        "N random World rows, one query each (TechEmpower)",
        "standard",
        params=(techempower.QUERIES,),
        replies={200: Reply("World rows", JSON, WORLDS), **DB_DOWN},
    ),
    Route(
        "fortunes",
        "GET",
        "/fortunes",
        techempower.fortunes,
        "Fortunes, sorted, rendered by template (TechEmpower)",
        "standard",
        replies={200: Reply("HTML table of fortunes", HTML, STRING), **DB_DOWN},
    ),
    Route(
        "updates",
        "GET",
        "/updates",
        techempower.updates,
        "Read and update N random World rows (TechEmpower)",
        "standard",
        params=(techempower.QUERIES,),
        replies={200: Reply("Updated rows", JSON, WORLDS), **DB_DOWN},
    ),
    Route(
        "cpu_fib",
        "GET",
        "/cpu/fib",
        workloads.fib,
        "CPU-bound work, offloaded from the event loop in the async app",
        "probes",
        params=(workloads.FIB_N, workloads.FIB_ROUNDS),
        replies={
            200: Reply("Report of the work", JSON, FIB),
            **BAD_PARAMS,
            503: Reply("The process computing it stopped (async app)", PROBLEM_JSON),
        },
    ),
    Route(
        "cpu_fib_blocking",
        "GET",
        "/cpu/fib-blocking",
        workloads.fib_blocking,
        "The same work run on the event loop in the async app (the naive port)",
        "probes",
        params=(workloads.FIB_N, workloads.FIB_ROUNDS),
        replies={200: Reply("Report of the work", JSON, FIB), **BAD_PARAMS},
    ),
    Route(
        "io_sleep",
        "GET",
        "/io/sleep",
        workloads.sleep,
        "A pure wait: time.sleep in the sync app, asyncio.sleep in the async app",
        "probes",
        params=(workloads.SLEEP_MS,),
        replies={200: Reply("Done waiting", JSON, _object(slept_ms=INTEGER)), **BAD_PARAMS},
    ),
    Route(
        "io_db_sleep",
        "GET",
        "/io/db-sleep",
        workloads.db_sleep,
        "A wait inside the database, holding one pooled connection",
        "probes",
        params=(workloads.SLEEP_MS,),
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
        workloads.upstream,
        "Fan-out to the upstream HTTP service, sequential or parallel",
        "probes",
        params=(workloads.UPSTREAM_CALLS, workloads.UPSTREAM_MS, workloads.UPSTREAM_MODE),
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
        ticks.ticks,
        "Server-sent events: `count` ticks `interval_ms` apart",
        "streams",
        params=(ticks.TICK_COUNT, ticks.TICK_INTERVAL_MS),
        replies={200: Reply("An event stream", EVENT_STREAM, STRING), **BAD_PARAMS},
    ),
    Route(
        "notes_create",
        "POST",
        "/api/notes",
        notes.create_note,
        "Create a note",
        "notes",
        replies={201: NOTE_REPLY, **BAD_JSON_BODY, **DB_DOWN},
        body="raw",
        accepts={"application/json": notes.NEW_NOTE_SCHEMA},
    ),
    Route(
        "notes_list",
        "GET",
        "/api/notes",
        notes.list_notes,
        "Notes, newest first, a page at a time (follow `next` / the Link header)",
        "notes",
        params=(notes.LIMIT, notes.CURSOR, notes.TAG),
        replies={
            200: Reply("A page of notes", JSON, notes.NOTE_PAGE_SCHEMA),
            **BAD_PARAMS,
            **DB_DOWN,
        },
    ),
    Route(
        "notes_get",
        "GET",
        "/api/notes/<int:note_id>",
        notes.get_note,
        "One note; If-None-Match with its ETag gives 304",
        "notes",
        headers=(IF_NONE_MATCH,),
        replies={
            200: NOTE_REPLY,
            304: NOT_MODIFIED,
            **NOTE_NOT_FOUND,
            **DB_DOWN,
        },
    ),
    Route(
        "notes_update",
        "PATCH",
        "/api/notes/<int:note_id>",
        notes.update_note,
        "Change some fields of a note (merge patch); requires If-Match",
        "notes",
        headers=(IF_MATCH,),
        replies={
            200: NOTE_REPLY,
            **BAD_JSON_BODY,
            **NOTE_NOT_FOUND,
            **IF_MATCH_REPLIES,
            **DB_DOWN,
        },
        body="raw",
        accepts={media: notes.NOTE_PATCH_SCHEMA for media in notes.JSON_BODIES},
    ),
    Route(
        "notes_delete",
        "DELETE",
        "/api/notes/<int:note_id>",
        notes.delete_note,
        "Delete a note and its attachments; requires If-Match",
        "notes",
        headers=(IF_MATCH,),
        replies={
            204: Reply("Deleted", None),
            **NOTE_NOT_FOUND,
            **IF_MATCH_REPLIES,
            **DB_DOWN,
        },
    ),
    Route(
        "notes_like",
        "POST",
        "/api/notes/<int:note_id>/likes",
        notes.like_note,
        "Add one like, atomically",
        "notes",
        replies={
            200: Reply("The new count", JSON, notes.LIKES_SCHEMA),
            **NOTE_NOT_FOUND,
            **DB_DOWN,
        },
    ),
    Route(
        "attachments_upload",
        "POST",
        "/api/notes/<int:note_id>/attachments",
        attachments.upload,
        "Attach a file (multipart/form-data, one part named `file`)",
        "notes",
        replies={
            201: Reply("Stored; ETag is its SHA-256", JSON, attachments.ATTACHMENT_SCHEMA),
            400: Reply("Malformed multipart body", PROBLEM_JSON),
            **NOTE_NOT_FOUND,
            413: Reply("Body or file larger than the configured limits", PROBLEM_JSON),
            415: Reply("Not multipart/form-data, or a file type not accepted", PROBLEM_JSON),
            422: Reply("No single `file` part, empty, or type contradicts content", PROBLEM_JSON),
            503: Reply("Database or file storage unavailable", PROBLEM_JSON),
        },
        body="raw",
        accepts={"multipart/form-data": attachments.UPLOAD_SCHEMA},
    ),
    Route(
        "attachments_download",
        "GET",
        "/api/notes/<int:note_id>/attachments/<int:attachment_id>",
        attachments.download,
        "The file; supports If-None-Match, Range and If-Range",
        "notes",
        headers=(
            IF_NONE_MATCH,
            Header("Range", "One range, `bytes=first-last`, `bytes=first-` or `bytes=-n`: 206"),
            Header("If-Range", "The file's ETag: honour Range only if it is still current"),
        ),
        replies={
            200: Reply("The whole file (Content-Type as stored)", BINARY, FILE),
            206: Reply("The requested byte range (Content-Range)", BINARY, FILE),
            304: NOT_MODIFIED,
            404: Reply("No such note or attachment", PROBLEM_JSON),
            416: Reply("Range not satisfiable (Content-Range: bytes */size)", PROBLEM_JSON),
            503: Reply("Database or file storage unavailable", PROBLEM_JSON),
        },
    ),
    Route(
        "notes_page",
        "GET",
        "/notes",
        pages.notes_page,
        "HTML: the newest notes and a form to add one (sets the session cookie)",
        "pages",
        params=(pages.PAGE_CURSOR,),
        replies={
            200: Reply("The page", HTML, STRING),
            400: Reply("Invalid cursor (HTML page)", HTML, STRING),
            503: Reply("Database unavailable (HTML page)", HTML, STRING),
        },
    ),
    Route(
        "notes_page_create",
        "POST",
        "/notes",
        pages.create_note_page,
        "HTML form post (application/x-www-form-urlencoded, CSRF token required)",
        "pages",
        replies={
            303: Reply("Created: Location is the note's page; a flash message is set", HTML),
            400: Reply("Invalid UTF-8 or too many fields (HTML page)", HTML, STRING),
            403: Reply("CSRF token missing or wrong (HTML page)", HTML, STRING),
            413: Reply("Body larger than the configured limit", PROBLEM_JSON),
            415: Reply("Not form-urlencoded (HTML page)", HTML, STRING),
            422: Reply("Invalid fields: the form again, with its errors", HTML, STRING),
            503: Reply("Database unavailable (HTML page)", HTML, STRING),
        },
        body="raw",
        accepts={pages.FORM: pages.FORM_SCHEMA},
    ),
    Route(
        "note_page",
        "GET",
        "/notes/<int:note_id>",
        pages.note_page,
        "HTML: one note (shows and clears the flash message)",
        "pages",
        replies={
            200: Reply("The page", HTML, STRING),
            404: Reply("No such note (HTML page)", HTML, STRING),
            503: Reply("Database unavailable (HTML page)", HTML, STRING),
        },
    ),
    Route(
        "jobs_create",
        "POST",
        "/jobs",
        jobs.create_job,
        "Start a background job: `{\"kind\": ..., \"params\": {...}}`",
        "jobs",
        replies={
            202: Reply("Accepted; Location names the job", JSON, jobs.JOB_SCHEMA),
            400: Reply("Empty body, invalid UTF-8 or malformed JSON", PROBLEM_JSON),
            413: Reply("Body larger than the configured limit", PROBLEM_JSON),
            415: Reply("Not a JSON body (Content-Type)", PROBLEM_JSON),
            422: Reply("Unknown kind or invalid params, each listed in `errors`", PROBLEM_JSON),
            503: Reply("Job queue full (see Retry-After) or database unavailable", PROBLEM_JSON),
        },
        body="raw",
        accepts={"application/json": kinds.JOB_REQUEST_SCHEMA},
    ),
    Route(
        "jobs_get",
        "GET",
        "/jobs/<int:job_id>",
        jobs.get_job,
        "A job's state, progress and result (optionally long-polled until it ends)",
        "jobs",
        params=(jobs.WAIT_MS,),
        replies={
            200: Reply("The job", JSON, jobs.JOB_SCHEMA),
            **BAD_PARAMS,
            404: Reply("No such job", PROBLEM_JSON),
            **DB_DOWN,
        },
    ),
    Route(
        "jobs_events",
        "GET",
        "/jobs/<int:job_id>/events",
        jobs.job_events,
        "Server-sent events: `progress` on each change, then `done` (or `timeout`)",
        "jobs",
        replies={
            200: Reply("An event stream of job views", EVENT_STREAM, STRING),
            404: Reply("No such job", PROBLEM_JSON),
            **DB_DOWN,
        },
    ),
    Route(
        "live",
        "GET",
        "/ws/live",
        live.handshake,
        "Live feed (WebSocket): note and job events by topic, as JSON text frames"
        " (README, docs/porting.md)",
        "live",
        replies={
            101: Reply("Switching Protocols: the conversation runs on the socket", None),
            400: Reply("Not a WebSocket handshake (a plain GET)", PROBLEM_JSON),
            403: Reply("The Origin is neither this host nor allowed", PROBLEM_JSON),
            503: Reply("This process holds its limit of open sockets", PROBLEM_JSON),
        },
        conversation=live.conversation,
    ),
    Route(
        "healthz",
        "GET",
        "/healthz",
        health.healthz,
        "Liveness: the process answers",
        "operations",
        replies={200: Reply("Alive", JSON, _object(status=STRING))},
    ),
    Route(
        "readyz",
        "GET",
        "/readyz",
        health.readyz,
        "Readiness: the database answers",
        "operations",
        replies={200: Reply("Ready", JSON, _object(status=STRING, database=STRING)), **DB_DOWN},
    ),
    Route(
        "openapi",
        "GET",
        "/openapi.json",
        serve_openapi,
        "This document",
        "operations",
        replies={200: Reply("OpenAPI 3.1 document", JSON)},
    ),
)

ROUTES_BY_NAME: dict[str, Route] = {route.name: route for route in ROUTES}

