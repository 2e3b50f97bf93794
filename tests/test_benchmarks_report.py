"""The lab's report logic on fixed data: the committed reference run and small synthetic cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from benchmarks import procs, report, results
from benchmarks.results import Sample
from benchmarks.scenarios import overload

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "results" / "reference" / "results.json"


def _bucket(t: float, p99_ms: float | None, errors: int = 0) -> dict[str, Any]:
    return {"t": t, "sent": 10, "ok": 0 if p99_ms is None else 10, "errors": errors,
            "p50_us": None if p99_ms is None else int(p99_ms * 500),
            "p99_us": None if p99_ms is None else int(p99_ms * 1000)}


def _overload_sample(phases_s: list[float], timeline: list[dict[str, Any]]) -> Sample:
    # Only the keys the overload summary reads.
    return cast(Sample, {"params": {"phases_s": phases_s},
                         "result": {"mode": "open", "elapsed_s": sum(phases_s),
                                    "timeline": timeline, "errors": {"timeout": 10}}})


def test_overload_recovery_counts_from_when_p99_stays_healthy() -> None:
    timeline = [
        _bucket(0.0, 900.0),  # opening the client's connections: not the baseline
        _bucket(0.5, 10.0),
        _bucket(1.0, 4000.0), _bucket(1.5, 4500.0),  # the 2x phase
        _bucket(2.0, 3000.0), _bucket(2.5, 15.0),  # one good bucket is not recovery
        _bucket(3.0, None, errors=10), _bucket(3.5, 12.0), _bucket(4.0, 11.0),
    ]
    summary = overload.summary([_overload_sample([1.0, 1.0, 2.5], timeline)])
    assert summary["before_p99"].median == pytest.approx(10.0)
    assert summary["recovery"].median == pytest.approx(1.5)


def test_overload_that_never_settles_has_no_recovery() -> None:
    timeline = [_bucket(0.0, 5.0), _bucket(0.5, 10.0), _bucket(1.0, 4000.0),
                _bucket(2.0, 15.0), _bucket(2.5, None, errors=10)]
    sample = _overload_sample([1.0, 1.0, 1.0], timeline)
    assert overload.summary([sample])["recovery"].median is None


@pytest.mark.skipif(not Path("/proc/net/netstat").exists(), reason="needs Linux /proc")
def test_listen_overflows_reads_the_kernel_counter() -> None:
    count = procs.listen_overflows()
    assert isinstance(count, int) and count >= 0


def test_reference_report_renders_every_scenario_and_its_explanations(tmp_path: Path) -> None:
    report.write(results.load(REFERENCE), tmp_path)
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
    text = (tmp_path / "report.md").read_text()
    for heading in ("## Targets", "## 1. The articles' experiment", "## 2. I/O wait sweep",
                    "## 3. CPU-bound sweep", "## 4. Standard workloads", "## 5. Fan-out",
                    "## 6. Long-lived connections (SSE)", "## 7. Overload",
                    "## Anomalies investigated"):
        assert heading in text, heading
    # Explanations the reference data calls for, each printed only when the data shows it.
    assert "the listen queue overflowed" in text
    assert "never recovered from the overload" in text
    assert "Merged from 3 runs" in text


def test_version_1_results_load_at_the_current_schema(tmp_path: Path) -> None:
    raw = json.loads(REFERENCE.read_text())
    assert raw.get("schema", 1) == 1 and "schema_version" not in raw
    data = results.load(REFERENCE)
    assert data["schema_version"] == results.SCHEMA_VERSION
    # Samples from before the lab counted listen-queue drops say so explicitly.
    assert all("listen_overflows" in s["server"] for s in data["samples"])
    results.dump(data, tmp_path / "results.json")
    assert results.load(tmp_path / "results.json") == data


def test_results_from_a_newer_lab_are_refused() -> None:
    with pytest.raises(ValueError, match="newer"):
        results.from_json({"schema_version": results.SCHEMA_VERSION + 1})


def test_the_lab_has_no_import_cycle() -> None:
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("benchmarks")
    modules = sorted(graph.modules)
    cycles = [(a, b) for i, a in enumerate(modules) for b in modules[i + 1:]
              if graph.chain_exists(a, b) and graph.chain_exists(b, a)]
    assert not cycles
