"""Long-lived connections: S subscribers each hold a server-sent-events stream open."""

from __future__ import annotations

import statistics

from benchmarks import svg
from benchmarks.aggregate import Data
from benchmarks.markdown import table
from benchmarks.results import LoadResult, Sample
from benchmarks.scenarios.base import ChartSink, Plan, Point, Scenario, Setup, twinport_only

NAME = "sse"
STREAM = "/stream/ticks"
SSE_COUNT, SSE_INTERVAL_MS = 20, 100
# A configuration "holds" S subscribers while >= 99% get every event, the first event
# arrives within 1 s (p99) and later events are at most 250 ms behind schedule (p99).
SSE_MAX_FAIL_RATIO = 0.01
SSE_MAX_FIRST_US = 1_000_000
SSE_MAX_LATE_US = 250_000
# Fewer open streams than this grow RSS by less than the allocator's slack (0-13 KB per
# connection at S = 8-32 in the reference run), so no per-connection figure is printed.
SSE_RSS_MIN_SUBSCRIBERS = 128
NOT_FOUND = f"route {STREAM} answered 404: SSE scenario skipped"


class Sse(Scenario):
    name = NAME
    timed_closed_loop = False
    rss_interval_s = 0.05  # streams open and close within seconds: sample memory often

    def plan(self, setup: Setup) -> Plan:
        steps = (8, 64) if setup.quick else (8, 32, 128, 512, 1024)
        count = SSE_COUNT // 2 if setup.quick else SSE_COUNT
        points = [Point(NAME, f"subscribers={s}",
                        f"{STREAM}?count={count}&interval_ms={SSE_INTERVAL_MS}",
                        {"subscribers": s, "count": count, "interval_ms": SSE_INTERVAL_MS},
                        {"mode": "sse", "subscribers": s, "count": count,
                         "interval_ms": SSE_INTERVAL_MS}, twinport_only) for s in steps]
        return Plan(
            "Long-lived connections: SSE subscribers",
            f"S subscribers each open `{STREAM}` ({count} events, {SSE_INTERVAL_MS} ms "
            f"apart). Held while <= {SSE_MAX_FAIL_RATIO:.0%} fail, first event p99 <= "
            f"{SSE_MAX_FIRST_US // 1000} ms and event lateness p99 <= "
            f"{SSE_MAX_LATE_US // 1000} ms.", points)

    def constants(self) -> dict[str, object]:
        return {"SSE_COUNT": SSE_COUNT, "SSE_INTERVAL_MS": SSE_INTERVAL_MS,
                "SSE_MAX_FAIL_RATIO": SSE_MAX_FAIL_RATIO, "SSE_MAX_FIRST_US": SSE_MAX_FIRST_US,
                "SSE_MAX_LATE_US": SSE_MAX_LATE_US}

    def verification_path(self, path: str) -> str:
        return f"{STREAM}?count=3&interval_ms=10"  # a short stream proves the route

    def explain_failed_check(self, status: int, why: str) -> str:
        return NOT_FOUND if status == 404 else why

    def finish(self, result: LoadResult, rss_growth_kb: int) -> None:
        result["held"] = _held(result)
        opened = max(1, int(result.get("max_concurrent_open", 0)))
        result["rss_per_connection_kb"] = round(rss_growth_kb / opened, 1)

    def stop_reason(self, sample: Sample) -> str | None:
        # Steps only grow: once a server fails one, larger ones would only take longer.
        if sample["result"].get("held", False):
            return None
        return (f"not attempted: the threshold broke at {sample['params']['subscribers']} "
                "subscribers")

    def section(self, d: Data, chart: ChartSink) -> str:
        names = d.configs_in(NAME)
        info = d.scenario_description(NAME)
        if not names:
            skipped = [s for s in d.doc.get("skipped", []) if s.get("scenario") == NAME
                       and "404" in s.get("reason", "")]
            msg = f"Skipped: {skipped[0]['reason']}" if skipped else "No samples."
            return "\n\n".join(["## 6. Long-lived connections (SSE)", info, msg])
        pts = d.points(NAME)
        rows, rss_series = [], []
        for n in names:
            held = 0
            for p in pts:
                st = d.stat(NAME, p, n, "held")
                if st.median is not None and st.median >= 0.5:
                    held = max(held, _subscribers(d, p))
            cells = []
            for p in pts:
                if not d.get(NAME, p, n):
                    cells.append("not run")
                    continue
                ok = d.stat(NAME, p, n, "held").median
                first = d.stat(NAME, p, n, "sse_first_event:p99").fmt(digits=0)
                late = d.stat(NAME, p, n, "sse_lateness:p99").fmt(digits=0)
                cells.append(f"{'✅' if ok and ok >= 0.5 else '❌'} {first} / {late}")
            # Memory per connection at the largest subscriber count the server still held,
            # if that is enough connections to rise above the allocator's and pre-started
            # threads' slack (a few dozen connections can cost 0 KB of new RSS).
            per_conn = [d.stat(NAME, p, n, "rss_per_conn_kb") for p in pts
                        if (d.stat(NAME, p, n, "held").median or 0) >= 0.5
                        and _subscribers(d, p) >= SSE_RSS_MIN_SUBSCRIBERS]
            big = [s for s in per_conn if s.median is not None]
            rows.append([f"**{n}**", held, *cells, big[-1].fmt(digits=1) if big else
                         f"- (held < {SSE_RSS_MIN_SUBSCRIBERS})" if held else "-"])
            rss_series.append((n, [(_subscribers(d, p), d.stat(NAME, p, n, "rss_mb").median)
                                   for p in pts if d.get(NAME, p, n)]))
        heads = (["config", "subscribers held"] + [p.replace("subscribers=", "S=") for p in pts]
                 + [f"RSS growth per connection, KB (largest S held, S >= "
                    f"{SSE_RSS_MIN_SUBSCRIBERS})"])
        return "\n\n".join([
            "## 6. Long-lived connections (SSE)", info,
            "Cells: held? first-event p99 ms / event-lateness p99 ms.",
            table(heads, rows),
            chart("sse_rss", svg.line_chart(
                "Server RSS vs open SSE subscribers", rss_series, xlabel="subscribers",
                ylabel="peak RSS of the server tree, MB", logx=True), "memory per connection"),
            "- A blocking server spends one thread slot per open stream for its whole "
            "life, so it holds at most its slot count of subscribers; an event loop holds "
            "them as idle coroutines until CPU or memory runs out."])


def _subscribers(d: Data, point: str) -> int:
    return int(d.params(NAME, point)["subscribers"])


def _held(result: LoadResult) -> bool:
    subs = max(1, int(result.get("subscribers", 1)))
    failed = subs - int(result.get("complete", 0))
    first = result.get("first_event", {}).get("p99_us")
    late = result.get("lateness", {}).get("p99_us", 0)
    return (failed / subs <= SSE_MAX_FAIL_RATIO and first is not None
            and first <= SSE_MAX_FIRST_US and (late or 0) <= SSE_MAX_LATE_US)


def listen_overflow(d: Data) -> str:
    """Anomaly: first events after a second or more, i.e. SYN retries after a full queue."""
    hits: dict[str, tuple[int, int, float]] = {}  # config -> (subscribers, drops, p99 ms)
    for n in d.configs_in(NAME):
        for p in d.points(NAME):
            samples = d.get(NAME, p, n)
            drops = [s["server"].get("listen_overflows") for s in samples]
            p99 = d.stat(NAME, p, n, "sse_first_event:p99").median
            if (samples and all(x for x in drops) and p99 and p99 >= 1000
                    and n not in hits):
                hits[n] = (_subscribers(d, p), int(statistics.median(x or 0 for x in drops)),
                           p99)
    if not hits:
        return ""
    examples = "; ".join(f"{n} at {subs} subscribers: {drops} dropped, p99 {p99:,.0f} ms"
                         for n, (subs, drops, p99) in hits.items())
    return ("- **SSE first events after a second or more: the listen queue overflowed.** The "
            "kernel counted handshakes dropped for a full listen queue in every repetition "
            f"of the first SSE step each of these configurations failed ({examples}; "
            "median drops per point). Subscribers connect in one burst; whatever the "
            "server has not accepted when its queue (`backlog`) is full is dropped, and "
            "the client's kernel resends the SYN after its 1 s initial retransmission "
            "timeout: a few subscribers wait a second before their stream even starts. "
            "How big a burst a queue absorbs depends on how fast the server accepts "
            "during it: bare streaming servers with Hypercorn's default backlog of 100 "
            "overflow from 256 subscribers on either loop "
            "(`python -m benchmarks.probes.accept_burst`, docs/results/probes), and a "
            "framework's per-connection work lowers that point. "
            "`async_app/hypercorn.toml` sets backlog 2048, like Gunicorn's default.")


SCENARIO = Sse()
