"""HTML pages, sessions, CSRF and flash messages, in both apps, on SQLite and PostgreSQL.

Both apps get the same SECRET_KEY here, so one session cookie is valid in both and their
pages can be compared byte for byte; only the cookie's value (it embeds a timestamp) and
the notes' timestamps are masked.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from shared_logic.config import Settings
from shared_logic.protocol.sessions import COOKIE_NAME, Session, SessionCodec
from shell_support.secret_key import MissingSecretKey, resolve_secret_key
from tests.parity import Reply, assert_same, parse_set_cookie
from tests.support.session import TMP_ROOT
from tests.support.twins import Twins, TwinsFactory, app_settings

SECRET = "pages-test-secret"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOKEN = "known-csrf-token"
CODEC = SessionCodec(SECRET, Settings())


def cookie_for(data: dict[str, Any], codec: SessionCodec = CODEC) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={codec.dump(Session(dict(data)))}"}


WITH_TOKEN = cookie_for({"csrf": TOKEN})


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


def session_of(reply: Reply) -> dict[str, Any]:
    """The session a reply's Set-Cookie carries (verified with the shared key)."""
    (header,) = reply.header_list("set-cookie")
    name, attributes = parse_set_cookie(header)
    assert name == COOKIE_NAME
    value = attributes["value"]
    assert isinstance(value, str)
    return CODEC._serializer.loads(value)  # type: ignore[no-any-return]


def next_cookie(reply: Reply) -> dict[str, str]:
    (header,) = reply.header_list("set-cookie")
    return {"Cookie": header.split(";", 1)[0]}


async def same(pair: Twins, method: str, target: str, status: int, **kwargs: Any) -> Reply:
    """Both apps, equal up to timestamps in the body and the session cookie's value."""
    a, b = await pair.both(method, target, **kwargs)
    assert a.status == status, a
    assert b.status == status, b
    assert_same(a, b, compare="masked", volatile_cookies=(COOKIE_NAME,))
    return a


@pytest.fixture
async def pair(twins_factory: TwinsFactory) -> AsyncIterator[Twins]:
    async with twins_factory(secret_key=SECRET) as twins:
        yield twins


# ------------------------------------------------------------------ the session cookie
async def test_first_visit_sets_a_session_cookie_with_safe_attributes(twins: Twins) -> None:
    # Default twins: each app generated its own development key, so tokens differ.
    a, b = await twins.both("GET", "/notes")
    for reply in (a, b):
        assert reply.status == 200 and reply.content_type == "text/html; charset=utf-8"
        (header,) = reply.header_list("set-cookie")
        name, attributes = parse_set_cookie(header)
        assert name == COOKIE_NAME
        assert attributes["path"] == "/"
        assert attributes["httponly"] is True
        assert attributes["samesite"] == "Lax"
        assert "secure" not in attributes and "expires" not in attributes
        assert reply.header("cache-control") == "no-store"
    # Same headers and page once the random token and the cookie value are set aside.
    assert_same(
        Reply(a.status, a.headers, re.sub(rb'value="[^"]{43}"', b"TOKEN", a.body), "flask"),
        Reply(b.status, b.headers, re.sub(rb'value="[^"]{43}"', b"TOKEN", b.body), "quart"),
        volatile_cookies=(COOKIE_NAME,),
    )


async def test_secure_cookie_when_configured(twins_factory: TwinsFactory) -> None:
    async with twins_factory(secret_key=SECRET, session_cookie_secure=True) as pair:
        for reply in await pair.both("GET", "/notes"):
            assert parse_set_cookie(reply.header("set-cookie") or "")[1]["secure"] is True


async def test_a_known_session_gets_the_same_page_and_no_new_cookie(pair: Twins) -> None:
    reply = await same(pair, "GET", "/notes", 200, headers=WITH_TOKEN)
    assert reply.header("set-cookie") is None
    assert f'name="csrf_token" value="{TOKEN}"' in reply.text()
    assert "No notes yet." in reply.text()


async def test_a_tampered_cookie_starts_a_new_session(pair: Twins) -> None:
    forged = cookie_for({"csrf": TOKEN}, SessionCodec("someone-elses-key", Settings()))
    reply = await same(pair, "GET", "/notes", 200, headers=forged)
    assert session_of(reply)["csrf"] != TOKEN


# ------------------------------------------------------------------ create: the happy path
async def test_post_redirects_with_a_flash_message_shown_once(pair: Twins) -> None:
    title = "<script>alert('x')</script>"
    created = await same(pair, "POST", "/notes", 303,
                         headers={**FORM, **WITH_TOKEN},
                         body=form(title=title, body="line 1\nline 2", tags="red, blue",
                                   csrf_token=TOKEN))
    assert created.header("location") == "/notes/1"
    assert session_of(created) == {"csrf": TOKEN, "flash": "Note created."}

    shown = await same(pair, "GET", "/notes/1", 200, headers=next_cookie(created))
    page = shown.text()
    assert '<p class="flash" role="status">Note created.</p>' in page
    assert "<script>" not in page  # escaped, so inert
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert '<span class="tag">red</span> <span class="tag">blue</span>' in page
    assert session_of(shown) == {"csrf": TOKEN}  # the flash is consumed

    again = await same(pair, "GET", "/notes/1", 200, headers=next_cookie(shown))
    assert "flash" not in again.text() and again.header("set-cookie") is None

    listing = await same(pair, "GET", "/notes", 200, headers=next_cookie(shown))
    assert '<a href="/notes/1">&lt;script&gt;' in listing.text()
    # The page and the JSON API show the same note.
    note = (await pair.same("GET", "/api/notes/1", status=200, compare="masked")).json()
    assert note["title"] == title and note["tags"] == ["red", "blue"]


async def test_note_created_by_the_api_renders_escaped(pair: Twins) -> None:
    await pair.same("POST", "/api/notes", status=201, compare="masked",
                    headers={"Content-Type": "application/json"},
                    body=b'{"title": "<img src=x onerror=alert(1)>", "body": "</div><b>"}')
    page = (await same(pair, "GET", "/notes/1", 200)).text()
    assert "<img" not in page and "</div><b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


# ------------------------------------------------------------------ failure paths
@pytest.mark.parametrize(
    ("headers", "fields"),
    [
        ({}, {"title": "a", "csrf_token": TOKEN}),  # no session at all
        (WITH_TOKEN, {"title": "a"}),  # no token in the form
        (WITH_TOKEN, {"title": "a", "csrf_token": "wrong"}),
        (WITH_TOKEN, {"title": "a", "csrf_token": ""}),
        (cookie_for({}), {"title": "a", "csrf_token": ""}),  # session without a token
        (
            cookie_for({"csrf": TOKEN}, SessionCodec("forged", Settings())),
            {"title": "a", "csrf_token": TOKEN},
        ),
    ],
)
async def test_csrf_failures_are_403_and_store_nothing(
    pair: Twins, headers: dict[str, str], fields: dict[str, str]
) -> None:
    reply = await same(pair, "POST", "/notes", 403, headers={**FORM, **headers},
                       body=form(**fields))
    assert "<h1>403 Forbidden</h1>" in reply.text()
    assert reply.header("set-cookie") is None
    listing = await pair.same("GET", "/api/notes", status=200)
    assert listing.json()["items"] == []


async def test_invalid_fields_rerender_the_form_with_422(pair: Twins) -> None:
    reply = await same(pair, "POST", "/notes", 422, headers={**FORM, **WITH_TOKEN},
                       body=form(title="  ", body="<b>kept</b>", tags="ok BAD!",
                                 csrf_token=TOKEN))
    page = reply.text()
    assert "<li>title: must not be blank</li>" in page
    assert "<li>tags[1]: must be a string matching" in page
    assert "&lt;b&gt;kept&lt;/b&gt;</textarea>" in page  # the user's input, kept and escaped
    assert 'value="ok BAD!"' in page
    assert reply.header("set-cookie") is None
    assert (await pair.same("GET", "/api/notes", status=200)).json()["items"] == []


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Type": "application/json"}, b'{"title": "a"}', 415),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x--", 415),
        ({}, b"title=a", 415),
        ({"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"}, b"t=a", 415),
        (FORM, b"title=%FF&csrf_token=" + TOKEN.encode(), 400),
        (FORM, b"title=\xff", 400),
        (FORM, b"&".join(b"f%d=1" % i for i in range(21)), 400),
    ],
)
async def test_bad_form_bodies(pair: Twins, headers: Any, body: bytes, status: int) -> None:
    reply = await same(pair, "POST", "/notes", status, headers={**headers, **WITH_TOKEN},
                       body=body)
    assert reply.content_type == "text/html; charset=utf-8"


async def test_oversized_form_is_413(twins_factory: TwinsFactory) -> None:
    async with twins_factory(secret_key=SECRET, max_body_bytes=64) as pair:
        body = form(title="x" * 100, csrf_token=TOKEN)
        reply = await same(pair, "POST", "/notes", 413, headers={**FORM, **WITH_TOKEN},
                           body=body)
        assert reply.content_type == "application/problem+json"


async def test_missing_notes_are_404_pages(pair: Twins) -> None:
    for target in ("/notes/1", "/notes/99999999999999999999999"):
        reply = await same(pair, "GET", target, 404)
        assert "<h1>404 Not Found</h1>" in reply.text()
    await same(pair, "GET", "/notes/abc", 404)  # the framework's: problem+json


async def test_older_notes_link_pages_through(pair: Twins) -> None:
    for i in range(52):
        await pair.same("POST", "/api/notes", status=201, compare="masked",
                        headers={"Content-Type": "application/json"},
                        body=b'{"title": "n%d"}' % i)
    first = (await same(pair, "GET", "/notes", 200, headers=WITH_TOKEN)).text()
    assert first.count('<li><a href="/notes/') == 50
    (older,) = re.findall(r'<a href="(/notes\?cursor=[^"]+)">Older notes</a>', first)
    second = (await same(pair, "GET", older, 200, headers=WITH_TOKEN)).text()
    assert re.findall(r">n(\d+)</a>", second) == ["1", "0"]


# ------------------------------------------------------------------ the secret key
@pytest.mark.parametrize("kind", ["flask", "quart"])
def test_production_refuses_to_start_without_a_secret_key(kind: str, tmp_path: Path) -> None:
    if kind == "flask":
        from sync_app.app import create_app
    else:
        from async_app.app import create_app  # type: ignore[assignment]
    config = app_settings(
        f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path, "http://127.0.0.1:9",
        environment="production", secret_key="",
    )
    with pytest.raises(MissingSecretKey, match="SECRET_KEY"):
        create_app(config)
    assert not (tmp_path / "secret_key").exists()


def test_production_setting_comes_from_the_environment() -> None:
    settings = Settings.from_env({"TWINPORT_ENV": "production", "SECRET_KEY": "k"})
    assert settings.environment == "production" and settings.secret_key == "k"
    with pytest.raises(ValueError, match="TWINPORT_ENV"):
        Settings.from_env({"TWINPORT_ENV": "prod"})


def _resolve(instance: str) -> str:
    return resolve_secret_key(Settings(instance_path=Path(instance)))


def test_development_key_is_created_once_and_shared_by_concurrent_workers() -> None:
    instance = TMP_ROOT / f"secret-race-{os.getpid()}"
    # Eight processes at once, like Gunicorn workers booting: one key wins, all read it.
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        keys = pool.map(_resolve, [str(instance)] * 8)
    assert len(set(keys)) == 1 and len(keys[0]) >= 64
    assert _resolve(str(instance)) == keys[0]  # persisted: a restart keeps sessions valid
    mode = stat.S_IMODE((instance / "secret_key").stat().st_mode)
    assert mode == 0o600
    assert sorted(path.name for path in instance.iterdir()) == ["secret_key"]  # no temp left
