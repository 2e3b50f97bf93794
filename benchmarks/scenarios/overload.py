"""Overload: an open-loop schedule at 0.5x, 2x, then 0.5x of the capacity measured just before."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks import svg
from benchmarks.aggregate import Data, Stat, cores
from benchmarks.markdown import table
from benchmarks.results import LoadSpec, Sample
from benchmarks.scenarios.base import ChartSink, Lab, Plan, Point, Scenario, Setup, twinport_only
from benchmarks.servers import Running

NAME = "overload"
POINT = "json"
FACTORS = (0.5, 2.0, 0.5)
CLIENT_TIMEOUT_S = 5.0


class Overload(Scenario):
    name = NAME
    timed_closed_loop = False

    def plan(self, setup: Setup) -> Plan:
        # A server that sheds nothing ends 2x of T seconds with T seconds of work queued and
        # drains it at the 0.5x phase's spare 0.5x: the last phase must outlast 2T to show
        # recovery at all.
        phases = (1.0, 2.0, 8.0) if setup.quick else (3.0, 5.0, 15.0)
        points = [Point(NAME, POINT, "/json",
                        {"endpoint": "json", "phases_s": phases, "factors": FACTORS},
                        {"mode": "open", "connections": 256, "timeout": CLIENT_TIMEOUT_S,
                         "bucket": 0.5}, twinport_only)]
        return Plan("Overload: open loop at 0.5x, 2x, then 0.5x of measured capacity",
                    "Constant arrival rate; latency from the intended send time; 5 s client "
                    "timeout.", points)

    def load_spec(self, lab: Lab, run: Running, pt: Point) -> tuple[LoadSpec, dict[str, Any]]:
        # Capacity is measured in the same server run, just before the schedule built on it.
        calibration = lab.generate({"mode": "closed", "port": run.port, "paths": [pt.path],
                                    "connections": 64, "duration": 2.0, "warmup": 0.5},
                                   allow_wrk=False)
        lab.settle(run)
        capacity = max(calibration.get("rps", 0.0), 10.0)
        spec, params = super().load_spec(lab, run, pt)
        spec["phases"] = [(f * capacity, d) for f, d in
                          zip(params["factors"], params["phases_s"], strict=True)]
        params["capacity_rps"] = capacity
        return spec, params

    def section(self, d: Data, chart: ChartSink) -> str:
        names = d.configs_in(NAME)
        if not names:
            return ""
        rows, series, bands = [], [], []
        for i, n in enumerate(names):
            samples = d.get(NAME, POINT, n)
            if not samples:
                continue
            s0 = samples[0]
            phases = s0["params"]["phases_s"]
            t1, t2 = phases[0], phases[0] + phases[1]
            if i == 0:
                bands.append((t1, t2, "2x capacity"))
            ov = summary(samples)
            rows.append([f"**{n}**", Stat(s["params"]["capacity_rps"] for s in samples).fmt(),
                         ov["before_p99"].fmt(digits=1), ov["during_p99"].fmt(digits=0),
                         ov["errors"].fmt(), ov["after_p99"].fmt(digits=1),
                         ov["recovery"].fmt(digits=1, unit=" s")])
            tl = s0["result"].get("timeline", [])
            series.append((n, [(b["t"], b["p99_us"] / 1000) for b in tl if b["p99_us"]]))
        return "\n\n".join([
            "## 7. Overload", d.scenario_description(NAME),
            table(["config", "capacity req/s (closed loop)", "p99 ms before",
                   "p99 ms during 2x", "errors + timeouts", "p99 ms after",
                   "recovery after overload ends"], rows),
            chart("overload_p99", svg.line_chart(
                "Open-loop p99 latency over time (first repetition)", series,
                xlabel="seconds", ylabel="p99 latency from intended send, ms", logy=True,
                bands=bands), "overload timeline"),
            _notes(d)])


def summary(samples: list[Sample]) -> dict[str, Stat]:
    """p99 before, during and after the overload, errors, and the time to recover."""
    before, during, after, errors, recovery = [], [], [], [], []
    for s in samples:
        p = s["params"]["phases_s"]
        t1, t2 = p[0], p[0] + p[1]
        tl = s["result"].get("timeline", [])
        # The first bucket also pays for opening the client's connections.
        pre = [b["p99_us"] for b in tl[1:] if b["t"] < t1 and b["p99_us"]]
        mid = [b["p99_us"] for b in tl if t1 <= b["t"] < t2 and b["p99_us"]]
        post = [b for b in tl if b["t"] >= t2]
        base = max(pre) if pre else None
        before.append(base / 1000 if base else None)
        during.append(max(mid) / 1000 if mid else None)
        last = [b["p99_us"] for b in post[-2:] if b["p99_us"]]
        after.append(max(last) / 1000 if last else None)
        errors.append(float(sum(s["result"].get("errors", {}).values())))
        # Recovered from the first bucket after which every bucket stays healthy.
        rec = None
        if base:
            for b in reversed(post):
                p99 = b["p99_us"]
                if not (p99 and p99 <= 2 * base and not b["errors"]):
                    break
                rec = b["t"] - t2
        recovery.append(rec)
    return {"before_p99": Stat(before), "during_p99": Stat(during),
            "after_p99": Stat(after), "errors": Stat(errors), "recovery": Stat(recovery)}


def _notes(d: Data) -> str:
    kinds: dict[str, dict[str, int]] = {}
    for s in d.samples:
        if s["scenario"] == NAME:
            agg = kinds.setdefault(s["config"], {})
            for k, v in s["result"].get("errors", {}).items():
                agg[k] = agg.get(k, 0) + v
    if not kinds:
        return ""
    shed = {n: {k: v for k, v in e.items() if k.startswith("http_")} for n, e in kinds.items()}
    shed = {n: e for n, e in shed.items() if e}
    lines = ["- Capacity is measured just before, in the same server run (closed loop, 64 "
             "connections); the open-loop client then schedules 0.5x, 2x and 0.5x of it. "
             "Recovery is the time after the 2x phase from which p99 stays under twice its "
             "pre-overload value with no errors (\"-\": not within the last phase). A "
             "server that sheds nothing ends the 2x phase with as much queued work as the "
             "phase lasted and drains it with the 0.5x phase's spare half capacity: about "
             "twice the overload's length, less whatever the client's timeouts drop from "
             "its queue."]
    if shed:
        lines.append("- Servers that shed load with an error status: " + "; ".join(
            f"{n}: {e}" for n, e in shed.items()) + ".")
    else:
        lines.append("- No server answered with an error status: none sheds load. Every "
                     "failure is the client giving up after 5 s (or a connection error), "
                     "i.e. requests queued until they were useless.")
    other = {n: {k: v for k, v in e.items() if not k.startswith("http_")}
             for n, e in kinds.items()}
    lines.append("- Client-side failures by kind: " + "; ".join(
        f"{n}: {', '.join(f'{k} {v}' for k, v in e.items())}" for n, e in other.items()
        if e) + "." if any(other.values()) else "- No client-side failures.")
    return "\n".join(lines)


def collapse(d: Data) -> str:
    """Anomaly: configurations that served almost nothing after the overload had ended."""
    rows = []
    for n in d.configs_in(NAME):
        samples = d.get(NAME, POINT, n)
        stuck: list[float] = []
        conns: list[int] = []
        timeouts: list[int] = []
        drops: list[int] = []
        busy: list[float] = []
        drain: list[float] = []
        left: list[float] = []
        for s in samples:
            p = s["params"]["phases_s"]
            post = [b for b in s["result"].get("timeline", []) if b["t"] >= p[0] + p[1]]
            sent = sum(b["sent"] for b in post)
            stuck.append(sum(b["ok"] for b in post) / sent if sent else 1.0)
            conns.append(s["result"].get("connects") or 0)
            timeouts.append(s["result"].get("errors", {}).get("timeout", 0))
            drops.append(s["server"].get("listen_overflows") or 0)
            busy.append(cores(s) or 0.0)
            drain.append(s["server"].get("drain_s") or 0.0)
            left.append(drain[-1] * s["params"].get("capacity_rps", 0.0))
        if samples and statistics.median(stuck) < 0.5:
            med = statistics.median
            rows.append(f"{n} (answered {med(stuck):.0%} of the last phase's requests; "
                        f"{med(timeouts):,.0f} timeouts, {med(conns):,.0f} connections "
                        f"opened, {med(drops):,.0f} listen-queue drops, server busy "
                        f"{med(busy):.2f} cores, and {med(drain):.1f} s after the client "
                        "stopped before it answered promptly again"
                        + (f", about {med(left):,.0f} requests of work at its capacity"
                           if med(drain) >= 1 and med(busy) >= 0.8 else "") + "; medians)")
    if not rows:
        return ""
    return ("- **Some servers never recovered from the overload, although the last "
            "phase offered half their capacity**: " + "; ".join(rows) + ". Two "
            "mechanisms keep them there, and the client's 5 s timeouts feed both. *Dead "
            "work*: HTTP/1.1 can cancel a request only by closing its connection, so "
            "each timeout closes one and the next request opens another. The server "
            "still computes the answer nobody reads, and the live request queued behind "
            "that work waits past 5 s in turn. The signs are as many new connections as "
            "timeouts and a server busy for the whole point and after it." + (
                " Granian's Rust I/O reads requests off the sockets faster than its "
                "Python side serves them and queues them, so every "
                "reconnect adds to the work left over." if any(
                    r.startswith("granian") for r in rows) else "")
            + " *SYN retries*: "
            "where the listen queue is small (Hypercorn's default backlog is 100), the "
            "reconnects overflow it. Each dropped SYN waits 1 s, then 3 s, for its "
            "retry, while a server with few threads may even sit idle. Servers that "
            "keep their connections and have room in their queues drain the backlog "
            "and recover. None of the servers sheds load with an error status: that "
            "would take a queue-time limit in front of the app.")


SCENARIO = Overload()
