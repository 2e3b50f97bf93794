"""The results file: its typed records, its schema version, and the one place that reads and
writes it.

TypedDicts rather than classes because the file is JSON and the report indexes it as such;
mypy checks every key. Version history:

* 1: the lab's first files (`"schema": 1`, or no version at all). Samples from before the
  lab counted listen-queue overflows have no `server.listen_overflows`.
* 2: the version is `schema_version`; every sample has `server.listen_overflows` (None where
  it was not measured). `load` converts version 1 files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

SCHEMA_VERSION = 2


class Pinning(TypedDict):
    enabled: bool
    server_cpus: list[int]
    generator_cpus: list[int]
    cpu_sweep_server_cpus: list[int]
    method: str


class ScenarioInfo(TypedDict):
    title: str
    description: str


class Meta(TypedDict):
    started: str
    finished: str | None
    argv: list[str]
    quick: bool
    repeat: int
    duration_s: float
    databases: list[str]
    scenarios: list[str]
    generator: str
    pinning: Pinning
    scenario_info: dict[str, ScenarioInfo]
    constants: dict[str, Any]
    upstream_url: NotRequired[str | None]
    merged_from: NotRequired[list[str]]  # one line per part of a merged document


class Environment(TypedDict):
    cpu_model: str
    cpu_count: int | None
    cpus_usable: list[int] | None
    memory_gb: float | None
    os: str
    kernel: str
    python: str
    python_impl: str
    packages: dict[str, str | None]
    wrk: str | None
    git_commit: str | None
    git_dirty: bool | None
    hostname: str
    postgres: str | None
    env: dict[str, str | None]  # the TWINPORT variables of the caller's environment


class ConfigInfo(TypedDict):
    server: str
    app: str
    interface: str
    target: str
    typed: str
    shape: str
    processes: int
    slots: int | None  # blocking-request slots; None = one per connection / event loop
    keepalive: bool
    notes: str


class CeilingRun(TypedDict):
    rps: float
    by_connections: dict[str, float]
    connections: NotRequired[int]
    generator_cpu_s: NotRequired[float | None]


class Ceiling(TypedDict, total=False):
    server: str
    builtin: CeilingRun
    wrk: CeilingRun


# Percentile summaries keyed "count", "mean_us", "p50_us", "p99.9_us", ...: a mapping, since
# the report picks percentiles by name.
Latency = dict[str, float]


class GeneratorInfo(TypedDict, total=False):
    name: str
    affinity: list[int] | None
    loop: str  # builtin
    cpu_s: float
    gc: str
    version: str | None  # wrk
    threads: int


class TimelineBucket(TypedDict):
    t: float
    sent: int
    ok: int
    errors: int
    p50_us: int | None
    p99_us: int | None


class LoadResult(TypedDict):
    """One generator run; which keys are present depends on the load mode."""

    mode: str  # closed | open | sse
    errors: dict[str, int]
    elapsed_s: float
    ok: NotRequired[int]
    rps: NotRequired[float]
    connects: NotRequired[int | None]  # None from wrk, which does not count them
    latency: NotRequired[Latency]
    hdr: NotRequired[str | None]  # base64 HDR histogram (builtin only)
    starved_connections: NotRequired[int]  # closed, builtin
    per_connection: NotRequired[dict[str, int] | None]
    timeline: NotRequired[list[TimelineBucket]]  # open
    subscribers: NotRequired[int]  # sse
    complete: NotRequired[int]
    statuses: NotRequired[dict[str, int]]
    max_concurrent_open: NotRequired[int]
    first_event: NotRequired[Latency]
    lateness: NotRequired[Latency]
    held: NotRequired[bool]  # sse, added by the runner
    rss_per_connection_kb: NotRequired[float]
    generator: NotRequired[GeneratorInfo]


class LoadSpec(TypedDict, total=False):
    """What the generator is asked to do (benchmarks/loadgen.py documents the modes)."""

    mode: str
    host: str
    port: int
    paths: list[str]
    connections: int
    duration: float
    warmup: float
    timeout: float
    requests: int  # a fixed count instead of a duration
    max_time: float
    generator: str  # "builtin" keeps a point off wrk
    phases: list[tuple[float, float]]  # open loop: (rate, seconds)
    bucket: float
    subscribers: int  # sse
    count: int
    interval_ms: int


class ServerStats(TypedDict):
    cpu_s: float
    rss_before_kb: int
    rss_peak_kb: int
    procs: int
    threads: int
    cpus: list[int] | None
    drain_s: float
    listen_overflows: int | None  # machine-wide handshakes dropped during the point
    conns_per_process: list[int]


class Sample(TypedDict):
    scenario: str
    point: str
    config: str
    rep: int
    database: str
    path: str
    params: dict[str, Any]  # the point's parameters; the keys are the scenario's own
    started: float
    wall_s: float
    foreign_cores: float | None  # CPU used by other processes on the machine
    generator_cpu_s: float
    result: LoadResult
    server: ServerStats


class ProcessStats(TypedDict):
    rss_kb: int
    procs: int
    threads: int


class EndStats(TypedDict):
    cpu_s: float
    rss_kb: int
    hwm_kb_sum: int
    threads: int


class ServerRun(TypedDict):
    config: str
    rep: int
    database: str
    argv: list[str]
    env: dict[str, str | None]
    ready_s: float
    log: str
    loadavg_at_start: tuple[float, float, float] | None
    verification: dict[str, str]  # path -> "ok" or why not
    idle: NotRequired[ProcessStats]
    end: NotRequired[EndStats]


class Skip(TypedDict):
    config: str
    rep: int
    database: str
    scenario: str  # "*" when the whole configuration failed
    reason: str
    point: NotRequired[str]


class Overhead(TypedDict):
    measured: str
    cpus: list[int]
    apps: list[dict[str, Any]]  # benchmarks/overhead.py's measurements, one per app and path
    added_after_run: NotRequired[bool]


class Results(TypedDict):
    schema_version: int
    meta: Meta
    environment: Environment
    configs: dict[str, ConfigInfo]
    ceiling: Ceiling
    server_runs: list[ServerRun]
    samples: list[Sample]
    skipped: list[Skip]
    overhead: NotRequired[Overhead]


def from_json(doc: dict[str, Any]) -> Results:
    """A parsed results document at the current schema version (older ones converted)."""
    version = doc.pop("schema_version", None) or doc.pop("schema", None) or 1
    if version > SCHEMA_VERSION:
        raise ValueError(f"results schema {version} is newer than this lab's {SCHEMA_VERSION}")
    if version == 1:
        for sample in doc["samples"]:
            sample["server"].setdefault("listen_overflows", None)
    return cast(Results, {"schema_version": SCHEMA_VERSION, **doc})


def load(path: Path) -> Results:
    return from_json(json.loads(path.read_text()))


def dump(results: Results, path: Path) -> None:
    """Write atomically: an interrupted run always leaves a complete file."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, default=str))
    tmp.replace(path)


def merge(parts: list[Results]) -> Results:
    """Several runs as one document: samples, server runs and skips concatenated."""
    base = from_json(json.loads(json.dumps(parts[0])))
    meta = base["meta"]
    dbs = list(meta["databases"])
    for part in parts[1:]:
        base["samples"].extend(part["samples"])
        base["server_runs"].extend(part["server_runs"])
        base["skipped"].extend(part["skipped"])
        for name, cfg in part["configs"].items():
            base["configs"].setdefault(name, cfg)
        dbs += [db for db in part["meta"]["databases"] if db not in dbs]
        for name in part["meta"]["scenarios"]:
            if name not in meta["scenarios"]:
                meta["scenarios"].append(name)
        meta["scenario_info"].update(
            {k: v for k, v in part["meta"]["scenario_info"].items()
             if k not in meta["scenario_info"]})
        meta["finished"] = part["meta"].get("finished") or meta["finished"]
    meta["databases"] = dbs
    # Each part keeps its own command, code and date in the report's header.
    meta["merged_from"] = [
        f"{' '.join(p['meta'].get('argv') or [])}` at commit "
        f"`{(p['environment'].get('git_commit') or '?')[:10]}`, {p['meta'].get('started')}, "
        f"{p['environment'].get('cpu_model')} x {p['environment'].get('cpu_count')}, "
        f"samples kept: {', '.join(p['meta'].get('scenarios') or [])}"
        for p in parts]
    return base
