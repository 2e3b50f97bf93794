"""What a scenario is: its points, the hooks the runner calls around them, and its report.

A point is one generator run of one endpoint at one load shape against one running
configuration. Quick and full runs use the same scenarios with fewer points and shorter
durations. Each scenario module subclasses `Scenario`; the defaults here fit a plain
closed-loop sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console

from benchmarks.aggregate import Data
from benchmarks.results import LoadResult, LoadSpec, Overhead, Results, Sample
from benchmarks.servers import Config, Running

# Renders a chart into the report: (file name, SVG text, alt text) -> Markdown image link.
ChartSink = Callable[[str, str, str], str]


@dataclass(frozen=True)
class Setup:
    """The run options a scenario's points depend on."""

    quick: bool
    duration: float
    database: str  # "postgres" when PostgreSQL is among the run's databases

    @property
    def closed(self) -> LoadSpec:
        """A timed closed-loop point, before its connections are set."""
        return {"mode": "closed", "duration": self.duration,
                "warmup": 0.3 if self.quick else 0.5, "timeout": 30.0}


@dataclass(frozen=True)
class Point:
    scenario: str
    key: str  # unique within the scenario, e.g. "sleep c=64"
    path: str
    params: dict[str, Any]
    spec: LoadSpec  # minus port and paths
    applies: Callable[[Config], bool] = field(default=lambda c: True, compare=False)
    server_cpus: str = "pinned"  # "pinned" (server on its own CPU) or "all"
    db_only: bool = False  # rerun on the second database


@dataclass(frozen=True)
class Plan:
    """A scenario as one run measures it."""

    title: str
    description: str
    points: list[Point]


class Lab(Protocol):
    """The runner as the scenario hooks see it."""

    console: Console
    results: Results

    def generate(self, spec: LoadSpec, *, allow_wrk: bool = True) -> LoadResult: ...

    def settle(self, run: Running, timeout: float = 60.0) -> float: ...

    def measure_overhead(self) -> Overhead: ...


def twinport_only(c: Config) -> bool:
    return c.app == "twinport"


def async_twinport_only(c: Config) -> bool:
    return c.app == "twinport" and c.server.interface == "asgi"


class Scenario:
    name = ""
    # Closed loop for a fixed time: throughput is completions in the window, and a point
    # with no response and no error at all is an artefact of the run order.
    timed_closed_loop = True
    needs_upstream = False  # the fan-out target (benchmarks/upstream.py)
    rss_interval_s = 0.2  # how often the server's memory is sampled during a point

    def plan(self, setup: Setup) -> Plan:
        raise NotImplementedError

    def constants(self) -> dict[str, object]:
        """The scenario's fixed parameters, recorded in the results' meta."""
        return {}

    # ---------------------------------------------------------------- runner hooks
    def before_load(self, lab: Lab) -> None:
        """Once per run, before any server starts."""

    def verification_path(self, path: str) -> str:
        """The request that checks `path` answers correctly (a cheaper one if it is long)."""
        return path

    def explain_failed_check(self, status: int, why: str) -> str:
        return why

    def load_spec(self, lab: Lab, run: Running, pt: Point) -> tuple[LoadSpec, dict[str, Any]]:
        """The generator spec and the recorded parameters of one point."""
        spec = pt.spec.copy()
        spec["port"] = run.port
        spec["paths"] = [pt.path]
        return spec, dict(pt.params)

    def finish(self, result: LoadResult, rss_growth_kb: int) -> None:
        """Add what the scenario derives from a point's raw result."""

    def stop_reason(self, sample: Sample) -> str | None:
        """Why this scenario's later points on the same server are not attempted, if so."""
        return None

    # ---------------------------------------------------------------- report
    def silent(self, sample: Sample) -> bool:
        """No response and no error at a load the server turns around well inside the window."""
        r = sample["result"]
        return (self.timed_closed_loop and r.get("mode") == "closed" and not r.get("ok")
                and not r.get("errors"))

    def section(self, d: Data, chart: ChartSink) -> str:
        """The scenario's part of report.md ("" for none)."""
        return ""
