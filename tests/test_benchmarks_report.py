"""The lab's report logic on fixed data: the committed reference run and small synthetic cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import analysis, procs, report

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "results" / "reference" / "results.json"


def _bucket(t: float, p99_ms: float | None, errors: int = 0) -> dict[str, object]:
    return {"t": t, "sent": 10, "ok": 0 if p99_ms is None else 10, "errors": errors,
            "p50_us": None if p99_ms is None else int(p99_ms * 500),
            "p99_us": None if p99_ms is None else int(p99_ms * 1000)}


def test_overload_recovery_counts_from_when_p99_stays_healthy() -> None:
    timeline = [
        _bucket(0.0, 900.0),  # opening the client's connections: not the baseline
        _bucket(0.5, 10.0),
        _bucket(1.0, 4000.0), _bucket(1.5, 4500.0),  # the 2x phase
        _bucket(2.0, 3000.0), _bucket(2.5, 15.0),  # one good bucket is not recovery
        _bucket(3.0, None, errors=10), _bucket(3.5, 12.0), _bucket(4.0, 11.0),
    ]
    sample = {"params": {"phases_s": [1.0, 1.0, 2.5]},
              "result": {"timeline": timeline, "errors": {"timeout": 10}}}
    summary = analysis.overload_summary([sample])
    assert summary["before_p99"].median == pytest.approx(10.0)
    assert summary["recovery"].median == pytest.approx(1.5)


def test_overload_that_never_settles_has_no_recovery() -> None:
    timeline = [_bucket(0.0, 5.0), _bucket(0.5, 10.0), _bucket(1.0, 4000.0),
                _bucket(2.0, 15.0), _bucket(2.5, None, errors=10)]
    sample = {"params": {"phases_s": [1.0, 1.0, 1.0]},
              "result": {"timeline": timeline, "errors": {"timeout": 10}}}
    assert analysis.overload_summary([sample])["recovery"].median is None


@pytest.mark.skipif(not Path("/proc/net/netstat").exists(), reason="needs Linux /proc")
def test_listen_overflows_reads_the_kernel_counter() -> None:
    count = procs.listen_overflows()
    assert isinstance(count, int) and count >= 0


def test_reference_report_renders_every_scenario_and_its_explanations(tmp_path: Path) -> None:
    data = json.loads(REFERENCE.read_text())
    report.write(data, tmp_path)
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
