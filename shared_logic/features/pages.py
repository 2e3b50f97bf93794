"""HTML pages for notes: a list with a create form, and one page per note.

Rendered from `shared_logic/templates/` through the one Jinja environment both apps
share (autoescape on: a note titled `<script>` renders inert). The form is protected by a
CSRF token kept in the signed session cookie (shared_logic/sessions.py) and posted back
in a hidden field; a successful POST answers 303 See Other with a flash message that the
next page shows once. Errors are HTML pages too (status, title, detail), since a browser
shows them; only failures the frameworks raise before our code runs (404 for unknown
paths, 413 for oversized bodies) stay problem+json, the same as on every other route.

Notes are stored and validated by shared_logic/notes.py, exactly as the JSON API does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from shared_logic.context import Context
from shared_logic.effects import DatabaseUnavailable, FetchAll, FetchOne, UseConnection, Workflow
from shared_logic.features import notes
from shared_logic.protocol.bodies import INVALID_ENCODING, media_type, unsupported_media_type
from shared_logic.protocol.http import (
    HTML,
    Problem,
    ProblemError,
    Request,
    Response,
    bad_request,
    html_response,
    service_unavailable,
)
from shared_logic.protocol.sessions import (
    CSRF_FIELD,
    Session,
    csrf_token,
    csrf_valid,
    flash,
    take_flash,
)
from shared_logic.templates import render
from shared_logic.validation import MAX_ID, ObjectOf, Text

FORM = "application/x-www-form-urlencoded"
CSRF_FAILED = "/problems/csrf-failed"
PAGE_SIZE = 50
MAX_FORM_FIELDS = 20
# Pages carry a per-session CSRF token and one-time flash messages: never cache them.
NO_STORE = ("Cache-Control", "no-store")
NOTE_CREATED = "Note created."
# Declared without a pattern: a malformed cursor is refused by notes.decode_cursor inside
# the page, so the browser gets an HTML 400 page rather than a problem+json body.
PAGE_CURSOR = Text("cursor", "Opaque: the page's 'Older notes' link carries it.", 200)


# POST /notes, for /openapi.json. The note's fields are checked as the JSON API checks them
# (notes.validate_note, once `tags` is split); other form fields are ignored.
FORM_SCHEMA = ObjectOf(
    (
        notes.TITLE,
        notes.BODY,
        Text("tags", "Tags separated by spaces or commas"),
        Text(CSRF_FIELD, "The token the form page carries", required=True),
    ),
    unknown=None,
).schema()


# ------------------------------------------------------------------ form bodies
def read_form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as {name: first value}, or a 4xx problem."""
    mime, options = media_type(request)
    if mime != FORM:
        raise unsupported_media_type(mime, (FORM,))
    if options.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise unsupported_media_type(f"{mime} in {options['charset']}", ("UTF-8 form data",))
    try:
        pairs = parse_qsl(
            request.body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise ProblemError(
            Problem(400, "Invalid encoding", "The form data is not valid UTF-8.", INVALID_ENCODING)
        ) from None
    except ValueError:  # more fields than MAX_FORM_FIELDS
        raise ProblemError(
            bad_request(f"The form has more than {MAX_FORM_FIELDS} fields.")
        ) from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def split_tags(raw: str) -> list[str]:
    return [tag for tag in re.split(r"[\s,]+", raw.strip()) if tag]


# ------------------------------------------------------------------ rendering
def _page(
    ctx: Context,
    session: Session,
    html: str,
    status: int = 200,
    headers: Sequence[tuple[str, str]] = (),
) -> Response:
    response = html_response(html, status)
    response.headers.extend(headers)
    response.headers.append(NO_STORE)
    if session.modified:  # only then: an unchanged session needs no new cookie
        response.headers.append(ctx.sessions.set_cookie(session))
    return response


def error_page(problem: Problem) -> Response:
    html = render(
        "error.html", status=problem.status, title=problem.title, detail=problem.detail, flash=None
    )
    response = html_response(html, problem.status)
    response.headers.extend(problem.headers)
    response.headers.append(NO_STORE)
    return response


def _as_html(page: Workflow[Response]) -> Workflow[Response]:
    """Any failure of a page becomes an HTML error page with the same status."""
    try:
        return (yield from page)
    except ProblemError as exc:
        return error_page(exc.problem)
    except DatabaseUnavailable:
        return error_page(service_unavailable("The database is unavailable; try again.", 1))


def _render_list(
    ctx: Context,
    session: Session,
    before: int,
    form: Mapping[str, str],
    errors: Sequence[str] = (),
    status: int = 200,
) -> Workflow[Response]:
    rows = yield from FetchAll(ctx.sql.notes.page, (before, PAGE_SIZE + 1))
    shown = [notes.note_from_row(row) for row in rows[:PAGE_SIZE]]
    older = None
    if len(rows) > PAGE_SIZE:
        older = f"/notes?cursor={notes.encode_cursor(shown[-1]['id'])}"
    html = render(
        "notes.html",
        flash=take_flash(session),
        notes=shown,
        form={"title": "", "body": "", "tags": "", **form},
        errors=errors,
        csrf_token=csrf_token(session),
        older=older,
        title_max=notes.TITLE_MAX,
    )
    return _page(ctx, session, html, status)


# ------------------------------------------------------------------ handlers
def notes_page(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    """GET /notes: the newest notes and the create form."""

    def page() -> Workflow[Response]:
        session = ctx.sessions.load(request)
        before = notes.decode_cursor(params["cursor"])
        return (yield from _render_list(ctx, session, before, {}))

    return (yield from _as_html(page()))


def note_page(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    """GET /notes/<id>: one note."""

    def page() -> Workflow[Response]:
        note_id = notes.path_id(request, "note_id")
        row = yield from FetchOne(ctx.sql.notes.select, (note_id,))
        if row is None:
            raise notes.note_not_found(note_id)
        session = ctx.sessions.load(request)
        html = render("note.html", note=notes.note_from_row(row), flash=take_flash(session))
        return _page(ctx, session, html)

    return (yield from _as_html(page()))


def create_note_page(
    ctx: Context, request: Request, params: Mapping[str, Any]
) -> Workflow[Response]:
    """POST /notes (form): 303 to the new note, 422 re-renders the form with its errors."""

    def page() -> Workflow[Response]:
        form = read_form(request)
        session = ctx.sessions.load(request)
        if not csrf_valid(session, form.get(CSRF_FIELD)):
            raise ProblemError(
                Problem(
                    403,
                    "Forbidden",
                    "The form's CSRF token is missing or does not match your session. "
                    "Reload the form and submit it again.",
                    CSRF_FAILED,
                )
            )
        values = {name: form.get(name, "") for name in ("title", "body", "tags")}
        document = {**values, "tags": split_tags(values["tags"])}
        try:
            fields = notes.validate_note(document, partial=False)
        except ProblemError as exc:
            errors = [
                f"{error['name']}: {error['reason']}" if error["name"] else error["reason"]
                for error in exc.problem.extra.get("errors", ())
            ]
            return (yield from _render_list(ctx, session, MAX_ID, values, errors, 422))
        row = yield from UseConnection(
            notes.insert_note(ctx.sql.notes, fields, ctx.sql.events), transaction=True, write=True
        )
        flash(session, NOTE_CREATED)
        location = f"/notes/{row[0]}"
        return Response(
            303,
            f'<!DOCTYPE html>\n<p>See <a href="{location}">{location}</a>.</p>\n'.encode(),
            HTML,
            [("Location", location), NO_STORE, ctx.sessions.set_cookie(session)],
        )

    return (yield from _as_html(page()))
