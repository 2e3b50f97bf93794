"""Schema-driven differential testing: schemathesis reads the Flask app's /openapi.json
(in-process, over WSGI), generates requests for every operation from the documented
parameters and bodies, and each request goes to both apps; any difference or 5xx fails.

The request is encoded once (werkzeug's EnvironBuilder: query string, JSON, form and
multipart bodies) and the same bytes are sent to both apps. Operations whose valid
inputs cost seconds (the probes, with 10 s sleeps and 100-round Fibonacci) or depend on
background timing (jobs) are left to tests/test_generated.py, whose strategies cap those
costs. Examples per operation: a tenth of the profile's `max_examples` (at least 5).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from shared_logic.routes import ROUTES
from tests.generated import LoopThread, SyncTwins
from tests.parity import assert_same
from tests.support.databases import Databases

schemathesis = pytest.importorskip("schemathesis")

EXPENSIVE_OR_TIMED = {
    "cpu_fib",
    "cpu_fib_blocking",
    "io_sleep",
    "io_db_sleep",
    "io_upstream",
    "stream_ticks",
    "jobs_create",
    "jobs_get",
    "jobs_events",
}
OPERATIONS = [
    route.name for route in ROUTES if route.name not in EXPENSIVE_OR_TIMED | {"openapi"}
]


@pytest.fixture(scope="module")
def sync_twins(databases: Databases, upstream_url: str) -> Iterator[SyncTwins]:
    runner = LoopThread()
    pair = SyncTwins.open(runner, databases, upstream_url)
    yield pair
    pair.close()
    runner.close()


@pytest.fixture(scope="module")
def operations(sync_twins: SyncTwins) -> dict[str, Any]:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", sync_twins.twins.flask_app)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[operation.definition.raw["operationId"]] = operation
    return found


def encode(case: Any) -> tuple[str, str, dict[str, str], bytes]:
    """The exact request bytes for a generated case (shared by both apps)."""
    from werkzeug.test import EnvironBuilder

    kwargs = case.as_transport_kwargs(base_url="http://localhost")
    headers = {
        key: value
        for key, value in (kwargs.get("headers") or {}).items()
        if key.lower() not in ("user-agent", "x-schemathesis-testcaseid", "connection")
    }
    builder = EnvironBuilder(
        method=kwargs["method"],
        path=kwargs["path"],
        query_string=kwargs.get("query_string") or None,
        headers=headers,
        data=kwargs.get("data"),
        json=kwargs.get("json"),
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    target = environ["PATH_INFO"]
    if environ.get("QUERY_STRING"):
        target += "?" + environ["QUERY_STRING"]
    body = environ["wsgi.input"].read()
    if environ.get("CONTENT_TYPE"):
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    # werkzeug percent-encodes the path for the environ; send it encoded.
    from urllib.parse import quote

    return kwargs["method"], quote(target, safe="/?=&%+:@,;!$'()*~"), headers, body


def test_schema_covers_the_route_table(operations: dict[str, Any]) -> None:
    # schemathesis leaves out the operation that serves the schema itself.
    assert set(operations) == {route.name for route in ROUTES} - {"openapi"}


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_schema_generated_requests_get_the_same_answer(
    sync_twins: SyncTwins, operations: dict[str, Any], operation_id: str
) -> None:
    strategy = operations[operation_id].as_strategy()
    profile = settings()

    @settings(
        profile,
        max_examples=max(5, profile.max_examples // 10),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        method, target, headers, body = encode(data.draw(strategy))
        note(f"request: {method} {target} {headers} {body[:200]!r}")
        a, b = sync_twins.both(method, target, headers=headers, body=body or None)
        assert a.status < 500, a
        assert b.status < 500, b
        assert_same(a, b, compare="masked")

    run()
