"""Framework-neutral request and response values, and RFC 9457 problem details.

The shells translate their framework's request into `Request` and render `Response` back;
both directions are mechanical, so every status, header and byte is decided here.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NamedTuple, Protocol

import orjson

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"


class QueryArgs(Protocol):
    """The read side of werkzeug's MultiDict, which Flask and Quart both hand us."""

    def getlist(self, key: str) -> list[str]: ...

    def __contains__(self, key: object) -> bool: ...


class Headers(Protocol):
    def get(self, key: str) -> str | None: ...


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field, per request
class Request:
    method: str
    path: str
    path_params: Mapping[str, Any]
    query: QueryArgs
    headers: Headers
    body: bytes = b""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    # A streaming body: a workflow yielding `effects.Emit(chunk)`; `body` is then ignored.
    stream: Generator[Any, Any, None] | None = None


def json_response(
    payload: Any, status: int = 200, headers: Sequence[tuple[str, str]] = ()
) -> Response:
    return Response(status, orjson.dumps(payload), JSON, list(headers))


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode(), TEXT)


def html_response(html: str, status: int = 200) -> Response:
    return Response(status, html.encode(), HTML)


@dataclass(frozen=True, slots=True)
class Problem:
    """An RFC 9457 problem. `type` is a relative URI documented in docs/errors.md."""

    status: int
    title: str
    detail: str | None = None
    type: str = "about:blank"
    extra: Mapping[str, Any] = field(default_factory=dict)
    headers: Sequence[tuple[str, str]] = ()

    def body(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail is not None:
            payload["detail"] = self.detail
        payload.update(self.extra)
        return payload

    def to_response(self) -> Response:
        return Response(self.status, orjson.dumps(self.body()), PROBLEM_JSON, list(self.headers))


class ProblemError(Exception):
    """Raised anywhere in a workflow to end the request with a problem response."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.title)
        self.problem = problem


# RFC 9110's reason phrases. `HTTPStatus.phrase` changed with Python 3.13 (413 "Request Entity
# Too Large" became "Content Too Large"), so titles are pinned here, not borrowed from it.
STATUS_TITLES: Mapping[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def status_title(status: int) -> str:
    try:
        return STATUS_TITLES.get(status) or HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def status_problem(status: int, detail: str | None = None, **extra: Any) -> Problem:
    """A plain HTTP-status problem (`type: about:blank`, title = the status phrase)."""
    return Problem(status=status, title=status_title(status), detail=detail, extra=extra)


# The bodies the shells send for errors their framework detects before our code runs.
def not_found(path: str) -> Problem:
    return status_problem(404, f"No route matches {path!r}.")


def method_not_allowed(method: str, allowed: Sequence[str]) -> Problem:
    allow = ", ".join(sorted(allowed))
    return Problem(
        status=405,
        title="Method Not Allowed",
        detail=f"{method} is not allowed here; allowed: {allow}.",
        headers=(("Allow", allow),),
    )


def payload_too_large(limit: int) -> Problem:
    return status_problem(413, f"The request body exceeds the {limit}-byte limit.")


def bad_request(detail: str = "The request could not be parsed.") -> Problem:
    return status_problem(400, detail)


def internal_error() -> Problem:
    # Deliberately says nothing about the cause: no traceback or path reaches a client.
    return status_problem(500, "The server hit an unexpected error; it has been logged.")


def service_unavailable(detail: str, retry_after_s: int | None = None) -> Problem:
    headers = (("Retry-After", str(retry_after_s)),) if retry_after_s is not None else ()
    return Problem(503, "Service Unavailable", detail, headers=headers)


def http_error(status: int) -> Problem:
    """Any other framework-raised HTTP error, rendered the same way in both shells."""
    return status_problem(status)


def framework_error(
    status: int, method: str, path: str, allowed: Sequence[str] | None, body_limit: int
) -> Problem:
    """The body for an error the framework raised before (or instead of) our handler.

    Flask and Quart both raise werkzeug's HTTPException subclasses; each shell passes the
    status and context here so both answer 404/405/413/… with the same bytes.
    """
    if status == 404:
        return not_found(path)
    if status == 405:
        return method_not_allowed(method, allowed or ())
    if status == 413:
        return payload_too_large(body_limit)
    if status == 400:
        return bad_request()
    return http_error(status)


def options_reply(allowed: Iterable[str]) -> Response:
    """The automatic OPTIONS reply, replacing Flask's and Quart's own.

    Both frameworks list `Allow` in set order, which follows PYTHONHASHSEED, so two
    workers of the same app could disagree; here it is sorted, as in the 405 reply.
    """
    return Response(200, b"", None, [("Allow", ", ".join(sorted(set(allowed))))])


class RequestHead(NamedTuple):
    """What a shell measured of the request line and headers, for `check_request_head`.

    Plain numbers rather than the headers themselves, in a NamedTuple rather than a
    dataclass: this runs on every request, and each shell counts these straight from its
    WSGI environ or ASGI scope.
    """

    method: str
    http_version: str  # "1.1"
    target_bytes: int  # the request target (path and query) as received
    header_fields: int
    longest_header_field: int  # len(name) + len(": ") + len(value) of the longest
    has_host: bool



# "GET" + " " + target + " HTTP/" + version; the target and version vary per request.
_REQUEST_LINE_OVERHEAD = len("  HTTP/")


def check_request_head(head: RequestHead, limits: HeadLimits) -> Problem | None:
    """One set of request-head rules for both servers.

    Gunicorn refuses an over-long request line (414), too many or too large header
    fields (431), a lower-case method and a version other than 1.0/1.1 (400), but serves
    HTTP/1.1 without Host; Hypercorn (h11) does the opposite on every count. Both shells
    run this first, so whichever server is in front, the same request gets the same status.
    """
    method, version = head.method, head.http_version
    if not (method.isalpha() and method.isascii() and method.isupper()):
        return status_problem(400, "The request method must be an upper-case token.")
    if version != "1.1" and version != "1.0":
        return status_problem(400, f"HTTP/{version} is not spoken on this connection.")
    line = len(method) + head.target_bytes + len(version) + _REQUEST_LINE_OVERHEAD
    if line > limits.max_request_line:
        return status_problem(
            414, f"The request line exceeds the {limits.max_request_line}-byte limit."
        )
    if head.header_fields > limits.max_header_fields:
        return status_problem(
            431, f"The request has more than {limits.max_header_fields} header fields."
        )
    if head.longest_header_field > limits.max_header_field_bytes:
        return status_problem(
            431, f"A header field exceeds the {limits.max_header_field_bytes}-byte limit."
        )
    if version == "1.1" and not head.has_host:
        return status_problem(400, "An HTTP/1.1 request must have a Host header.")
    return None


class HeadLimits(Protocol):
    # Read-only, so a frozen Settings satisfies it.
    @property
    def max_request_line(self) -> int: ...
    @property
    def max_header_fields(self) -> int: ...
    @property
    def max_header_field_bytes(self) -> int: ...
