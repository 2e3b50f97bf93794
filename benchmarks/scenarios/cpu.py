"""The CPU-bound sweep: Fibonacci(1000) x10 per request, the server on every CPU."""

from __future__ import annotations

from benchmarks import svg
from benchmarks.aggregate import Data, Stat, concurrency
from benchmarks.markdown import table
from benchmarks.scenarios.base import (
    ChartSink,
    Plan,
    Point,
    Scenario,
    Setup,
    async_twinport_only,
    twinport_only,
)

NAME = "cpu"
# The computation is repeated so one request is ~7 ms of CPU: long enough that the work, not
# HTTP, dominates, short enough for hundreds of requests per point.
CPU_ROUNDS = 10
CPU_FIB = f"/cpu/fib?n=1000&rounds={CPU_ROUNDS}"
CPU_FIB_BLOCKING = f"/cpu/fib-blocking?n=1000&rounds={CPU_ROUNDS}"


class Cpu(Scenario):
    name = NAME

    def plan(self, setup: Setup) -> Plan:
        conc = (1, 8) if setup.quick else (1, 2, 4, 16, 64)
        variants = (("fib", CPU_FIB, twinport_only),
                    ("fib-blocking", CPU_FIB_BLOCKING, async_twinport_only))
        points = [Point(NAME, f"{variant} c={c}", path,
                        {"endpoint": f"cpu/{variant}", "rounds": CPU_ROUNDS, "concurrency": c},
                        {**setup.closed, "connections": c}, applies, server_cpus="all")
                  for variant, path, applies in variants for c in conc]
        return Plan(
            f"CPU-bound sweep: Fibonacci(1000) x{CPU_ROUNDS}, concurrency 1 to {conc[-1]}",
            "The server may use every CPU here (the generator needs little), so processes "
            "can show what the GIL denies threads.", points)

    def constants(self) -> dict[str, object]:
        return {"CPU_ROUNDS": CPU_ROUNDS}

    def section(self, d: Data, chart: ChartSink) -> str:
        out = ["## 3. CPU-bound sweep", d.scenario_description(NAME)]
        series = []
        rows = []
        for variant in ("fib", "fib-blocking"):
            pts = [p for p in d.points(NAME) if p.startswith(variant + " ")]
            for n in d.configs_in(NAME):
                st = [d.stat(NAME, p, n, "rps") for p in pts]
                if all(s.median is None for s in st):
                    continue
                label = n if variant == "fib" else f"{n} (blocking)"
                series.append((label, [(concurrency(p) or 0, s.median) for p, s in
                                       zip(pts, st, strict=True) if s.median is not None]))
                busy = [d.stat(NAME, p, n, "server_cores") for p in pts]
                top = pts[-1] if pts else ""
                rows.append([f"**{label}**"] + [s.fmt() for s in st] + [
                    f"{busy[-1].median:.2f}" if busy and busy[-1].median else "-",
                    d.stat(NAME, top, n, "lat_p99").fmt(digits=1)])
        if not rows:
            return "\n\n".join([*out, "No samples."])
        pts = [p for p in d.points(NAME) if p.startswith("fib ")]
        out.append(table(["config"] + [f"c={concurrency(p)}" for p in pts] +
                         ["server cores used at top c", "p99 ms at top c"], rows))
        out.append(chart("cpu_rps", svg.line_chart(
            "CPU-bound /cpu/fib: throughput vs concurrency", series,
            xlabel="concurrent connections", ylabel="req/s", logx=True), "CPU sweep"))
        out.append(_notes(d))
        return "\n\n".join(o for o in out if o)


def offloaded_points(d: Data) -> list[str]:
    """The sweep's points on the offloaded endpoint (not the loop-blocking variant)."""
    return [p for p in d.points(NAME) if p.startswith("fib c=")]


def peak(d: Data, config: str) -> Stat:
    """The configuration's best throughput on the offloaded endpoint."""
    return max((d.stat(NAME, p, config, "rps") for p in offloaded_points(d)),
               key=lambda s: s.median or 0, default=Stat([]))


def _notes(d: Data) -> str:
    pts = offloaded_points(d)
    if not pts:
        return ""
    top = pts[-1]
    blocking = top.replace("fib ", "fib-blocking ")
    lines = []
    for n in d.configs_in(NAME):
        st = d.stat(NAME, top, n, "rps")
        busy = d.stat(NAME, top, n, "server_cores").median
        blk = d.stat(NAME, blocking, n, "rps")
        if st.median is None:
            continue
        txt = f"- **{n}**: {st.median:,.0f} req/s at {top.split()[-1]}, " \
              f"{busy:.2f} cores busy" if busy else f"- **{n}**: {st.median:,.0f} req/s"
        if blk.median is not None:
            p99o = d.stat(NAME, top, n, "lat_p99").median
            p99b = d.stat(NAME, blocking, n, "lat_p99").median
            txt += (f"; blocking the loop: {blk.median:,.0f} req/s, p99 "
                    f"{p99b or 0:,.0f} ms vs {p99o or 0:,.0f} ms offloaded")
        lines.append(txt)
    return "\n".join(lines)


SCENARIO = Cpu()
