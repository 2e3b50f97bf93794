"""The I/O wait sweep: requests that wait 50 ms, concurrency 1 to 1024, against slots ÷ wait."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from benchmarks import svg
from benchmarks.aggregate import Data, Stat, concurrency, cores
from benchmarks.markdown import table
from benchmarks.results import ConfigInfo, Sample
from benchmarks.scenarios.base import ChartSink, Plan, Point, Scenario, Setup, twinport_only

NAME = "io"
IO_WAIT_MS = 50
# A point with more connections than this can honestly get nothing inside a 2 s window (its
# requests queue in front of a few slots): that is a result, not an artefact.
SILENT_MAX_CONCURRENCY = 8
DEFAULT_POOL_SIZE = 10  # TWINPORT_DB_POOL_SIZE's default, per process


class Io(Scenario):
    name = NAME

    def plan(self, setup: Setup) -> Plan:
        conc: tuple[int, ...] = (1, 16, 64, 256) if setup.quick else (1, 8, 64, 256, 1024)
        # The built-in client runs the I/O sweep even where wrk is installed: rates are low,
        # and it counts connections that got no answer at all (starvation), which wrk cannot.
        spec = setup.closed
        spec["generator"] = "builtin"
        endpoints = ["sleep", "db-sleep"] if setup.database == "postgres" else ["sleep"]
        points = [Point(NAME, f"{ep} c={c}", f"/io/{ep}?ms={IO_WAIT_MS}",
                        {"endpoint": f"io/{ep}", "wait_ms": IO_WAIT_MS, "concurrency": c},
                        {**spec, "connections": c}, twinport_only, db_only=ep == "db-sleep")
                  for ep in endpoints for c in conc]
        return Plan(f"I/O wait sweep: {IO_WAIT_MS} ms waits, concurrency 1 to {conc[-1]}",
                    "Closed loop, fixed connections. The Little's-law bound is slots / wait.",
                    points)

    def constants(self) -> dict[str, object]:
        return {"IO_WAIT_MS": IO_WAIT_MS}

    def silent(self, sample: Sample) -> bool:
        low_load = int(sample["params"].get("concurrency") or 0) <= SILENT_MAX_CONCURRENCY
        return low_load and super().silent(sample)

    def section(self, d: Data, chart: ChartSink) -> str:
        out = ["## 2. I/O wait sweep", d.scenario_description(NAME)]
        for ep in ("sleep", "db-sleep"):
            pts = [p for p in d.points(NAME) if p.startswith(ep + " ")]
            if not pts:
                continue
            dbs = [d.primary_db] if ep == "sleep" else sorted(
                {s["database"] for s in d.samples if s["point"].startswith("db-sleep")})
            for db in dbs:
                out += _sweep_tables(d, chart, ep, pts, db)
        out.append(_notes(d))
        return "\n\n".join(o for o in out if o)


def _sweep_tables(d: Data, chart: ChartSink, ep: str, pts: list[str], db: str) -> list[str]:
    names = d.configs_in(NAME, db)
    wait = d.params(NAME, pts[0]).get("wait_ms", IO_WAIT_MS)
    rows, series, p99s, hl = [], [], [], []
    by_config = peaks(d, db)
    for i, n in enumerate(names):
        st = [d.stat(NAME, p, n, "rps", db) for p in pts]
        series.append((n, [(concurrency(p) or 0, s.median) for p, s in
                           zip(pts, st, strict=True) if s.median is not None]))
        p99s.append((n, [(concurrency(p) or 0, d.stat(NAME, p, n, "lat_p99", db).median)
                         for p in pts]))
        pk = by_config.get((n, f"io/{ep}"))
        if pk and pk.bound:
            hl.append((pk.bound, f"{n} bound {pk.bound:,.0f}", i))
        top = d.get(NAME, pts[-1], n, db)
        starved = Stat(x["result"].get("starved_connections") for x in top)
        rows.append([f"**{n}**", *[s.fmt() for s in st],
                     bound_txt(pk.bound) if pk else "-",
                     f"{pk.ratio:.0%}" if pk and pk.ratio else "-",
                     pk.limit if pk else "-", starved.fmt()])
    heads = ["config"] + [f"c={concurrency(p)}" for p in pts] + [
        "Little bound", "peak / bound", "what limits it",
        f"connections with no answer at c={concurrency(pts[-1])}"]
    out = [f"### /io/{ep}?ms={wait} ({db}): throughput, req/s", table(heads, rows)]
    # One dashed line per distinct bound, labelled with every config it bounds.
    by_bound: dict[float, list[tuple[str, int]]] = defaultdict(list)
    for y, label, ci in hl:
        by_bound[y].append((label.split(" bound ")[0], ci))
    merged = [(y, f"Little bound {y:,.0f}: " + ", ".join(n for n, _ in cs), cs[0][1])
              for y, cs in by_bound.items()]
    out.append(chart(f"io_{ep}_{db}_rps", svg.line_chart(
        f"/io/{ep} ({wait} ms): throughput vs concurrency", series,
        xlabel="concurrent connections", ylabel="req/s", logx=True, logy=True,
        hlines=merged), "I/O sweep throughput"))
    lat_rows = []
    for n in names:
        for p in pts:
            c = concurrency(p)
            if c not in (1, 64, max(concurrency(x) or 0 for x in pts)):
                continue
            cap = 0.8 * float(d.meta.get("duration_s") or 0) * 1000
            cells = []
            for q in ("p50", "p90", "p99", "p99.9"):
                lat = d.stat(NAME, p, n, f"lat_{q}", db)
                mark = "≥ " if cap and (lat.median or 0) >= cap else ""
                cells.append(mark + lat.fmt(digits=1))
            lat_rows.append([n, c, *cells, d.stat(NAME, p, n, "errors", db).fmt()])
    out.append("Latency (ms) at c=1, 64 and the highest concurrency; ≥ marks a "
               "value cut off by the run length (see anomalies):")
    out.append(table(["config", "c", "p50", "p90", "p99", "p99.9", "errors"], lat_rows))
    out.append(chart(f"io_{ep}_{db}_p99", svg.line_chart(
        f"/io/{ep} ({wait} ms): p99 latency vs concurrency", p99s,
        xlabel="concurrent connections", ylabel="p99 latency, ms", logx=True,
        logy=True), "I/O sweep p99"))
    return out


def bound_txt(bound: float | None) -> str:
    return f"{bound:,.0f}" if bound else "none (no fixed slots)"


def _pct(x: float | None) -> str:
    return f"{x:.0%}" if x is not None else "-"


@dataclass(frozen=True)
class Peak:
    """A configuration's best point on one I/O endpoint, next to its Little's-law bound."""

    stat: Stat
    point: str
    bound: float | None
    ratio: float | None
    cores: float
    limit: str  # what stopped it, in words
    conns: list[int] | None
    slots: int | None


def peaks(d: Data, db: str | None = None) -> dict[tuple[str, str], Peak]:
    """(config, "io/sleep" | "io/db-sleep") -> its peak."""
    db = db or d.primary_db
    out: dict[tuple[str, str], Peak] = {}
    for name, cfg in d.configs.items():
        for ep in ("sleep", "db-sleep"):
            pts = [p for p in d.points(NAME) if p.startswith(ep + " ")]
            stats = [(p, d.stat(NAME, p, name, "rps", db)) for p in pts]
            stats = [(p, s) for p, s in stats if s.median is not None]
            if not stats:
                continue
            point, best = max(stats, key=lambda ps: ps[1].median or 0)
            wait_s = d.params(NAME, point).get("wait_ms", IO_WAIT_MS) / 1000
            slots = cfg["slots"]
            if ep == "db-sleep":
                pool = _pool_size(d) * cfg["processes"]
                slots = min(slots, pool) if slots else pool
            bound = slots / wait_s if slots else None
            ratio = best.median / bound if bound and best.median else None
            samples = d.get(NAME, point, name, db)
            busy = Stat(cores(s) for s in samples).median or 0.0
            avail = len(samples[0]["server"].get("cpus") or [0]) if samples else 1
            # Other processes on the server's CPU(s) leave it less than `avail` cores.
            ncpu = int(d.env.get("cpu_count") or 1)
            foreign = Stat(s.get("foreign_cores") for s in samples).median or 0.0
            avail_eff = max(0.1, avail - foreign * avail / ncpu)
            conns = samples[0]["server"].get("conns_per_process") if samples else None
            limit = _limit(cfg, ep, ratio, busy, avail_eff, conns, slots, wait_s)
            out[(name, f"io/{ep}")] = Peak(best, point, bound, ratio, busy, limit, conns, slots)
    return out


def _pool_size(d: Data) -> int:
    raw = (d.env.get("env") or {}).get("TWINPORT_DB_POOL_SIZE")
    return int(raw) if raw else DEFAULT_POOL_SIZE


def _limit(cfg: ConfigInfo, ep: str, ratio: float | None, busy: float, avail: float,
           conns: list[int] | None, slots: int | None, wait_s: float) -> str:
    if busy >= 0.85 * avail:
        return (f"CPU ({busy:.2f} core(s) busy of the ~{avail:.2f} that other "
                "processes left it)")
    if ratio is not None and ratio >= 0.85:
        what = "pool connections" if ep == "db-sleep" else "thread slots"
        return f"{what}: {slots} ÷ {wait_s * 1000:.0f} ms"
    if conns and len(conns) > 1 and conns[0] > 0.5 * sum(conns) and cfg["processes"] > 1:
        return (f"connections piled on one worker ({'/'.join(map(str, conns))} per "
                f"process), so most slots idle")
    if ratio is not None:
        return f"below its bound at {busy:.2f} core(s): see findings"
    return f"{busy:.2f} core(s) busy, no slot limit reached"


def _notes(d: Data) -> str:
    by_config = peaks(d)
    lines = []
    gth = by_config.get(("gunicorn-gthread", "io/sleep"))
    wc = by_config.get(("gunicorn-gthread-wc", "io/sleep"))
    if gth and gth.ratio is not None and gth.ratio < 0.95:
        conns = gth.conns
        lines.append(
            f"- **gunicorn gthread stays below its bound** ({_pct(gth.ratio)} of "
            f"{gth.bound:,.0f} req/s). Cause: a gthread worker keeps accepting while "
            "its threads are busy (up to `worker_connections`, 1000), and a keep-alive "
            "connection stays with the worker that accepted it. The load generator opens "
            "its connections in a burst; whichever worker wakes first takes most of them"
            + (f" (this run: {'/'.join(map(str, conns))} connections per process)"
               if conns else "")
            + ", and queues them for its 2 threads while the other workers idle.")
        if wc:
            lines.append(
                f"  With `--worker-connections 2` (= threads) a worker accepts only what it "
                f"can serve, the kernel's accept queue spreads the rest, and the same 4x2 "
                f"shape reaches {_pct(wc.ratio)} of its bound — at the cost of keep-alive "
                "(gunicorn keeps `worker_connections - threads` idle connections, here 0).")
    dev = by_config.get(("flask-dev", "io/sleep"))
    if dev:
        lines.append(f"- **flask-dev (threaded=False)** serves one request at a time: "
                     f"{dev.stat.median:,.0f} req/s against a bound of "
                     f"{dev.bound:,.0f}.")
    for (name, key), pk in by_config.items():
        if key == "io/sleep" and pk.bound is None and pk.limit.startswith("CPU"):
            lines.append(f"- **{name}** has no slot limit for sleeps; it stops at "
                         f"{pk.stat.median:,.0f} req/s because {pk.limit}.")
    return "\n".join(lines)


def event_loop_cpu(d: Data) -> str:
    """Anomaly: servers without fixed slots that stop on CPU, not on waiting."""
    hits = [(n, pk) for (n, key), pk in peaks(d).items() if key == "io/sleep"
            and pk.bound is None and pk.limit.startswith("CPU")]
    if not hits:
        return ""
    txt = ", ".join(f"{n} {pk.stat.median:,.0f} req/s" for n, pk in hits)
    return ("- **Servers without a fixed slot count stop on CPU, not on waiting** (event "
            "loops, and the thread-per-connection dev server): a sleeping request holds no "
            "slot, so the sleep sweep rises until the one core they are pinned to is "
            f"busy ({txt}). `-w N` adds processes but, pinned to one CPU, no cycles; uvloop "
            "and a Rust front end (granian) lower the CPU per request and so raise the "
            "plateau.")


SCENARIO = Io()
