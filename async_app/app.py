"""The Quart shell: parse the request, call the core, render the reply.

Resources (database pool, HTTP client, CPU executor) are opened in `before_serving` and
closed in `after_serving`, on the event loop that will use them.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from quart import Quart, request, websocket
from quart import Response as QuartResponse
from quart.globals import request_ctx
from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.exceptions import HTTPException

from async_app.db import AsyncDatabase, open_database
from async_app.driver import AsyncDriver
from async_app.jobs import AsyncJobRunner
from async_app.live import Inbox, LiveHub
from async_app.process_policy import cpu_executor, forward_sigterm_to_server
from shared_logic import config as configuration
from shared_logic.context import Context
from shared_logic.features import live
from shared_logic.protocol.http import (
    HeadLimits,
    Problem,
    Request,
    RequestHead,
    Response,
    check_request_head,
    framework_error,
    internal_error,
    options_reply,
)
from shared_logic.routes import ROUTES
from shared_logic.routing import SWITCHING_PROTOCOLS, Route, dispatch
from shared_logic.sql import STATEMENTS, ensure_schema
from shell_support.startup import create_context, load_settings

log = logging.getLogger("twinport.async_app")


class AsyncResources:
    """Everything this process holds open, and how to close it."""

    def __init__(self, settings: configuration.Settings) -> None:
        self.settings = settings
        self._driver: AsyncDriver | None = None

    @property
    def driver(self) -> AsyncDriver:
        if self._driver is None:
            raise RuntimeError("resources are opened by before_serving (use app.test_app())")
        return self._driver

    async def open(self) -> None:
        settings = self.settings
        self.database: AsyncDatabase = await open_database(settings)
        # aiohttp, not httpx.AsyncClient: httpx spent ~1 ms of CPU per call here and its
        # pool slows down with calls in flight (encode/httpcore#1035); aiohttp ~0.1 ms.
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=settings.upstream_pool_size,
                keepalive_timeout=settings.upstream_keepalive_s,
            ),
            timeout=aiohttp.ClientTimeout(total=settings.upstream_timeout_s),
        )
        self._driver = AsyncDriver(
            self.database, self.http, cpu_executor(settings), lambda: cpu_executor(settings)
        )
        self.jobs = AsyncJobRunner(self._driver, STATEMENTS[self.database.dialect], settings)
        self._driver.submit_job = self.jobs.submit
        self.hub = LiveHub(self._driver, STATEMENTS[self.database.dialect].events, settings)

    async def close(self) -> None:
        if self._driver is None:
            return
        await self.hub.shutdown()
        await self.jobs.shutdown()  # first: it needs the database to record what it interrupts
        driver, self._driver = self._driver, None
        driver.new_cpu = None
        driver.cpu.shutdown(wait=False, cancel_futures=True)
        await self.http.close()
        await self.database.close()


NO_QUERY = ImmutableMultiDict[str, str]()


def render(response: Response, driver: AsyncDriver | None = None) -> QuartResponse:
    if response.stream is not None and driver is not None:
        return QuartResponse(
            driver.iterate(response.stream),
            status=response.status,
            headers=Headers(response.headers),
            content_type=response.content_type,
        )
    rendered = QuartResponse(
        response.body,
        status=response.status,
        # None skips an empty Headers.extend per request
        headers=Headers(response.headers) if response.headers else None,
        content_type=response.content_type,
    )
    if response.status in (204, 304):
        # These carry no content (RFC 9110), so no Content-Type or Content-Length either:
        # Flask and Quart would add their defaults (text/html; Quart also Content-Length: 0).
        rendered.headers.pop("Content-Type", None)
        rendered.headers.pop("Content-Length", None)
    return rendered


def render_problem(problem: Problem) -> QuartResponse:
    return render(problem.to_response())


def request_head(scope: Mapping[str, Any]) -> RequestHead:
    """Measure the request head from the ASGI scope (headers as received, in bytes)."""
    headers = scope["headers"]
    query = scope.get("query_string", b"")
    return RequestHead(
        scope.get("method", "GET"),  # a WebSocket scope has none: its handshake is a GET
        scope.get("http_version", "1.1"),
        len(scope.get("raw_path") or b"") + (len(query) + 1 if query else 0),
        len(headers),
        max((len(name) + 2 + len(value) for name, value in headers), default=0),
        any(name.lower() == b"host" for name, _ in headers),
    )


class RequestHeadGuard:
    """ASGI middleware: refuse a request whose head breaks the shared limits.

    The twin of the Flask shell's WSGI guard, wrapping `app.asgi_app` so that a refused
    request never reaches Quart's request handling.
    """

    def __init__(self, asgi_app: Any, limits: HeadLimits) -> None:
        self.asgi_app = asgi_app
        self.limits = limits

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        problem = None
        if scope["type"] in ("http", "websocket"):  # a WebSocket handshake is a GET too
            problem = check_request_head(request_head(scope), self.limits)
        if problem is None:
            await self.asgi_app(scope, receive, send)
            return
        response = problem.to_response()
        headers = [
            (b"content-type", (response.content_type or "").encode("latin-1")),
            (b"content-length", str(len(response.body)).encode("latin-1")),
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers),
        ]
        prefix = "http."
        if scope["type"] == "websocket":
            await receive()  # websocket.connect, before any reply
            if "websocket.http.response" not in scope.get("extensions", {}):
                await send({"type": "websocket.close", "code": 1008})  # the server's 403
                return
            prefix = "websocket.http."
        start = {"type": f"{prefix}response.start", "status": response.status, "headers": headers}
        await send(start)
        await send({"type": f"{prefix}response.body", "body": response.body})


async def core_request(route: Route, path_params: Mapping[str, Any], current: Any) -> Request:
    return Request(
        current.method,
        current.path,
        path_params,
        current.args if route.params else NO_QUERY,
        current.headers,
        await current.get_data(as_text=False) if route.body else b"",
    )


def make_view(
    route: Route, ctx: Context, resources: AsyncResources
) -> Callable[..., Awaitable[QuartResponse]]:
    async def view(**path_params: Any) -> QuartResponse:
        current = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup
        parsed = await core_request(route, path_params, current)
        driver = resources.driver
        return render(await driver.run(dispatch(route, ctx, parsed)), driver)

    view.__name__ = route.name
    return view


def add_socket_route(app: Quart, route: Route, ctx: Context, resources: AsyncResources) -> None:
    """A WebSocket route: the core decides the handshake, Quart accepts the socket and the
    driver holds the conversation in this handler task until it closes."""
    conversation = route.conversation
    assert conversation is not None

    async def handshake(**path_params: Any) -> QuartResponse | None:
        current = websocket._get_current_object()  # type: ignore[attr-defined]
        driver, hub = resources.driver, resources.hub
        parsed = await core_request(route, path_params, current)
        decided = await driver.run(dispatch(route, ctx, parsed))
        if decided.status != SWITCHING_PROTOCOLS:
            return render(decided)  # an HTTP reply instead of the upgrade
        if not hub.reserve():
            return render(live.too_many_sockets())
        inbox = Inbox(current, hub)
        try:
            await current.accept()
            await driver.converse(conversation(ctx), inbox)
        finally:  # also when Quart cancels this task because the client went away
            await inbox.stop()
            hub.forget(inbox)
            hub.release()
        return None

    app.add_websocket(route.path, route.name, handshake)


class TwinportQuart(Quart):
    async def make_default_options_response(self) -> QuartResponse:
        # Quart lists Allow in set order (it varies with PYTHONHASHSEED); the core sorts it.
        adapter = request_ctx.url_adapter
        if adapter is None:  # no URL map bound: Quart's own answer
            return await super().make_default_options_response()
        return render(options_reply(adapter.allowed_methods()))


def create_app(config: configuration.Settings | Mapping[str, Any] | None = None) -> Quart:
    settings = load_settings(config)
    app = TwinportQuart(
        __name__,
        instance_path=str(settings.instance_path.resolve()),
        static_folder=None,  # no undeclared /static/<path> rule: every route is in ROUTES
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["BODY_TIMEOUT"] = settings.body_timeout_s
    app.config["RESPONSE_TIMEOUT"] = settings.response_timeout_s
    app.config["TWINPORT_SETTINGS"] = settings

    resources = AsyncResources(settings)
    app.extensions["twinport"] = resources
    ctx = create_context(settings)

    @app.before_serving
    async def open_resources() -> None:
        forward_sigterm_to_server()
        await resources.open()
        await resources.driver.run(ensure_schema(ctx.sql, random.Random(settings.random_seed)))
        await resources.jobs.start()
        await resources.hub.start()

    @app.after_serving
    async def close_resources() -> None:
        await resources.close()

    for route in ROUTES:
        if route.conversation is not None:
            add_socket_route(app, route, ctx, resources)
            continue
        app.add_url_rule(
            route.path, route.name, make_view(route, ctx, resources), methods=[route.method]
        )

    app.asgi_app = RequestHeadGuard(app.asgi_app, settings)  # type: ignore[method-assign,assignment]

    @app.errorhandler(HTTPException)
    async def framework_error_handler(exc: HTTPException) -> QuartResponse:
        allowed = getattr(exc, "valid_methods", None)
        status = exc.code or 500
        return render_problem(
            framework_error(status, request.method, request.path, allowed, settings.max_body_bytes)
        )

    @app.errorhandler(Exception)
    async def unexpected_error_handler(exc: Exception) -> QuartResponse:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_problem(internal_error())

    return app


class BuiltOnFirstEvent:
    """`async_app:app` as servers load it: the Quart app, built when it is first called.

    Importing the package must create no file, thread or connection, yet
    `hypercorn async_app:app` needs an ASGI callable at import. This one builds the app on
    the first ASGI event (the lifespan start-up, under Hypercorn and Uvicorn), in the worker
    that serves it; its resources then open in `before_serving` as before. Calls run on one
    event loop, so building needs no lock.
    """

    def __init__(self, factory: Callable[[], Quart]) -> None:
        self._factory = factory
        self._app: Quart | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = self._factory()
        await self._app(scope, receive, send)
