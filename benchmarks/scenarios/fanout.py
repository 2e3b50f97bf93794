"""Fan-out: each request calls the lab's upstream 5 times, one after another or at once."""

from __future__ import annotations

from benchmarks.aggregate import Data, Stat, cores
from benchmarks.markdown import table
from benchmarks.scenarios.base import ChartSink, Plan, Point, Scenario, Setup, twinport_only

NAME = "fanout"
FANOUT_CALLS, FANOUT_MS = 5, 20


class Fanout(Scenario):
    name = NAME
    needs_upstream = True

    def plan(self, setup: Setup) -> Plan:
        conc = (16,) if setup.quick else (1, 16)
        points = [Point(NAME, f"{mode} c={c}",
                        f"/io/upstream?calls={FANOUT_CALLS}&ms={FANOUT_MS}&mode={mode}",
                        {"mode": mode, "calls": FANOUT_CALLS, "upstream_ms": FANOUT_MS,
                         "concurrency": c}, {**setup.closed, "connections": c}, twinport_only)
                  for mode in ("sequential", "parallel") for c in conc]
        return Plan(f"Fan-out: {FANOUT_CALLS} upstream calls of {FANOUT_MS} ms",
                    "Sequential calls cost the sum of the waits, parallel ones the longest.",
                    points)

    def constants(self) -> dict[str, object]:
        return {"FANOUT_CALLS": FANOUT_CALLS, "FANOUT_MS": FANOUT_MS}

    def section(self, d: Data, chart: ChartSink) -> str:
        pts = d.points(NAME)
        names = d.configs_in(NAME)
        if not names:
            return ""
        rows = []
        for n in names:
            rows.append([f"**{n}**"] + [
                f"{d.stat(NAME, p, n, 'rps').fmt()} / "
                f"{d.stat(NAME, p, n, 'lat_p50').fmt(digits=0)} ms" for p in pts])
        return "\n\n".join([
            "## 5. Fan-out", d.scenario_description(NAME),
            "Cells: throughput req/s / p50 latency ms.",
            table(["config", *pts], rows), _notes(d)])


def _parallel_points(d: Data) -> list[tuple[str, str]]:
    """(parallel, sequential) point pairs with more than one client."""
    return [(p, p.replace("parallel", "sequential")) for p in d.points(NAME)
            if p.startswith("parallel") and not p.endswith("c=1")]


def _notes(d: Data) -> str:
    lines = []
    for n in d.configs_in(NAME):
        for par_point, seq_point in _parallel_points(d):
            par = d.stat(NAME, par_point, n, "lat_p50").median
            seq = d.stat(NAME, seq_point, n, "lat_p50").median
            if par and seq:
                lines.append(f"- {n} {par_point.split()[-1]}: p50 sequential {seq:,.0f} ms, "
                             f"parallel {par:,.0f} ms")
    return "\n".join(lines)


def async_parallel_slower(d: Data) -> str:
    """Anomaly: an async app whose parallel fan-out is slower than its sequential one."""
    worst = None
    for n in d.configs_in(NAME):
        if d.configs[n]["interface"] != "asgi":
            continue
        for p, seq_point in _parallel_points(d):
            par = d.stat(NAME, p, n, "rps").median
            seq = d.stat(NAME, seq_point, n, "rps").median
            if par and seq and par < seq:
                busy = Stat(cores(s) for s in d.get(NAME, p, n)).median or 0
                ms = busy / par * 1000 if par else 0
                if worst is None or seq / par > worst[0]:
                    worst = (seq / par, n, p, par, seq, ms)
    if worst is None:
        return ""
    _, n, p, par, seq, ms = worst
    return (f"- **The async app's parallel fan-out is slower than its sequential one** "
            f"({n}, {p.split()[-1]}: {par:,.0f} vs {seq:,.0f} req/s, {ms:.0f} ms of server "
            "CPU per parallel request). Unexplained in this run: the async app's client "
            "(aiohttp) should make parallel calls cheaper than sequential ones. The same "
            "symptom had a known cause before: `httpx.AsyncClient`, whose pool is "
            "quadratic in requests in flight (encode/httpcore PR #1035), which is why the "
            "async shell moved to aiohttp (docs/benchmarks.md). Profile the server.")


SCENARIO = Fanout()
