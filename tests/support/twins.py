"""The Flask and the Quart app in-process, each on its own fresh database, same seed."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from tests.clients import FlaskClient, Headers, QuartClient, both
from tests.parity import Compare, Reply, assert_same
from tests.support.databases import Backend, Databases
from tests.support.session import TMP_ROOT

if TYPE_CHECKING:
    from flask import Flask
    from quart import Quart

# Every app under test, in-process or live, seeds its random generator with this.
SEED = 20260101


def app_settings(database_url: str, instance: Path, upstream: str, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "instance_path": instance,
        "upstream_url": upstream,
        "random_seed": SEED,
        "db_pool_size": 2,
        "db_pool_timeout_s": 10.0,
        "cpu_executor": "thread",
        "cpu_workers": 2,
        "fanout_threads": 8,
        "upstream_timeout_s": 10.0,
        **extra,
    }


@dataclass
class Twins:
    """The Flask and the Quart app, in-process, each on its own fresh database."""

    flask: FlaskClient
    quart: QuartClient
    flask_app: Flask
    quart_app: Quart
    backend: Backend

    async def both(
        self,
        method: str,
        target: str,
        *,
        headers: Headers | None = None,
        body: bytes | None = None,
    ) -> tuple[Reply, Reply]:
        return await both(self.flask, self.quart, method, target, headers=headers, body=body)

    async def same(
        self,
        method: str,
        target: str,
        *,
        status: int | None = None,
        compare: Compare = "bytes",
        headers: Headers | None = None,
        body: bytes | None = None,
    ) -> Reply:
        """Send to both, assert equal (and the status, if given); return Flask's reply."""
        a, b = await self.both(method, target, headers=headers, body=body)
        if status is not None:
            assert a.status == status, a
            assert b.status == status, b
        assert_same(a, b, compare=compare)
        return a


@contextlib.asynccontextmanager
async def make_twins(
    databases: Databases, upstream: str, **settings: Any
) -> AsyncIterator[Twins]:
    from async_app.app import create_app as create_quart
    from sync_app.app import create_app as create_flask

    flask_url = await asyncio.to_thread(databases.new, "flask")
    quart_url = await asyncio.to_thread(databases.new, "quart")
    instance = TMP_ROOT / f"instance-{secrets.token_hex(4)}"
    flask_app = await asyncio.to_thread(
        create_flask, app_settings(flask_url, instance / "flask", upstream, **settings)
    )
    try:
        quart_app = create_quart(app_settings(quart_url, instance / "quart", upstream, **settings))
        async with quart_app.test_app() as test_app:
            yield Twins(
                FlaskClient(flask_app),
                QuartClient(test_app),
                flask_app,
                quart_app,
                databases.backend,
            )
    finally:
        await asyncio.to_thread(flask_app.extensions["twinport"].close)
        await asyncio.to_thread(databases.drop, flask_url)
        await asyncio.to_thread(databases.drop, quart_url)


class TwinsFactory(Protocol):
    def __call__(self, **settings: Any) -> contextlib.AbstractAsyncContextManager[Twins]: ...


@pytest.fixture
async def twins(databases: Databases, upstream_url: str) -> AsyncIterator[Twins]:
    """A fresh pair of apps (same seed, same fresh data) for one test."""
    async with make_twins(databases, upstream_url) as pair:
        yield pair


@pytest.fixture
def twins_factory(databases: Databases, upstream_url: str) -> TwinsFactory:
    """`async with twins_factory(max_body_bytes=10) as pair:` for non-default settings."""

    def factory(**settings: Any) -> contextlib.AbstractAsyncContextManager[Twins]:
        return make_twins(databases, upstream_url, **settings)

    return factory
