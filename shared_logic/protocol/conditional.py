"""Conditional requests (RFC 9110 §13) and byte ranges (§14), decided in the core.

Neither shell uses its framework's `make_conditional`/`send_file`: Flask and Quart would
then each decide 304/412/206 their own way, with their own headers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared_logic.protocol.http import Problem, ProblemError, status_problem

PRECONDITION_REQUIRED = "/problems/precondition-required"
PRECONDITION_FAILED = "/problems/precondition-failed"


def _entity_tags(header: str) -> list[str]:
    """The entity-tags of an If-Match / If-None-Match list, quotes kept, `W/` kept."""
    tags = []
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag.startswith(('W/"', '"')) and tag.endswith('"') and len(tag) >= 2:
            tags.append(tag)
    return tags


def none_match(header: str | None, etag: str) -> bool:
    """True when If-None-Match matches `etag` (weak comparison), i.e. answer 304."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(tag.removeprefix("W/") == etag for tag in _entity_tags(header))


def require_match(header: str | None, etag: str, what: str) -> None:
    """Enforce a mandatory If-Match (strong comparison): 428 when absent, 412 when stale.

    Making it mandatory is what stops two editors from overwriting each other: a client
    must prove it saw the current revision before it may change it.
    """
    if header is None or not header.strip():
        raise precondition_required(what)
    if header.strip() == "*" or etag in _entity_tags(header):  # weak tags never match
        return
    raise stale(what, etag)


def precondition_required(what: str) -> ProblemError:
    return ProblemError(
        Problem(
            428,
            "Precondition required",
            f"Send If-Match with the ETag of the {what} you are changing.",
            type=PRECONDITION_REQUIRED,
        )
    )


def stale(what: str, current_etag: str | None = None) -> ProblemError:
    """412; `current_etag`, when known, spares the client a GET before it retries."""
    return ProblemError(
        Problem(
            412,
            "Precondition failed",
            f"The {what} has changed since you read it; fetch it again and reapply.",
            type=PRECONDITION_FAILED,
            extra={"current_etag": current_etag} if current_etag else {},
        )
    )


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def byte_range(header: str | None, size: int) -> ByteRange | None:
    """The one range to serve, or None to serve the whole representation (200).

    Only a single range is honoured; a malformed header or several ranges are ignored
    (RFC 9110 lets a server do that). A well-formed range that lies wholly past the end
    is a 416 problem carrying `Content-Range: bytes */size`.
    """
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not all(p == "" or (p.isascii() and p.isdigit()) for p in (first, last)):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)  # "-N": the last N bytes
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None  # invalid (last < first): ignore the header
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, end)


def _unsatisfiable(size: int) -> ProblemError:
    problem = status_problem(416, f"The range lies outside the {size} bytes available.")
    return ProblemError(replace(problem, headers=(("Content-Range", f"bytes */{size}"),)))
