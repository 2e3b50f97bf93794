"""The notes resource API (`/api/notes`): validation, pagination, ETags, likes.

Concurrency rules, written once for both apps and both databases:
- Every change to a note (an edit or a like) bumps its `revision`; the ETag names it.
- PATCH and DELETE require `If-Match` (428 without it) and apply only when the revision
  is still the one the client saw (`... WHERE id = ? AND revision = ?`), else 412.
- A like is one `UPDATE ... SET likes = likes + 1` statement: the database serialises
  concurrent likes on the row, so none is lost, whatever the number of workers.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import orjson

from shared_logic.config import Settings
from shared_logic.context import Context
from shared_logic.effects import (
    DeleteFile,
    Execute,
    ExecuteMany,
    FetchAll,
    FetchOne,
    Row,
    StorageFailed,
    UseConnection,
    Workflow,
)
from shared_logic.events import note_topics, publish
from shared_logic.protocol import conditional
from shared_logic.protocol.bodies import read_json
from shared_logic.protocol.http import (
    ProblemError,
    Request,
    Response,
    json_response,
    status_problem,
)
from shared_logic.sql import EventStatements, NoteStatements
from shared_logic.validation import (
    MAX_ID,
    ArrayOf,
    Integer,
    Invalid,
    ObjectOf,
    Text,
    invalid_fields,
    invalid_parameters,
    iso_timestamp,
)

log = logging.getLogger("twinport.notes")

TITLE_MAX = 200
TAG_PATTERN = "[a-z0-9][a-z0-9_-]{0,31}"

LIMIT = Integer("limit", 20, 1, 100, "Notes per page.")
CURSOR = Text(
    "cursor", "Opaque: the `next` link of the previous page carries it.", 64, "[A-Za-z0-9_-]+"
)
TAG = Text("tag", "Only notes with this tag.", 32, TAG_PATTERN)

# The JSON fields of a note, for POST /api/notes, PATCH (partial), forms and imports.
TITLE = Text("title", max_length=TITLE_MAX, not_blank=True, required=True)
BODY = Text("body", max_length=20_000, default="")
TAGS = ArrayOf("tags", Text("tag", pattern=TAG_PATTERN), "strings", 10, unique=True, default=())
NOTE = ObjectOf((TITLE, BODY, TAGS), unknown="is not a field of a note")
NEW_NOTE_SCHEMA = NOTE.schema()
NOTE_PATCH_SCHEMA = NOTE.schema(partial=True)
NOTE_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "body": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "likes": {"type": "integer"},
        "revision": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
    "required": ["id", "title", "body", "tags", "likes", "revision", "created_at", "updated_at"],
}
NOTE_PAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": NOTE_SCHEMA},
        "next": {"type": ["string", "null"]},
    },
    "required": ["items", "next"],
}
LIKES_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "likes": {"type": "integer"},
        "revision": {"type": "integer"},
    },
    "required": ["id", "likes", "revision"],
}
JSON_BODIES = ("application/json", "application/merge-patch+json")


def note_url(note_id: int) -> str:
    return f"/api/notes/{note_id}"


def etag(note_id: int, revision: int) -> str:
    # The id is part of it so one note's ETag never validates against another note.
    return f'"{note_id}.{revision}"'


def note_from_row(row: Row) -> dict[str, Any]:
    note_id, title, body, tags, likes, revision, created_at, updated_at = row
    return {
        "id": note_id,
        "title": title,
        "body": body,
        "tags": orjson.loads(tags),
        "likes": likes,
        "revision": revision,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def _note_response(note: dict[str, Any], status: int = 200) -> Response:
    headers = [("ETag", etag(note["id"], note["revision"])), ("Cache-Control", "no-cache")]
    if status == 201:
        headers.insert(0, ("Location", note_url(note["id"])))
    return json_response(note, status, headers)


def note_not_found(note_id: int) -> ProblemError:
    return ProblemError(status_problem(404, f"There is no note {note_id}."))


def path_id(request: Request, name: str, not_found: ProblemError | None = None) -> int:
    """An `<int:…>` path parameter that can name a row; any larger one is a 404."""
    value: int = request.path_params[name]
    if value > MAX_ID:
        raise not_found or note_not_found(value)
    return value


# ------------------------------------------------------------------------ validation
def validate_note(document: Any, *, partial: bool) -> dict[str, Any]:
    """The fields of a new note (partial=False) or of a patch; every problem at once (422)."""
    if not isinstance(document, dict):
        raise invalid_fields([("", "the body must be a JSON object")])
    try:
        return NOTE.check(document, partial=partial)
    except Invalid as exc:
        raise invalid_fields(exc.errors) from None


# ------------------------------------------------------------------------ cursors
def encode_cursor(before_id: int) -> str:
    return base64.urlsafe_b64encode(f"n{before_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return MAX_ID
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        digits = text[1:]
        if text[:1] == "n" and digits.isascii() and digits.isdigit() and int(digits) <= MAX_ID:
            return int(digits)
    except ValueError:  # binascii.Error, UnicodeDecodeError, or a non-ASCII cursor
        pass
    raise invalid_parameters([("cursor", "is not a cursor this API issued")])


# ------------------------------------------------------------------------ attachment files
def attachment_path(settings: Settings, storage_key: str) -> str:
    """Where an attachment's bytes live: instance/attachments/ab/abcdef…, a random key.

    Keys are generated here, never taken from a client, so no path can escape the folder.
    """
    return str(settings.instance_path / "attachments" / storage_key[:2] / storage_key)


def discard_files(ctx: Context, storage_keys: Sequence[str]) -> Workflow[None]:
    """Remove files whose rows are gone; a failure only leaves an unreferenced file."""
    for key in storage_keys:
        try:
            yield from DeleteFile(attachment_path(ctx.settings, key))
        except StorageFailed:
            log.warning("could not remove attachment file %s", key)


# ------------------------------------------------------------------------ handlers
def returning(statement: str, params: Sequence[Any]) -> Workflow[Row | None]:
    """The row of an INSERT/UPDATE ... RETURNING, or None when it touched no row.

    FetchAll, not FetchOne: it steps the statement to its end, so sqlite3 has finished
    the write (and released the statement) before the transaction commits.
    """
    rows = yield from FetchAll(statement, params)
    return rows[0] if rows else None


def _publish_note(
    events: EventStatements, type_: str, note: dict[str, Any], *tags: str
) -> Workflow[None]:
    """The note's event, in the caller's transaction (shared_logic/events.py)."""
    yield from publish(events, type_, note_topics(note, *tags), note)


def insert_note(
    sql: NoteStatements, fields: Mapping[str, Any], events: EventStatements
) -> Workflow[Row]:
    """Inside a write transaction: the note, its tags and its `note.created` event."""
    stamp = iso_timestamp(time.time())
    tags = orjson.dumps(fields["tags"]).decode()
    row = yield from returning(sql.insert, (fields["title"], fields["body"], tags, stamp, stamp))
    assert row is not None
    if fields["tags"]:
        yield from ExecuteMany(sql.insert_tag, [(row[0], tag) for tag in fields["tags"]])
    yield from _publish_note(events, "note.created", note_from_row(row))
    return row


def create_note(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    fields = validate_note(read_json(request), partial=False)
    row = yield from UseConnection(
        insert_note(ctx.sql.notes, fields, ctx.sql.events), transaction=True, write=True
    )
    return _note_response(note_from_row(row), 201)


def list_notes(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    limit, tag = params["limit"], params["tag"]
    before = decode_cursor(params["cursor"])
    sql = ctx.sql.notes
    # One row more than asked tells whether a next page exists, without a count.
    if tag is None:
        rows = yield from FetchAll(sql.page, (before, limit + 1))
    else:
        rows = yield from FetchAll(sql.page_tagged, (tag, before, limit + 1))
    notes = [note_from_row(row) for row in rows[:limit]]
    headers = []
    next_url = None
    if len(rows) > limit:
        query = {"limit": limit, "tag": tag, "cursor": encode_cursor(notes[-1]["id"])}
        next_url = "/api/notes?" + urlencode({k: v for k, v in query.items() if v is not None})
        headers.append(("Link", f'<{next_url}>; rel="next"'))
    return json_response({"items": notes, "next": next_url}, headers=headers)


def get_note(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    note_id = path_id(request, "note_id")
    row = yield from FetchOne(ctx.sql.notes.select, (note_id,))
    if row is None:
        raise note_not_found(note_id)
    note = note_from_row(row)
    tag = etag(note_id, note["revision"])
    if conditional.none_match(request.headers.get("If-None-Match"), tag):
        return Response(304, b"", None, [("ETag", tag), ("Cache-Control", "no-cache")])
    return _note_response(note)


def _matched_note(
    sql: NoteStatements, note_id: int, if_match: str | None
) -> Workflow[dict[str, Any]]:
    """The note as it is now, once If-Match has been checked against it (404/412)."""
    row = yield from FetchOne(sql.select, (note_id,))
    if row is None:
        raise note_not_found(note_id)
    note = note_from_row(row)
    conditional.require_match(if_match, etag(note_id, note["revision"]), "note")
    return note


def _require_if_match(request: Request) -> str:
    """The If-Match header; checked before the body, so a client lacking it learns that first."""
    if_match = request.headers.get("If-Match")
    if if_match is None:
        raise conditional.precondition_required("note")
    return if_match


def _update(
    sql: NoteStatements,
    events: EventStatements,
    note_id: int,
    if_match: str,
    changes: Mapping[str, Any],
) -> Workflow[Row]:
    current = yield from _matched_note(sql, note_id, if_match)
    revision = current["revision"]
    merged = {**current, **changes}
    row = yield from returning(
        sql.update,
        (
            merged["title"],
            merged["body"],
            orjson.dumps(merged["tags"]).decode(),
            iso_timestamp(time.time()),
            note_id,
            revision,
        ),
    )
    if row is None:  # changed between our read and our write (PostgreSQL READ COMMITTED)
        raise conditional.stale("note")
    if "tags" in changes:
        yield from Execute(sql.delete_tags, (note_id,))
        if merged["tags"]:
            yield from ExecuteMany(sql.insert_tag, [(note_id, tag) for tag in merged["tags"]])
    # Old tags too: a `tag:` subscriber learns that the note left its tag.
    yield from _publish_note(events, "note.updated", note_from_row(row), *current["tags"])
    return row


def update_note(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    note_id = path_id(request, "note_id")
    if_match = _require_if_match(request)
    changes = validate_note(read_json(request, JSON_BODIES), partial=True)
    row = yield from UseConnection(
        _update(ctx.sql.notes, ctx.sql.events, note_id, if_match, changes),
        transaction=True,
        write=True,
    )
    return _note_response(note_from_row(row))


def _delete(
    sql: NoteStatements, events: EventStatements, note_id: int, if_match: str
) -> Workflow[list[str]]:
    note = yield from _matched_note(sql, note_id, if_match)
    keys = yield from FetchAll(sql.select_storage_keys, (note_id,))
    deleted = yield from Execute(sql.delete, (note_id, note["revision"]))
    if not deleted:  # changed between our read and our write
        raise conditional.stale("note")
    yield from _publish_note(events, "note.deleted", note)  # the note as it was
    return [key for (key,) in keys]


def delete_note(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    note_id = path_id(request, "note_id")
    if_match = _require_if_match(request)
    keys = yield from UseConnection(
        _delete(ctx.sql.notes, ctx.sql.events, note_id, if_match), transaction=True, write=True
    )
    # The rows (and their attachments' rows) are gone for good; now their files go too.
    yield from discard_files(ctx, keys)
    return Response(204, b"", None)


def like_note(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    note_id = path_id(request, "note_id")
    note = yield from UseConnection(_like(ctx, note_id), transaction=True, write=True)
    return json_response({"id": note_id, "likes": note["likes"], "revision": note["revision"]})


def _like(ctx: Context, note_id: int) -> Workflow[dict[str, Any]]:
    # One UPDATE, so concurrent likes serialise on the row; the transaction is for the event.
    row = yield from returning(ctx.sql.notes.like, (note_id,))
    if row is None:
        raise note_not_found(note_id)
    note = note_from_row(row)
    yield from _publish_note(ctx.sql.events, "note.liked", note)
    return note
