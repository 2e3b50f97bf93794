"""Runs every row of tests/cases.py against both apps: in-process, and over live servers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cases import CASES, Case
from tests.clients import Client, both
from tests.parity import assert_same
from tests.support.live import LivePair
from tests.support.twins import Twins


def params(mode: str) -> Iterator[Any]:
    for case in CASES:
        if (mode == "live" and not case.live) or (mode == "in_process" and not case.in_process):
            continue
        yield pytest.param(case, id=case.id, marks=case.marks)


async def run_case(a: Client, b: Client, case: Case, *, live: bool) -> None:
    compare = (case.live_compare or case.compare) if live else case.compare
    for step in case.before:
        ra, rb = await both(a, b, step.method, step.target, headers=step.headers, body=step.body)
        # Set-up steps: same status, no 5xx. Only the case's own request is compared in
        # full (a set-up step may legitimately race a background job, say).
        assert ra.status == rb.status and ra.status < 500, (step, ra, rb)
    ra, rb = await both(a, b, case.method, case.target, headers=case.headers, body=case.body)
    for reply in (ra, rb):
        assert reply.status == case.status, f"{case.id}: expected {case.status}: {reply!r}"
        if case.content_type is not None:
            assert reply.content_type == case.content_type, reply
        if case.check is not None:
            case.check(reply)
    assert_same(ra, rb, compare=compare, live=live, ignore_headers=case.ignore_headers)


@pytest.mark.parametrize("case", list(params("in_process")))
async def test_in_process(twins: Twins, case: Case) -> None:
    """Fresh Flask + Quart apps, same seed and data: byte-equal answers."""
    await run_case(twins.flask, twins.quart, case, live=False)


@pytest.mark.live
@pytest.mark.parametrize("case", list(params("live")))
async def test_live(live: LivePair, case: Case) -> None:
    """gunicorn -w 4 --threads 2 sync_app:app vs hypercorn async_app:app, over sockets."""
    await run_case(live.gunicorn, live.hypercorn, case, live=True)
