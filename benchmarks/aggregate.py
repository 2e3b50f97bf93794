"""An indexed view over a results document: samples grouped by point, medians with min-max.

This is the layer the report, the findings and the scenario sections all read through.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from benchmarks.results import ConfigInfo, Results, Sample

UNSTABLE_SPREAD = 0.20  # (max - min) / median above this flags a result as unstable


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


class SampleRules(Protocol):
    """What the view needs to know about a scenario (the scenario objects provide it)."""

    @property
    def timed_closed_loop(self) -> bool: ...

    def silent(self, sample: Sample) -> bool: ...


class Data:
    """Indexed view over a results document."""

    def __init__(self, doc: Results, rules: Mapping[str, SampleRules]) -> None:
        self.doc = doc
        self.meta = doc["meta"]
        self.env = doc["environment"]
        self.configs: dict[str, ConfigInfo] = doc["configs"]
        self.rules = rules
        self.all_samples = doc["samples"]
        # A timed closed-loop point with no response and no error never saw the endpoint:
        # the server was busy with leftovers (see the anomalies). Kept out of the medians.
        self.silent = [s for s in self.all_samples if rules[s["scenario"]].silent(s)]
        silent_ids = {id(s) for s in self.silent}
        self.samples = [s for s in self.all_samples if id(s) not in silent_ids]
        self.groups: dict[tuple[str, str, str, str], list[Sample]] = defaultdict(list)
        for s in self.samples:
            self.groups[(s["scenario"], s["point"], s["config"], s["database"])].append(s)
        dbs = self.meta.get("databases") or ["sqlite"]
        self.primary_db = dbs[0]
        self.ceiling = doc.get("ceiling", {})

    def timed_closed_loop(self, scenario: str) -> bool:
        return self.rules[scenario].timed_closed_loop

    def get(self, scenario: str, point: str, config: str, db: str | None = None) -> list[Sample]:
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
        return float(c["rps"]) if isinstance(c, dict) else None

    def scenario_description(self, scenario: str) -> str:
        info = self.meta.get("scenario_info", {}).get(scenario)
        return info["description"] if info else ""


def _opt(v: float | None) -> float | None:
    return float(v) if v is not None else None


def cores(s: Sample) -> float | None:
    """Cores the server tree kept busy during the point."""
    wall = s.get("wall_s") or 0
    return s["server"]["cpu_s"] / wall if wall else None


def error_count(s: Sample) -> int:
    return sum(s["result"].get("errors", {}).values())


def metric_of(s: Sample, metric: str) -> float | None:
    r = s["result"]
    if metric == "rps":
        return float(r.get("rps") or 0.0)
    if metric == "elapsed_s":
        return _opt(r.get("elapsed_s"))
    if metric == "errors":
        return float(error_count(s))
    if metric == "error_ratio":
        errs = float(error_count(s))
        return errs / max(1.0, errs + float(r.get("ok") or 0))
    if metric.startswith("lat_"):
        v = r.get("latency", {}).get(metric[4:] + "_us")
        return float(v) / 1000 if v is not None else None  # ms
    if metric == "server_cores":
        return cores(s)
    if metric == "rss_mb":
        return float(s["server"]["rss_peak_kb"]) / 1024
    if metric == "rss_per_conn_kb":
        return _opt(r.get("rss_per_connection_kb"))
    if metric == "held":
        return 1.0 if r.get("held") else 0.0
    if metric.startswith("sse_"):
        key, _, pct = metric[4:].partition(":")
        summary = r.get("first_event") if key == "first_event" else r.get("lateness")
        v = (summary or {}).get(pct + "_us")
        return v / 1000 if v is not None else None
    raise KeyError(metric)


def concurrency(point: str) -> int | None:
    m = re.search(r"c=(\d+)", point)
    return int(m.group(1)) if m else None
