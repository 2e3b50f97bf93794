"""Derived numbers and the written findings of a report.

Every sentence with a number in it is computed from the samples of the run being rendered;
the explanations (why a ceiling is where it is) were established by the investigations
described in docs/benchmarks.md and are only printed when the data shows the pattern.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.report import Data, Stat


def _stat(values: Any) -> Stat:
    from benchmarks.report import Stat

    return Stat(values)


def _pool_size(d: Data) -> int:
    raw = (d.env.get("env") or {}).get("TWINPORT_DB_POOL_SIZE")
    return int(raw) if raw else 10


def _pct(x: float | None) -> str:
    return f"{x:.0%}" if x is not None else "-"


class Findings:
    def __init__(self, d: Data) -> None:
        self.d = d
        self._io: dict[str | None, dict[tuple[str, str], dict[str, Any]]] = {}

    # ------------------------------------------------------------ I/O sweep
    def io_peaks(self, db: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        db = db or self.d.primary_db
        if db in self._io:
            return self._io[db]
        d = self.d
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for name, cfg in d.configs.items():
            for ep in ("sleep", "db-sleep"):
                pts = [p for p in d.points("io") if p.startswith(ep + " ")]
                stats = [(p, d.stat("io", p, name, "rps", db)) for p in pts]
                stats = [(p, s) for p, s in stats if s.median is not None]
                if not stats:
                    continue
                point, best = max(stats, key=lambda ps: ps[1].median or 0)
                wait_s = d.params("io", point).get("wait_ms", 50) / 1000
                slots = cfg["slots"]
                if ep == "db-sleep":
                    pool = _pool_size(d) * cfg["processes"]
                    slots = min(slots, pool) if slots else pool
                bound = slots / wait_s if slots else None
                ratio = best.median / bound if bound and best.median else None
                samples = d.get("io", point, name, db)
                cores = _stat(_cores(s) for s in samples).median or 0.0
                avail = len(samples[0]["server"].get("cpus") or [0]) if samples else 1
                # Other processes on the server's CPU(s) leave it less than `avail` cores.
                ncpu = int(d.env.get("cpu_count") or 1)
                foreign = _stat(s.get("foreign_cores") for s in samples).median or 0.0
                avail_eff = max(0.1, avail - foreign * avail / ncpu)
                conns = samples[0]["server"].get("conns_per_process") if samples else None
                limit = self._limit(cfg, ep, ratio, cores, avail_eff, conns, slots, wait_s)
                out[(name, f"io/{ep}")] = {"stat": best, "point": point, "bound": bound,
                                           "ratio": ratio, "cores": cores, "limit": limit,
                                           "conns": conns, "slots": slots}
        self._io[db] = out
        return out

    @staticmethod
    def _limit(cfg: dict[str, Any], ep: str, ratio: float | None, cores: float, avail: float,
               conns: list[int] | None, slots: int | None, wait_s: float) -> str:
        if cores >= 0.85 * avail:
            return (f"CPU ({cores:.2f} core(s) busy of the ~{avail:.2f} that other "
                    "processes left it)")
        if ratio is not None and ratio >= 0.85:
            what = "pool connections" if ep == "db-sleep" else "thread slots"
            return f"{what}: {slots} ÷ {wait_s * 1000:.0f} ms"
        if conns and len(conns) > 1 and conns[0] > 0.5 * sum(conns) and cfg["processes"] > 1:
            return (f"connections piled on one worker ({'/'.join(map(str, conns))} per "
                    f"process), so most slots idle")
        if ratio is not None:
            return f"below its bound at {cores:.2f} core(s): see findings"
        return f"{cores:.2f} core(s) busy, no slot limit reached"

    def io_notes(self) -> str:
        peaks = self.io_peaks()
        lines = []
        gth = peaks.get(("gunicorn-gthread", "io/sleep"))
        wc = peaks.get(("gunicorn-gthread-wc", "io/sleep"))
        if gth and gth["ratio"] is not None and gth["ratio"] < 0.95:
            conns = gth["conns"]
            lines.append(
                f"- **gunicorn gthread stays below its bound** ({_pct(gth['ratio'])} of "
                f"{gth['bound']:,.0f} req/s). Cause: a gthread worker keeps accepting while "
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
                    f"shape reaches {_pct(wc['ratio'])} of its bound — at the cost of keep-alive "
                    "(gunicorn keeps `worker_connections - threads` idle connections, here 0).")
        dev = peaks.get(("flask-dev", "io/sleep"))
        if dev:
            lines.append(f"- **flask-dev (threaded=False)** serves one request at a time: "
                         f"{dev['stat'].median:,.0f} req/s against a bound of "
                         f"{dev['bound']:,.0f}.")
        for name, key in peaks:
            pk = peaks[(name, key)]
            if key == "io/sleep" and pk["bound"] is None and pk["limit"].startswith("CPU"):
                lines.append(f"- **{name}** has no slot limit for sleeps; it stops at "
                             f"{pk['stat'].median:,.0f} req/s because {pk['limit']}.")
        return "\n".join(lines)

    # ------------------------------------------------------------ targets
    def targets(self) -> list[list[str]]:
        d = self.d
        rows = []
        pairs = [("gunicorn-gthread", "gunicorn-gthread+hello", "Flask app vs minimal Flask"),
                 ("hypercorn", "hypercorn+hello", "Quart app vs minimal Quart")]
        for ours, base, label in pairs:
            for ep in ("json", "plaintext"):
                a = d.stat("standard", ep, ours, "rps")
                b = d.stat("standard", ep, base, "rps")
                if a.median is None or b.median is None:
                    continue
                ratio = a.median / b.median
                flag = " (unstable)" if a.unstable or b.unstable else ""
                rows.append([f"{label}, /{ep} ({ours.split('+')[0]})",
                             f"{a.median:,.0f} vs {b.median:,.0f} req/s", f"{ratio:.0%}",
                             "≥ 90%", ("PASS" if ratio >= 0.9 else "FAIL") + flag])
        peaks = self.io_peaks()
        for name in ("gunicorn-gthread", "gunicorn-gthread-wc"):
            pk = peaks.get((name, "io/sleep"))
            if pk and pk["ratio"] is not None:
                rows.append([f"{name} on /io/sleep vs Little's-law bound",
                             f"{pk['stat'].median:,.0f} vs {pk['bound']:,.0f} req/s "
                             f"({pk['point']})", f"{pk['ratio']:.0%}", "≥ 95%",
                             "PASS" if pk["ratio"] >= 0.95 else "FAIL"])
        return rows

    # ------------------------------------------------------------ generator
    def _closed_medians(self) -> list[tuple[str, str, str, float, str]]:
        d = self.d
        out = []
        for (sc, point, cfg, db), samples in d.groups.items():
            if samples[0]["result"].get("mode") != "closed" or sc == "articles":
                continue
            med = statistics.median(float(s["result"].get("rps") or 0) for s in samples)
            gen = samples[0]["result"].get("generator", {}).get("name", "builtin")
            out.append((cfg, f"{sc}/{point}", db, med, gen))
        return out

    def fastest(self) -> tuple[str, str, float, str] | None:
        rows = self._closed_medians()
        if not rows:
            return None
        cfg, point, _, rps, gen = max(rows, key=lambda r: r[3])
        return cfg, point, rps, gen

    def generator_bound(self) -> list[str]:
        out = []
        for cfg, point, _, rps, gen in self._closed_medians():
            ceil = self.d.gen_ceiling(gen)
            if ceil and rps > ceil / 3:
                out.append(f"{cfg} {point} ({rps:,.0f} req/s, {gen})")
        return out

    # ------------------------------------------------------------ articles
    def articles_verdict(self) -> str:
        d = self.d
        names = d.configs_in("articles")
        if not names:
            return ""
        big = "n=1000" if "n=1000" in d.points("articles") else d.points("articles")[-1]
        medians = {n: d.stat("articles", big, n, "elapsed_s").median for n in names}
        totals: dict[str, float] = {n: t for n, t in medians.items() if t}
        if not totals:
            return ""
        per_req_cpu = []
        for n in names:
            for s in d.get("articles", big, n):
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
        return "\n".join(ln for ln in lines if ln is not None)

    # ------------------------------------------------------------ CPU
    def cpu_notes(self) -> str:
        d = self.d
        pts = [p for p in d.points("cpu") if p.startswith("fib c=")]
        if not pts:
            return ""
        top = pts[-1]
        lines = []
        for n in d.configs_in("cpu"):
            st = d.stat("cpu", top, n, "rps")
            cores = d.stat("cpu", top, n, "server_cores").median
            blk = d.stat("cpu", top.replace("fib ", "fib-blocking "), n, "rps")
            if st.median is None:
                continue
            txt = f"- **{n}**: {st.median:,.0f} req/s at {top.split()[-1]}, " \
                  f"{cores:.2f} cores busy" if cores else f"- **{n}**: {st.median:,.0f} req/s"
            if blk.median is not None:
                p99o = d.stat("cpu", top, n, "lat_p99").median
                p99b = d.stat("cpu", top.replace("fib ", "fib-blocking "), n, "lat_p99").median
                txt += (f"; blocking the loop: {blk.median:,.0f} req/s, p99 "
                        f"{p99b or 0:,.0f} ms vs {p99o or 0:,.0f} ms offloaded")
            lines.append(txt)
        return "\n".join(lines)

    # ------------------------------------------------------------ fan-out, SSE, overload
    def fanout_notes(self) -> str:
        d = self.d
        lines = []
        for n in d.configs_in("fanout"):
            for p in d.points("fanout"):
                if not p.startswith("parallel") or p.endswith("c=1"):
                    continue
                par = d.stat("fanout", p, n, "lat_p50").median
                seq = d.stat("fanout", p.replace("parallel", "sequential"), n, "lat_p50").median
                if par and seq:
                    lines.append(f"- {n} {p.split()[-1]}: p50 sequential {seq:,.0f} ms, "
                                 f"parallel {par:,.0f} ms")
        return "\n".join(lines)

    def sse_notes(self) -> str:
        return ("- A blocking server spends one thread slot per open stream for its whole "
                "life, so it holds at most its slot count of subscribers; an event loop holds "
                "them as idle coroutines until CPU or memory runs out.")

    def overload_notes(self) -> str:
        d = self.d
        kinds: dict[str, dict[str, int]] = {}
        for s in d.samples:
            if s["scenario"] == "overload":
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

    # ------------------------------------------------------------ anomalies
    def markdown(self) -> str:
        """The 'anomalies investigated' section: each item printed only if the data shows it."""
        items = [self._pileup(), self._starvation(), self._silent(), self._fanout_async(),
                 self._capped(), self._listen_overflow(), self._overload_collapse(),
                 self._sync_worker(),
                 self._dev_server(), self._event_loop_cpu(), self._shared_machine()]
        items = [i for i in items if i]
        typed = self._typed_vs_tuned()
        out = ["## Anomalies investigated and what explains them", ""]
        out += items or ["No anomaly detected by the report's checks."]
        if typed:
            out += ["", "### As typed vs tuned", "", typed]
        return "\n".join(out)

    def _pileup(self) -> str:
        d = self.d
        worst: tuple[float, str, str, list[int]] | None = None
        for s in d.samples:
            cfg = d.configs.get(s["config"], {})
            conns = s["server"].get("conns_per_process") or []
            if (cfg.get("processes", 1) > 1 and "gthread" in s["config"] and len(conns) >= 1
                    and sum(conns) >= 8):
                share = conns[0] / sum(conns)
                if worst is None or share > worst[0]:
                    worst = (share, s["config"], f"{s['scenario']}/{s['point']}", conns)
        if worst is None or worst[0] <= 0.5:
            return ""
        share, name, point, conns = worst
        return (f"- **Gunicorn gthread piles connections onto one worker.** In {name} "
                f"{point}, {share:.0%} of the open connections sat in one of the 4 processes "
                f"({'/'.join(map(str, conns))}, sampled from /proc mid-run). A gthread worker "
                "accepts whenever it has fewer than `worker_connections` (default 1000) "
                "connections, not when a thread is free, and a keep-alive connection stays "
                "where it was accepted; a client that opens its connections in a burst lands "
                "them on whichever worker woke first. Requests then queue for that worker's 2 "
                "threads while 6 threads elsewhere idle: the I/O sweep stays far under "
                "slots / wait and CPU-bound work uses one core out of two. "
                "`--worker-connections` equal to `--threads` makes each worker take only what "
                "it can serve (gunicorn-gthread-wc), but then every connection beyond the 8 "
                "waits in the listen backlog until one of the 8 closes, which a keep-alive "
                "client (or a proxy's upstream pool) never does: twinport keeps Gunicorn's "
                "default and lets the pile-up show (docs/benchmarks.md). More threads per "
                "worker (gunicorn-gthread-32) is the remedy that serves everyone.")

    def starved(self) -> list[tuple[str, str, int, float]]:
        """Closed-loop points where most connections got no answer inside the window.

        Direct count from the built-in client when it ran the point; otherwise inferred with
        Little's law: requests in service = throughput x mean latency, which must be close
        to the connection count when every connection is being served.
        """
        d = self.d
        dur = float(d.meta.get("duration_s") or 0)
        out = []
        for (sc, point, cfg, db), samples in d.groups.items():
            if sc not in ("io", "standard", "cpu", "fanout") or db != d.primary_db:
                continue
            c = int(samples[0]["params"].get("concurrency") or 0)
            if c < 16:
                continue
            fr = []
            for s in samples:
                r = s["result"]
                lat = r.get("latency") or {}
                if r.get("starved_connections") is not None:
                    fr.append(1 - r["starved_connections"] / c)
                elif (lat.get("mean_us") and r.get("rps") and lat.get("p99_us", 0) < 0.8 * dur * 1e6
                      and c / r["rps"] < dur / 2):
                    # Only where a full turn of all c connections fits in half the window;
                    # otherwise the window truncates latency and the estimate means nothing.
                    fr.append(min(1.0, r["rps"] * lat["mean_us"] / 1e6 / c))
            served = _stat(fr).median
            if served is not None and served < 0.5:
                out.append((cfg, f"{sc}/{point}", c, served))
        return out

    def _starvation(self) -> str:
        hits = self.starved()
        if not hits:
            return ""
        cfgs = sorted({h[0] for h in hits})
        ex = "; ".join(f"{cfg} {pt}: ~{served * c:.0f} of {c} connections in service"
                       for cfg, pt, c, served in hits[:6])
        return (f"- **Some servers serve a few connections and starve the rest** ({', '.join(cfgs)}"
                f"). {ex}. Measured with Little's law (in service = throughput x mean "
                "latency) or, where the built-in client ran the point, by counting connections "
                "that got no response. Two mechanisms: a worker thread that holds a keep-alive "
                "connection serves only that connection while the other clients wait in the "
                "listen backlog (uWSGI's 4x2 threads: ~8 in service whatever the load); and a "
                "CPU-saturated event loop accepts slowly behind a small listen queue "
                "(hypercorn's default `backlog` is 100), so surplus connections sit unaccepted "
                "or retry their SYN. The latency of the connections being served looks "
                "fine while the rest see nothing: throughput and the p99 of *completed* "
                "requests alone hide it.")

    def _silent(self) -> str:
        """Points that got no response and no error at all, with the point run before each."""
        d = self.d
        from benchmarks.report import silent

        order = sorted(d.all_samples, key=lambda x: x["started"])
        hits = []
        for i, s in enumerate(order):
            if silent(s):
                prev = order[i - 1] if i and order[i - 1]["config"] == s["config"] else None
                before = (f" right after {prev['scenario']}/{prev['point']}"
                          if prev else "")
                hits.append(f"{s['config']} {s['scenario']}/{s['point']} (rep {s['rep'] + 1}"
                            f"{before})")
        if not hits:
            return ""
        return (f"- **Points with no response and no error** ({'; '.join(hits[:5])}): the "
                "server was still working off the previous point. Its connections had closed "
                "(the lab's drain step waited for that) but requests whose clients had left "
                "were still queued inside the server - e.g. granian's Python thread pool (up "
                "to 512 threads, per its own start-up warning) holding ~1000 db-sleep requests "
                "behind a 10-connection pool, about 5 s of work. These samples are artefacts of "
                "the run order, not of the endpoint, and are left out of the medians; the lab "
                "now also waits until /healthz answers within 50 ms twice before each point.")

    def _fanout_async(self) -> str:
        d = self.d
        worst = None
        for n in d.configs_in("fanout"):
            if d.configs[n]["interface"] != "asgi":
                continue
            for p in d.points("fanout"):
                if not p.startswith("parallel") or p.endswith("c=1"):
                    continue
                par = d.stat("fanout", p, n, "rps").median
                seq = d.stat("fanout", p.replace("parallel", "sequential"), n, "rps").median
                if par and seq and par < seq:
                    cores = _stat(_cores(s) for s in d.get("fanout", p, n)).median or 0
                    ms = cores / par * 1000 if par else 0
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

    def _capped(self) -> str:
        d = self.d
        dur = float(d.meta.get("duration_s") or 0)
        hits = []
        for (sc, point, cfg, _db), samples in d.groups.items():
            r = samples[0]["result"]
            if r.get("mode") != "closed" or sc == "articles":
                continue
            p99 = (r.get("latency") or {}).get("p99_us")
            if p99 and dur and p99 >= 0.8 * dur * 1e6:
                hits.append(f"{cfg} {sc}/{point}")
        if not hits:
            return ""
        return (f"- **Latency stuck just under {dur:g} s** ({len(hits)} points, e.g. "
                f"{', '.join(hits[:4])}): that is the run length. A closed-loop point only "
                "records requests that complete inside its window, so when the queue in front "
                "of a few slots is longer than the window the histogram is cut off there - "
                "the true queueing delay is longer. These points are reported as lower "
                "bounds; the open-loop overload scenario measures the same queueing without "
                "this bias (latency from the intended send time, 5 s client timeout).")

    def _connects_per_request(self, config: str) -> float | None:
        """New TCP connections per request, from built-in-generator samples (wrk has none)."""
        conns = reqs = 0
        for s in self.d.samples:
            r = s["result"]
            if (s["config"] == config and r.get("mode") == "closed"
                    and r.get("connects") is not None and r.get("ok")):
                conns += int(r["connects"])
                reqs += int(r["ok"]) + sum(r.get("errors", {}).values())
        return conns / reqs if reqs else None

    def _sync_worker(self) -> str:
        d = self.d
        a = d.stat("standard", "json", "gunicorn-sync", "rps").median
        b = d.stat("standard", "json", "gunicorn-gthread", "rps").median
        ra = self._connects_per_request("gunicorn-sync")
        rb = self._connects_per_request("gunicorn-gthread")
        if not a or not b or ra is None or rb is None:
            return ""
        return (f"- **gunicorn sync vs gthread on /json: {a:,.0f} vs {b:,.0f} req/s.** The sync "
                f"worker closes the connection after every response ({ra:.2f} new connections "
                f"per request measured by the built-in client, vs {rb:.2f} for gthread), so "
                "each request also pays a TCP handshake, an accept and a teardown.")

    def _dev_server(self) -> str:
        d = self.d
        if "flask-dev" not in d.configs_in("standard"):
            return ""
        a = d.stat("standard", "json", "flask-dev", "rps").median
        r = self._connects_per_request("flask-dev")
        conn = f" ({r:.2f} connections per request measured)" if r is not None else ""
        return (f"- **Flask's development server** ({a:,.0f} req/s on /json with threaded=False) "
                f"answers HTTP/1.0 and closes every connection{conn}, serves one request at "
                "a time without threads, and writes a log line per request to stderr.")

    def _event_loop_cpu(self) -> str:
        peaks = self.io_peaks()
        hits = [(n, pk) for (n, key), pk in peaks.items() if key == "io/sleep"
                and pk["bound"] is None and pk["limit"].startswith("CPU")]
        if not hits:
            return ""
        txt = ", ".join(f"{n} {pk['stat'].median:,.0f} req/s" for n, pk in hits)
        return ("- **Servers without a fixed slot count stop on CPU, not on waiting** (event "
                "loops, and the thread-per-connection dev server): a sleeping request holds no "
                "slot, so the sleep sweep rises until the one core they are pinned to is "
                f"busy ({txt}). `-w N` adds processes but, pinned to one CPU, no cycles; uvloop "
                "and a Rust front end (granian) lower the CPU per request and so raise the "
                "plateau.")

    def _listen_overflow(self) -> str:
        """SSE subscribers whose first event took ~1 s: SYN retries after a full listen queue."""
        d = self.d
        hits: dict[str, tuple[int, int, float]] = {}  # config -> (subscribers, drops, p99 ms)
        for n in d.configs_in("sse"):
            for p in d.points("sse"):
                samples = d.get("sse", p, n)
                drops = [s["server"].get("listen_overflows") for s in samples]
                p99 = d.stat("sse", p, n, "sse_first_event:p99").median
                if (samples and all(x for x in drops) and p99 and p99 >= 1000
                        and n not in hits):
                    subs = int(d.params("sse", p)["subscribers"])
                    hits[n] = (subs, int(statistics.median(x or 0 for x in drops)), p99)
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

    def _overload_collapse(self) -> str:
        """Configurations that served almost nothing after the overload had ended."""
        d = self.d
        rows = []
        for n in d.configs_in("overload"):
            samples = d.get("overload", "json", n)
            stuck, conns, timeouts, drops, busy, drain, left = [], [], [], [], [], [], []
            for s in samples:
                p = s["params"]["phases_s"]
                post = [b for b in s["result"].get("timeline", []) if b["t"] >= p[0] + p[1]]
                sent = sum(b["sent"] for b in post)
                stuck.append(sum(b["ok"] for b in post) / sent if sent else 1.0)
                conns.append(s["result"].get("connects", 0))
                timeouts.append(s["result"].get("errors", {}).get("timeout", 0))
                drops.append(s["server"].get("listen_overflows") or 0)
                busy.append(_cores(s) or 0.0)
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

    def _shared_machine(self) -> str:
        vals = [s.get("foreign_cores") for s in self.d.samples if s.get("foreign_cores")
                is not None]
        if not vals:
            return ""
        med, top = statistics.median(vals), max(vals)
        busy = sum(1 for v in vals if v > 0.25)
        if top < 0.25:
            return (f"- Other processes on the machine used a median {med:.2f} cores during "
                    f"the points (max {top:.2f}): the run was undisturbed.")
        return (f"- **The machine was shared.** Processes other than the server, generator and "
                f"upstream used a median {med:.2f} and up to {top:.2f} cores during points; "
                f"{busy} of {len(vals)} points saw more than 0.25 core of foreign load. Those "
                "points are noisier (see min-max spread); interleaved repetitions spread the "
                "disturbance over all configurations instead of biasing one.")

    def _typed_vs_tuned(self) -> str:
        d = self.d
        groups = [(base, tuple(n for n in d.configs if n.startswith(base + "-")))
                  for base in ("gunicorn-gthread", "hypercorn")]
        rows = []
        peaks = self.io_peaks()
        for base, tuned in groups:
            for n in (base, *tuned):
                if n not in d.configs:
                    continue
                cpu_pts = [p for p in d.points("cpu") if p.startswith("fib c=")]
                cpu = max((d.stat("cpu", p, n, "rps").median or 0 for p in cpu_pts), default=0)
                pk = peaks.get((n, "io/sleep"))
                rows.append([("**" + n + "** (as typed)") if n == base else n,
                             f"`{d.configs[n]['typed']}`",
                             f"{d.stat('standard', 'json', n, 'rps').median or 0:,.0f}",
                             f"{pk['stat'].median:,.0f}" if pk else "-",
                             f"{cpu:,.0f}" if cpu else "-"])
        if len(rows) <= 2:
            return ""
        from benchmarks.report import table

        return table(["config", "command", "/json", "/io/sleep peak", "/cpu/fib peak"], rows)


def _cores(s: dict[str, Any]) -> float | None:
    wall = s.get("wall_s") or 0
    return s["server"]["cpu_s"] / wall if wall else None


def overload_summary(samples: list[dict[str, Any]]) -> dict[str, Stat]:
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
                if not (b["p99_us"] and b["p99_us"] <= 2 * base and not b["errors"]):
                    break
                rec = b["t"] - t2
        recovery.append(rec)
    return {"before_p99": _stat(before), "during_p99": _stat(during),
            "after_p99": _stat(after), "errors": _stat(errors), "recovery": _stat(recovery)}
