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
from typing import Any, Protocol

import httpx

from tests.parity import Reply, as_served

Headers = Mapping[str, str] | list[tuple[str, str]]


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


class FlaskClient:
    live = False

    def __init__(self, app: Any, label: str = "flask") -> None:
        self.app = app
        self.label = label
        self._client = app.test_client()

    def request_sync(
        self,
        method: str,
        target: str,
        *,
        headers: Headers | None = None,
        body: bytes | None = None,
    ) -> Reply:
        response = self._client.open(
            target, method=method, headers=_header_items(headers), data=body
        )
        try:
            return Reply(
                status=response.status_code,
                headers=[(k.lower(), v) for k, v in response.headers.to_wsgi_list()],
                body=response.get_data(),
                source=self.label,
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

    def __init__(self, test_app: Any, label: str = "quart") -> None:
        self.test_app = test_app
        self.label = label
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
            target, method=method, headers=WzHeaders(_header_items(headers))
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
        return reply if raw else as_served(method, reply)


class LiveClient:
    """A real server over a real socket (httpx, HTTP/1.1, keep-alive pool)."""

    live = True

    def __init__(self, base_url: str, label: str, timeout: float = 30.0) -> None:
        self.base_url = base_url
        self.label = label
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
            method, url, headers=_header_items(headers), content=body
        )
        return Reply(
            status=response.status_code,
            headers=[(k.decode().lower(), v.decode("latin-1")) for k, v in response.headers.raw],
            body=response.content,
            source=self.label,
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
