"""One async client interface over the Flask test client, the Quart test client and httpx.

    reply = await client.request("GET", "/queries?queries=3", headers={...}, body=b"...")

`target` is the raw request target (path plus query string, already percent-encoded), so
every client sends exactly the same bytes of URL. Each returns a `tests.parity.Reply`.
Flask's test client is synchronous; it runs in a worker thread so async tests never block
the event loop (ruff's ASYNC rules).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from tests.parity import Reply, as_served

Headers = Mapping[str, str] | list[tuple[str, str]]


@dataclass(frozen=True)
class Step:
    """One request as a value (a case's set-up, generated input, a batch to fire)."""

    method: str
    target: str
    headers: Headers | None = None
    body: bytes | None = None


class Client(Protocol):
    label: str
    live: bool

    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: Headers | None = None,
        body: bytes | None = None,
    ) -> Reply: ...


def _header_items(headers: Headers | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


class CookieJar:
    """One cookie jar implementation for every client, so no framework's test-client jar
    (Flask's and Quart's differ, and Quart's connection API has none) decides what is sent.

    Deliberately simple: one host, name -> value; `Max-Age=0` or an empty value deletes.
    A request that passes its own Cookie header bypasses the jar. `cookies=False` on a
    client disables it (every request then carries only the headers a test gives).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.values: dict[str, str] = {}

    def outgoing(self, headers: Headers | None) -> list[tuple[str, str]]:
        items = _header_items(headers)
        if self.enabled and self.values and not any(k.lower() == "cookie" for k, _ in items):
            items.append(("Cookie", "; ".join(f"{k}={v}" for k, v in self.values.items())))
        return items

    def store(self, reply: Reply) -> Reply:
        if not self.enabled:
            return reply
        from tests.parity import parse_set_cookie

        for value in reply.header_list("set-cookie"):
            name, attributes = parse_set_cookie(value, mask=False)
            if attributes.get("max-age") == "0" or not attributes["value"]:
                self.values.pop(name, None)
            else:
                self.values[name] = str(attributes["value"])
        return reply


class FlaskClient:
    live = False

    def __init__(self, app: Any, label: str = "flask", cookies: bool = True) -> None:
        self.app = app
        self.label = label
        self.jar = CookieJar(cookies)
        self._client = app.test_client(use_cookies=False)

    def request_sync(
        self,
        method: str,
        target: str,
        *,
        headers: Headers | None = None,
        body: bytes | None = None,
    ) -> Reply:
        response = self._client.open(
            target, method=method, headers=self.jar.outgoing(headers), data=body
        )
        try:
            return self.jar.store(
                Reply(
                    status=response.status_code,
                    headers=[(k.lower(), v) for k, v in response.headers.to_wsgi_list()],
                    body=response.get_data(),
                    source=self.label,
                )
            )
        finally:
            response.close()

    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: Headers | None = None,
        body: bytes | None = None,
    ) -> Reply:
        return await asyncio.to_thread(
            self.request_sync, method, target, headers=headers, body=body
        )


class QuartClient:
    live = False

    def __init__(self, test_app: Any, label: str = "quart", cookies: bool = True) -> None:
        self.test_app = test_app
        self.label = label
        self.jar = CookieJar(cookies)
        self._client = test_app.test_client()

    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: Headers | None = None,
        body: bytes | None = None,
        raw: bool = False,
    ) -> Reply:
        """`raw=True` returns what Quart produced, before server semantics (HEAD body)."""
        # Quart's test client takes a dict of headers; repeated names go through a list.
        from werkzeug.datastructures import Headers as WzHeaders

        # The connection API, not `open()`: `open()` rebuilds a Response from the collected
        # bytes, which adds a Content-Length the app never sent (streamed replies).
        async with self._client.request(
            target, method=method, headers=WzHeaders(self.jar.outgoing(headers))
        ) as connection:
            if body:
                await connection.send(body)
            await connection.send_complete()
        reply = Reply(
            status=connection.status_code,
            headers=[(k.lower(), v) for k, v in (connection.headers or {}).items()],
            body=bytes(connection.response_data),
            source=self.label,
        )
        self.jar.store(reply)
        return reply if raw else as_served(method, reply)


class LiveClient:
    """A real server over a real socket (httpx, HTTP/1.1, keep-alive pool)."""

    live = True

    def __init__(
        self, base_url: str, label: str, timeout: float = 30.0, cookies: bool = False
    ) -> None:
        self.base_url = base_url
        self.label = label
        # Off by default: the live servers are shared by the whole session and concurrent
        # tests; a test that needs a session makes its own LiveClient(cookies=True).
        self.jar = CookieJar(cookies)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )

    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: Headers | None = None,
        body: bytes | None = None,
    ) -> Reply:
        # httpx.URL would re-encode the query; build the request with the raw target.
        url = httpx.URL(self.base_url + target) if "%" in target else self.base_url + target
        response = await self._client.request(
            method, url, headers=self.jar.outgoing(headers), content=body
        )
        self._client.cookies.clear()  # httpx's own jar stays out of it
        return self.jar.store(
            Reply(
                status=response.status_code,
                headers=[
                    (k.decode().lower(), v.decode("latin-1")) for k, v in response.headers.raw
                ],
                body=response.content,
                source=self.label,
            )
        )

    async def aclose(self) -> None:
        await self._client.aclose()


async def both(
    a: Client,
    b: Client,
    method: str,
    target: str,
    *,
    headers: Headers | None = None,
    body: bytes | None = None,
) -> tuple[Reply, Reply]:
    """Send one request to each client, concurrently; the apps share nothing."""
    ra, rb = await asyncio.gather(
        a.request(method, target, headers=headers, body=body),
        b.request(method, target, headers=headers, body=body),
    )
    return ra, rb
