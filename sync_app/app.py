"""The Flask shell: parse the request, call the core, render the reply.

Resources (database pool, HTTP client, fan-out threads) are opened by the factory, once
per Gunicorn worker (Gunicorn imports the app after forking unless --preload is given)
and closed at interpreter exit.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from flask import Flask, request
from flask import Response as FlaskResponse
from flask.globals import request_ctx
from flask_sock import Sock
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

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
from sync_app.db import Database, open_database
from sync_app.driver import Driver
from sync_app.jobs import JobRunner
from sync_app.live import Inbox, LiveHub

log = logging.getLogger("twinport.sync_app")


class Resources:
    """Everything this process holds open, and how to close it."""

    def __init__(self, settings: configuration.Settings) -> None:
        self.database: Database = open_database(settings)
        limits = httpx.Limits(
            max_connections=settings.upstream_pool_size,
            max_keepalive_connections=settings.upstream_pool_size,
            keepalive_expiry=settings.upstream_keepalive_s,
        )
        self.http = httpx.Client(limits=limits, timeout=settings.upstream_timeout_s)
        self.fanout = ThreadPoolExecutor(settings.fanout_threads, thread_name_prefix="fanout")
        self.driver = Driver(self.database, self.http, self.fanout)
        self.jobs = JobRunner(self.driver, STATEMENTS[self.database.dialect], settings)
        self.driver.submit_job = self.jobs.submit
        self.hub = LiveHub(self.driver, STATEMENTS[self.database.dialect].events, settings)
        self.closed = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.hub.shutdown()
        self.jobs.shutdown()  # first: it needs the database to record what it interrupts
        self.fanout.shutdown(wait=False, cancel_futures=True)
        self.http.close()
        self.database.close()


NO_QUERY = ImmutableMultiDict[str, str]()


def render(response: Response, driver: Driver | None = None) -> FlaskResponse:
    if response.stream is not None and driver is not None:
        return FlaskResponse(
            driver.iterate(response.stream),
            status=response.status,
            headers=response.headers,
            content_type=response.content_type,
        )
    rendered = FlaskResponse(
        response.body,
        status=response.status,
        headers=response.headers or None,  # skips an empty Headers.extend per request
        content_type=response.content_type,
    )
    if response.status in (204, 304):
        # These carry no content (RFC 9110), so no Content-Type or Content-Length either:
        # Flask and Quart would add their defaults (text/html; Quart also Content-Length: 0).
        rendered.headers.pop("Content-Type", None)
        rendered.headers.pop("Content-Length", None)
    return rendered


def render_problem(problem: Problem) -> FlaskResponse:
    return render(problem.to_response())


def read_body(current: Any) -> bytes:
    """The raw body, refused with 413 past MAX_CONTENT_LENGTH however it is framed.

    werkzeug refuses a too-large Content-Length up front, but it cuts a chunked body off at
    the limit and raises only on a further read, so the core would get a truncated body
    (a 400 for JSON) where Quart answers 413. One more byte on the wire tells them apart.
    """
    data: bytes = current.get_data()
    limit = current.max_content_length
    at_limit = limit is not None and len(data) >= limit
    if at_limit and current.content_length is None and current.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return data


_NON_PREFIXED_HEADERS = ("CONTENT_TYPE", "CONTENT_LENGTH")


def request_head(environ: Mapping[str, Any]) -> RequestHead:
    """Measure the request head from the WSGI environ (headers are its HTTP_* keys)."""
    sizes = [
        len(key) - 3 + len(value)  # "HTTP_NAME" -> "Name: value"
        for key, value in environ.items()
        if key[:5] == "HTTP_"
    ]
    for key in _NON_PREFIXED_HEADERS:  # the two headers WSGI stores without HTTP_
        if key in environ:
            sizes.append(len(key) + 2 + len(environ[key]))
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if target is None:
        query = environ.get("QUERY_STRING", "")
        target = environ.get("PATH_INFO", "") + ("?" + query if query else "")
    return RequestHead(
        environ["REQUEST_METHOD"],
        environ.get("SERVER_PROTOCOL", "HTTP/1.1")[5:],
        len(target),
        len(sizes),
        max(sizes, default=0),
        "HTTP_HOST" in environ,
    )


class RequestHeadGuard:
    """WSGI middleware: refuse a request whose head breaks the shared limits.

    It wraps `app.wsgi_app` rather than being a `before_request` hook: Flask's hook
    machinery cost 16% of a hello-world request (it re-inspects each hook per call), and
    a refused request should not build a request context at all.
    """

    def __init__(self, wsgi_app: Any, limits: HeadLimits) -> None:
        self.wsgi_app = wsgi_app
        self.limits = limits

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        problem = check_request_head(request_head(environ), self.limits)
        if problem is None:
            return self.wsgi_app(environ, start_response)
        return render_problem(problem)(environ, start_response)


def core_request(route: Route, path_params: Mapping[str, Any]) -> Request:
    current = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup
    return Request(
        current.method,
        current.path,
        path_params,
        current.args if route.params else NO_QUERY,
        current.headers,
        read_body(current) if route.body else b"",
    )


def make_view(route: Route, ctx: Context, driver: Driver) -> Callable[..., FlaskResponse]:
    def view(**path_params: Any) -> FlaskResponse:
        return render(driver.run(dispatch(route, ctx, core_request(route, path_params))), driver)

    view.__name__ = route.name
    return view


def add_socket_route(
    app: Flask, sock: Sock, route: Route, ctx: Context, resources: Resources
) -> None:
    """A WebSocket route: the core decides the handshake, flask-sock accepts the socket
    (simple-websocket on Gunicorn's socket) and the driver holds the conversation on this
    request thread until it closes."""
    conversation = route.conversation
    assert conversation is not None
    driver, hub = resources.driver, resources.hub

    def accepted(ws: Any, **path_params: Any) -> None:
        inbox = Inbox(ws, hub)
        try:
            driver.converse(conversation(ctx), inbox)
        finally:
            hub.forget(inbox)

    accepted.__name__ = route.name
    sock.route(route.path)(accepted)
    # flask-sock completes the handshake before its view runs, so a refusal (403, 503)
    # must come first: the core's handshake wraps the view flask-sock registered.
    accept = app.view_functions[route.name]

    def handshake(**path_params: Any) -> Any:
        decided = driver.run(dispatch(route, ctx, core_request(route, path_params)))
        if decided.status != SWITCHING_PROTOCOLS:
            return render(decided)
        if not hub.reserve():
            return render(live.too_many_sockets())
        try:
            return accept(**path_params)  # returns once the socket has closed
        finally:
            hub.release()

    app.view_functions[route.name] = handshake


class TwinportFlask(Flask):
    def make_default_options_response(self) -> FlaskResponse:
        # Flask lists Allow in set order (it varies with PYTHONHASHSEED); the core sorts it.
        adapter = request_ctx.url_adapter
        if adapter is None:  # no URL map bound: Flask's own answer
            return super().make_default_options_response()
        return render(options_reply(adapter.allowed_methods()))


def create_app(config: configuration.Settings | Mapping[str, Any] | None = None) -> Flask:
    settings = load_settings(config)
    app = TwinportFlask(
        __name__,
        instance_path=str(settings.instance_path.resolve()),
        static_folder=None,  # no undeclared /static/<path> rule: every route is in ROUTES
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["TWINPORT_SETTINGS"] = settings

    ctx = create_context(settings)  # first: it refuses a production app without SECRET_KEY
    resources = Resources(settings)
    atexit.register(resources.close)
    app.extensions["twinport"] = resources
    resources.driver.run(ensure_schema(ctx.sql, random.Random(settings.random_seed)))
    resources.jobs.start()
    resources.hub.start()

    # simple-websocket's own limit, 4x ours in characters: a message it refuses is one the
    # core would refuse too (1009), so the core decides every smaller one.
    app.config["SOCK_SERVER_OPTIONS"] = {"max_message_size": 4 * settings.ws_max_message_bytes}
    sock = Sock(app)
    for route in ROUTES:
        if route.conversation is not None:
            add_socket_route(app, sock, route, ctx, resources)
            continue
        app.add_url_rule(
            route.path, route.name, make_view(route, ctx, resources.driver), methods=[route.method]
        )

    app.wsgi_app = RequestHeadGuard(app.wsgi_app, settings)  # type: ignore[method-assign]

    @app.errorhandler(HTTPException)
    def framework_error_handler(exc: HTTPException) -> FlaskResponse:
        allowed = getattr(exc, "valid_methods", None)
        status = exc.code or 500
        return render_problem(
            framework_error(status, request.method, request.path, allowed, settings.max_body_bytes)
        )

    @app.errorhandler(Exception)
    def unexpected_error_handler(exc: Exception) -> FlaskResponse:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_problem(internal_error())

    return app


class BuiltOnFirstRequest:
    """`sync_app:app` as servers load it: the Flask app, built when it is first called.

    Importing the package must create no file, thread or connection, yet
    `gunicorn sync_app:app` needs a WSGI callable at import. This one builds the app in the
    process that serves, once, under a lock (a gthread worker calls it from several threads
    at once): in each Gunicorn worker after the fork, so no pool or thread crosses a fork.
    """

    def __init__(self, factory: Callable[[], Flask]) -> None:
        self._factory = factory
        self._app: Flask | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        app = self._app if self._app is not None else self.build()
        return app(environ, start_response)

    def build(self) -> Flask:
        with self._lock:
            if self._app is None:
                self._app = self._factory()
            return self._app
