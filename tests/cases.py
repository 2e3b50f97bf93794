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
  before    requests (method, target[, headers, body]) sent to both apps first, e.g. to
            create the note a case then reads. Their replies are compared too.
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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.parity import Compare, Reply

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
    before: Sequence[tuple[Any, ...]] = ()
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


def problem(
    status: int, type_: str = "about:blank", **fields: Any
) -> Callable[[Reply], None]:
    """An RFC 9457 body: type/title/status present, status matching, `fields` equal."""

    def check(reply: Reply) -> None:
        body = reply.json()
        assert body["status"] == status == reply.status, reply
        assert body["type"] == type_, reply
        assert isinstance(body["title"], str) and body["title"], reply
        for key, value in fields.items():
            assert body[key] == value, (key, reply)

    return check


def invalid_params(*names: str) -> Callable[[Reply], None]:
    base = problem(400, "/problems/invalid-parameters")

    def check(reply: Reply) -> None:
        base(reply)
        assert [error["name"] for error in reply.json()["errors"]] == list(names), reply

    return check


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
    from shared_logic.cpu import fibonacci_report

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


RANDOM = {"live_compare": "shape"}  # seeded per process: exact in-process, shape when live

# ------------------------------------------------------------------ the table
CASES: tuple[Case, ...] = (
    # /json
    Case("json", "GET", "/json", 200, content_type=JSON,
         check=json_equals({"message": "Hello, World!"})),
    Case("json-head", "HEAD", "/json", 200, content_type=JSON,
         check=all_of(empty_body, header_is("content-length", "27"))),
    Case("json-query-ignored", "GET", "/json?x=1&x=2&%zz", 200,
         check=json_equals({"message": "Hello, World!"})),
    Case("json-post-405", "POST", "/json", 405, body=b"{}", content_type=PROBLEM,
         check=all_of(problem(405), header_is("allow", "GET, HEAD, OPTIONS"))),
    Case("json-delete-405", "DELETE", "/json", 405, content_type=PROBLEM,
         check=header_is("allow", "GET, HEAD, OPTIONS")),
    Case("json-options", "OPTIONS", "/json", 200, check=empty_body,
         ignore_headers=("allow",),
         note="Allow order of the automatic OPTIONS reply is set order (per process "
              "hash seed); pinned by test_divergences.py::test_options_allow_is_sorted"),
    # /plaintext
    Case("plaintext", "GET", "/plaintext", 200, content_type=TEXT,
         check=text_equals("Hello, World!")),
    Case("plaintext-head", "HEAD", "/plaintext", 200, content_type=TEXT,
         check=all_of(empty_body, header_is("content-length", "13"))),
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
    Case("queries-repeated", "GET", "/queries?queries=2&queries=9", 200, check=worlds(2),
         **RANDOM),
    Case("queries-float", "GET", "/queries?queries=2.5", 200, check=worlds(1), **RANDOM),
    Case("queries-huge", "GET", "/queries?queries=99999999999999999999", 200,
         check=worlds(500), **RANDOM),
    # /fortunes
    Case("fortunes", "GET", "/fortunes", 200, content_type=HTML, check=fortunes_page),
    Case("fortunes-head", "HEAD", "/fortunes", 200, content_type=HTML, check=empty_body),
    # /updates
    Case("updates-default", "GET", "/updates", 200, content_type=JSON, check=worlds(1), **RANDOM),
    Case("updates-20", "GET", "/updates?queries=20", 200, check=worlds(20), **RANDOM),
    Case("updates-0-clamped", "GET", "/updates?queries=0", 200, check=worlds(1), **RANDOM),
    Case("updates-501-clamped", "GET", "/updates?queries=501", 200, check=worlds(500),
         **RANDOM),
    Case("updates-foo", "GET", "/updates?queries=foo", 200, check=worlds(1), **RANDOM),
    Case("updates-then-db", "GET", "/queries?queries=3", 200, check=worlds(3),
         before=(("GET", "/updates?queries=50"), ("GET", "/updates?queries=50")), **RANDOM),
    Case("updates-post-405", "POST", "/updates", 405, content_type=PROBLEM),
    # /cpu/fib and /cpu/fib-blocking
    Case("fib-default", "GET", "/cpu/fib", 200, content_type=JSON, check=fib_report(1000, 1)),
    Case("fib-small", "GET", "/cpu/fib?n=10&rounds=3", 200, check=fib_report(10, 3)),
    Case("fib-n1", "GET", "/cpu/fib?n=1", 200, check=fib_report(1, 1)),
    Case("fib-n0", "GET", "/cpu/fib?n=0", 400, content_type=PROBLEM, check=invalid_params("n")),
    Case("fib-n-max+1", "GET", "/cpu/fib?n=10001", 400, check=invalid_params("n")),
    Case("fib-n-foo", "GET", "/cpu/fib?n=foo", 400, check=invalid_params("n")),
    Case("fib-both-bad", "GET", "/cpu/fib?n=foo&rounds=0", 400,
         check=invalid_params("n", "rounds")),
    Case("fib-repeated", "GET", "/cpu/fib?n=5&n=6", 400, check=invalid_params("n")),
    Case("fib-rounds-101", "GET", "/cpu/fib?rounds=101", 400, check=invalid_params("rounds")),
    Case("fib-blocking", "GET", "/cpu/fib-blocking?n=50&rounds=2", 200, content_type=JSON,
         check=fib_report(50, 2)),
    Case("fib-blocking-bad", "GET", "/cpu/fib-blocking?rounds=x", 400,
         check=invalid_params("rounds")),
    # /io/sleep, /io/db-sleep
    Case("sleep-0", "GET", "/io/sleep?ms=0", 200, content_type=JSON,
         check=json_equals({"slept_ms": 0})),
    Case("sleep-default", "GET", "/io/sleep", 200, check=json_equals({"slept_ms": 100})),
    Case("sleep-negative", "GET", "/io/sleep?ms=-1", 400, check=invalid_params("ms")),
    Case("sleep-too-long", "GET", "/io/sleep?ms=10001", 400, check=invalid_params("ms")),
    Case("db-sleep", "GET", "/io/db-sleep?ms=5", 200, content_type=JSON,
         check=json_has(slept_ms=5)),
    Case("db-sleep-bad", "GET", "/io/db-sleep?ms=abc", 400, check=invalid_params("ms")),
    # /io/upstream
    Case("upstream-seq", "GET", "/io/upstream?calls=2&ms=0", 200, content_type=JSON,
         check=upstream_report("sequential", 2, 0)),
    Case("upstream-par", "GET", "/io/upstream?calls=3&ms=10&mode=parallel", 200,
         check=upstream_report("parallel", 3, 10)),
    Case("upstream-bad-mode", "GET", "/io/upstream?mode=both", 400,
         check=invalid_params("mode")),
    Case("upstream-all-bad", "GET", "/io/upstream?calls=0&ms=5001&mode=x", 400,
         check=invalid_params("calls", "ms", "mode")),
    # operations
    Case("healthz", "GET", "/healthz", 200, content_type=JSON,
         check=json_equals({"status": "ok"})),
    Case("readyz", "GET", "/readyz", 200, content_type=JSON, check=json_has(status="ready")),
    Case("openapi", "GET", "/openapi.json", 200, content_type=JSON,
         check=json_has(openapi="3.1.0")),
    Case("openapi-head", "HEAD", "/openapi.json", 200, check=empty_body),
    # framework-level errors
    Case("404", "GET", "/no/such/route", 404, content_type=PROBLEM, check=problem(404)),
    Case("404-post", "POST", "/no/such/route", 404, body=b"x", check=problem(404)),
    Case("404-trailing-slash", "GET", "/json/", 404, check=problem(404)),
    Case("404-encoded", "GET", "/%6Aso%6E", 200, check=json_has(message="Hello, World!"),
         note="percent-encoded path decodes to /json in both"),
    Case("404-unicode", "GET", "/caf%C3%A9", 404,
         check=problem(404, detail="No route matches '/café'.")),
    # framework-provided rule (see test_route_coverage.py::FRAMEWORK_RULES)
    Case("static-missing", "GET", "/static/nothing.txt", 404, check=problem(404)),
    Case("static-traversal", "GET", "/static/../sync_app/app.py", 404, check=problem(404)),
    Case("static-post", "POST", "/static/x", 405, check=problem(405)),
    Case("404-head", "HEAD", "/nope", 404, content_type=PROBLEM, check=empty_body),
)
