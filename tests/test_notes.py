"""Notes API and attachments, beyond the one-request rows of tests/cases.py.

Both apps on each backend (the `twins` fixture), real servers where the server's own
behaviour matters (`live`), and the upload workflow driven by hand to show that a failed
upload leaves nothing behind. Concurrency (likes, competing If-Match edits) is in
tests/test_live_concurrency.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from werkzeug.datastructures import Headers, MultiDict

from shared_logic.config import Settings
from shared_logic.context import Context
from shared_logic.effects import (
    DatabaseUnavailable,
    DeleteFile,
    FetchOne,
    StorageFailed,
    UseConnection,
    WriteFile,
)
from shared_logic.features import attachments, notes
from shared_logic.openapi import document
from shared_logic.protocol import bodies, conditional
from shared_logic.protocol.http import ProblemError, Request
from shared_logic.routes import ROUTES, ROUTES_BY_NAME
from shared_logic.routing import dispatch
from shell_support import files
from tests.cases import multipart
from tests.parity import Reply, assert_same
from tests.support.live import LivePair
from tests.support.twins import Twins, TwinsFactory

JSON = {"Content-Type": "application/json"}
# Larger than one ReadFile chunk, so downloads take the streaming path.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 600


def note_body(title: str, tags: list[str] | None = None) -> bytes:
    return orjson.dumps({"title": title, "tags": tags or []})


def attachment_files(app: Any) -> list[Path]:
    instance = Path(app.config["TWINPORT_SETTINGS"].instance_path)
    return sorted(p for p in (instance / "attachments").rglob("*") if p.is_file())


# ------------------------------------------------------------------ both apps, each backend
async def test_pages_walk_every_note_once_newest_first(twins: Twins) -> None:
    for i in range(23):
        tags = ["even"] if i % 2 == 0 else ["odd"]
        await twins.same("POST", "/api/notes", status=201, compare="masked",
                         headers=JSON, body=note_body(f"n{i}", tags))
    for query, expected in (("", list(range(23, 0, -1))),
                            ("&tag=odd", list(range(22, 0, -2)))):
        seen: list[int] = []
        target: str | None = f"/api/notes?limit=5{query}"
        pages = 0
        while target is not None and pages < 10:  # bounded: 23 notes fit in 5 pages
            reply = await twins.same("GET", target, status=200, compare="masked")
            page = reply.json()
            seen += [note["id"] for note in page["items"]]
            assert len(page["items"]) <= 5
            link = reply.header("link")
            assert (link is None) == (page["next"] is None)
            target = page["next"]
            pages += 1
        assert seen == expected


async def test_etag_follows_every_change(twins: Twins) -> None:
    created = await twins.same("POST", "/api/notes", status=201, compare="masked",
                               headers=JSON, body=note_body("v1", ["a"]))
    first = created.header("etag")
    assert first == '"1.1"' and created.header("location") == "/api/notes/1"
    await twins.same("GET", "/api/notes/1", status=304, headers={"If-None-Match": first})

    liked = await twins.same("POST", "/api/notes/1/likes", status=200)
    assert liked.json() == {"id": 1, "likes": 1, "revision": 2}
    # A like changed the representation, so the old ETag no longer validates.
    await twins.same("GET", "/api/notes/1", status=200, compare="masked",
                     headers={"If-None-Match": first})
    await twins.same("PATCH", "/api/notes/1", status=412, body=b'{"title": "v2"}',
                     headers={**JSON, "If-Match": first})

    patched = await twins.same("PATCH", "/api/notes/1", status=200, compare="masked",
                               body=b'{"tags": ["b", "c"]}', headers={**JSON, "If-Match": '"1.2"'})
    assert patched.header("etag") == '"1.3"'
    assert patched.json()["title"] == "v1" and patched.json()["tags"] == ["b", "c"]
    # The tag index followed the patch.
    for tag, count in (("a", 0), ("b", 1), ("c", 1)):
        page = await twins.same("GET", f"/api/notes?tag={tag}", status=200, compare="masked")
        assert len(page.json()["items"]) == count

    await twins.same("DELETE", "/api/notes/1", status=412, headers={"If-Match": '"1.2"'})
    await twins.same("DELETE", "/api/notes/1", status=204, headers={"If-Match": '"1.3"'})
    await twins.same("GET", "/api/notes/1", status=404)
    await twins.same("DELETE", "/api/notes/1", status=404, headers={"If-Match": "*"})


async def test_attachment_streams_ranges_and_is_removed_with_its_note(twins: Twins) -> None:
    await twins.same("POST", "/api/notes", status=201, compare="masked",
                     headers=JSON, body=note_body("with file"))
    headers, body = multipart(PNG, filename="big.png", content_type="image/png")
    created = await twins.same("POST", "/api/notes/1/attachments", status=201, compare="masked",
                               headers=headers, body=body)
    assert created.json()["sha256"] == hashlib.sha256(PNG).hexdigest()
    for app in (twins.flask_app, twins.quart_app):
        stored = attachment_files(app)
        assert len(stored) == 1 and stored[0].read_bytes() == PNG
        assert not stored[0].name.startswith(".partial-")

    whole = await twins.same("GET", "/api/notes/1/attachments/1", status=200)
    assert whole.body == PNG and whole.header("content-length") == str(len(PNG))
    chunk = attachments.CHUNK_BYTES
    across = f"bytes={chunk - 10}-{chunk + 9}"  # spans the first and second chunk
    part = await twins.same("GET", "/api/notes/1/attachments/1", status=206,
                            headers={"Range": across})
    assert part.body == PNG[chunk - 10 : chunk + 10]
    tail = await twins.same("GET", "/api/notes/1/attachments/1", status=206,
                            headers={"Range": f"bytes={chunk}-"})
    assert tail.body == PNG[chunk:]
    assert tail.header("content-range") == f"bytes {chunk}-{len(PNG) - 1}/{len(PNG)}"

    await twins.same("DELETE", "/api/notes/1", status=204, headers={"If-Match": "*"})
    for app in (twins.flask_app, twins.quart_app):
        assert attachment_files(app) == []
    await twins.same("GET", "/api/notes/1/attachments/1", status=404)


async def test_storage_failures_are_clean_503s(twins: Twins) -> None:
    await twins.same("POST", "/api/notes", status=201, compare="masked",
                     headers=JSON, body=note_body("n"))
    headers, body = multipart(b"text\n")
    await twins.same("POST", "/api/notes/1/attachments", status=201, compare="masked",
                     headers=headers, body=body)
    for app in (twins.flask_app, twins.quart_app):
        attachment_files(app)[0].unlink()  # lost behind the database's back
    reply = await twins.same("GET", "/api/notes/1/attachments/1", status=503)
    assert reply.json()["title"] == "Storage unavailable"

    for app in (twins.flask_app, twins.quart_app):  # the folder cannot be created: a file
        folder = Path(app.config["TWINPORT_SETTINGS"].instance_path) / "attachments"
        for path in sorted(folder.rglob("*"), reverse=True):
            path.rmdir()
        folder.rmdir()
        folder.write_bytes(b"")
    await twins.same("POST", "/api/notes/1/attachments", status=503, headers=headers, body=body)
    # Nothing was recorded for the failed upload: the next id is 2, and 2 does not exist.
    await twins.same("GET", "/api/notes/1/attachments/2", status=404)


async def test_attachment_limit_is_configurable(twins_factory: TwinsFactory) -> None:
    async with twins_factory(max_attachment_bytes=10) as pair:
        await pair.same("POST", "/api/notes", status=201, compare="masked",
                        headers=JSON, body=note_body("n"))
        for size, status in ((10, 201), (11, 413)):
            headers, body = multipart(b"x" * size)
            reply = await pair.same("POST", "/api/notes/1/attachments", status=status,
                                    compare="masked", headers=headers, body=body)
        assert reply.json()["type"] == attachments.ATTACHMENT_TOO_LARGE
        for app in (pair.flask_app, pair.quart_app):
            assert len(attachment_files(app)) == 1


# ------------------------------------------------------------------ the workflow, by hand
def upload_workflow(note_id: int = 1) -> Any:
    ctx = Context.create(Settings(instance_path=Path("/nonexistent/instance")), "key", str)
    headers, body = multipart(b"hello\n")
    request = Request("POST", f"/api/notes/{note_id}/attachments", {"note_id": note_id},
                      MultiDict(), Headers(headers), body)
    return dispatch(ROUTES_BY_NAME["attachments_upload"], ctx, request)


@pytest.mark.backend_independent
def test_failed_insert_removes_the_written_file() -> None:
    workflow = upload_workflow()
    assert isinstance(next(workflow), FetchOne)  # does the note exist?
    write = workflow.send((1,))
    assert isinstance(write, WriteFile) and write.data == b"hello\n"
    insert = workflow.send(None)
    assert isinstance(insert, UseConnection)
    insert.steps.close()
    cleanup = workflow.throw(DatabaseUnavailable("down"))
    assert cleanup == DeleteFile(write.path)
    with pytest.raises(StopIteration) as stop:
        workflow.send(None)
    assert stop.value.value.status == 503


@pytest.mark.backend_independent
def test_failed_write_records_nothing() -> None:
    workflow = upload_workflow()
    next(workflow)
    assert isinstance(workflow.send((1,)), WriteFile)
    with pytest.raises(StopIteration) as stop:
        workflow.throw(StorageFailed("disk full"))
    assert stop.value.value.status == 503  # and no UseConnection was yielded


@pytest.mark.backend_independent
def test_atomic_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: Any) -> None:
    target = tmp_path / "ab" / "abcdef"
    files.write_atomically(str(target), b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StorageFailed), files.translated_errors():
        files.write_atomically(str(target), b"new contents")
    assert [p.name for p in target.parent.iterdir()] == ["abcdef"]
    assert target.read_bytes() == b"old"


# ------------------------------------------------------------------ pure helpers
@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-0", (0, 0)),
        ("bytes=2-", (2, 9)),
        ("bytes=-3", (7, 9)),
        ("bytes=-30", (0, 9)),
        ("bytes=5-100", (5, 9)),
        ("bytes=0-1,4-5", None),  # several ranges: served whole
        ("bytes=5-2", None),  # invalid: ignored
        ("items=0-1", None),
        ("bytes=x-1", None),
        ("bytes=\u0663-", None),  # a Unicode digit is not a byte position
        ("bytes=-", None),
    ],
)
def test_byte_range(header: str | None, expected: tuple[int, int] | None) -> None:
    found = conditional.byte_range(header, 10)
    assert ((found.start, found.end) if found else None) == expected


@pytest.mark.backend_independent
@pytest.mark.parametrize("header", ["bytes=10-", "bytes=-0", "bytes=99-100"])
def test_unsatisfiable_range(header: str) -> None:
    with pytest.raises(ProblemError) as raised:
        conditional.byte_range(header, 10)
    assert raised.value.problem.status == 416
    assert ("Content-Range", "bytes */10") in raised.value.problem.headers


@pytest.mark.backend_independent
def test_entity_tag_comparison() -> None:
    assert conditional.none_match('W/"1.2"', '"1.2"')  # weak comparison for GET
    assert conditional.none_match('"0.1", "1.2"', '"1.2"')
    assert not conditional.none_match('"1.3"', '"1.2"')
    conditional.require_match('"0.1", "1.2"', '"1.2"', "note")
    conditional.require_match("*", '"1.2"', "note")
    for stale, status in (('W/"1.2"', 412), ('"1.1"', 412), ("", 428), (None, 428)):
        with pytest.raises(ProblemError) as raised:
            conditional.require_match(stale, '"1.2"', "note")
        assert raised.value.problem.status == status


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("declared", "data", "stored"),
    [
        (None, b"plain\n", "text/plain; charset=utf-8"),
        ("application/octet-stream", b"\xff\xd8\xff\xe0", "image/jpeg"),
        ("text/csv", b"a,b\n1,2\n", "text/csv; charset=utf-8"),
        ("IMAGE/PNG; x=y", PNG, "image/png"),
        (None, b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (None, b"%PDF-1.7\n", "application/pdf"),
    ],
)
def test_content_type_is_sniffed(declared: str | None, data: bytes, stored: str) -> None:
    assert attachments.checked_content_type(declared, data) == stored


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("declared", "data", "status"),
    [
        (None, b"\x00\x01binary", 415),
        ("image/svg+xml", b"<svg/>", 415),
        ("image/png", b"GIF89a...", 422),
        ("text/plain", PNG, 422),
    ],
)
def test_content_type_is_checked(declared: str | None, data: bytes, status: int) -> None:
    with pytest.raises(ProblemError) as raised:
        attachments.checked_content_type(declared, data)
    assert raised.value.problem.status == status


@pytest.mark.backend_independent
def test_filenames_are_made_safe() -> None:
    assert attachments.safe_filename("C:\\Users\\me\\report.pdf") == "report.pdf"
    assert attachments.safe_filename("../../etc/passwd") == "passwd"
    assert attachments.safe_filename("a\x00b\r\nc.txt") == "abc.txt"
    assert attachments.safe_filename("///") == "attachment"
    assert attachments.content_disposition('résumé "v2".pdf') == (
        "attachment; filename=\"resume _v2_.pdf\"; "
        "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.pdf"
    )


@pytest.mark.backend_independent
def test_multipart_keeps_utf8_filenames_and_binary_data() -> None:
    headers, body = multipart(bytes(range(256)), filename="naïve.bin")
    request = Request("POST", "/", {}, MultiDict(), Headers(headers), body)
    (part,) = bodies.read_multipart(request)
    assert (part.name, part.filename, part.content_type) == ("file", "naïve.bin", "text/plain")
    assert bytes(part.data) == bytes(range(256))


@pytest.mark.backend_independent
def test_cursor_round_trip_and_rejects_forgeries() -> None:
    assert notes.decode_cursor(notes.encode_cursor(41)) == 41
    for forged in ("Zm9v", "bi0x", "!!", "bg"):
        with pytest.raises(ProblemError):
            notes.decode_cursor(forged)


@pytest.mark.backend_independent
def test_openapi_documents_every_notes_reply() -> None:
    paths = document(ROUTES)["paths"]
    patch = paths["/api/notes/{note_id}"]["patch"]
    assert {"200", "400", "404", "412", "413", "415", "422", "428", "503"} <= set(
        patch["responses"]
    )
    assert set(patch["requestBody"]["content"]) == set(notes.JSON_BODIES)
    create = paths["/api/notes"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["required"] == ["title"]
    download = paths["/api/notes/{note_id}/attachments/{attachment_id}"]["get"]
    assert {"200", "206", "304", "404", "416"} <= set(download["responses"])
    assert "content" not in download["responses"]["304"]
    upload = paths["/api/notes/{note_id}/attachments"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]

    def headers(operation: dict[str, Any]) -> dict[str, bool]:
        return {p["name"]: p["required"] for p in operation["parameters"] if p["in"] == "header"}

    assert headers(patch) == {"If-Match": True}
    assert headers(paths["/api/notes/{note_id}"]["delete"]) == {"If-Match": True}
    assert headers(download) == {"If-None-Match": False, "Range": False, "If-Range": False}


# ------------------------------------------------------------------ real servers
@pytest.mark.live
async def test_served_bodyless_replies_have_no_content_headers(live: LivePair) -> None:
    replies: dict[str, list[Reply]] = {}
    for client in (live.gunicorn, live.hypercorn):
        note = (await client.request("POST", "/api/notes", headers=JSON,
                                     body=note_body("served"))).json()
        etag = f'"{note["id"]}.{note["revision"]}"'
        target = f"/api/notes/{note['id']}"
        not_modified = await client.request("GET", target, headers={"If-None-Match": etag})
        deleted = await client.request("DELETE", target, headers={"If-Match": etag})
        replies[client.label] = [not_modified, deleted]
        for reply, status in ((not_modified, 304), (deleted, 204)):
            assert reply.status == status, reply
            assert reply.header("content-type") is None, reply
            assert reply.header("content-length") is None, reply
    for a, b in zip(replies["gunicorn"], replies["hypercorn"], strict=True):
        assert_same(a, b, live=True)


@pytest.mark.live
async def test_served_downloads_are_identical(live: LivePair) -> None:
    headers, body = multipart(PNG, filename="été.png", content_type="image/png")
    replies: dict[str, list[Reply]] = {}
    for client in (live.gunicorn, live.hypercorn):
        note = (await client.request("POST", "/api/notes", headers=JSON,
                                     body=note_body("files"))).json()
        created = await client.request(
            "POST", f"/api/notes/{note['id']}/attachments", headers=headers, body=body
        )
        assert created.status == 201, created
        url = created.json()["url"]
        replies[client.label] = [
            await client.request("GET", url),
            await client.request("GET", url, headers={"Range": "bytes=70000-"}),
            await client.request("HEAD", url),
        ]
        assert replies[client.label][0].body == PNG
        assert replies[client.label][1].body == PNG[70000:]
    for a, b in zip(replies["gunicorn"], replies["hypercorn"], strict=True):
        assert_same(a, b, live=True)


async def _raw_exchange(url: str, request: bytes) -> bytes:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        return head.split(b"\r\n", 1)[0] + b"\n" + await reader.readexactly(length)
    finally:
        writer.close()


@pytest.mark.live
async def test_served_oversized_body_is_refused_before_it_is_sent(live: LivePair) -> None:
    """Both servers answer 413 on the Content-Length alone (the body is never sent here)."""
    request = (
        b"POST /api/notes HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000000\r\n\r\n"
    )
    answers = [
        await _raw_exchange(live.processes[name].url, request)
        for name in ("gunicorn", "hypercorn")
    ]
    status_line, problem = answers[0].split(b"\n", 1)
    assert status_line.startswith(b"HTTP/1.1 413"), answers
    assert orjson.loads(problem)["status"] == 413
    assert answers[0].split(b"\n", 1)[1] == answers[1].split(b"\n", 1)[1]


@pytest.mark.live
async def test_served_chunked_bodies_meet_the_same_limit(live: LivePair) -> None:
    """No Content-Length: werkzeug would hand Flask a body cut at the limit (a 400 for JSON);
    sync_app.read_body makes it the 413 Quart gives. Checked at the boundary."""
    import httpx

    limit = Settings().max_body_bytes

    async def chunks(total: int) -> Any:
        while total > 0:
            size = min(65536, total)
            total -= size
            yield b" " * size  # whitespace: valid JSON padding, never a complete document

    statuses: dict[str, list[int]] = {}
    for name in ("gunicorn", "hypercorn"):
        async with httpx.AsyncClient(base_url=live.processes[name].url, timeout=30) as client:
            statuses[name] = [
                (await client.post("/api/notes", content=chunks(size), headers=JSON)).status_code
                for size in (limit - 1, limit, limit + 1)
            ]
    assert statuses["gunicorn"] == statuses["hypercorn"] == [400, 400, 413], statuses
