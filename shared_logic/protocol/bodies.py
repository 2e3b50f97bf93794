"""Request-body parsing for JSON and multipart/form-data, done once for both shells.

The shells hand over the raw bytes (`Route.body == "raw"`); everything a framework would
otherwise decide (media type checks, decoding, error wording) is decided here, so Flask and
Quart reject a bad body with the same status and the same bytes. Each kind of bad body has
its own problem type, so a client can tell "fix your JSON" from "send JSON at all".
Oversized bodies never get here: both frameworks enforce `Settings.max_body_bytes` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from shared_logic.protocol.http import Problem, ProblemError, Request

MALFORMED_JSON = "/problems/malformed-json"
INVALID_ENCODING = "/problems/invalid-encoding"
UNSUPPORTED_MEDIA_TYPE = "/problems/unsupported-media-type"
MALFORMED_MULTIPART = "/problems/malformed-multipart"
EMPTY_BODY = "/problems/empty-body"


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    """The request's media type (lower-cased) and its parameters."""
    mime, options = parse_options_header(request.headers.get("Content-Type") or "")
    return (
        mime.decode("latin-1"),
        {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in options.items()},
    )


def unsupported_media_type(given: str, accepted: Sequence[str]) -> ProblemError:
    expected = " or ".join(accepted)
    return ProblemError(
        Problem(
            status=415,
            title="Unsupported media type",
            detail=f"The body must be {expected}; got {given or 'no Content-Type'}.",
            type=UNSUPPORTED_MEDIA_TYPE,
        )
    )


def _is_json(mime: str) -> bool:
    # application/json itself, or a structured-syntax suffix such as merge-patch+json.
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


def read_json(request: Request, accepted: Sequence[str] = ("application/json",)) -> Any:
    """Decode a JSON request body, or raise the 4xx problem that says what is wrong.

    415 for a body that is not declared JSON (or declares a charset other than UTF-8),
    400 for an empty body, invalid UTF-8 or malformed JSON — each with its own `type`.
    """
    mime, options = media_type(request)
    if not _is_json(mime):
        raise unsupported_media_type(mime, accepted)
    charset = options.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise unsupported_media_type(f"{mime} in {charset}", ("UTF-8 encoded JSON",))
    if not request.body.strip():
        raise ProblemError(
            Problem(400, "Empty body", "The request needs a JSON body.", type=EMPTY_BODY)
        )
    try:
        request.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(
            Problem(
                400,
                "Invalid encoding",
                f"The body is not valid UTF-8 (byte {exc.start}).",
                type=INVALID_ENCODING,
            )
        ) from None
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise ProblemError(
            Problem(
                400,
                "Malformed JSON",
                f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, "
                f"column {exc.colno}.",
                type=MALFORMED_JSON,
            )
        ) from None


@dataclass(slots=True)
class Part:
    """One part of a multipart/form-data body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytearray = field(default_factory=bytearray)


def _malformed_multipart(detail: str) -> ProblemError:
    return ProblemError(Problem(400, "Malformed multipart body", detail, type=MALFORMED_MULTIPART))


class _PartCollector:
    """Callbacks for python-multipart's streaming parser that keep each part in memory.

    The body is already in memory (bounded by the body limit), so copying parts out of it
    costs at most that much again.
    """

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.finished = False
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        # Kept byte-for-byte (latin-1) until a parameter is taken out: RFC 7578 lets a
        # filename be raw UTF-8, which browsers send.
        name = self._field.decode("latin-1").lower()
        self._headers[name] = self._value.decode("latin-1")
        self._field.clear()
        self._value.clear()

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get("content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise _malformed_multipart("Each part needs `Content-Disposition: form-data; name=…`.")
        decoded = {k: v.decode("utf-8", errors="replace") for k, v in options.items()}
        self.parts.append(
            Part(
                name=decoded[b"name"],
                filename=decoded.get(b"filename"),
                content_type=self._headers.get("content-type"),
            )
        )
        self._headers = {}

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.parts[-1].data += data[start:end]

    def on_end(self) -> None:
        self.finished = True


def read_multipart(request: Request, max_parts: int = 8) -> list[Part]:
    """Split a multipart/form-data body into its parts, or raise a 4xx problem."""
    mime, options = media_type(request)
    if mime != "multipart/form-data":
        raise unsupported_media_type(mime, ("multipart/form-data",))
    boundary = options.get("boundary")
    if not boundary:
        raise _malformed_multipart("The Content-Type header names no boundary.")
    collector = _PartCollector()
    callbacks: Any = {
        name: getattr(collector, name)
        for name in (
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_end",
        )
    }
    try:
        parser = MultipartParser(boundary.encode("latin-1"), callbacks)
        parser.write(request.body)
    except FormParserError:
        raise _malformed_multipart("The body does not follow its multipart boundary.") from None
    if not collector.finished:
        raise _malformed_multipart("The body ends before its closing boundary.")
    if len(collector.parts) > max_parts:
        raise _malformed_multipart(f"At most {max_parts} parts are accepted.")
    return collector.parts
