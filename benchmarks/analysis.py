"""The findings that span scenarios: the targets, the generator's ceiling, and the anomalies.

Every sentence with a number in it is computed from the samples of the run being rendered;
the explanations (why a ceiling is where it is) were established by the investigations
described in docs/benchmarks.md and are only printed when the data shows the pattern. Each
scenario's own notes live in its module (benchmarks/scenarios/).
"""

from __future__ import annotations

import statistics

from benchmarks.aggregate import Data, Stat, error_count
from benchmarks.markdown import table
from benchmarks.scenarios import cpu, fanout, io, overload, sse, standard


class Findings:
    def __init__(self, d: Data) -> None:
        self.d = d

    # ------------------------------------------------------------ targets
    def targets(self) -> list[list[str]]:
        d = self.d
        rows = []
        pairs = [("gunicorn-gthread", "gunicorn-gthread+hello", "Flask app vs minimal Flask"),
                 ("hypercorn", "hypercorn+hello", "Quart app vs minimal Quart")]
        for ours, base, label in pairs:
            for ep in standard.CONTROL_ENDPOINTS:
                a = d.stat(standard.NAME, ep, ours, "rps")
                b = d.stat(standard.NAME, ep, base, "rps")
                if a.median is None or b.median is None:
                    continue
                ratio = a.median / b.median
                flag = " (unstable)" if a.unstable or b.unstable else ""
                rows.append([f"{label}, /{ep} ({ours.split('+')[0]})",
                             f"{a.median:,.0f} vs {b.median:,.0f} req/s", f"{ratio:.0%}",
                             "≥ 90%", ("PASS" if ratio >= 0.9 else "FAIL") + flag])
        peaks = io.peaks(d)
        for name in ("gunicorn-gthread", "gunicorn-gthread-wc"):
            pk = peaks.get((name, "io/sleep"))
            if pk and pk.ratio is not None:
                rows.append([f"{name} on /io/sleep vs Little's-law bound",
                             f"{pk.stat.median:,.0f} vs {pk.bound:,.0f} req/s "
                             f"({pk.point})", f"{pk.ratio:.0%}", "≥ 95%",
                             "PASS" if pk.ratio >= 0.95 else "FAIL"])
        return rows

    # ------------------------------------------------------------ generator
    def _closed_medians(self) -> list[tuple[str, str, str, float, str]]:
        d = self.d
        out = []
        for (sc, point, cfg, db), samples in d.groups.items():
            if samples[0]["result"].get("mode") != "closed" or not d.timed_closed_loop(sc):
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

    # ------------------------------------------------------------ anomalies
    def markdown(self) -> str:
        """The 'anomalies investigated' section: each item printed only if the data shows it."""
        d = self.d
        items = [self._pileup(), self._starvation(), self._silent(),
                 fanout.async_parallel_slower(d), self._capped(), sse.listen_overflow(d),
                 overload.collapse(d), self._sync_worker(), self._dev_server(),
                 io.event_loop_cpu(d), self._shared_machine()]
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
            cfg = d.configs.get(s["config"])
            conns = s["server"].get("conns_per_process") or []
            if (cfg is not None and cfg["processes"] > 1 and "gthread" in s["config"]
                    and len(conns) >= 1 and sum(conns) >= 8):
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
            if not d.timed_closed_loop(sc) or db != d.primary_db:
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
            served = Stat(fr).median
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
        order = sorted(d.all_samples, key=lambda x: x["started"])
        silent = {id(s) for s in d.silent}
        hits = []
        for i, s in enumerate(order):
            if id(s) in silent:
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

    def _capped(self) -> str:
        d = self.d
        dur = float(d.meta.get("duration_s") or 0)
        hits = []
        for (sc, point, cfg, _db), samples in d.groups.items():
            r = samples[0]["result"]
            if r.get("mode") != "closed" or not d.timed_closed_loop(sc):
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
            connects, ok = r.get("connects"), r.get("ok")
            if s["config"] == config and r["mode"] == "closed" and connects is not None and ok:
                conns += connects
                reqs += ok + error_count(s)
        return conns / reqs if reqs else None

    def _sync_worker(self) -> str:
        d = self.d
        a = d.stat(standard.NAME, "json", "gunicorn-sync", "rps").median
        b = d.stat(standard.NAME, "json", "gunicorn-gthread", "rps").median
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
        if "flask-dev" not in d.configs_in(standard.NAME):
            return ""
        a = d.stat(standard.NAME, "json", "flask-dev", "rps").median
        r = self._connects_per_request("flask-dev")
        conn = f" ({r:.2f} connections per request measured)" if r is not None else ""
        return (f"- **Flask's development server** ({a:,.0f} req/s on /json with threaded=False) "
                f"answers HTTP/1.0 and closes every connection{conn}, serves one request at "
                "a time without threads, and writes a log line per request to stderr.")

    def _shared_machine(self) -> str:
        vals = [f for s in self.d.samples if (f := s["foreign_cores"]) is not None]
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
        peaks = io.peaks(d)
        for base, tuned in groups:
            for n in (base, *tuned):
                if n not in d.configs:
                    continue
                cpu_peak = cpu.peak(d, n).median or 0
                pk = peaks.get((n, "io/sleep"))
                rows.append([("**" + n + "** (as typed)") if n == base else n,
                             f"`{d.configs[n]['typed']}`",
                             f"{d.stat(standard.NAME, 'json', n, 'rps').median or 0:,.0f}",
                             f"{pk.stat.median:,.0f}" if pk else "-",
                             f"{cpu_peak:,.0f}" if cpu_peak else "-"])
        if len(rows) <= 2:
            return ""
        return table(["config", "command", "/json", "/io/sleep peak", "/cpu/fib peak"], rows)
