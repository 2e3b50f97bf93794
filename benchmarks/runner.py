"""The harness: start each configuration, verify it, warm it up, load it, stop it.

Repetitions are interleaved (rep 1 of every configuration, then rep 2, ...; each rep in a
rotated order) so slow drift of the machine spreads over all configurations instead of
biasing the last one. Results are written after every configuration, so an interrupted run
still leaves a readable results.json.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks import environment, procs, responses, results, servers, wrk
from benchmarks.results import (
    Ceiling,
    CeilingRun,
    LoadResult,
    LoadSpec,
    Overhead,
    Results,
    Sample,
    ServerRun,
)
from benchmarks.scenarios import SCENARIOS, Plan, Point, Scenario, Setup, plan
from benchmarks.servers import ROOT, Config, Running

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Options:
    quick: bool = False
    scenarios: list[str] = field(default_factory=list)  # empty = all
    servers: list[str] = field(default_factory=list)  # empty = default matrix
    repeat: int = 3
    duration: float = 5.0
    databases: list[str] = field(default_factory=lambda: ["sqlite"])
    out_dir: Path = ROOT / "benchmarks" / "results" / "latest"
    generator: str = "auto"  # auto (wrk when installed) | builtin
    pin: bool = True
    postgres_url: str = DEFAULT_POSTGRES_URL
    argv: list[str] = field(default_factory=list)


class Lab:
    results: Results  # set by run()

    def __init__(self, opts: Options, console: Console | None = None) -> None:
        self.opts = opts
        self.console = console or Console(stderr=True)
        self.out = opts.out_dir
        self.logs = self.out / "logs"
        self.tmp = Path(tempfile.mkdtemp(prefix="twinport-bench-"))
        ncpu = os.cpu_count() or 1
        self.pinned = opts.pin and procs.has_affinity()
        # Server on CPU 0, generator (and upstream) on the rest.
        self.server_cpus: set[int] | None = {0} if self.pinned else None
        self.gen_cpus: set[int] | None = set(range(1, ncpu)) if self.pinned else None
        self.all_cpus = set(range(ncpu))
        self.use_wrk = opts.generator == "auto" and wrk.available() is not None
        self.wrk_script = wrk.script_file() if self.use_wrk else None
        self.upstream: subprocess.Popen[bytes] | None = None
        self.upstream_url = ""

    # ------------------------------------------------------------------ generator
    def generate(self, spec: LoadSpec, *, allow_wrk: bool = True) -> LoadResult:
        """Run one load spec in a separate (pinned) generator process."""
        closed_timed = spec["mode"] == "closed" and "requests" not in spec
        allow_wrk = allow_wrk and spec.pop("generator", "auto") != "builtin"
        if allow_wrk and self.use_wrk and closed_timed and len(spec["paths"]) == 1:
            return self._wrk(spec)
        limit = float(spec.get("max_time", 0)) + float(spec.get("duration", 0)) \
            + float(spec.get("warmup", 0)) + sum(d for _, d in spec.get("phases", [])) + 90
        with (self.logs / "generator.log").open("ab") as err:
            proc = procs.spawn([sys.executable, "-m", "benchmarks.loadgen"], cwd=ROOT,
                               env=dict(os.environ), log=err, cpus=self.gen_cpus,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            try:
                out, _ = proc.communicate(json.dumps(spec).encode(), timeout=limit)
            finally:
                procs.stop(proc, grace=1.0)
        if proc.returncode != 0:
            raise RuntimeError(f"generator failed ({proc.returncode}); see {err.name}")
        result: LoadResult = json.loads(out)
        return result

    def _wrk(self, spec: LoadSpec) -> LoadResult:
        assert self.wrk_script is not None
        # No per-point warm-up for wrk: the configuration was warmed up after start and the
        # endpoint verified; a separate warm-up process plus its drain cost ~1 s per point.
        result = self._wrk_once(spec)
        result["generator"] = {"name": "wrk", "version": wrk.version(), "threads": 1,
                               "affinity": sorted(self.gen_cpus) if self.gen_cpus else None}
        return result

    def _wrk_once(self, spec: LoadSpec) -> LoadResult:
        assert self.wrk_script is not None
        cmd = wrk.command(spec, self.wrk_script)
        with (self.logs / "generator.log").open("ab") as err:
            proc = procs.spawn(cmd, cwd=ROOT, env=dict(os.environ), log=err,
                               cpus=self.gen_cpus, stdout=subprocess.PIPE)
            try:
                out, _ = proc.communicate(timeout=float(spec["duration"]) + 60)
            finally:
                procs.stop(proc, grace=1.0)
        return wrk.parse(out.decode(errors="replace"))

    # ------------------------------------------------------------------ ceiling
    def measure_ceiling(self) -> Ceiling:
        """The generator's own maximum against a canned-answer server on the server CPU."""
        port = procs.free_port()
        log = (self.logs / "raw_responder.log").open("ab")
        proc = procs.spawn([sys.executable, "-m", "benchmarks.apps.raw_responder", "--port",
                            str(port)], cwd=ROOT, env=dict(os.environ), log=log,
                           cpus=self.server_cpus)
        out: Ceiling = {"server": "benchmarks.apps.raw_responder (uvloop, canned reply)"}
        try:
            procs.wait_listening(port, proc)
            out["builtin"] = self._best_rate(port, use_wrk=False)
            if self.use_wrk:
                out["wrk"] = self._best_rate(port, use_wrk=True)
        finally:
            procs.stop(proc)
            log.close()
        return out

    def _best_rate(self, port: int, *, use_wrk: bool) -> CeilingRun:
        dur = 2.0 if self.opts.quick else 4.0
        best: CeilingRun = {"rps": 0.0, "by_connections": {}}
        for conns in (16, 64, 256):
            res = self.generate({"mode": "closed", "port": port, "paths": ["/"],
                                 "connections": conns, "duration": dur, "warmup": 0.5},
                                allow_wrk=use_wrk)
            rps = res.get("rps", 0.0)
            best["by_connections"][str(conns)] = rps
            if rps > best["rps"]:
                best["rps"], best["connections"] = rps, conns
                best["generator_cpu_s"] = res.get("generator", {}).get("cpu_s")
        return best

    def measure_overhead(self) -> Overhead:
        from benchmarks import overhead

        env = dict(os.environ)
        env["DATABASE_URL"] = f"sqlite:///{self.tmp / 'overhead.sqlite3'}"
        env["TWINPORT_INSTANCE_PATH"] = str(self.tmp / "instance")
        return {"measured": _now(), "cpus": sorted(self.server_cpus or self.all_cpus),
                "apps": overhead.run_all(ROOT, env, self.server_cpus,
                                         rounds=1 if self.opts.quick else overhead.ROUNDS)}

    # ------------------------------------------------------------------ upstream
    def start_upstream(self) -> None:
        port = procs.free_port()
        log = (self.logs / "upstream.log").open("ab")
        self.upstream = procs.spawn([sys.executable, "-m", "benchmarks.upstream", "--port",
                                     str(port)], cwd=ROOT, env=dict(os.environ), log=log,
                                    cpus=self.gen_cpus)
        procs.wait_listening(port, self.upstream)
        self.upstream_url = f"http://127.0.0.1:{port}"

    # ------------------------------------------------------------------ main loop
    def plan(self) -> tuple[list[Config], dict[str, Plan]]:
        opts = self.opts
        names = opts.servers or (servers.QUICK_MATRIX if opts.quick else servers.FULL_MATRIX)
        configs = [servers.config(n) for n in names]
        primary = opts.databases[0]
        plans = plan(Setup(opts.quick, opts.duration,
                           "postgres" if "postgres" in opts.databases else primary))
        chosen = {k: v for k, v in plans.items() if not opts.scenarios or k in opts.scenarios}
        return configs, chosen

    def run(self) -> Results:
        opts = self.opts
        self.out.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        configs, chosen = self.plan()
        pg_url = opts.postgres_url if "postgres" in opts.databases else None
        env_info = environment.capture(ROOT, pg_url)
        if pg_url and env_info["postgres"] is None:
            raise SystemExit(f"PostgreSQL is not reachable at {pg_url}")
        self.results = {
            "schema_version": results.SCHEMA_VERSION,
            "meta": {
                "started": _now(), "finished": None, "argv": opts.argv, "quick": opts.quick,
                "repeat": opts.repeat, "duration_s": opts.duration,
                "databases": opts.databases, "scenarios": list(chosen),
                "generator": "wrk (closed-loop timed points) + builtin (the rest)"
                if self.use_wrk else "builtin",
                "pinning": {"enabled": self.pinned,
                            "server_cpus": sorted(self.server_cpus or self.all_cpus),
                            "generator_cpus": sorted(self.gen_cpus or self.all_cpus),
                            "cpu_sweep_server_cpus": sorted(self.all_cpus),
                            "method": "os.sched_setaffinity before exec (inherited by workers)"
                            if self.pinned else "none (fewer than 2 CPUs or --no-pin)"},
                "scenario_info": {k: {"title": v.title, "description": v.description}
                                  for k, v in chosen.items()},
                "constants": {k: v for sc in SCENARIOS.values()
                              for k, v in sc.constants().items()},
            },
            "environment": env_info,
            "configs": {c.name: c.describe() for c in configs},
            "ceiling": {},
            "server_runs": [],
            "samples": [],
            "skipped": [],
        }
        self.console.print(f"[bold]twinport benchmark lab[/] -> {self.out}")
        self.console.print(f"generator: {self.results['meta']['generator']}; pinning: "
                           f"{self.results['meta']['pinning']['method']}")
        try:
            self.console.print("measuring the load generator's ceiling ...")
            self.results["ceiling"] = self.measure_ceiling()
            for name, best in (("builtin", self.results["ceiling"].get("builtin")),
                               ("wrk", self.results["ceiling"].get("wrk"))):
                if best is not None:
                    self.console.print(f"  {name}: {best['rps']:,.0f} req/s")
            for name in chosen:
                SCENARIOS[name].before_load(self)
            if any(SCENARIOS[name].needs_upstream for name in chosen):
                self.start_upstream()
            self.results["meta"]["upstream_url"] = self.upstream_url or None
            self._loop(configs, chosen)
        finally:
            if self.upstream is not None:
                procs.stop(self.upstream)
            self.results["meta"]["finished"] = _now()
            self.save()
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.wrk_script:
                with contextlib.suppress(OSError):
                    os.unlink(self.wrk_script)
        return self.results

    def _loop(self, configs: list[Config], chosen: dict[str, Plan]) -> None:
        opts = self.opts
        runs = []
        for db_i, db in enumerate(opts.databases):
            for rep in range(opts.repeat):
                k = rep % len(configs)
                for cfg in configs[k:] + configs[:k]:
                    pts = [p for sc in chosen.values() for p in sc.points if p.applies(cfg)
                           and (db_i == 0 or p.db_only)]
                    if pts:
                        runs.append((db, rep, cfg, pts))
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=self.console, transient=False)
        with progress:
            overall = progress.add_task("configurations", total=len(runs))
            inner = progress.add_task("points", total=1)
            for db, rep, cfg, pts in runs:
                progress.update(inner, description=f"{cfg.name} [{db}] rep {rep + 1}",
                                total=len(pts), completed=0)
                try:
                    self.run_config(cfg, rep, db, pts, lambda: progress.advance(inner))
                except servers.ServerError as exc:
                    self.console.print(f"[red]{cfg.name}: {exc}[/]")
                    self.results["skipped"].append({"config": cfg.name, "rep": rep,
                                                    "database": db, "scenario": "*",
                                                    "reason": str(exc)[:2000]})
                self.save()
                progress.advance(overall)

    def server_env(self, cfg: Config, rep: int, db: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        if db == "postgres":
            env["DATABASE_URL"] = self.opts.postgres_url
        else:
            # A fresh SQLite file for every server run, so runs never share state.
            env["DATABASE_URL"] = f"sqlite:///{self.tmp / f'{cfg.name}-{rep}.sqlite3'}"
        env["TWINPORT_INSTANCE_PATH"] = str(self.tmp / "instance")
        if self.upstream_url:
            env["UPSTREAM_URL"] = self.upstream_url
        return env

    def run_config(self, cfg: Config, rep: int, db: str, pts: list[Point],
                   tick: Callable[[], None]) -> None:
        env = self.server_env(cfg, rep, db)
        log = self.logs / f"{cfg.name}.{db}.rep{rep}.log"
        with Running(cfg, env=env, log_path=log, cpus=self.server_cpus) as run:
            ready_s = run.wait_ready()
            run_info: ServerRun = {
                "config": cfg.name, "rep": rep, "database": db, "argv": run.argv,
                "env": {k: env.get(k) for k in environment.TWINPORT_VARS},
                "ready_s": round(ready_s, 3), "log": str(log.relative_to(self.out)),
                # Other work on the machine shows up here (the lab cannot prevent it).
                "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
                "verification": {},
            }
            self.results["server_runs"].append(run_info)
            bad = self.verify(run, pts, run_info["verification"])
            idle = procs.tree_stats(run.sid)
            run_info["idle"] = {"rss_kb": idle.rss_kb, "procs": idle.procs,
                                "threads": idle.threads}
            # Warm-up: imports, pools, caches, branch predictors; never recorded.
            warm = "/plaintext" if "/plaintext" not in bad else "/healthz"
            self.generate({"mode": "closed", "port": run.port, "paths": [warm],
                           "connections": 16, "duration": 0.5 if self.opts.quick else 1.0},
                          allow_wrk=False)
            self.settle(run)
            stopped: dict[str, str] = {}  # scenario -> why its later points are not attempted
            for pt in pts:
                if pt.path in bad:
                    self._skip(cfg, rep, db, pt, bad[pt.path])
                elif pt.scenario in stopped:
                    self._skip(cfg, rep, db, pt, stopped[pt.scenario])
                else:
                    try:
                        sample = self.run_point(run, cfg, rep, db, pt)
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                        self.console.print(f"[red]{cfg.name} {pt.scenario}/{pt.key}: {exc}[/]")
                        self._skip(cfg, rep, db, pt, f"generator error: {exc}")
                        self.settle(run)
                        tick()
                        continue
                    reason = SCENARIOS[pt.scenario].stop_reason(sample)
                    if reason is not None:
                        stopped[pt.scenario] = reason
                tick()
            end = procs.tree_stats(run.sid)
            run_info["end"] = {"cpu_s": round(end.cpu_s, 3), "rss_kb": end.rss_kb,
                               "hwm_kb_sum": end.hwm_kb, "threads": end.threads}

    def settle(self, run: Running, timeout: float = 60.0) -> float:
        """Drain the last point's connections, then wait until the server answers promptly.

        Connections closing is not enough: a server can keep working off requests whose
        clients left (granian's thread pool had ~1000 queued db-sleeps after its sockets
        closed, and the next point got no answer for 2 s). /healthz answering within 50 ms
        twice in a row says the queue in front of it is gone.
        """
        t0 = time.monotonic()
        procs.drain(run.port, timeout=timeout)
        fast = 0
        while fast < 2 and time.monotonic() - t0 < timeout:
            t1 = time.perf_counter()
            try:
                status, _, _ = servers.get(run.port, "/healthz", timeout=timeout)
            except OSError:
                status = 0
            fast = fast + 1 if status == 200 and time.perf_counter() - t1 < 0.05 else 0
            if fast < 2:
                time.sleep(0.05)
        return time.monotonic() - t0

    def verify(self, run: Running, pts: list[Point], record: dict[str, str]) -> dict[str, str]:
        """Check each endpoint's answer before any load. Returns {path: why} of failures."""
        bad: dict[str, str] = {}
        owners: dict[str, Scenario | None] = {"/healthz": None, "/plaintext": None}
        for pt in pts:
            owners.setdefault(pt.path, SCENARIOS[pt.scenario])
        for path, owner in owners.items():
            check = owner.verification_path(path) if owner else path
            t0 = time.perf_counter()
            try:
                status, headers, body = servers.get(run.port, check, timeout=30)
            except OSError as exc:
                status, headers, body = 0, {}, str(exc).encode()
            elapsed = time.perf_counter() - t0
            why = responses.verify(check, status, headers, body, elapsed)
            if why is not None and owner is not None:
                why = owner.explain_failed_check(status, why)
            record[path] = "ok" if why is None else why
            if why is not None:
                bad[path] = why
                if path != "/plaintext":  # bare controls have no twinport routes: expected
                    self.console.print(f"[yellow]{run.cfg.name}: {path}: {why}[/]")
        return bad

    def _skip(self, cfg: Config, rep: int, db: str, pt: Point, why: str) -> None:
        self.results["skipped"].append({"config": cfg.name, "rep": rep, "database": db,
                                        "scenario": pt.scenario, "point": pt.key,
                                        "reason": why})

    def run_point(self, run: Running, cfg: Config, rep: int, db: str, pt: Point) -> Sample:
        scenario = SCENARIOS[pt.scenario]
        spec, params = scenario.load_spec(self, run, pt)
        cpus = self.all_cpus if pt.server_cpus == "all" else self.server_cpus
        if self.pinned and pt.server_cpus == "all":
            procs.set_tree_affinity(run.sid, self.all_cpus)
        before = procs.tree_stats(run.sid)
        overflows0 = procs.listen_overflows()
        busy0 = procs.CpuClock.busy_s()
        kids0 = _children_cpu()
        up0 = procs.tree_stats(self.upstream.pid).cpu_s if self.upstream else 0.0
        with procs.RssSampler(run.sid, interval=scenario.rss_interval_s, port=run.port) as rss:
            t0 = time.time()
            result = self.generate(spec)
            wall = time.time() - t0
        after = procs.tree_stats(run.sid)
        overflows1 = procs.listen_overflows()
        busy = procs.CpuClock.busy_s() - busy0
        # The generator processes (builtin or wrk) have been reaped: their CPU is ours.
        gen_cpu = _children_cpu() - kids0
        if self.upstream:
            gen_cpu += procs.tree_stats(self.upstream.pid).cpu_s - up0
        drain_s = self.settle(run)
        if self.pinned and pt.server_cpus == "all":
            procs.set_tree_affinity(run.sid, self.server_cpus or self.all_cpus)
        scenario.finish(result, rss_growth_kb=max(0, rss.peak_kb - before.rss_kb))
        sample: Sample = {
            "scenario": pt.scenario, "point": pt.key, "config": cfg.name, "rep": rep,
            "database": db, "path": pt.path, "params": params, "started": t0,
            "wall_s": round(wall, 3),
            # CPU the machine spent outside the server and the generator during the point:
            # other work on a shared machine, which the report flags.
            "foreign_cores": round(max(0.0, busy - (after.cpu_s - before.cpu_s) - gen_cpu)
                                   / wall, 3) if wall else None,
            "generator_cpu_s": round(gen_cpu, 3),
            "result": result,
            "server": {"cpu_s": round(after.cpu_s - before.cpu_s, 3),
                       "rss_before_kb": before.rss_kb, "rss_peak_kb": rss.peak_kb,
                       "procs": after.procs, "threads": after.threads,
                       "cpus": sorted(cpus) if cpus else None,
                       "drain_s": round(drain_s, 3),
                       # Handshakes the kernel dropped for a full listen queue (machine-wide).
                       "listen_overflows": (overflows1 - overflows0
                                            if overflows0 is not None and overflows1 is not None
                                            else None),
                       # Open connections per server process, sampled mid-load.
                       "conns_per_process": rss.conns_per_process},
        }
        self.results["samples"].append(sample)
        return sample

    def save(self) -> None:
        results.dump(self.results, self.out / "results.json")


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
