"""What "the two apps answered the same" means: the one place normalisation is defined.

Every differential assertion in the suite goes through `assert_same`. It compares

* the status code (never the reason phrase: HTTP/1.1 servers word it differently and
  HTTP/2 has none),
* the body, byte for byte (or, for `compare="json"`, as parsed JSON, where key order is
  not part of the contract; or, for `compare="shape"`, as the JSON *shape* — keys, types
  and lengths — for bodies that depend on a per-process random generator, which differs
  between Gunicorn's four workers and Hypercorn's one),
* every response header, except the ones listed in `IGNORED_HEADERS` (legitimately
  different) and, over real sockets, `IGNORED_LIVE_HEADERS` (connection management the
  servers own). Header names are compared case-insensitively, multiple values in order.
* `Set-Cookie` headers attribute by attribute (order- and case-insensitive), with the
  value and the absolute `Expires` date masked where `VOLATILE_COOKIE_ATTRIBUTES` says so.

Anything not normalised here must be identical. docs/parity.md documents this list; keep
the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

# Headers whose value is legitimately different between the apps (and why).
IGNORED_HEADERS: Mapping[str, str] = {
    "date": "the time of the response; both servers send it (checked in test_techempower)",
    "server": "names the server (gunicorn / hypercorn); both send one (test_techempower)",
}
# Over real sockets only: connection management belongs to the server, not the app.
IGNORED_LIVE_HEADERS: Mapping[str, str] = {
    "connection": "Gunicorn's gthread worker says keep-alive/close explicitly, Hypercorn "
    "relies on HTTP/1.1 persistence; clients must not depend on either",
    "keep-alive": "Gunicorn-only hop-by-hop hint",
}
# Set-Cookie attributes whose *value* is masked (presence is still compared).
VOLATILE_COOKIE_ATTRIBUTES = frozenset({"expires"})
# Cookies whose value is masked (name and every attribute are still compared): the signed
# session cookie carries a random CSRF token and a signing timestamp.
VOLATILE_COOKIES = frozenset({"twinport_session"})

Compare = Literal["bytes", "json", "shape", "masked"]

# compare="masked": byte comparison after replacing values that legitimately differ
# between two apps given identical requests: wall-clock timestamps (fixed width, so
# Content-Length is unaffected) and the random storage keys of attachments.
VOLATILE_PATTERNS: tuple[tuple[re.Pattern[bytes], bytes], ...] = (
    (re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z"), b"<timestamp>"),
    # The per-session CSRF token in HTML forms (43 url-safe base64 characters).
    (re.compile(rb'(name="csrf_token" value=")[A-Za-z0-9_-]+(")'), rb"\1<csrf>\2"),
)


def as_served(method: str, reply: Reply) -> Reply:
    """Apply what every HTTP server does to a response before it reaches a client.

    HEAD: werkzeug (Flask) drops the body in the app; Quart leaves it to the server
    (Hypercorn, via h11, sends none). Quart's in-process test client therefore returns a
    HEAD body that no real client can see. docs/parity.md "HEAD bodies";
    pinned by tests/test_divergences.py::test_head_body_in_process_vs_served.
    """
    if method.upper() == "HEAD" and reply.body:
        reply.extra["head_body_dropped"] = len(reply.body)
        reply.body = b""
    return reply


@dataclass(slots=True)
class Reply:
    """One response, as any of the clients in tests/clients.py returns it."""

    status: int
    headers: list[tuple[str, str]]  # names lower-cased, in the order sent
    body: bytes
    source: str = "?"  # which app/server answered, for failure messages
    extra: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_list(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def content_type(self) -> str | None:
        return self.header("content-type")

    def json(self) -> Any:
        return orjson.loads(self.body)

    def text(self) -> str:
        return self.body.decode()

    def __repr__(self) -> str:
        body = self.body if len(self.body) < 300 else self.body[:300] + b"..."
        return f"<Reply {self.source} {self.status} {self.headers} {body!r}>"


def parse_set_cookie(value: str, mask: bool = True) -> tuple[str, dict[str, str | bool]]:
    """`name=value; Path=/; HttpOnly` -> ("name", {"value": ..., "path": "/", "httponly": True})."""
    parts = [part.strip() for part in value.split(";")]
    name, _, cookie_value = parts[0].partition("=")
    attributes: dict[str, str | bool] = {"value": cookie_value}
    for part in parts[1:]:
        if not part:
            continue
        key, sep, attr_value = part.partition("=")
        key = key.strip().lower()
        if mask and key in VOLATILE_COOKIE_ATTRIBUTES:
            attributes[key] = "<masked>"
        else:
            attributes[key] = attr_value.strip() if sep else True
    return name.strip(), attributes


def normalised_headers(
    reply: Reply,
    *,
    live: bool = False,
    ignore: Iterable[str] = (),
    volatile_cookies: Iterable[str] = (),
) -> dict[str, Any]:
    skipped = set(IGNORED_HEADERS) | {name.lower() for name in ignore}
    if live:
        skipped |= set(IGNORED_LIVE_HEADERS)
    masked = set(volatile_cookies) | VOLATILE_COOKIES
    result: dict[str, Any] = {}
    for name, value in reply.headers:
        if name in skipped:
            continue
        if name == "set-cookie":
            cookie, attributes = parse_set_cookie(value)
            if cookie in masked:
                attributes["value"] = "<masked>"
            result.setdefault("set-cookie", []).append((cookie, sorted(attributes.items())))
        else:
            result.setdefault(name, []).append(value)
    if "set-cookie" in result:
        result["set-cookie"].sort()
    return result


def shape(value: Any) -> Any:
    """The structure of a JSON value with its scalars replaced by their type names."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


_NUMBER = re.compile(rb"\d+")


def mask(data: bytes) -> bytes:
    for pattern, replacement in VOLATILE_PATTERNS:
        data = pattern.sub(replacement, data)
    return data


def comparable_body(reply: Reply, compare: Compare) -> Any:
    if compare == "bytes":
        return reply.body
    if compare == "masked":
        return mask(reply.body)
    if not reply.body:
        return None
    try:
        parsed = reply.json()
    except orjson.JSONDecodeError:
        # Not JSON (e.g. HTML): under "shape", numbers are what varies; mask them.
        return _NUMBER.sub(b"0", reply.body) if compare == "shape" else reply.body
    return shape(parsed) if compare == "shape" else parsed


def assert_same(
    a: Reply,
    b: Reply,
    *,
    compare: Compare = "bytes",
    live: bool = False,
    ignore_headers: Iterable[str] = (),
    volatile_cookies: Iterable[str] = (),
) -> None:
    """Fail unless `a` and `b` are the same response up to the documented normalisation."""
    context = f"\n  {a!r}\n  {b!r}"
    assert a.status == b.status, f"status differs: {a.source}={a.status} {b.source}={b.status}"
    ha = normalised_headers(a, live=live, ignore=ignore_headers, volatile_cookies=volatile_cookies)
    hb = normalised_headers(b, live=live, ignore=ignore_headers, volatile_cookies=volatile_cookies)
    if compare == "shape":
        # Content-Length follows the random values' digits; compare presence only.
        for headers in (ha, hb):
            if "content-length" in headers:
                headers["content-length"] = ["<n>"]
    assert ha == hb, f"headers differ ({a.source} vs {b.source}):\n  {ha}\n  {hb}{context}"
    ba, bb = comparable_body(a, compare), comparable_body(b, compare)
    assert ba == bb, f"body differs ({compare}) ({a.source} vs {b.source}){context}"
