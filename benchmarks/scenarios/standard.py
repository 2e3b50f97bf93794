"""Standard workloads (TechEmpower-style): JSON, plaintext and database endpoints at 64
connections."""

from __future__ import annotations

from benchmarks import svg
from benchmarks.aggregate import Data
from benchmarks.markdown import table
from benchmarks.scenarios.base import ChartSink, Plan, Point, Scenario, Setup, twinport_only

NAME = "standard"
CONNECTIONS = 64
STANDARD = {
    "json": "/json",
    "plaintext": "/plaintext",
    "db": "/db",
    "queries": "/queries?queries=20",
    "fortunes": "/fortunes",
    "updates": "/updates?queries=20",
}
DB_ENDPOINTS = {"db", "queries", "fortunes", "updates"}
# Every app answers these two, so the minimal and bare controls run them too.
CONTROL_ENDPOINTS = ("json", "plaintext")
PERCENTILES = ("p50", "p90", "p99", "p99.9")


class Standard(Scenario):
    name = NAME

    def plan(self, setup: Setup) -> Plan:
        names = ("json", "plaintext", "db", "fortunes") if setup.quick else tuple(STANDARD)
        points = [Point(NAME, name, STANDARD[name],
                        {"endpoint": name, "concurrency": CONNECTIONS},
                        {**setup.closed, "connections": CONNECTIONS},
                        (lambda c: True) if name in CONTROL_ENDPOINTS else twinport_only,
                        db_only=name in DB_ENDPOINTS)
                  for name in names]
        return Plan("Standard workloads (TechEmpower-style)", points=points,
                    description=f"Closed loop, {CONNECTIONS} connections.")

    def section(self, d: Data, chart: ChartSink) -> str:
        out = ["## 4. Standard workloads", d.scenario_description(NAME)]
        dbs = sorted({s["database"] for s in d.samples if s["scenario"] == NAME},
                     key=lambda x: x != d.primary_db)
        pts = d.points(NAME)
        for db in dbs:
            rows = [[f"**{n}**"] + [d.stat(NAME, p, n, "rps", db).fmt() for p in pts]
                    for n in d.configs_in(NAME, db)]
            out.append(f"### Throughput, req/s ({db})")
            out.append(table(["config"] + [f"/{p}" for p in pts], rows))
        names = d.configs_in(NAME)
        lat_rows = [[n] + [d.stat(NAME, "json", n, f"lat_{q}").fmt(digits=2)
                           for q in PERCENTILES] for n in names]
        out.append(f"### /json latency percentiles, ms ({d.primary_db})")
        out.append(table(["config", *PERCENTILES], lat_rows))
        out.append(chart("json_latency", svg.bar_chart(
            "/json latency percentiles (64 connections)", names,
            [(q, [d.stat(NAME, "json", n, f"lat_{q}").median for n in names])
             for q in PERCENTILES], xlabel="ms (log scale)", logx=True),
            "latency percentiles"))
        return "\n\n".join(o for o in out if o)


SCENARIO = Standard()
