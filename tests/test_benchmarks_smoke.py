"""Smoke test of the benchmark harness: a tiny end-to-end run, not a performance assertion.

Starts one real server (Gunicorn running the Flask app) through `python -m benchmarks run`,
verifies its responses, loads it for about a second with the built-in generator and checks
that results.json, report.md and report.html come out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_harness_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "benchmarks", "run", "--scenario", "standard",
           "--servers", "gunicorn-gthread", "--repeat", "1", "--duration", "1",
           "--generator", "builtin", "--quick", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    data = json.loads((out / "results.json").read_text())
    assert data["meta"]["finished"]
    assert data["environment"]["cpu_count"] >= 1
    assert data["ceiling"]["builtin"]["rps"] > 0
    (run,) = data["server_runs"]
    assert run["verification"] and all(v == "ok" for v in run["verification"].values()), run
    samples = data["samples"]
    assert {s["point"] for s in samples} >= {"json", "plaintext"}
    for s in samples:
        assert s["result"]["ok"] > 0, s
        assert not s["result"]["errors"], s
    report = (out / "report.md").read_text()
    assert "## 4. Standard workloads" in report
    html = (out / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_loadgen_counts_requests_against_raw_responder(tmp_path: Path) -> None:
    from benchmarks import loadgen, procs
    from benchmarks.servers import ROOT as root

    port = procs.free_port()
    log = (tmp_path / "raw.log").open("wb")
    proc = procs.spawn([sys.executable, "-m", "benchmarks.apps.raw_responder", "--port",
                        str(port)], cwd=root, env=dict(os.environ), log=log)
    try:
        procs.wait_listening(port, proc)
        closed = loadgen.run_spec({"mode": "closed", "port": port, "paths": ["/"],
                                   "connections": 4, "requests": 200})
        assert closed["ok"] == 200 and not closed["errors"]
        opened = loadgen.run_spec({"mode": "open", "port": port, "paths": ["/"],
                                   "connections": 8, "phases": [(200, 0.5)], "bucket": 0.25})
        assert opened["ok"] == 100 and opened["latency"]["count"] == 100
        assert sum(b["sent"] for b in opened["timeline"]) == 100
    finally:
        procs.stop(proc)
        log.close()
