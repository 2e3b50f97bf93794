"""The scenarios the lab measures, one module each, in report order.

The runner and the report reach a scenario only through its object here (its points, run
hooks, report section and findings), never by testing its name.
"""

from __future__ import annotations

from benchmarks.scenarios import articles, cpu, fanout, io, overhead, overload, sse, standard
from benchmarks.scenarios.base import Plan, Point, Scenario, Setup

SCENARIOS: dict[str, Scenario] = {sc.name: sc for sc in (
    articles.SCENARIO, io.SCENARIO, cpu.SCENARIO, standard.SCENARIO, fanout.SCENARIO,
    sse.SCENARIO, overhead.SCENARIO, overload.SCENARIO)}


def plan(setup: Setup) -> dict[str, Plan]:
    return {name: sc.plan(setup) for name, sc in SCENARIOS.items()}


__all__ = ["SCENARIOS", "Plan", "Point", "Scenario", "Setup", "plan"]
