"""The articles' experiment: N requests to Fibonacci(1000) issued at once, total wall time."""

from __future__ import annotations

import statistics

from benchmarks import svg
from benchmarks.aggregate import Data
from benchmarks.markdown import table
from benchmarks.scenarios.base import ChartSink, Plan, Point, Scenario, Setup, twinport_only

NAME = "articles"
# The articles' endpoint: Fibonacci(1000), computed once per request.
ARTICLE_FIB = "/cpu/fib?n=1000&rounds=1"
ARTICLE_COUNTS = (10, 100, 1000)
ARTICLE_CLIENTS = 100  # the client fires requests with up to this many in flight
LARGEST = f"n={ARTICLE_COUNTS[-1]}"


class Articles(Scenario):
    name = NAME
    timed_closed_loop = False  # a fixed count of requests, however long they take

    def plan(self, setup: Setup) -> Plan:
        points = [Point(NAME, f"n={n}", ARTICLE_FIB,
                        {"requests": n, "concurrency": min(n, ARTICLE_CLIENTS)},
                        {"mode": "closed", "requests": n,
                         "connections": min(n, ARTICLE_CLIENTS), "timeout": 120.0,
                         "max_time": 300.0}, twinport_only)
                  for n in ARTICLE_COUNTS]
        return Plan(
            "The articles' experiment: Fibonacci(1000), 10/100/1000 requests",
            f"`GET {ARTICLE_FIB}`: N requests issued at once with up to {ARTICLE_CLIENTS} in "
            "flight; total wall time and per-request latency.", points)

    def constants(self) -> dict[str, object]:
        return {"ARTICLE_FIB": ARTICLE_FIB, "ARTICLE_COUNTS": ARTICLE_COUNTS,
                "ARTICLE_CLIENTS": ARTICLE_CLIENTS}

    def section(self, d: Data, chart: ChartSink) -> str:
        names = d.configs_in(NAME)
        if not names:
            return "## 1. The articles' experiment\n\nNo samples (see skipped)."
        pts = d.points(NAME)
        rows = []
        for n in names:
            row = [f"**{n}**", f"`{d.configs[n]['typed']}`"]
            for p in pts:
                row.append(d.stat(NAME, p, n, "elapsed_s").fmt(digits=2, unit=" s"))
            for p in pts:
                row.append(d.stat(NAME, p, n, "lat_mean").fmt(digits=1))
            rows.append(row)
        heads = (["server", "command"] + [f"{p.removeprefix('n=')} requests: total" for p in pts]
                 + [f"{p.removeprefix('n=')}: mean latency ms" for p in pts])
        image = chart("articles", svg.bar_chart(
            "Total time for N requests to Fibonacci(1000)", names,
            [(p.replace("n=", "") + " requests", [d.stat(NAME, p, n, "elapsed_s").median
                                                  for n in names]) for p in pts],
            xlabel="seconds (log scale)", logx=True), "articles table")
        return "\n\n".join([
            "## 1. The articles' experiment", d.scenario_description(NAME),
            table(heads, rows), image, _verdict(d)])


def _verdict(d: Data) -> str:
    names = d.configs_in(NAME)
    if not names:
        return ""
    big = LARGEST if LARGEST in d.points(NAME) else d.points(NAME)[-1]
    medians = {n: d.stat(NAME, big, n, "elapsed_s").median for n in names}
    totals: dict[str, float] = {n: t for n, t in medians.items() if t}
    if not totals:
        return ""
    per_req_cpu = []
    for n in names:
        for s in d.get(NAME, big, n):
            ok = s["result"].get("ok") or 0
            if ok:
                per_req_cpu.append(s["server"]["cpu_s"] / ok * 1000)
    cpu_ms = statistics.median(per_req_cpu) if per_req_cpu else None
    slow = max(totals, key=lambda n: totals[n])
    fast = min(totals, key=lambda n: totals[n])
    lines = ["### Our conclusion", ""]
    count = big.removeprefix("n=")
    lines.append(
        f"- The articles report 96 s (threads) vs 344 s (no threads) for 1000 requests, "
        f"i.e. 96-344 ms per request. Here one Fibonacci(1000) request costs the server "
        f"{cpu_ms:.2f} ms of CPU (median over all servers, framework included), and "
        f"{count} requests take {totals[fast]:.2f} s on the fastest configuration "
        f"({fast}) and {totals[slow]:.2f} s on the slowest ({slow})."
        if cpu_ms else "")
    t0, t1 = totals.get("flask-dev"), totals.get("flask-dev-threaded")
    if t0 and t1:
        lines.append(
            f"- Turning threads on in the development server changes {count} requests from "
            f"{t0:.2f} s to {t1:.2f} s ({t0 / t1:.1f}x). The work is pure Python "
            "bytecode, so the GIL lets one thread run it at a time: threads only overlap "
            "the network and parsing around it.")
    g_t, s_t = totals.get("gunicorn-gthread"), totals.get("gunicorn-sync")
    if g_t and s_t:
        lines.append(f"- Gunicorn: 4 sync workers {s_t:.2f} s, 4x2 gthread {g_t:.2f} s: "
                     "processes, not threads, are what add CPU for this endpoint.")
    lines.append(
        "- **Verdict.** A 3.6x gain from threads is real only when requests *wait* (I/O: "
        "see the I/O sweep, where slots ÷ wait predicts throughput). For a CPU-bound "
        "endpoint threads in one CPython process cannot add throughput, and the "
        "articles' absolute times (≈0.1-0.3 s per request for microseconds-to-"
        "milliseconds of arithmetic) must come from their client, network or the "
        "request handling around the computation, not from Fibonacci(1000).")
    return "\n".join(lines)


SCENARIO = Articles()
