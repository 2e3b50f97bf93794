"""Note attachments: multipart upload and ranged, conditional download.

Upload order, so that a failure never leaves half a file or a row without its file:
1. parse and check everything in memory (the body is bounded by `max_body_bytes`);
2. write the bytes under a fresh random key, atomically (temp file, fsync, rename);
3. insert the row; if that fails, remove the file again.
A crash between 2 and 3 can leave an unreferenced file, never a referenced partial one.

Download headers (Content-Type, Content-Length, Content-Disposition, ETag, Accept-Ranges,
Content-Range) are all built here, so both apps send the same ones; the body is read in
chunks by `ReadFile` effects and streamed with `Emit`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from shared_logic.context import Context
from shared_logic.effects import (
    Emit,
    FetchOne,
    IntegrityViolation,
    ReadFile,
    Row,
    StorageFailed,
    UseConnection,
    Workflow,
    WriteFile,
)
from shared_logic.features.notes import (
    attachment_path,
    discard_files,
    note_not_found,
    path_id,
    returning,
)
from shared_logic.protocol import conditional
from shared_logic.protocol.bodies import Part, read_multipart
from shared_logic.protocol.http import Problem, ProblemError, Request, Response, json_response
from shared_logic.validation import MAX_ID, iso_timestamp, listed_errors

ATTACHMENT_TOO_LARGE = "/problems/attachment-too-large"
UNSUPPORTED_ATTACHMENT = "/problems/unsupported-attachment"
INVALID_UPLOAD = "/problems/invalid-upload"
FILE_FIELD = "file"
CHUNK_BYTES = 64 << 10
FILENAME_MAX = 255

# Types we can recognise from their first bytes: what the content says wins over the
# declared type, and a contradiction between the two is refused.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
TEXT_TYPES = ("text/plain", "text/markdown", "text/csv")
ACCEPTED_TYPES = (*sorted({mime for _, mime in SIGNATURES}), "image/webp", *TEXT_TYPES)
# Control characters that text files do not contain (tab, newlines and form feed they may).
_BINARY_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Clients that do not know the type say so with one of these; we then go by the content.
UNDECLARED = ("", "application/octet-stream")

ATTACHMENT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "note_id": {"type": "integer"},
        "filename": {"type": "string"},
        "content_type": {"type": "string"},
        "size": {"type": "integer"},
        "sha256": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "url": {"type": "string"},
    },
    "required": ["id", "note_id", "filename", "content_type", "size", "sha256", "created_at"],
}
UPLOAD_SCHEMA = {
    "type": "object",
    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
    "required": [FILE_FIELD],
}


def _invalid_upload(reason: str) -> ProblemError:
    return listed_errors(422, "Invalid upload", INVALID_UPLOAD, [(FILE_FIELD, reason)])


def _the_file(parts: list[Part]) -> Part:
    """Exactly one part, named `file`, carrying a filename."""
    others = sorted({part.name for part in parts if part.name != FILE_FIELD})
    if others:
        names = ", ".join(others)
        raise _invalid_upload(f"is the only field accepted (also got {names})")
    files = [part for part in parts if part.name == FILE_FIELD]
    if not files:
        raise _invalid_upload("is required")
    if len(files) > 1:
        raise _invalid_upload("must be sent once")
    if files[0].filename is None:
        raise _invalid_upload("must be a file (a part with a filename)")
    return files[0]


def sniff(data: bytes) -> str | None:
    """The type the content itself shows, or None if it is none we accept."""
    for signature, mime in SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _BINARY_CONTROL.search(data) else "text/plain"


def checked_content_type(declared_header: str | None, data: bytes) -> str:
    """The Content-Type to store: the sniffed type, or the declared text subtype."""
    declared = (declared_header or "").split(";")[0].strip().lower()
    if declared not in UNDECLARED and declared not in ACCEPTED_TYPES:
        raise _unsupported(f"{declared} is not accepted")
    sniffed = sniff(data)
    if sniffed is None:
        raise _unsupported("the content is not of an accepted type")
    if sniffed == "text/plain":
        if declared in UNDECLARED or declared in TEXT_TYPES:
            return f"{declared if declared in TEXT_TYPES else sniffed}; charset=utf-8"
    elif declared in UNDECLARED or declared == sniffed:
        return sniffed
    raise _invalid_upload(f"is declared {declared} but its content is {sniffed}")


def _unsupported(reason: str) -> ProblemError:
    return ProblemError(
        Problem(
            415,
            "Unsupported attachment type",
            f"{reason}; accepted: {', '.join(ACCEPTED_TYPES)}.",
            type=UNSUPPORTED_ATTACHMENT,
        )
    )


def safe_filename(raw: str) -> str:
    """The last path segment, without control characters, at most 255 characters."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[:FILENAME_MAX] or "attachment"


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the exact name in RFC 8187 `filename*`."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = "".join("_" if c in '"\\' else c for c in fallback).strip() or "attachment"
    exact = quote(filename, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


def attachment_url(note_id: int, attachment_id: int) -> str:
    return f"/api/notes/{note_id}/attachments/{attachment_id}"


def _metadata(row: Row) -> dict[str, Any]:
    attachment_id, note_id, filename, content_type, size, sha256, _key, created_at = row
    return {
        "id": attachment_id,
        "note_id": note_id,
        "filename": filename,
        "content_type": content_type,
        "size": size,
        "sha256": sha256,
        "created_at": created_at,
        "url": attachment_url(note_id, attachment_id),
    }


def upload(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    note_id = path_id(request, "note_id")
    part = _the_file(read_multipart(request))
    data = bytes(part.data)
    limit = ctx.settings.max_attachment_bytes
    if len(data) > limit:
        raise ProblemError(
            Problem(
                413,
                "Attachment too large",
                f"An attachment may have at most {limit} bytes; this one has {len(data)}.",
                type=ATTACHMENT_TOO_LARGE,
            )
        )
    if not data:
        raise _invalid_upload("must not be empty")
    content_type = checked_content_type(part.content_type, data)
    filename = safe_filename(part.filename or "")
    sql = ctx.sql.notes
    if (yield from FetchOne(sql.select_revision, (note_id,))) is None:
        raise note_not_found(note_id)  # before writing anything to disk

    key = secrets.token_hex(16)
    try:
        yield from WriteFile(attachment_path(ctx.settings, key), data)
    except StorageFailed:
        raise ProblemError(_storage_problem("could not be stored")) from None
    record = (note_id, filename, content_type, len(data), hashlib.sha256(data).hexdigest())
    try:
        row = yield from UseConnection(
            returning(sql.insert_attachment, (*record, key, iso_timestamp(time.time()))),
            transaction=True,
            write=True,
        )
    except IntegrityViolation:  # the note was deleted while we wrote the file
        yield from discard_files(ctx, [key])
        raise note_not_found(note_id) from None
    except Exception:
        yield from discard_files(ctx, [key])
        raise
    assert row is not None  # an INSERT ... RETURNING that succeeded returns its row
    metadata = _metadata(row)
    headers = [("Location", metadata["url"]), ("ETag", f'"{metadata["sha256"]}"')]
    return json_response(metadata, 201, headers)


def _storage_problem(what: str) -> Problem:
    return Problem(503, "Storage unavailable", f"The attachment {what}; try again later.")


def download(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    note_id = path_id(request, "note_id")
    attachment_id = request.path_params["attachment_id"]
    missing = ProblemError(
        Problem(404, "Not Found", f"Note {note_id} has no attachment {attachment_id}.")
    )
    if attachment_id > MAX_ID:
        raise missing
    row = yield from FetchOne(ctx.sql.notes.select_attachment, (attachment_id, note_id))
    if row is None:
        raise missing
    _, _, filename, content_type, size, sha256, key, _ = row
    etag = f'"{sha256}"'
    headers = [
        ("ETag", etag),
        ("Cache-Control", "no-cache"),
        ("Accept-Ranges", "bytes"),
        ("Content-Disposition", content_disposition(filename)),
        ("X-Content-Type-Options", "nosniff"),
    ]
    if conditional.none_match(request.headers.get("If-None-Match"), etag):
        return Response(304, b"", None, headers[:2])
    if_range = request.headers.get("If-Range")
    wanted = None
    if if_range is None or if_range.strip() == etag:  # a stale If-Range gets the whole file
        wanted = conditional.byte_range(request.headers.get("Range"), size)
    status, start, length = (200, 0, size) if wanted is None else (206, wanted.start, wanted.length)
    if wanted is not None:
        headers.append(("Content-Range", wanted.content_range(size)))

    path = attachment_path(ctx.settings, key)
    try:  # the first chunk before the status line: a missing file can still be a clean 503
        first = yield from ReadFile(path, start, min(length, CHUNK_BYTES))
    except StorageFailed:
        raise ProblemError(_storage_problem("cannot be read")) from None
    if len(first) >= length:
        return Response(status, first, content_type, headers)
    headers.append(("Content-Length", str(length)))
    return Response(status, b"", content_type, headers, stream=_rest(path, first, start, length))


def _rest(path: str, first: bytes, start: int, length: int) -> Workflow[None]:
    """Emit `first`, then the rest of the range chunk by chunk.

    A read failure now ends the stream early; the client sees fewer bytes than the
    Content-Length promised, which is how HTTP/1.1 reports a broken body.
    """
    yield from Emit(first)
    sent = len(first)
    while sent < length:
        chunk = yield from ReadFile(path, start + sent, min(length - sent, CHUNK_BYTES))
        if not chunk:
            raise StorageFailed(f"{path} ended after {sent} of {length} bytes")
        yield from Emit(chunk)
        sent += len(chunk)
