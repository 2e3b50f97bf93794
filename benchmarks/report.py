"""Render results.json into report.md, report.html (self-contained) and charts/*.svg.

Everything here is derived from the raw samples, so `python -m benchmarks report
results.json` reproduces the report exactly from a committed run.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from benchmarks import analysis, svg

UNSTABLE_SPREAD = 0.20  # (max - min) / median above this flags a result as unstable
# Fewer open streams than this grow RSS by less than the allocator's slack (0-13 KB per
# connection at S = 8-32 in the reference run), so no per-connection figure is printed.
SSE_RSS_MIN_SUBSCRIBERS = 128


# ------------------------------------------------------------------------ aggregation
class Stat:
    """Median with min-max over repetitions."""

    def __init__(self, values: Iterable[float | None]) -> None:
        vals = sorted(v for v in values if v is not None and not math.isnan(v))
        self.n = len(vals)
        self.median = statistics.median(vals) if vals else None
        self.lo = vals[0] if vals else None
        self.hi = vals[-1] if vals else None

    @property
    def spread(self) -> float:
        if not self.median or self.n < 2 or self.lo is None or self.hi is None:
            return 0.0
        return (self.hi - self.lo) / self.median

    @property
    def unstable(self) -> bool:
        return self.spread > UNSTABLE_SPREAD

    def fmt(self, scale: float = 1.0, digits: int = 0, unit: str = "") -> str:
        if self.median is None:
            return "-"
        m = _num(self.median * scale, digits)
        if self.n < 2 or self.lo is None or self.hi is None:
            return f"{m}{unit}"
        flag = " ⚠" if self.unstable else ""
        return (f"{m}{unit} <sub>{_num(self.lo * scale, digits)}-"
                f"{_num(self.hi * scale, digits)}</sub>{flag}")


def _num(v: float, digits: int) -> str:
    if float(v).is_integer() and abs(v) < 1e6:
        return f"{int(v):,}"
    if digits == 0 and abs(v) >= 10:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.{max(digits, 1) if abs(v) < 10 else digits}f}"


class Data:
    """Indexed view over a results.json document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.meta = doc["meta"]
        self.env = doc["environment"]
        self.configs: dict[str, dict[str, Any]] = doc["configs"]
        self.all_samples: list[dict[str, Any]] = doc["samples"]
        # A timed closed-loop point with no response and no error never saw the endpoint:
        # the server was busy with leftovers (see analysis._silent). Kept out of the medians.
        self.samples = [s for s in self.all_samples if not silent(s)]
        self.groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for s in self.samples:
            self.groups[(s["scenario"], s["point"], s["config"], s["database"])].append(s)
        dbs = self.meta.get("databases") or ["sqlite"]
        self.primary_db = dbs[0]
        self.ceiling = doc.get("ceiling", {})

    def get(self, scenario: str, point: str, config: str,
            db: str | None = None) -> list[dict[str, Any]]:
        return self.groups.get((scenario, point, config, db or self.primary_db), [])

    def stat(self, scenario: str, point: str, config: str, metric: str,
             db: str | None = None) -> Stat:
        return Stat(metric_of(s, metric) for s in self.get(scenario, point, config, db))

    def points(self, scenario: str) -> list[str]:
        seen: dict[str, None] = {}
        for s in self.samples:
            if s["scenario"] == scenario:
                seen.setdefault(s["point"], None)
        return list(seen)

    def configs_in(self, scenario: str, db: str | None = None) -> list[str]:
        present = {s["config"] for s in self.samples if s["scenario"] == scenario
                   and (db is None or s["database"] == db)}
        return [c for c in self.configs if c in present]

    def params(self, scenario: str, point: str) -> dict[str, Any]:
        for s in self.samples:
            if s["scenario"] == scenario and s["point"] == point:
                return dict(s["params"])
        return {}

    def gen_ceiling(self, generator: str) -> float | None:
        c = self.ceiling.get(generator)
        return float(c["rps"]) if c else None


def _opt(v: Any) -> float | None:
    return float(v) if v is not None else None


def silent(s: dict[str, Any]) -> bool:
    """No response and no error at a load the server turns around well inside the window.

    (An I/O-sweep point with hundreds of connections in front of a few slots can honestly get
    nothing inside a 2 s window; that is a result, not an artefact, and stays in.)
    """
    r = s["result"]
    low_load = s["scenario"] != "io" or int(s["params"].get("concurrency") or 0) <= 8
    return (r.get("mode") == "closed" and s["scenario"] != "articles" and not r.get("ok")
            and not r.get("errors") and low_load)


def metric_of(s: dict[str, Any], metric: str) -> float | None:
    r = s["result"]
    if metric == "rps":
        return float(r.get("rps") or 0.0)
    if metric == "elapsed_s":
        return _opt(r.get("elapsed_s"))
    if metric == "errors":
        return float(sum(r.get("errors", {}).values()))
    if metric == "error_ratio":
        errs = float(sum(r.get("errors", {}).values()))
        return errs / max(1.0, errs + float(r.get("ok") or 0))
    if metric.startswith("lat_"):
        v = r.get("latency", {}).get(metric[4:] + "_us")
        return float(v) / 1000 if v is not None else None  # ms
    if metric == "server_cores":
        wall = s.get("wall_s") or 0
        return float(s["server"]["cpu_s"]) / wall if wall else None
    if metric == "rss_mb":
        return float(s["server"]["rss_peak_kb"]) / 1024
    if metric == "rss_per_conn_kb":
        return _opt(r.get("rss_per_connection_kb"))
    if metric == "held":
        return 1.0 if r.get("held") else 0.0
    if metric.startswith("sse_"):
        key, _, pct = metric[4:].partition(":")
        v = r.get(key, {}).get(pct + "_us")
        return v / 1000 if v is not None else None
    raise KeyError(metric)


# ------------------------------------------------------------------------ markdown
def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(out)


def _concurrency(point: str) -> int | None:
    m = re.search(r"c=(\d+)", point)
    return int(m.group(1)) if m else None


class Report:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.d = Data(doc)
        self.charts: dict[str, str] = {}
        self.findings = analysis.Findings(self.d)

    def chart(self, name: str, svg_text: str, alt: str) -> str:
        self.charts[name] = svg_text
        return f"![{alt}](charts/{name}.svg)"

    # -------------------------------------------------------------- sections
    def render(self) -> str:
        d = self.d
        parts = [self.header(), self.headline(), self.targets(), self.generator()]
        sections = {"articles": self.articles, "io": self.io, "cpu": self.cpu,
                    "standard": self.standard, "fanout": self.fanout, "sse": self.sse,
                    "overload": self.overload}
        for name, fn in sections.items():
            if any(s["scenario"] == name for s in d.samples) or name in d.meta["scenarios"]:
                parts.append(fn())
        parts += [self.findings.markdown(), self.resources(), self.configurations(),
                  self.skipped(), self.environment()]
        return "\n\n".join(p for p in parts if p) + "\n"

    def header(self) -> str:
        d, m, e = self.d, self.d.meta, self.d.env
        kind = "quick run" if m.get("quick") else "full run"
        pin = m["pinning"]
        return "\n".join([
            f"# twinport benchmark report ({kind})",
            "",
            f"Machine: **{e['cpu_model']} x {e['cpu_count']} CPUs**, {e.get('memory_gb')} GB, "
            f"{e['os']}, Python {e['python']}; commit `{(e.get('git_commit') or '?')[:10]}`"
            f"{' (dirty tree)' if e.get('git_dirty') else ''}; {m['started']} → "
            f"{m.get('finished')}.",
            "",
            (f"Command: `{' '.join(m.get('argv') or [])}`" if not m.get("merged_from") else
             "Merged from " + str(len(m["merged_from"])) + " runs: "
             + "; ".join(f"`{a}" for a in m["merged_from"]))
            + f" - {self._reps()}, "
            f"{m['duration_s']:g} s per point, database(s): {', '.join(m['databases'])}. "
            f"Generator: {m['generator']}. Pinning: server on CPU "
            f"{pin['server_cpus']}, generator on CPU {pin['generator_cpus']} "
            f"({pin['method']}); the CPU sweep gives the server CPUs "
            f"{pin['cpu_sweep_server_cpus']}.",
            "",
            "Numbers are medians over repetitions with min-max in small print; ⚠ marks a "
            f"spread above {UNSTABLE_SPREAD:.0%} of the median (unstable). Throughput is "
            "successful responses per second; latencies in ms.",
            "" if d.samples else "\n**No samples were recorded.**",
        ])

    def _reps(self) -> str:
        per_db: dict[str, set[int]] = defaultdict(set)
        for r in self.d.doc.get("server_runs", []):
            per_db[r["database"]].add(r["rep"])
        done = ", ".join(f"{db} {len(reps)}" for db, reps in per_db.items())
        return f"repetitions requested {self.d.meta['repeat']}, completed: {done or 'none'}"

    def headline(self) -> str:
        d = self.d
        rows = []
        io_peak = self.findings.io_peaks()
        for name, cfg in d.configs.items():
            if cfg["app"] != "twinport":
                continue
            art = d.stat("articles", "n=1000", name, "elapsed_s")
            cpu_pts = [p for p in d.points("cpu") if p.startswith("fib c=")]
            cpu_best = max((d.stat("cpu", p, name, "rps") for p in cpu_pts),
                           key=lambda s: s.median or 0, default=Stat([]))
            peak = io_peak.get((name, "io/sleep"))
            rows.append([
                f"**{name}**", f"`{cfg['typed']}`",
                d.stat("standard", "json", name, "rps").fmt(),
                d.stat("standard", "plaintext", name, "rps").fmt(),
                d.stat("standard", "db", name, "rps").fmt(),
                f"{peak['stat'].fmt()} / {_bound_txt(peak['bound'])}" if peak else "-",
                cpu_best.fmt(),
                art.fmt(digits=2, unit=" s"),
            ])
        if not rows:
            return ""
        return "## Headline results\n\n" + table(
            ["configuration", "command", "/json req/s", "/plaintext req/s", "/db req/s",
             "/io/sleep peak req/s / Little bound", "/cpu/fib peak req/s",
             "1000 x Fibonacci(1000) total"], rows) + "\n\n" + self._headline_chart()

    def _headline_chart(self) -> str:
        d = self.d
        names = [c for c in d.configs_in("standard")]
        series = []
        for ep in ("json", "plaintext"):
            series.append((f"/{ep}", [d.stat("standard", ep, c, "rps").median for c in names]))
        e = d.env
        machine = f"{e.get('cpu_model')} x{e.get('cpu_count')}, {d.meta['started'][:10]}"
        return self.chart("standard_rps", svg.bar_chart(
            f"Throughput, /json and /plaintext, 64 connections ({machine})", names, series,
            xlabel="requests per second (median)"), "throughput of /json and /plaintext")

    def targets(self) -> str:
        rows = self.findings.targets()
        parts = []
        if rows:
            parts.append("## Targets (measured in this run)\n\n" + table(
                ["target", "measured", "ratio", "required", "verdict"], rows))
        ovh = self.overhead()
        if ovh:
            parts.append(ovh)
        return "\n\n".join(parts)

    def overhead(self) -> str:
        """In-process cost per request (benchmarks/overhead.py), if the run measured it."""
        o = self.d.doc.get("overhead")
        if not o:
            return ""
        by = {(a["target"], a["path"]): a.get("us_per_request") for a in o["apps"]}
        rows = []
        from benchmarks.overhead import PAIRS

        for _kind, (ours, hello, bare) in PAIRS.items():
            for path in ("/json", "/plaintext"):
                a, b, c = by.get((ours, path)), by.get((hello, path)), by.get((bare, path))
                if a and b:
                    rows.append([f"`{ours}` {path}", f"{a:.0f}", f"{b:.0f}",
                                 f"{c:.1f}" if c else "-", f"{b / a:.0%}",
                                 "PASS" if b / a >= 0.9 else "FAIL"])
        note = (" (measured after the load run, same machine)" if o.get("added_after_run")
                else "")
        return ("### The same targets without a server: in-process cost per request" + note +
                "\n\nEach app called directly, no server and no network, in a fresh process "
                f"pinned to CPU {o.get('cpus')}; fastest of 7 batches of 1000 calls, best of the "
                "interleaved rounds. Throughput ratio = minimal app's time / ours.\n\n" + table(
                    ["app, endpoint", "twinport us", "minimal framework app us",
                     "bare callable us", "twinport throughput vs minimal", "≥ 90%"], rows))

    def generator(self) -> str:
        d = self.d
        c = d.ceiling
        if not c:
            return ""
        lines = ["## The load generator and its ceiling", ""]
        lines.append(f"Measured against `{c.get('server')}` on the server CPU: ")
        for g in ("builtin", "wrk"):
            if g in c:
                by = ", ".join(f"{k} conns: {v:,.0f}" for k, v in c[g]["by_connections"].items())
                lines.append(f"- **{g}**: {c[g]['rps']:,.0f} req/s ({by})")
        fastest = self.findings.fastest()
        if fastest:
            name, point, rps, gen = fastest
            ceil = d.gen_ceiling(gen) or 0
            ratio = ceil / rps if rps else float("inf")
            verdict = ("OK (≥ 3x)" if ratio >= 3 else
                       "**below 3x: results near the top are generator-bound**")
            lines += ["", f"Fastest measured configuration: {name} ({point}) at {rps:,.0f} req/s "
                      f"with {gen}; ceiling / fastest = {ratio:.1f}x → {verdict}."]
        bound = self.findings.generator_bound()
        if bound:
            lines += ["", "Points flagged generator-bound (throughput above ⅓ of the ceiling of "
                      "the generator that measured them): " + ", ".join(bound) + "."]
        return "\n".join(lines)

    def articles(self) -> str:
        d = self.d
        names = d.configs_in("articles")
        if not names:
            return "## 1. The articles' experiment\n\nNo samples (see skipped)."
        pts = d.points("articles")
        rows = []
        for n in names:
            row = [f"**{n}**", f"`{d.configs[n]['typed']}`"]
            for p in pts:
                row.append(d.stat("articles", p, n, "elapsed_s").fmt(digits=2, unit=" s"))
            for p in pts:
                row.append(d.stat("articles", p, n, "lat_mean").fmt(digits=1))
            rows.append(row)
        heads = (["server", "command"] + [f"{p.removeprefix('n=')} requests: total" for p in pts]
                 + [f"{p.removeprefix('n=')}: mean latency ms" for p in pts])
        info = d.meta.get("scenario_info", {}).get("articles", {})
        chart = self.chart("articles", svg.bar_chart(
            "Total time for N requests to Fibonacci(1000)", names,
            [(p.replace("n=", "") + " requests", [d.stat("articles", p, n, "elapsed_s").median
                                                  for n in names]) for p in pts],
            xlabel="seconds (log scale)", logx=True), "articles table")
        return "\n\n".join([
            "## 1. The articles' experiment", info.get("description", ""),
            table(heads, rows), chart, self.findings.articles_verdict()])

    def io(self) -> str:
        d = self.d
        out = ["## 2. I/O wait sweep",
               d.meta.get("scenario_info", {}).get("io", {}).get("description", "")]
        for ep in ("sleep", "db-sleep"):
            pts = [p for p in d.points("io") if p.startswith(ep + " ")]
            if not pts:
                continue
            dbs = [d.primary_db] if ep == "sleep" else sorted(
                {s["database"] for s in d.samples if s["point"].startswith("db-sleep")})
            for db in dbs:
                names = d.configs_in("io", db)
                wait = d.params("io", pts[0]).get("wait_ms", 50)
                rows, series, p99s, hl = [], [], [], []
                peaks = self.findings.io_peaks(db)
                for i, n in enumerate(names):
                    st = [d.stat("io", p, n, "rps", db) for p in pts]
                    series.append((n, [(_concurrency(p) or 0, s.median) for p, s in
                                       zip(pts, st, strict=True) if s.median is not None]))
                    p99s.append((n, [(_concurrency(p) or 0, d.stat("io", p, n, "lat_p99",
                                                                   db).median) for p in pts]))
                    pk = peaks.get((n, f"io/{ep}"))
                    if pk and pk["bound"]:
                        hl.append((pk["bound"], f"{n} bound {pk['bound']:,.0f}", i))
                    top = d.get("io", pts[-1], n, db)
                    starved = Stat(x["result"].get("starved_connections") for x in top)
                    rows.append([f"**{n}**", *[s.fmt() for s in st],
                                 _bound_txt(pk["bound"]) if pk else "-",
                                 f"{pk['ratio']:.0%}" if pk and pk["ratio"] else "-",
                                 pk["limit"] if pk else "-", starved.fmt()])
                heads = ["config"] + [f"c={_concurrency(p)}" for p in pts] + [
                    "Little bound", "peak / bound", "what limits it",
                    f"connections with no answer at c={_concurrency(pts[-1])}"]
                out.append(f"### /io/{ep}?ms={wait} ({db}): throughput, req/s")
                out.append(table(heads, rows))
                # One dashed line per distinct bound, labelled with every config it bounds.
                by_bound: dict[float, list[tuple[str, int]]] = defaultdict(list)
                for y, label, ci in hl:
                    by_bound[y].append((label.split(" bound ")[0], ci))
                merged = [(y, f"Little bound {y:,.0f}: " + ", ".join(n for n, _ in cs), cs[0][1])
                          for y, cs in by_bound.items()]
                out.append(self.chart(f"io_{ep}_{db}_rps", svg.line_chart(
                    f"/io/{ep} ({wait} ms): throughput vs concurrency", series,
                    xlabel="concurrent connections", ylabel="req/s", logx=True, logy=True,
                    hlines=merged), "I/O sweep throughput"))
                lat_rows = []
                for n in names:
                    for p in pts:
                        c = _concurrency(p)
                        if c not in (1, 64, max(_concurrency(x) or 0 for x in pts)):
                            continue
                        cap = 0.8 * float(d.meta.get("duration_s") or 0) * 1000
                        cells = []
                        for q in ("p50", "p90", "p99", "p99.9"):
                            lat = d.stat("io", p, n, f"lat_{q}", db)
                            mark = "≥ " if cap and (lat.median or 0) >= cap else ""
                            cells.append(mark + lat.fmt(digits=1))
                        lat_rows.append([n, c, *cells, d.stat("io", p, n, "errors", db).fmt()])
                out.append("Latency (ms) at c=1, 64 and the highest concurrency; ≥ marks a "
                           "value cut off by the run length (see anomalies):")
                out.append(table(["config", "c", "p50", "p90", "p99", "p99.9", "errors"],
                                 lat_rows))
                out.append(self.chart(f"io_{ep}_{db}_p99", svg.line_chart(
                    f"/io/{ep} ({wait} ms): p99 latency vs concurrency", p99s,
                    xlabel="concurrent connections", ylabel="p99 latency, ms", logx=True,
                    logy=True), "I/O sweep p99"))
        out.append(self.findings.io_notes())
        return "\n\n".join(o for o in out if o)

    def cpu(self) -> str:
        d = self.d
        out = ["## 3. CPU-bound sweep",
               d.meta.get("scenario_info", {}).get("cpu", {}).get("description", "")]
        series = []
        rows = []
        for variant in ("fib", "fib-blocking"):
            pts = [p for p in d.points("cpu") if p.startswith(variant + " ")]
            for n in d.configs_in("cpu"):
                st = [d.stat("cpu", p, n, "rps") for p in pts]
                if all(s.median is None for s in st):
                    continue
                label = n if variant == "fib" else f"{n} (blocking)"
                series.append((label, [(_concurrency(p) or 0, s.median) for p, s in
                                       zip(pts, st, strict=True) if s.median is not None]))
                cores = [d.stat("cpu", p, n, "server_cores") for p in pts]
                top = pts[-1] if pts else ""
                rows.append([f"**{label}**"] + [s.fmt() for s in st] + [
                    f"{cores[-1].median:.2f}" if cores and cores[-1].median else "-",
                    d.stat("cpu", top, n, "lat_p99").fmt(digits=1)])
        if not rows:
            return "\n\n".join([*out, "No samples."])
        pts = [p for p in d.points("cpu") if p.startswith("fib ")]
        out.append(table(["config"] + [f"c={_concurrency(p)}" for p in pts] +
                         ["server cores used at top c", "p99 ms at top c"], rows))
        out.append(self.chart("cpu_rps", svg.line_chart(
            "CPU-bound /cpu/fib: throughput vs concurrency", series,
            xlabel="concurrent connections", ylabel="req/s", logx=True), "CPU sweep"))
        out.append(self.findings.cpu_notes())
        return "\n\n".join(o for o in out if o)

    def standard(self) -> str:
        d = self.d
        out = ["## 4. Standard workloads",
               d.meta.get("scenario_info", {}).get("standard", {}).get("description", "")]
        dbs = sorted({s["database"] for s in d.samples if s["scenario"] == "standard"},
                     key=lambda x: x != d.primary_db)
        pts = d.points("standard")
        for db in dbs:
            names = d.configs_in("standard", db)
            rows = []
            for n in names:
                rows.append([f"**{n}**"] + [d.stat("standard", p, n, "rps", db).fmt()
                                            for p in pts])
            out.append(f"### Throughput, req/s ({db})")
            out.append(table(["config"] + [f"/{p}" for p in pts], rows))
        names = d.configs_in("standard")
        lat_rows = [[n] + [d.stat("standard", "json", n, f"lat_{q}").fmt(digits=2)
                           for q in ("p50", "p90", "p99", "p99.9")] for n in names]
        out.append(f"### /json latency percentiles, ms ({d.primary_db})")
        out.append(table(["config", "p50", "p90", "p99", "p99.9"], lat_rows))
        out.append(self.chart("json_latency", svg.bar_chart(
            "/json latency percentiles (64 connections)", names,
            [(q, [d.stat("standard", "json", n, f"lat_{q}").median for n in names])
             for q in ("p50", "p90", "p99", "p99.9")], xlabel="ms (log scale)", logx=True),
            "latency percentiles"))
        return "\n\n".join(o for o in out if o)

    def fanout(self) -> str:
        d = self.d
        pts = d.points("fanout")
        names = d.configs_in("fanout")
        if not names:
            return ""
        rows = []
        for n in names:
            rows.append([f"**{n}**"] + [
                f"{d.stat('fanout', p, n, 'rps').fmt()} / "
                f"{d.stat('fanout', p, n, 'lat_p50').fmt(digits=0)} ms" for p in pts])
        return "\n\n".join([
            "## 5. Fan-out", d.meta.get("scenario_info", {}).get("fanout", {}).get(
                "description", ""),
            "Cells: throughput req/s / p50 latency ms.",
            table(["config", *pts], rows), self.findings.fanout_notes()])

    def sse(self) -> str:
        d = self.d
        names = d.configs_in("sse")
        info = d.meta.get("scenario_info", {}).get("sse", {}).get("description", "")
        skipped = [s for s in d.doc.get("skipped", []) if s.get("scenario") == "sse"
                   and "404" in s.get("reason", "")]
        if not names:
            msg = "No samples."
            if skipped:
                msg = f"Skipped: {skipped[0]['reason']}"
            return "\n\n".join(["## 6. Long-lived connections (SSE)", info, msg])
        pts = d.points("sse")
        rows, rss_series = [], []
        for n in names:
            held = 0
            for p in pts:
                st = d.stat("sse", p, n, "held")
                if st.median is not None and st.median >= 0.5:
                    held = max(held, int(d.params("sse", p)["subscribers"]))
            cells = []
            for p in pts:
                if not d.get("sse", p, n):
                    cells.append("not run")
                    continue
                ok = d.stat("sse", p, n, "held").median
                first = d.stat("sse", p, n, "sse_first_event:p99").fmt(digits=0)
                late = d.stat("sse", p, n, "sse_lateness:p99").fmt(digits=0)
                cells.append(f"{'✅' if ok and ok >= 0.5 else '❌'} {first} / {late}")
            # Memory per connection at the largest subscriber count the server still held,
            # if that is enough connections to rise above the allocator's and pre-started
            # threads' slack (a few dozen connections can cost 0 KB of new RSS).
            per_conn = [d.stat("sse", p, n, "rss_per_conn_kb") for p in pts
                        if (d.stat("sse", p, n, "held").median or 0) >= 0.5
                        and int(d.params("sse", p)["subscribers"]) >= SSE_RSS_MIN_SUBSCRIBERS]
            big = [s for s in per_conn if s.median is not None]
            rows.append([f"**{n}**", held, *cells, big[-1].fmt(digits=1) if big else
                         f"- (held < {SSE_RSS_MIN_SUBSCRIBERS})" if held else "-"])
            rss_series.append((n, [(int(d.params("sse", p)["subscribers"]),
                                    d.stat("sse", p, n, "rss_mb").median) for p in pts
                                   if d.get("sse", p, n)]))
        heads = (["config", "subscribers held"] + [p.replace("subscribers=", "S=") for p in pts]
                 + [f"RSS growth per connection, KB (largest S held, S >= "
                    f"{SSE_RSS_MIN_SUBSCRIBERS})"])
        return "\n\n".join([
            "## 6. Long-lived connections (SSE)", info,
            "Cells: held? first-event p99 ms / event-lateness p99 ms.",
            table(heads, rows),
            self.chart("sse_rss", svg.line_chart(
                "Server RSS vs open SSE subscribers", rss_series, xlabel="subscribers",
                ylabel="peak RSS of the server tree, MB", logx=True), "memory per connection"),
            self.findings.sse_notes()])

    def overload(self) -> str:
        d = self.d
        names = d.configs_in("overload")
        if not names:
            return ""
        rows, series, bands = [], [], []
        for i, n in enumerate(names):
            samples = d.get("overload", "json", n)
            if not samples:
                continue
            s0 = samples[0]
            phases = s0["params"]["phases_s"]
            t1, t2 = phases[0], phases[0] + phases[1]
            if i == 0:
                bands.append((t1, t2, "2x capacity"))
            ov = analysis.overload_summary(samples)
            rows.append([f"**{n}**", Stat(s["params"]["capacity_rps"] for s in samples).fmt(),
                         ov["before_p99"].fmt(digits=1), ov["during_p99"].fmt(digits=0),
                         ov["errors"].fmt(), ov["after_p99"].fmt(digits=1),
                         ov["recovery"].fmt(digits=1, unit=" s")])
            tl = s0["result"].get("timeline", [])
            series.append((n, [(b["t"], b["p99_us"] / 1000) for b in tl if b["p99_us"]]))
        return "\n\n".join([
            "## 7. Overload", d.meta.get("scenario_info", {}).get("overload", {}).get(
                "description", ""),
            table(["config", "capacity req/s (closed loop)", "p99 ms before",
                   "p99 ms during 2x", "errors + timeouts", "p99 ms after",
                   "recovery after overload ends"], rows),
            self.chart("overload_p99", svg.line_chart(
                "Open-loop p99 latency over time (first repetition)", series,
                xlabel="seconds", ylabel="p99 latency from intended send, ms", logy=True,
                bands=bands), "overload timeline"),
            self.findings.overload_notes()])

    def resources(self) -> str:
        """Server CPU time and memory per configuration (from /proc, whole process tree)."""
        d = self.d
        runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in d.doc.get("server_runs", []):
            runs[r["config"]].append(r)
        rows = []
        for n in d.configs:
            if n not in runs:
                continue
            idle = Stat(r.get("idle", {}).get("rss_kb", 0) / 1024 for r in runs[n])
            peak = Stat(max((s["server"]["rss_peak_kb"] for s in d.samples
                             if s["config"] == n and s["rep"] == r["rep"]
                             and s["database"] == r["database"]), default=0) / 1024
                        for r in runs[n])
            per_req = []
            for s in d.get("standard", "json", n):
                ok = s["result"].get("ok") or 0
                if ok:
                    per_req.append(s["server"]["cpu_s"] / ok * 1000)
            procs_ = Stat(r.get("idle", {}).get("procs") for r in runs[n])
            threads = Stat(r.get("idle", {}).get("threads") for r in runs[n])
            ready = Stat(r.get("ready_s") for r in runs[n])
            rows.append([f"**{n}**", procs_.fmt(), threads.fmt(), idle.fmt(digits=0),
                         peak.fmt(digits=0), Stat(per_req).fmt(digits=2), ready.fmt(digits=2)])
        if not rows:
            return ""
        return "## Server resources\n\n" + table(
            ["config", "processes", "threads (idle)", "RSS idle MB", "RSS peak MB (any point)",
             "server CPU ms per /json request", "ready after s"], rows)

    def configurations(self) -> str:
        d = self.d
        rows = []
        argv = {r["config"]: r["argv"] for r in d.doc.get("server_runs", [])}
        for n, c in d.configs.items():
            a = " ".join(argv.get(n, [])).replace(str(Path.home()), "~")
            rows.append([f"**{n}**", f"`{c['typed']}`", c["shape"],
                         c["slots"] if c["slots"] is not None else "per connection / loop",
                         "yes" if c["keepalive"] else "no", c.get("notes", ""),
                         f"<sub>`{a}`</sub>"])
        return "## Configurations\n\n" + table(
            ["name", "as typed", "shape", "blocking slots", "keep-alive", "notes",
             "argv run (bind added)"], rows)

    def skipped(self) -> str:
        sk = self.d.doc.get("skipped", [])
        if not sk:
            return ""
        seen: dict[tuple[str, str, str], str] = {}
        for s in sk:
            seen.setdefault((s["config"], s["scenario"], s.get("point", "*")), s["reason"])
        rows = [[c, sc, p, r[:160]] for (c, sc, p), r in seen.items()]
        return "## Skipped points\n\n" + table(["config", "scenario", "point", "reason"], rows)

    def environment(self) -> str:
        e = self.d.env
        pk = ", ".join(f"{k} {v}" for k, v in e.get("packages", {}).items() if v)
        runs = self.d.doc.get("server_runs", [])
        verified = sum(1 for r in runs for v in r.get("verification", {}).values() if v == "ok")
        failed = [(r["config"], p, v) for r in runs for p, v in r.get("verification", {}).items()
                  if v != "ok"]
        env_vars = ", ".join(f"{k}={v}" for k, v in (e.get("env") or {}).items() if v) or \
            "none set (defaults: DATABASE_URL per run, see below)"
        lines = ["## Environment", "",
                 f"- CPU: {e['cpu_model']} x {e['cpu_count']}; memory {e.get('memory_gb')} GB; "
                 f"{e['os']} (kernel {e.get('kernel')}); {e.get('python_impl')} {e['python']}",
                 f"- Packages: {pk}",
                 f"- wrk: {e.get('wrk') or 'not installed'}; PostgreSQL: "
                 f"{e.get('postgres') or 'not used'}",
                 f"- git: `{e.get('git_commit')}`{' (dirty)' if e.get('git_dirty') else ''}",
                 f"- TWINPORT variables in the caller's environment: {env_vars}. Each server run "
                 "gets DATABASE_URL (a fresh SQLite file per run, or the PostgreSQL URL), "
                 "UPSTREAM_URL (the lab's upstream) and the default pool sizes "
                 "(TWINPORT_DB_POOL_SIZE=10 per process) unless set.",
                 f"- Responses verified before load: {verified} checks passed"
                 + (f", {len(failed)} failed (those points were skipped)" if failed else ""),
                 "- Raw samples, HDR histograms (base64) and per-run argv/env are in "
                 "`results.json`."]
        return "\n".join(lines)


def _bound_txt(bound: float | None) -> str:
    return f"{bound:,.0f}" if bound else "none (no fixed slots)"


# ------------------------------------------------------------------------ output
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5} sub{color:#777} code{background:#f4f4f4;padding:0 3px}
svg{max-width:100%;height:auto;display:block;margin:1em 0}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
"""


def to_html(markdown: str, charts: dict[str, str], title: str) -> str:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    body = md.render(markdown)

    def inline(m: re.Match[str]) -> str:
        return charts.get(m.group(1), m.group(0))

    body = re.sub(r'<img src="charts/([\w\-.]+)\.svg"[^>]*>', inline, body)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n{body}\n"
            f"</body></html>\n")


def merge(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs as one document: samples, server runs and skips concatenated."""
    base: dict[str, Any] = json.loads(json.dumps(docs[0]))
    dbs = list(base["meta"]["databases"])
    for doc in docs[1:]:
        for key in ("samples", "server_runs", "skipped"):
            base[key].extend(doc.get(key, []))
        for name, cfg in doc["configs"].items():
            base["configs"].setdefault(name, cfg)
        dbs += [db for db in doc["meta"]["databases"] if db not in dbs]
        for name in doc["meta"]["scenarios"]:
            if name not in base["meta"]["scenarios"]:
                base["meta"]["scenarios"].append(name)
        base["meta"]["scenario_info"].update(
            {k: v for k, v in doc["meta"]["scenario_info"].items()
             if k not in base["meta"]["scenario_info"]})
        base["meta"]["finished"] = doc["meta"].get("finished") or base["meta"]["finished"]
    base["meta"]["databases"] = dbs
    # Each part keeps its own command, code and date in the report's header.
    base["meta"]["merged_from"] = [
        f"{' '.join(d['meta'].get('argv') or [])}` at commit "
        f"`{(d['environment'].get('git_commit') or '?')[:10]}`, {d['meta'].get('started')}, "
        f"{d['environment'].get('cpu_model')} x {d['environment'].get('cpu_count')}, "
        f"samples kept: {', '.join(d['meta'].get('scenarios') or [])}"
        for d in docs]
    return base


def readme_snippet(rep: Report, out: Path) -> str:
    """The headline table and chart for the project README, with links into this folder."""
    try:
        rel = out.resolve().relative_to(Path(__file__).resolve().parent.parent)
    except ValueError:
        rel = out
    e, m = rep.d.env, rep.d.meta
    head = rep.headline()
    if not head:
        return ""
    head = head.replace("## Headline results", "").replace("](charts/", f"]({rel}/charts/")
    foreign = [x["foreign_cores"] for x in rep.d.samples if x.get("foreign_cores") is not None]
    shared = ""
    busy = sum(1 for f in foreign if f > 0.25)
    if foreign and busy > 0.25 * len(foreign):
        shared = (f" Other work shared the machine during this run ({busy} of {len(foreign)} "
                  f"points saw more than 0.25 of {e['cpu_count']} cores of foreign load), so "
                  "absolute numbers are noisy; the report flags unstable results.")
    return "\n".join([
        "## Benchmarks",
        "",
        f"Reference run on **{e['cpu_model']}, {e['cpu_count']} CPUs, {e['os']}, Python "
        f"{e['python']}** ({m['started'][:10]}, commit `{(e.get('git_commit') or '?')[:10]}`). "
        "Server pinned to one CPU, load generator to the other; medians over repetitions. "
        f"Full report: [{rel}/report.md]({rel}/report.md) (self-contained "
        f"[HTML]({rel}/report.html)); method: [docs/benchmarks.md](docs/benchmarks.md)."
        + shared,
        "",
        head.strip(),
        "",
    ])


def write(doc: dict[str, Any], out: Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(doc)
    markdown = rep.render()
    charts_dir = out / "charts"
    charts_dir.mkdir(exist_ok=True)
    paths = []
    for name, text in rep.charts.items():
        p = charts_dir / f"{name}.svg"
        p.write_text(text)
    md_path = out / "report.md"
    md_path.write_text(markdown)
    snippet = readme_snippet(rep, out)
    if snippet:
        (out / "README-snippet.md").write_text(snippet)
        paths.append(out / "README-snippet.md")
    html_path = out / "report.html"
    html_path.write_text(to_html(markdown, rep.charts, "twinport benchmark report"))
    paths += [md_path, html_path, out / "results.json"]
    return paths
