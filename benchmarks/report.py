"""Render results.json into report.md, report.html (self-contained) and charts/*.svg.

Everything here is derived from the raw samples, so `python -m benchmarks report
results.json` reproduces the report exactly from a committed run.
"""

from __future__ import annotations

import re
from collections import defaultdict
from html import escape
from pathlib import Path

from benchmarks import analysis, svg
from benchmarks.aggregate import UNSTABLE_SPREAD, Data, Stat
from benchmarks.markdown import table
from benchmarks.results import Results, ServerRun
from benchmarks.scenarios import SCENARIOS, articles, cpu, io, overhead, standard


class Report:
    def __init__(self, doc: Results) -> None:
        self.d = Data(doc, SCENARIOS)
        self.charts: dict[str, str] = {}
        self.findings = analysis.Findings(self.d)

    def chart(self, name: str, svg_text: str, alt: str) -> str:
        self.charts[name] = svg_text
        return f"![{alt}](charts/{name}.svg)"

    # -------------------------------------------------------------- sections
    def render(self) -> str:
        d = self.d
        parts = [self.header(), self.headline(), self.targets(), self.generator()]
        for name, scenario in SCENARIOS.items():
            if any(s["scenario"] == name for s in d.samples) or name in d.meta["scenarios"]:
                parts.append(scenario.section(d, self.chart))
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
        io_peak = io.peaks(d)
        for name, cfg in d.configs.items():
            if cfg["app"] != "twinport":
                continue
            art = d.stat(articles.NAME, articles.LARGEST, name, "elapsed_s")
            peak = io_peak.get((name, "io/sleep"))
            rows.append([
                f"**{name}**", f"`{cfg['typed']}`",
                *(d.stat(standard.NAME, ep, name, "rps").fmt()
                  for ep in ("json", "plaintext", "db")),
                f"{peak.stat.fmt()} / {io.bound_txt(peak.bound)}" if peak else "-",
                cpu.peak(d, name).fmt(),
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
        names = d.configs_in(standard.NAME)
        series = [(f"/{ep}", [d.stat(standard.NAME, ep, c, "rps").median for c in names])
                  for ep in standard.CONTROL_ENDPOINTS]
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
        ovh = overhead.targets_table(self.d)
        if ovh:
            parts.append(ovh)
        return "\n\n".join(parts)

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

    def resources(self) -> str:
        """Server CPU time and memory per configuration (from /proc, whole process tree)."""
        d = self.d
        runs: dict[str, list[ServerRun]] = defaultdict(list)
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
            for s in d.get(standard.NAME, "json", n):
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
    foreign = [f for x in rep.d.samples if (f := x["foreign_cores"]) is not None]
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


def write(doc: Results, out: Path) -> list[Path]:
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
