"""Does a burst of connections overflow the listen queue of an asyncio or a uvloop server?

    python -m benchmarks.probes.accept_burst [--backlog 100] [--bursts 128,256] [--out F.json]

The same bare streaming server (no framework) runs on each loop with the same backlog; the
lab's SSE client opens a burst of subscribers at once, and the kernel's ListenOverflows
counter says how many handshakes were dropped. A dropped handshake costs its client the 1 s
initial SYN retransmission timeout, which is what the SSE scenario's first-event p99 shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks import procs

_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
         b"transfer-encoding: chunked\r\n\r\n")
_EVENT = b"7\r\ndata: x\n\r\n"
EVENTS, INTERVAL_MS = 5, 100


async def _stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:  # the readiness check connects and leaves
        writer.close()
        return
    writer.write(_HEAD)
    for _ in range(EVENTS):
        writer.write(_EVENT)
        await writer.drain()
        await asyncio.sleep(INTERVAL_MS / 1000)
    writer.write(b"0\r\n\r\n")
    writer.close()


async def _serve(port: int, backlog: int) -> None:
    server = await asyncio.start_server(_stream, "127.0.0.1", port, backlog=backlog)
    async with server:
        await server.serve_forever()


def serve(loop_name: str, port: int, backlog: int) -> None:
    if loop_name == "uvloop":
        import uvloop

        uvloop.run(_serve(port, backlog))
    else:
        asyncio.run(_serve(port, backlog))


def _pin(cpu: int) -> None:
    if procs.has_affinity() and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})


def burst(port: int, subscribers: int) -> dict[str, Any]:
    spec = {"mode": "sse", "port": port, "paths": ["/"], "subscribers": subscribers,
            "count": EVENTS, "interval_ms": INTERVAL_MS}
    before = procs.listen_overflows()
    out = subprocess.run([sys.executable, "-m", "benchmarks.loadgen"], input=json.dumps(spec),
                         capture_output=True, text=True, check=True,
                         preexec_fn=lambda: _pin(1))
    after = procs.listen_overflows()
    result = json.loads(out.stdout)
    return {"subscribers": subscribers, "complete": result["complete"],
            "first_event_p99_ms": round(result["first_event"]["p99_us"] / 1000, 1),
            "listen_overflows": after - before if before is not None and after is not None
            else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=100)
    parser.add_argument("--bursts", default="128,256,512")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out")
    parser.add_argument("--serve", choices=("asyncio", "uvloop"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.backlog)
        return
    rows = []
    for loop_name in ("asyncio", "uvloop"):
        port = procs.free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.probes.accept_burst", "--serve", loop_name,
             "--port", str(port), "--backlog", str(args.backlog)], preexec_fn=lambda: _pin(0))
        try:
            procs.wait_listening(port, server)
            for size in (int(b) for b in args.bursts.split(",")):
                for rep in range(args.repeat):
                    row = {"loop": loop_name, "backlog": args.backlog, "rep": rep,
                           **burst(port, size)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    time.sleep(0.5)
        finally:
            server.terminate()
            server.wait(10)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"probe": "accept_burst", "cpu_affinity": procs.has_affinity(),
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
