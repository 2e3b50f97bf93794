"""Generated-input differential testing: Hypothesis builds requests for every route of the
table (valid and invalid), each is sent to both apps, and any difference or any 5xx fails.

Example counts come from the Hypothesis profile: `default` keeps `pytest` under budget,
`--hypothesis-profile=thorough` runs many more (see docs/testing.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, note, settings

from tests.clients import Step
from tests.generated import LoopThread, SyncTwins, requests
from tests.parity import assert_same
from tests.support.databases import Databases


@pytest.fixture(scope="module")
def sync_twins(databases: Databases, upstream_url: str) -> Iterator[SyncTwins]:
    runner = LoopThread()
    pair = SyncTwins.open(runner, databases, upstream_url)
    yield pair
    pair.close()
    runner.close()


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(request=requests())
def test_generated_requests_get_the_same_answer(sync_twins: SyncTwins, request: Step) -> None:
    note(f"request: {request}")
    a, b = sync_twins.both(
        request.method, request.target, headers=request.headers, body=request.body
    )
    assert a.status < 500, a
    assert b.status < 500, b
    assert_same(a, b, compare="masked")


