"""wrk as an optional closed-loop generator (used when `wrk` is on PATH).

wrk (C, epoll) has a far higher ceiling than any Python client, so where it is installed it
runs the fixed-duration closed-loop points; the built-in generator still runs everything wrk
cannot do (fixed request counts, open-loop schedules, SSE). A Lua `done()` hook prints the
summary and percentiles as JSON so nothing is scraped from wrk's human-readable text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile

from benchmarks.results import Latency, LoadResult, LoadSpec

_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"min":%d,"max":%d,"mean":%.1f,' ..
    '"p50":%d,"p90":%d,"p99":%d,"p999":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
"""


def available() -> str | None:
    return shutil.which("wrk")


def version() -> str | None:
    exe = available()
    if exe is None:
        return None
    proc = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False)
    return (proc.stdout + proc.stderr).strip().splitlines()[0] if proc.stdout + proc.stderr \
        else None


def command(spec: LoadSpec, script: str) -> list[str]:
    exe = available()
    assert exe is not None
    conns = max(1, int(spec["connections"]))
    url = f"http://127.0.0.1:{spec['port']}{spec['paths'][0]}"
    timeout = max(1, int(float(spec.get("timeout", 30))))
    # wrk takes whole seconds only.
    secs = max(1, round(float(spec["duration"])))
    return [exe, "-t", "1", "-c", str(conns), "-d", f"{secs}s",
            "--timeout", f"{timeout}s", "-s", script, url]


def parse(stdout: str) -> LoadResult:
    line = next((ln for ln in stdout.splitlines() if ln.startswith("WRKJSON")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{stdout[-2000:]}")
    raw = json.loads(line.removeprefix("WRKJSON"))
    elapsed = raw["duration_us"] / 1e6
    ok = raw["requests"] - raw["status"]
    errors = {k: raw[k] for k in ("connect", "read", "write", "timeout") if raw[k]}
    if raw["status"]:
        errors["http_non_2xx"] = raw["status"]
    latency: Latency = {"count": ok, "mean_us": raw["mean"], "min_us": raw["min"],
                               "max_us": raw["max"], "p50_us": raw["p50"], "p90_us": raw["p90"],
                               "p99_us": raw["p99"], "p99.9_us": raw["p999"]}
    return {"mode": "closed", "ok": ok, "errors": errors, "connects": None,
            "elapsed_s": round(elapsed, 4), "rps": round(ok / elapsed, 2) if elapsed else 0.0,
            "latency": latency, "hdr": None}


def script_file() -> str:
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    with handle:
        handle.write(_LUA)
    return handle.name
