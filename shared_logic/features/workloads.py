"""Concurrency probes: the CPU-bound, wait-bound and fan-out workloads the benchmarks use.

Bounds are chosen so no single request can hold a worker for more than about 20 seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from shared_logic.context import Context
from shared_logic.effects import Compute, FetchOne, Gather, HttpGet, Sleep, UpstreamFailed, Workflow
from shared_logic.features.cpu import fibonacci_report
from shared_logic.protocol.http import Problem, ProblemError, Request, Response, json_response
from shared_logic.validation import Choice, Integer

FIB_N = Integer("n", 1000, 1, 10_000, "How many Fibonacci numbers to compute (F(0)..F(n-1)).")
FIB_ROUNDS = Integer("rounds", 1, 1, 100, "How many times to repeat the whole computation.")
SLEEP_MS = Integer("ms", 100, 0, 10_000, "Milliseconds to wait.")
UPSTREAM_CALLS = Integer("calls", 4, 1, 50, "How many upstream requests to make.")
UPSTREAM_MS = Integer("ms", 100, 0, 5_000, "Milliseconds the upstream waits per call.")
UPSTREAM_MODE = Choice(
    "mode",
    "sequential",
    ("sequential", "parallel"),
    "sequential: one call after another; parallel: all at once (threads in the Flask app, "
    "asyncio.gather in the Quart app).",
)
UPSTREAM_FAILED = "/problems/upstream-failed"


def fib(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    report = yield from Compute(fibonacci_report, (params["n"], params["rounds"]))
    return json_response(report)


def fib_blocking(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    report = yield from Compute(fibonacci_report, (params["n"], params["rounds"]), offload=False)
    return json_response(report)


def sleep(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    yield from Sleep(params["ms"] / 1000)
    return json_response({"slept_ms": params["ms"]})


def db_sleep(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    yield from FetchOne(ctx.sql.db_sleep, (params["ms"],))
    return json_response({"slept_ms": params["ms"], "database": ctx.sql.dialect})


def _upstream_result(reply: tuple[int, bytes]) -> dict[str, Any]:
    status, body = reply
    try:
        waited = orjson.loads(body).get("waited_ms") if status == 200 else None
    except orjson.JSONDecodeError:
        waited = None
    return {"status": status, "waited_ms": waited}


def upstream(ctx: Context, request: Request, params: Mapping[str, Any]) -> Workflow[Response]:
    url = f"{ctx.settings.upstream_url.rstrip('/')}/wait?ms={params['ms']}"
    calls = [HttpGet(url) for _ in range(params["calls"])]
    try:
        if params["mode"] == "parallel":
            replies = yield from Gather(tuple(calls))
        else:
            replies = []
            for call in calls:
                replies.append((yield from call))
    except UpstreamFailed as exc:
        raise ProblemError(
            Problem(502, "Bad Gateway", f"The upstream service failed: {exc}", UPSTREAM_FAILED)
        ) from None
    return json_response(
        {
            "mode": params["mode"],
            "calls": params["calls"],
            "ms": params["ms"],
            "results": [_upstream_result(reply) for reply in replies],
        }
    )
