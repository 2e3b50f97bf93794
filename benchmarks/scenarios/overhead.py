"""In-process cost per request: each app called directly, no server and no network.

Measured once per run before any server starts (benchmarks/overhead.py does the measuring);
its table sits next to the targets it isolates.
"""

from __future__ import annotations

from benchmarks.aggregate import Data
from benchmarks.markdown import table
from benchmarks.overhead import PAIRS
from benchmarks.scenarios.base import Lab, Plan, Scenario, Setup

NAME = "overhead"


class InProcess(Scenario):
    name = NAME
    timed_closed_loop = False

    def plan(self, setup: Setup) -> Plan:
        return Plan(
            "In-process cost per request: twinport vs minimal vs bare apps",
            "Each app called directly (no server, no network) on /json and /plaintext, in a "
            "fresh process pinned to the server CPU: 500 warm-up calls, then the median of 5 "
            "batches of 2000.", [])

    def before_load(self, lab: Lab) -> None:
        lab.console.print("measuring in-process cost per request ...")
        lab.results["overhead"] = lab.measure_overhead()


def targets_table(d: Data) -> str:
    """The frameworks' cost next to twinport's, if the run measured it."""
    o = d.doc.get("overhead")
    if not o:
        return ""
    by = {(a["target"], a["path"]): a.get("us_per_request") for a in o["apps"]}
    rows = []
    for ours, hello, bare in PAIRS.values():
        for path in ("/json", "/plaintext"):
            a, b, c = by.get((ours, path)), by.get((hello, path)), by.get((bare, path))
            if a and b:
                rows.append([f"`{ours}` {path}", f"{a:.0f}", f"{b:.0f}",
                             f"{c:.1f}" if c else "-", f"{b / a:.0%}",
                             "PASS" if b / a >= 0.9 else "FAIL"])
    note = (" (measured after the load run, same machine)" if o.get("added_after_run")
            else "")
    return ("### The same targets without a server: in-process cost per request" + note +
            "\n\nEach app called directly, no server and no network, in a fresh process "
            f"pinned to CPU {o.get('cpus')}; fastest of 7 batches of 1000 calls, best of the "
            "interleaved rounds. Throughput ratio = minimal app's time / ours.\n\n" + table(
                ["app, endpoint", "twinport us", "minimal framework app us",
                 "bare callable us", "twinport throughput vs minimal", "≥ 90%"], rows))


SCENARIO = InProcess()
