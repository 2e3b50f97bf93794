"""THE parity case table: every row runs against both apps, in-process and over live servers.

How to add a case (one row in `CASES`, nothing else):

    Case("notes-create", "POST", "/api/notes",
         headers={"Content-Type": "application/json"}, body=b'{"title": "a"}',
         status=201, content_type=JSON, check=json_has(title="a")),

Each row is run by tests/test_parity_cases.py
  * in-process: a fresh Flask app and a fresh Quart app (same seed, each on its own fresh
    database, SQLite and — when configured — PostgreSQL); both must answer `status`, pass
    `check`, and be equal under tests/parity.py's normalisation (`compare`);
  * live: the session's `gunicorn -w 4 --threads 2 sync_app:app` and `hypercorn
    async_app:app` (shared, long-lived state), same assertions.

Fields:
  id        unique, readable; shows up in test ids.
  method    HTTP method.  target  the raw request target: path + query, percent-encoded.
  status    expected status from both apps.
  headers   request headers.  body  request body bytes.
  before    `Step`s (tests/clients.py: method, target, headers, body) sent to both apps
            first, e.g. to create the note a case then reads. Their statuses must be equal
            and < 500; only the case's own request is compared in full.
  content_type  expected Content-Type (exact string), checked on both replies.
  check     callable(Reply) -> None with extra assertions on each app's reply.
  compare   "bytes" (default), "json" (parsed JSON equal), "shape" (keys/types/lengths:
            for bodies that depend on random ids / timestamps).
  live_compare  override of `compare` for the live run (Gunicorn's 4 workers each have
            their own random generator, so seeded random output differs there).
  ignore_headers  headers this case cannot compare; each use must be justified in
            docs/parity.md.
  live / in_process  set False to skip one mode (say why in `note`).
  marks     pytest marks (e.g. pytest.mark.xfail(strict=True, reason=...)).

Route coverage (tests/test_route_coverage.py) requires at least one row per route
(method + path rule) in shared_logic.routes.ROUTES: a route without a row fails the build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from tests.clients import Step
from tests.parity import Compare, Reply

# Bugs the suite has found and the app owners have not fixed yet: each is pinned by an
# xfail(strict=True) row below, and tests/generated.py steers generated input around it
# (so `pytest` stays green but the row turns red — XPASS — the moment it is fixed).
KNOWN_BUGS: dict[str, str] = {}

JSON = "application/json"
PROBLEM = "application/problem+json"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    target: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    before: Sequence[Step] = ()
    content_type: str | None = None
    check: Callable[[Reply], None] | None = None
    compare: Compare = "bytes"
    live_compare: Compare | None = None
    ignore_headers: tuple[str, ...] = ()
    live: bool = True
    in_process: bool = True
    note: str = ""
    marks: tuple[Any, ...] = ()

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


# `Case` fields several rows share, spread into them with `**`: how to compare, and (a
# separate type, so a row that names its own `before` can still spread the first) set-up.
class CompareOptions(TypedDict, total=False):
    compare: Compare
    live_compare: Compare


class SetUpOptions(CompareOptions, total=False):
    before: Sequence[Step]
    live: bool


class RequestBody(TypedDict):
    """A JSON request's headers and body, spread into a `Case` or a `Step` with `**`."""

    headers: dict[str, str]
    body: bytes


# ------------------------------------------------------------------ reusable checks
def json_equals(expected: Any) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        assert reply.json() == expected, reply

    return check


def json_has(**expected: Any) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        payload = reply.json()
        for key, value in expected.items():
            assert payload[key] == value, (key, reply)

    return check


def text_equals(expected: str) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        assert reply.text() == expected, reply

    return check


def text_starts_with(prefix: str) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        assert reply.text().startswith(prefix), reply

    return check


def problem(status: int, type_: str = "about:blank", **fields: Any) -> Callable[[Reply], None]:
    """An RFC 9457 body: type/title/status present, status matching, `fields` equal."""

    def check(reply: Reply) -> None:
        body = reply.json()
        assert body["status"] == status == reply.status, reply
        assert body["type"] == type_, reply
        assert isinstance(body["title"], str) and body["title"], reply
        for key, value in fields.items():
            assert body[key] == value, (key, reply)

    return check


def listed_errors(status: int, type_: str, names: Sequence[str]) -> Callable[[Reply], None]:
    """A problem whose `errors` name exactly `names`, in order."""
    base = problem(status, type_)

    def check(reply: Reply) -> None:
        base(reply)
        assert [error["name"] for error in reply.json()["errors"]] == list(names), reply

    return check


def invalid_params(*names: str) -> Callable[[Reply], None]:
    return listed_errors(400, "/problems/invalid-parameters", names)


def worlds(count: int) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        rows = reply.json()
        assert isinstance(rows, list) and len(rows) == count, reply
        for row in rows:
            assert set(row) == {"id", "randomNumber"}, row
            assert 1 <= row["id"] <= 10_000 and 1 <= row["randomNumber"] <= 10_000, row

    return check


def world(reply: Reply) -> None:
    row = reply.json()
    assert isinstance(row, dict), reply
    worlds(1)(Reply(reply.status, reply.headers, b"[" + reply.body + b"]"))


def header_is(name: str, value: str | None) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        assert reply.header(name) == value, (name, reply)

    return check


def all_of(*checks: Callable[[Reply], None]) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        for one in checks:
            one(reply)

    return check


def empty_body(reply: Reply) -> None:
    assert reply.body == b"", reply


def fib_report(n: int, rounds: int) -> Callable[[Reply], None]:
    from shared_logic.features.cpu import fibonacci_report

    return json_equals(dict(fibonacci_report(n, rounds)))


def upstream_report(mode: str, calls: int, ms: int) -> Callable[[Reply], None]:
    return json_equals(
        {
            "mode": mode,
            "calls": calls,
            "ms": ms,
            "results": [{"status": 200, "waited_ms": ms}] * calls,
        }
    )


def fortunes_page(reply: Reply) -> None:
    page = reply.text()
    assert page.startswith("<!DOCTYPE html>"), reply
    assert page.count("<tr><td>") == 13, reply
    assert "&lt;script&gt;alert(&#34;This should not be displayed" in page, reply
    assert "<td>Additional fortune added at request time.</td>" in page, reply


def html_has(*fragments: str) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        page = reply.text()
        assert page.startswith("<!DOCTYPE html>"), reply
        for fragment in fragments:
            assert fragment in page, (fragment, reply)

    return check


def json_body(value: Any) -> RequestBody:
    import orjson

    return {"headers": {"Content-Type": "application/json"}, "body": orjson.dumps(value)}


FIB_JOB = json_body({"kind": "fibonacci", "params": {"n": 10, "rounds": 2}})
SUBMIT_JOB = Step("POST", "/jobs", **FIB_JOB)
# Cases that name job 1 assume fresh databases: in-process only (the live servers' state
# is shared by the whole session). Long-polling /jobs/1?wait_ms first waits for the job to
# end (its events stream would not do: which progress events it sees depends on timing),
# so what follows does not race the job runner.
AFTER_JOB: SetUpOptions = {
    "before": (SUBMIT_JOB, Step("GET", "/jobs/1?wait_ms=10000")),
    "live": False,
    "compare": "masked",
}

# ------------------------------------------------------------------ notes and attachments
NOTE_JSON = {"Content-Type": "application/json"}
FIRST_NOTE = b'{"title": "first", "body": "text", "tags": ["red", "blue"]}'
CREATE_FIRST = Step("POST", "/api/notes", headers=NOTE_JSON, body=FIRST_NOTE)
CREATE_SECOND = Step("POST", "/api/notes", headers=NOTE_JSON,
                     body=b'{"title": "second", "tags": ["red"]}')
LIKE_FIRST = Step("POST", "/api/notes/1/likes")
DELETE_FIRST = Step("DELETE", "/api/notes/1", headers={"If-Match": "*"})
MISSING_NOTE = "/api/notes/999999999"
# Bodies carry wall-clock timestamps: compared byte for byte with them masked.
TIMESTAMPED: CompareOptions = {"compare": "masked"}
ATTACHMENT = b"hello, attachment\n" * 8  # 144 bytes of text/plain


def multipart(
    content: bytes,
    filename: str | None = "notes.txt",
    content_type: str | None = "text/plain",
    name: str = "file",
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a multipart/form-data upload with one part."""
    boundary = "twinport-boundary"
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    body = head.encode() + b"\r\n" + content + f"\r\n--{boundary}--\r\n".encode()
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body


def upload_case(
    id: str,
    status: int,
    content: bytes,
    *,
    target: str = "/api/notes/1/attachments",
    check: Callable[[Reply], None] | None = None,
    **part: Any,
) -> Case:
    headers, body = multipart(content, **part)
    before = (CREATE_FIRST,) if target.startswith("/api/notes/1/") else ()
    live = not before  # note 1 is a fresh app's first note; live servers share their notes
    content_type = JSON if status == 201 else PROBLEM
    return Case(id, "POST", target, status, headers=headers, body=body, before=before,
                content_type=content_type, live=live, check=check, **TIMESTAMPED)


UPLOAD_HEADERS, UPLOAD_BODY = multipart(ATTACHMENT)
UPLOAD_FIRST = Step("POST", "/api/notes/1/attachments", headers=UPLOAD_HEADERS, body=UPLOAD_BODY)
ATTACHMENT_ETAG = f'"{hashlib.sha256(ATTACHMENT).hexdigest()}"'
WITH_ATTACHMENT: SetUpOptions = {
    "before": (CREATE_FIRST, UPLOAD_FIRST), "live": False, **TIMESTAMPED
}
WITH_NOTE: SetUpOptions = {"before": (CREATE_FIRST,), "live": False, **TIMESTAMPED}


def no_content(reply: Reply) -> None:
    """204/304: no body, and none of the Content-Type / Content-Length frameworks default."""
    assert reply.body == b"", reply
    assert reply.header("content-type") is None, reply
    assert reply.header("content-length") is None, reply



def body_is(expected: bytes) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        assert reply.body == expected, reply

    return check


def titles(*expected: str) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        assert [note["title"] for note in reply.json()["items"]] == list(expected), reply

    return check


def fields_invalid(*names: str) -> Callable[[Reply], None]:
    return listed_errors(422, "/problems/invalid-fields", names)


# Seeded per process: exact in-process, shape when live.
RANDOM: CompareOptions = {"live_compare": "shape"}

# ------------------------------------------------------------------ the table
CASES: tuple[Case, ...] = (
    # /json
    Case(
        "json",
        "GET",
        "/json",
        200,
        content_type=JSON,
        check=json_equals({"message": "Hello, World!"}),
    ),
    Case(
        "json-head",
        "HEAD",
        "/json",
        200,
        content_type=JSON,
        check=all_of(empty_body, header_is("content-length", "27")),
    ),
    Case(
        "json-query-ignored",
        "GET",
        "/json?x=1&x=2&%zz",
        200,
        check=json_equals({"message": "Hello, World!"}),
    ),
    Case(
        "json-post-405",
        "POST",
        "/json",
        405,
        body=b"{}",
        content_type=PROBLEM,
        check=all_of(problem(405), header_is("allow", "GET, HEAD, OPTIONS")),
    ),
    Case(
        "json-delete-405",
        "DELETE",
        "/json",
        405,
        content_type=PROBLEM,
        check=header_is("allow", "GET, HEAD, OPTIONS"),
    ),
    Case(
        "json-options",
        "OPTIONS",
        "/json",
        200,
        check=all_of(empty_body, header_is("allow", "GET, HEAD, OPTIONS")),
        note="Both frameworks list Allow in set order (per-process hash seed); the shells "
        "build this reply with the core's sorted Allow (test_options_allow_is_sorted)",
    ),
    # /plaintext
    Case(
        "plaintext", "GET", "/plaintext", 200, content_type=TEXT, check=text_equals("Hello, World!")
    ),
    Case(
        "plaintext-head",
        "HEAD",
        "/plaintext",
        200,
        content_type=TEXT,
        check=all_of(empty_body, header_is("content-length", "13")),
    ),
    Case("plaintext-put-405", "PUT", "/plaintext", 405, body=b"x", content_type=PROBLEM),
    # /db
    Case("db", "GET", "/db", 200, content_type=JSON, check=world, **RANDOM),
    Case("db-args-ignored", "GET", "/db?queries=7", 200, check=world, **RANDOM),
    # /queries (TechEmpower clamping)
    Case("queries-default", "GET", "/queries", 200, content_type=JSON, check=worlds(1), **RANDOM),
    Case("queries-5", "GET", "/queries?queries=5", 200, check=worlds(5), **RANDOM),
    Case("queries-0-clamped", "GET", "/queries?queries=0", 200, check=worlds(1), **RANDOM),
    Case("queries-negative", "GET", "/queries?queries=-3", 200, check=worlds(1), **RANDOM),
    Case("queries-501-clamped", "GET", "/queries?queries=501", 200, check=worlds(500), **RANDOM),
    Case("queries-foo", "GET", "/queries?queries=foo", 200, check=worlds(1), **RANDOM),
    Case("queries-empty", "GET", "/queries?queries=", 200, check=worlds(1), **RANDOM),
    Case("queries-spaces", "GET", "/queries?queries=%203%20", 200, check=worlds(3), **RANDOM),
    Case("queries-repeated", "GET", "/queries?queries=2&queries=9", 200, check=worlds(2), **RANDOM),
    Case("queries-float", "GET", "/queries?queries=2.5", 200, check=worlds(1), **RANDOM),
    Case(
        "queries-huge",
        "GET",
        "/queries?queries=99999999999999999999",
        200,
        check=worlds(500),
        **RANDOM,
    ),
    # /fortunes
    Case("fortunes", "GET", "/fortunes", 200, content_type=HTML, check=fortunes_page),
    Case("fortunes-head", "HEAD", "/fortunes", 200, content_type=HTML, check=empty_body),
    # /updates
    Case("updates-default", "GET", "/updates", 200, content_type=JSON, check=worlds(1), **RANDOM),
    Case("updates-20", "GET", "/updates?queries=20", 200, check=worlds(20), **RANDOM),
    Case("updates-0-clamped", "GET", "/updates?queries=0", 200, check=worlds(1), **RANDOM),
    Case("updates-501-clamped", "GET", "/updates?queries=501", 200, check=worlds(500), **RANDOM),
    Case("updates-foo", "GET", "/updates?queries=foo", 200, check=worlds(1), **RANDOM),
    Case(
        "updates-then-db",
        "GET",
        "/queries?queries=3",
        200,
        check=worlds(3),
        before=(Step("GET", "/updates?queries=50"), Step("GET", "/updates?queries=50")),
        **RANDOM,
    ),
    Case("updates-post-405", "POST", "/updates", 405, content_type=PROBLEM),
    # /cpu/fib and /cpu/fib-blocking
    Case("fib-default", "GET", "/cpu/fib", 200, content_type=JSON, check=fib_report(1000, 1)),
    Case("fib-small", "GET", "/cpu/fib?n=10&rounds=3", 200, check=fib_report(10, 3)),
    Case("fib-n1", "GET", "/cpu/fib?n=1", 200, check=fib_report(1, 1)),
    Case("fib-n0", "GET", "/cpu/fib?n=0", 400, content_type=PROBLEM, check=invalid_params("n")),
    Case("fib-n-max+1", "GET", "/cpu/fib?n=10001", 400, check=invalid_params("n")),
    Case("fib-n-foo", "GET", "/cpu/fib?n=foo", 400, check=invalid_params("n")),
    Case(
        "fib-both-bad", "GET", "/cpu/fib?n=foo&rounds=0", 400, check=invalid_params("n", "rounds")
    ),
    Case("fib-repeated", "GET", "/cpu/fib?n=5&n=6", 400, check=invalid_params("n")),
    Case("fib-rounds-101", "GET", "/cpu/fib?rounds=101", 400, check=invalid_params("rounds")),
    Case(
        "fib-blocking",
        "GET",
        "/cpu/fib-blocking?n=50&rounds=2",
        200,
        content_type=JSON,
        check=fib_report(50, 2),
    ),
    Case(
        "fib-blocking-bad", "GET", "/cpu/fib-blocking?rounds=x", 400, check=invalid_params("rounds")
    ),
    # /io/sleep, /io/db-sleep
    Case(
        "sleep-0",
        "GET",
        "/io/sleep?ms=0",
        200,
        content_type=JSON,
        check=json_equals({"slept_ms": 0}),
    ),
    Case("sleep-default", "GET", "/io/sleep", 200, check=json_equals({"slept_ms": 100})),
    Case("sleep-negative", "GET", "/io/sleep?ms=-1", 400, check=invalid_params("ms")),
    Case("sleep-too-long", "GET", "/io/sleep?ms=10001", 400, check=invalid_params("ms")),
    Case(
        "db-sleep", "GET", "/io/db-sleep?ms=5", 200, content_type=JSON, check=json_has(slept_ms=5)
    ),
    Case("db-sleep-bad", "GET", "/io/db-sleep?ms=abc", 400, check=invalid_params("ms")),
    # /io/upstream
    Case(
        "upstream-seq",
        "GET",
        "/io/upstream?calls=2&ms=0",
        200,
        content_type=JSON,
        check=upstream_report("sequential", 2, 0),
    ),
    Case(
        "upstream-par",
        "GET",
        "/io/upstream?calls=3&ms=10&mode=parallel",
        200,
        check=upstream_report("parallel", 3, 10),
    ),
    Case("upstream-bad-mode", "GET", "/io/upstream?mode=both", 400, check=invalid_params("mode")),
    Case(
        "upstream-all-bad",
        "GET",
        "/io/upstream?calls=0&ms=5001&mode=x",
        400,
        check=invalid_params("calls", "ms", "mode"),
    ),
    # /stream/ticks (SSE)
    Case(
        "ticks",
        "GET",
        "/stream/ticks?count=3&interval_ms=0",
        200,
        content_type="text/event-stream; charset=utf-8",
        check=all_of(
            header_is("cache-control", "no-cache"),
            text_starts_with("id: 1\nevent: tick\ndata: "),
        ),
        ignore_headers=("transfer-encoding",),
    ),
    Case("ticks-bad", "GET", "/stream/ticks?count=0", 400, check=invalid_params("count")),
    Case("ticks-head", "HEAD", "/stream/ticks?count=1", 200, check=empty_body,
         ignore_headers=("transfer-encoding",),
         note="Hypercorn announces chunked on a HEAD of a stream, Gunicorn does not; "
              "docs/parity.md 'HEAD of a streamed response'"),
    # /jobs
    Case(
        "jobs-submit",
        "POST",
        "/jobs",
        202,
        **FIB_JOB,
        content_type=JSON,
        check=json_has(kind="fibonacci", state="queued"),
        compare="masked",
        live_compare="shape",
    ),
    Case("jobs-invalid", "POST", "/jobs", 422, **json_body({"kind": "nope"})),
    Case("jobs-get-404", "GET", "/jobs/999999999", 404, check=problem(404)),
    Case("jobs-get-huge", "GET", "/jobs/99999999999999999999999", 404, check=problem(404)),
    Case("jobs-events-404", "GET", "/jobs/999999999/events", 404, check=problem(404)),
    Case("jobs-get", "GET", "/jobs/1", 200, content_type=JSON,
         check=json_has(id=1, state="succeeded", progress={"done": 2, "total": 2}),
         **AFTER_JOB),
    Case("jobs-events-done", "GET", "/jobs/1/events", 200,
         content_type="text/event-stream; charset=utf-8",
         check=text_starts_with("id: 1\nevent: done\ndata: "), **AFTER_JOB),
    # HTML pages (/notes). Rows here carry no session cookie, so they are the paths whose
    # bytes are fixed; the session, CSRF and flash paths need one cookie valid in both apps
    # (a shared secret key): tests/test_pages.py.
    Case("notes-page-bad-cursor", "GET", "/notes?cursor=%21%21", 400, content_type=HTML,
         check=html_has("<h1>400 Invalid query parameters</h1>")),
    Case("notes-page-404", "GET", "/notes/999999999", 404, content_type=HTML,
         check=html_has("<h1>404 Not Found</h1>", "There is no note 999999999.")),
    Case("notes-page-huge-id-404", "GET", "/notes/99999999999999999999999", 404,
         content_type=HTML),
    Case("notes-page-post-no-session-403", "POST", "/notes", 403, content_type=HTML,
         headers={"Content-Type": "application/x-www-form-urlencoded"},
         body=b"title=a&csrf_token=guessed", check=html_has("<h1>403 Forbidden</h1>")),
    Case("notes-page-post-json-415", "POST", "/notes", 415, content_type=HTML,
         headers=NOTE_JSON, body=b'{"title": "a"}'),
    Case("notes-page-post-bad-utf8-400", "POST", "/notes", 400, content_type=HTML,
         headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"title=%FF"),
    # operations
    # The WebSocket route (conversations: tests/test_live_feed.py); a plain GET is no
    # handshake, and both frameworks refuse it the same way (werkzeug's WebsocketMismatch).
    Case("live-plain-get-400", "GET", "/ws/live", 400, content_type=PROBLEM,
         check=problem(400)),
    Case("healthz", "GET", "/healthz", 200, content_type=JSON, check=json_equals({"status": "ok"})),
    Case("readyz", "GET", "/readyz", 200, content_type=JSON, check=json_has(status="ready")),
    Case(
        "openapi", "GET", "/openapi.json", 200, content_type=JSON, check=json_has(openapi="3.1.0")
    ),
    Case("openapi-head", "HEAD", "/openapi.json", 200, check=empty_body),
    # /api/notes: create and validate (live too: no note ids involved)
    Case("notes-create", "POST", "/api/notes", 201, headers=NOTE_JSON, body=FIRST_NOTE,
         content_type=JSON, check=json_has(title="first", body="text", tags=["red", "blue"],
                                           likes=0, revision=1), **TIMESTAMPED),
    Case("notes-create-defaults", "POST", "/api/notes", 201, headers=NOTE_JSON,
         body=b'{"title": "t"}', check=json_has(body="", tags=[]), **TIMESTAMPED),
    Case("notes-create-utf8-charset", "POST", "/api/notes", 201,
         headers={"Content-Type": "application/json; charset=UTF-8"}, body=b'{"title": "t"}',
         **TIMESTAMPED),
    Case("notes-create-missing-title", "POST", "/api/notes", 422, headers=NOTE_JSON,
         body=b'{"body": "x"}', content_type=PROBLEM, check=fields_invalid("title")),
    Case("notes-create-invalid-fields", "POST", "/api/notes", 422, headers=NOTE_JSON,
         body=b'{"title": " ", "body": 3, "tags": ["Red", "ok", "ok"], "color": 1}',
         check=fields_invalid("color", "title", "body", "tags[0]")),
    Case("notes-create-duplicate-tags", "POST", "/api/notes", 422, headers=NOTE_JSON,
         body=b'{"title": "t", "tags": ["a", "a"]}', check=fields_invalid("tags")),
    # PostgreSQL text cannot hold U+0000; found by test_stateful on PostgreSQL as a 500.
    Case("notes-create-nul", "POST", "/api/notes", 422, headers=NOTE_JSON,
         body=b'{"title": "a\\u0000b", "body": "\\u0000"}', check=fields_invalid("title", "body")),
    Case("notes-create-title-too-long", "POST", "/api/notes", 422, headers=NOTE_JSON,
         body=b'{"title": "' + b"x" * 201 + b'"}', check=fields_invalid("title")),
    Case("notes-create-not-object", "POST", "/api/notes", 422, headers=NOTE_JSON,
         body=b'["title"]', check=fields_invalid("")),
    Case("notes-create-malformed", "POST", "/api/notes", 400, headers=NOTE_JSON,
         body=b'{"title": "a",}', content_type=PROBLEM,
         check=problem(400, "/problems/malformed-json")),
    Case("notes-create-invalid-utf8", "POST", "/api/notes", 400, headers=NOTE_JSON,
         body=b'{"title": "\xc3\x28"}', check=problem(400, "/problems/invalid-encoding")),
    Case("notes-create-empty", "POST", "/api/notes", 400, headers=NOTE_JSON, body=b"",
         check=problem(400, "/problems/empty-body")),
    Case("notes-create-form-415", "POST", "/api/notes", 415,
         headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"title=a",
         check=problem(415, "/problems/unsupported-media-type")),
    Case("notes-create-no-type-415", "POST", "/api/notes", 415, body=b'{"title": "a"}',
         check=problem(415, "/problems/unsupported-media-type")),
    Case("notes-create-latin1-415", "POST", "/api/notes", 415,
         headers={"Content-Type": "application/json; charset=latin-1"}, body=b'{"title": "a"}',
         check=problem(415, "/problems/unsupported-media-type")),
    Case("notes-create-413", "POST", "/api/notes", 413, headers=NOTE_JSON,
         body=b'{"title": "' + b"x" * (1 << 20) + b'"}', check=problem(413), live=False,
         note="live: both servers answer 413 before reading the body and then close, so a "
              "client still sending may see a reset; test_notes.py checks it live safely"),
    Case("notes-put-405", "PUT", "/api/notes", 405, check=problem(405)),
    # /api/notes: list
    Case("notes-list", "GET", "/api/notes?limit=1", 200, content_type=JSON,
         before=(CREATE_FIRST, CREATE_SECOND), live=False, **TIMESTAMPED,
         check=all_of(json_has(next="/api/notes?limit=1&cursor=bjI"), titles("second"),
                      header_is("link", '</api/notes?limit=1&cursor=bjI>; rel="next"'))),
    Case("notes-list-next-page", "GET", "/api/notes?limit=1&cursor=bjI", 200,
         before=(CREATE_FIRST, CREATE_SECOND), live=False, **TIMESTAMPED,
         check=all_of(json_has(next=None), header_is("link", None), titles("first"))),
    Case("notes-list-tag", "GET", "/api/notes?tag=blue", 200,
         before=(CREATE_FIRST, CREATE_SECOND), live=False, **TIMESTAMPED,
         check=titles("first")),
    Case("notes-list-live", "GET", "/api/notes?limit=100&tag=nobody-uses-this", 200,
         check=json_equals({"items": [], "next": None})),
    Case("notes-list-bad-limit", "GET", "/api/notes?limit=0", 400, content_type=PROBLEM,
         check=invalid_params("limit")),
    Case("notes-list-bad-cursor", "GET", "/api/notes?cursor=Zm9v", 400,
         check=invalid_params("cursor")),
    Case("notes-list-cursor-beyond-bigint", "GET",
         "/api/notes?cursor=bjk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk", 400,
         check=invalid_params("cursor")),
    Case("notes-list-cursor-chars", "GET", "/api/notes?cursor=a%2Fb", 400,
         check=invalid_params("cursor")),
    Case("notes-list-bad-tag", "GET", "/api/notes?tag=No%20Spaces&limit=101", 400,
         check=invalid_params("limit", "tag")),
    # /api/notes/<id>
    Case("notes-get", "GET", "/api/notes/1", 200, content_type=JSON,
         check=all_of(json_has(id=1, revision=1), header_is("etag", '"1.1"')), **WITH_NOTE),
    Case("notes-get-304", "GET", "/api/notes/1", 304, headers={"If-None-Match": '"0.0", "1.1"'},
         check=all_of(no_content, header_is("etag", '"1.1"')), **WITH_NOTE),
    Case("notes-get-weak-304", "GET", "/api/notes/1", 304, headers={"If-None-Match": 'W/"1.1"'},
         check=no_content, **WITH_NOTE),
    Case("notes-get-stale-200", "GET", "/api/notes/1", 200, headers={"If-None-Match": '"1.0"'},
         **WITH_NOTE),
    Case("notes-get-404", "GET", MISSING_NOTE, 404, content_type=PROBLEM, check=problem(404)),
    Case("notes-get-non-int-404", "GET", "/api/notes/abc", 404, check=problem(404)),
    Case("notes-get-beyond-bigint-404", "GET", "/api/notes/99999999999999999999", 404,
         check=problem(404), note="larger than any id a database stores (sqlite3 cannot bind it)"),
    Case("notes-like-beyond-bigint-404", "POST", "/api/notes/9223372036854775808/likes", 404,
         check=problem(404)),
    Case("notes-patch", "PATCH", "/api/notes/1", 200,
         headers={**NOTE_JSON, "If-Match": '"1.1"'}, body=b'{"title": "renamed", "tags": []}',
         check=all_of(json_has(title="renamed", body="text", tags=[], revision=2),
                      header_is("etag", '"1.2"')), **WITH_NOTE),
    Case("notes-patch-merge-patch", "PATCH", "/api/notes/1", 200,
         headers={"Content-Type": "application/merge-patch+json", "If-Match": "*"},
         body=b'{"body": "new"}', check=json_has(title="first", body="new"), **WITH_NOTE),
    Case("notes-patch-428", "PATCH", MISSING_NOTE, 428, headers=NOTE_JSON,
         body=b'{"title": "x"}', content_type=PROBLEM,
         check=problem(428, "/problems/precondition-required")),
    Case("notes-patch-412", "PATCH", "/api/notes/1", 412,
         headers={**NOTE_JSON, "If-Match": '"1.0"'}, body=b'{"title": "x"}',
         check=problem(412, "/problems/precondition-failed", current_etag='"1.1"'), **WITH_NOTE),
    Case("notes-patch-weak-412", "PATCH", "/api/notes/1", 412,
         headers={**NOTE_JSON, "If-Match": 'W/"1.1"'}, body=b'{"title": "x"}', **WITH_NOTE),
    Case("notes-patch-404", "PATCH", MISSING_NOTE, 404,
         headers={**NOTE_JSON, "If-Match": '"1.1"'}, body=b'{"title": "x"}', check=problem(404)),
    Case("notes-patch-empty-422", "PATCH", MISSING_NOTE, 422,
         headers={**NOTE_JSON, "If-Match": '"1.1"'}, body=b"{}", check=fields_invalid("")),
    Case("notes-patch-null-422", "PATCH", MISSING_NOTE, 422,
         headers={**NOTE_JSON, "If-Match": "*"}, body=b'{"title": null}',
         check=fields_invalid("title")),
    Case("notes-patch-text-415", "PATCH", MISSING_NOTE, 415,
         headers={"Content-Type": "text/plain", "If-Match": "*"}, body=b"x"),
    Case("notes-delete", "DELETE", "/api/notes/1", 204, headers={"If-Match": '"1.1"'},
         check=no_content, **WITH_NOTE),
    Case("notes-delete-then-get", "GET", "/api/notes/1", 404, live=False,
         before=(CREATE_FIRST, DELETE_FIRST), **TIMESTAMPED),
    Case("notes-delete-428", "DELETE", MISSING_NOTE, 428,
         check=problem(428, "/problems/precondition-required")),
    Case("notes-delete-412", "DELETE", "/api/notes/1", 412, headers={"If-Match": '"1.2"'},
         **WITH_NOTE),
    Case("notes-delete-404", "DELETE", MISSING_NOTE, 404, headers={"If-Match": "*"}),
    Case("notes-like", "POST", "/api/notes/1/likes", 200, content_type=JSON,
         check=json_equals({"id": 1, "likes": 2, "revision": 3}), live=False,
         before=(CREATE_FIRST, LIKE_FIRST), **TIMESTAMPED),
    Case("notes-like-404", "POST", MISSING_NOTE + "/likes", 404, check=problem(404)),
    Case("notes-like-then-stale", "PATCH", "/api/notes/1", 412, live=False,
         headers={**NOTE_JSON, "If-Match": '"1.1"'}, body=b'{"title": "x"}',
         before=(CREATE_FIRST, LIKE_FIRST), **TIMESTAMPED),
    # /api/notes/<id>/attachments
    upload_case("attachments-upload", 201, ATTACHMENT, filename="caf\u00e9 notes.txt",
                content_type=None,
                check=all_of(json_has(id=1, note_id=1, filename="caf\u00e9 notes.txt", size=144,
                                      content_type="text/plain; charset=utf-8",
                                      url="/api/notes/1/attachments/1"),
                             header_is("location", "/api/notes/1/attachments/1"),
                             header_is("etag", ATTACHMENT_ETAG))),
    upload_case("attachments-upload-png", 201, b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
                filename="../../etc/pic.png", content_type="image/png",
                check=json_has(filename="pic.png", content_type="image/png")),
    upload_case("attachments-upload-markdown", 201, b"# Title\n", filename="r.md",
                content_type="text/markdown",
                check=json_has(content_type="text/markdown; charset=utf-8")),
    upload_case("attachments-upload-404", 404, ATTACHMENT, target=MISSING_NOTE + "/attachments"),
    upload_case("attachments-upload-missing-file", 422, b"x", name="other"),
    upload_case("attachments-upload-not-a-file", 422, b"x", filename=None),
    upload_case("attachments-upload-empty", 422, b""),
    upload_case("attachments-upload-too-large", 413, b"x" * (512 * 1024 + 1)),
    upload_case("attachments-upload-binary-415", 415, b"\x00\x01\x02",
                content_type="application/octet-stream"),
    upload_case("attachments-upload-html-415", 415, b"<p>hi</p>", content_type="text/html"),
    upload_case("attachments-upload-mismatch-422", 422, b"plain text", content_type="image/png"),
    Case("attachments-upload-json-415", "POST", MISSING_NOTE + "/attachments", 415,
         headers=NOTE_JSON, body=b"{}", check=problem(415, "/problems/unsupported-media-type")),
    Case("attachments-upload-no-boundary", "POST", MISSING_NOTE + "/attachments", 400,
         headers={"Content-Type": "multipart/form-data"}, body=b"x",
         check=problem(400, "/problems/malformed-multipart")),
    Case("attachments-upload-truncated", "POST", MISSING_NOTE + "/attachments", 400,
         headers=multipart(ATTACHMENT)[0], body=multipart(ATTACHMENT)[1][:-20],
         check=problem(400, "/problems/malformed-multipart")),
    Case("attachments-download", "GET", "/api/notes/1/attachments/1", 200,
         content_type="text/plain; charset=utf-8",
         check=all_of(header_is("etag", ATTACHMENT_ETAG), header_is("accept-ranges", "bytes"),
                      header_is("content-length", str(len(ATTACHMENT))),
                      header_is("content-disposition",
                                "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"),
                      body_is(ATTACHMENT)),
         **WITH_ATTACHMENT),
    Case("attachments-download-head", "HEAD", "/api/notes/1/attachments/1", 200,
         check=all_of(empty_body, header_is("content-length", str(len(ATTACHMENT)))),
         **WITH_ATTACHMENT),
    Case("attachments-download-range", "GET", "/api/notes/1/attachments/1", 206,
         headers={"Range": "bytes=7-16"},
         check=all_of(header_is("content-range", "bytes 7-16/144"),
                      body_is(b"attachment")), **WITH_ATTACHMENT),
    Case("attachments-download-suffix", "GET", "/api/notes/1/attachments/1", 206,
         headers={"Range": "bytes=-11"}, check=header_is("content-range", "bytes 133-143/144"),
         **WITH_ATTACHMENT),
    Case("attachments-download-open-range", "GET", "/api/notes/1/attachments/1", 206,
         headers={"Range": "bytes=140-"}, check=header_is("content-range", "bytes 140-143/144"),
         **WITH_ATTACHMENT),
    Case("attachments-download-416", "GET", "/api/notes/1/attachments/1", 416,
         headers={"Range": "bytes=144-"},
         check=all_of(problem(416), header_is("content-range", "bytes */144")),
         **WITH_ATTACHMENT),
    Case("attachments-download-multi-range", "GET", "/api/notes/1/attachments/1", 200,
         headers={"Range": "bytes=0-1,5-6"}, **WITH_ATTACHMENT),
    Case("attachments-download-if-range-stale", "GET", "/api/notes/1/attachments/1", 200,
         headers={"Range": "bytes=0-1", "If-Range": '"old"'}, **WITH_ATTACHMENT),
    Case("attachments-download-if-range", "GET", "/api/notes/1/attachments/1", 206,
         headers={"Range": "bytes=0-1", "If-Range": ATTACHMENT_ETAG}, **WITH_ATTACHMENT),
    Case("attachments-download-304", "GET", "/api/notes/1/attachments/1", 304,
         headers={"If-None-Match": ATTACHMENT_ETAG}, check=no_content, **WITH_ATTACHMENT),
    Case("attachments-download-404", "GET", MISSING_NOTE + "/attachments/1", 404,
         content_type=PROBLEM, check=problem(404)),
    Case("attachments-download-beyond-bigint", "GET",
         "/api/notes/1/attachments/99999999999999999999", 404, check=problem(404)),
    Case("attachments-download-other-note", "GET", "/api/notes/2/attachments/1", 404,
         before=(CREATE_FIRST, UPLOAD_FIRST, CREATE_SECOND), live=False, check=problem(404),
         **TIMESTAMPED),
    Case("attachments-gone-with-note", "GET", "/api/notes/1/attachments/1", 404,
         before=(CREATE_FIRST, UPLOAD_FIRST, DELETE_FIRST),
         live=False, **TIMESTAMPED),
    # framework-level errors
    Case("404", "GET", "/no/such/route", 404, content_type=PROBLEM, check=problem(404)),
    Case("404-post", "POST", "/no/such/route", 404, body=b"x", check=problem(404)),
    Case("404-trailing-slash", "GET", "/json/", 404, check=problem(404)),
    Case(
        "404-encoded",
        "GET",
        "/%6Aso%6E",
        200,
        check=json_has(message="Hello, World!"),
        note="percent-encoded path decodes to /json in both",
    ),
    Case(
        "404-unicode",
        "GET",
        "/caf%C3%A9",
        404,
        check=problem(404, detail="No route matches '/café'."),
    ),
    # framework-provided rule (see test_route_coverage.py::FRAMEWORK_RULES)
    Case("static-missing", "GET", "/static/nothing.txt", 404, check=problem(404)),
    Case("static-traversal", "GET", "/static/../sync_app/app.py", 404, check=problem(404)),
    Case("static-post", "POST", "/static/x", 404, check=problem(404)),
    Case("404-head", "HEAD", "/nope", 404, content_type=PROBLEM, check=empty_body),
    # Bugs found by tests/test_generated.py, fixed, kept as regression rows.
    Case("notes-page-non-ascii-cursor", "GET", "/notes?cursor=%C2%80", 400,
         content_type=HTML, note="was a 500: notes.decode_cursor on a non-ASCII cursor"),
)
