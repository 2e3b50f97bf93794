"""The built-in load generator: a minimal HTTP/1.1 keep-alive client on asyncio (+ uvloop).

It runs in its own process (`python -m benchmarks.loadgen < spec.json`), usually pinned to a
CPU of its own, and prints one JSON result on stdout. Three modes:

* ``closed``: C connections, each sends its next request when the previous answer arrived.
  Counts ``requests`` or runs for ``duration`` after a ``warmup``.
* ``open``: requests are *scheduled* at a constant rate (in phases) and latency is measured
  from the intended send time, so a server that stalls is charged for the requests queued
  behind the stall (no coordinated omission).
* ``sse``: S subscribers open a server-sent-events stream at once and time every event.

The client is a raw `asyncio.Protocol` rather than httpx/aiohttp: it parses just enough HTTP
(status, Content-Length, chunked, Connection: close) to be several times faster, which keeps
the generator's own ceiling well above the servers it measures (see `ceiling` in results).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import gc
import json
import os
import socket
import sys
import time
from array import array
from collections.abc import Callable, Coroutine
from typing import Any

from hdrh.histogram import HdrHistogram

from benchmarks.results import Latency, LoadResult, LoadSpec, TimelineBucket

# Latencies are recorded in microseconds, 1 us .. 120 s, 3 significant digits.
HDR_MAX_US = 120_000_000
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


class ResponseError(Exception):
    """The connection died or answered something we could not parse."""


class HttpConn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    __slots__ = ("_hdr", "buf", "closed", "keep_alive", "transport", "waiter")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = True
        # Parsed header of the response in flight: (status, body_start, length, chunked).
        self._hdr: tuple[int, int, int, bool] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            hdr = self._hdr
            if hdr is not None and hdr[2] == -1:  # body delimited by close (HTTP/1.0 style)
                waiter.set_result(hdr[0])
            else:
                waiter.set_exception(ResponseError("connection closed mid-response"))

    def request(self, raw: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.waiter = fut = loop.create_future()
        self.buf.clear()
        self._hdr = None
        self.transport.write(raw)
        return fut

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        try:
            status = self._parse()
        except Exception as exc:  # malformed response: fail this request, drop the connection
            waiter.set_exception(ResponseError(str(exc)))
            return
        if status is not None:
            waiter.set_result(status)

    def _parse(self) -> int | None:
        buf = self.buf
        hdr = self._hdr
        if hdr is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return None
            head = bytes(buf[:end]).lower()
            lines = head.split(b"\r\n")
            proto, _, rest = lines[0].partition(b" ")
            status = int(rest[:3])
            length, chunked = -1, False
            keep = proto == b"http/1.1"
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value:
                    chunked = True
                elif name == b"connection":
                    keep = b"keep-alive" in value if proto != b"http/1.1" else b"close" not in value
            self.keep_alive = keep
            if status in (204, 304) or 100 <= status < 200:
                length = 0
            hdr = self._hdr = (status, end + 4, length, chunked)
        status, start, length, chunked = hdr
        if chunked:
            return status if _chunked_complete(buf, start) else None
        if length >= 0:
            return status if len(buf) - start >= length else None
        return None  # read until close

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True


def _chunked_complete(buf: bytearray, pos: int) -> bool:
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return False
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:
            return buf.find(b"\r\n\r\n", eol) >= 0 or buf.endswith(b"\r\n", eol)
        pos = eol + 2 + size + 2
        if pos > len(buf):
            return False


class Recorder:
    """Latencies (us) of successful requests plus error and connection counters."""

    def __init__(self, bucket_s: float = 0.0) -> None:
        self.lat = array("q")
        self.errors: collections.Counter[str] = collections.Counter()
        self.connects = 0
        self.bucket_s = bucket_s
        self.buckets = array("q")  # bucket index per latency sample (timeline mode)
        self.err_buckets: collections.Counter[int] = collections.Counter()

    def histogram(self) -> HdrHistogram:
        hist = HdrHistogram(1, HDR_MAX_US, 3)
        for value, count in collections.Counter(self.lat).items():
            hist.record_value(min(max(value, 1), HDR_MAX_US), count)
        return hist


def _summary(hist: HdrHistogram) -> Latency:
    if hist.get_total_count() == 0:
        return {"count": 0}
    out: Latency = {
        "count": hist.get_total_count(),
        "mean_us": round(hist.get_mean_value(), 1),
        "min_us": hist.get_min_value(),
        "max_us": hist.get_max_value(),
    }
    for p in PERCENTILES:
        out[f"p{p:g}_us"] = hist.get_value_at_percentile(p)
    return out


def _request_bytes(host: str, port: int, path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: twinport-bench\r\n"
            "Accept: */*\r\n\r\n").encode()


async def _connect(host: str, port: int) -> HttpConn:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(HttpConn, host, port)
    return conn


def _classify(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.CancelledError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect_refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ResponseError):
        return "closed"
    return type(exc).__name__


def _expire(fut: asyncio.Future[int]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


async def _one(conn: HttpConn, raw: bytes, limit_s: float) -> int:
    # A timer handle is cheaper than asyncio.wait_for, and failing the future (instead of
    # cancelling it) keeps a request timeout distinct from the run's own cancellation.
    loop = asyncio.get_running_loop()
    fut = conn.request(raw)
    handle = loop.call_later(max(limit_s, 0.001), _expire, fut)
    try:
        return await fut
    finally:
        handle.cancel()


async def run_closed(spec: LoadSpec) -> LoadResult:
    host, port = spec.get("host", "127.0.0.1"), int(spec["port"])
    raws = [_request_bytes(host, port, p) for p in spec["paths"]]
    conns_n = int(spec["connections"])
    timeout = float(spec.get("timeout", 30.0))
    total = spec.get("requests")  # fixed count (the articles' experiment) or duration
    duration = float(spec.get("duration", 0.0))
    warmup = float(spec.get("warmup", 0.0))
    rec = Recorder()
    clock = time.perf_counter
    t_start = clock()
    measure_from = t_start + warmup
    max_time = float(spec.get("max_time", 600))
    deadline = measure_from + duration if total is None else t_start + max_time
    issued = 0
    first_send: list[float] = []
    last_done = [t_start]
    # Successful responses per connection inside the window: a server that serves a few
    # connections and leaves the rest in its listen backlog shows up as zeros here.
    per_conn = [0] * conns_n

    async def worker(idx: int) -> None:
        nonlocal issued
        conn: HttpConn | None = None
        i = idx
        while True:
            if total is not None:
                if issued >= total:
                    break
                issued += 1
            now = clock()
            if now >= deadline:
                break
            try:
                if conn is None or conn.closed or not conn.keep_alive:
                    if conn is not None:
                        conn.close()
                    conn = await asyncio.wait_for(_connect(host, port), timeout)
                    rec.connects += 1
                raw = raws[i % len(raws)]
                i += 1
                t0 = clock()
                if not first_send:
                    first_send.append(t0)
                status = await _one(conn, raw, timeout)
            except Exception as exc:  # every failure is a counted result
                rec.errors[_classify(exc)] += 1
                if conn is not None:
                    conn.close()
                conn = None
                await asyncio.sleep(0.005)  # never spin on a refusing server
                continue
            t1 = clock()
            # Timed runs count completions inside the window, as wrk does: counting only
            # requests that also started inside it drops the one each connection has in
            # flight at either edge, a bias of about one wait per connection per window
            # (2.5 % for 50 ms waits in 2 s), which read as servers missing their bound.
            counted = t0 >= measure_from if total is not None else measure_from <= t1 <= deadline
            if counted:
                if 200 <= status < 400:
                    rec.lat.append(int((t1 - t0) * 1e6))
                    per_conn[idx] += 1
                else:
                    rec.errors[f"http_{status}"] += 1
                last_done[0] = t1
        if conn is not None:
            conn.close()

    tasks = [asyncio.create_task(worker(i)) for i in range(conns_n)]
    if total is None:
        await asyncio.sleep(max(0.0, deadline - clock()))
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = duration
    else:
        await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = last_done[0] - (first_send[0] if first_send else t_start)
    hist = rec.histogram()
    ok = hist.get_total_count()
    return {
        "mode": "closed",
        "ok": ok,
        "errors": dict(rec.errors),
        "connects": rec.connects,
        "starved_connections": sum(1 for n in per_conn if n == 0),
        "per_connection": {"min": min(per_conn), "max": max(per_conn)} if per_conn else None,
        "elapsed_s": round(elapsed, 4),
        "rps": round(ok / elapsed, 2) if elapsed > 0 else 0.0,
        "latency": _summary(hist),
        "hdr": base64.b64encode(hist.encode()).decode(),
    }


async def run_open(spec: LoadSpec) -> LoadResult:
    """Constant-rate phases; latency counted from each request's intended send time."""
    host, port = spec.get("host", "127.0.0.1"), int(spec["port"])
    raws = [_request_bytes(host, port, p) for p in spec["paths"]]
    phases: list[tuple[float, float]] = [(float(r), float(d)) for r, d in spec["phases"]]
    max_conns = int(spec.get("connections", 256))
    timeout = float(spec.get("timeout", 10.0))
    bucket_s = float(spec.get("bucket", 0.5))
    clock = time.perf_counter
    rec = Recorder(bucket_s)
    queue: asyncio.Queue[float | None] = asyncio.Queue()
    t_start = clock() + 0.05
    sent = array("q")  # scheduled requests per bucket

    async def dispatcher() -> None:
        t = t_start
        for rate, dur in phases:
            n = int(rate * dur)
            k = 0
            while k < n:
                now = clock()
                # Enqueue everything that is due; latency runs from `when`, not from now.
                while k < n and (when := t + k / rate) <= now:
                    queue.put_nowait(when)
                    b = int((when - t_start) / bucket_s)
                    while len(sent) <= b:
                        sent.append(0)
                    sent[b] += 1
                    k += 1
                if k < n:
                    delay = t + k / rate - clock()
                    await asyncio.sleep(delay - 0.001 if delay > 0.002 else 0)
            t += dur
        for _ in range(max_conns):
            queue.put_nowait(None)

    async def worker() -> None:
        conn: HttpConn | None = None
        i = 0
        while (intended := await queue.get()) is not None:
            now = clock()
            b = int((intended - t_start) / bucket_s)
            if now - intended > timeout:  # it waited in our queue past the timeout: it failed
                rec.errors["timeout"] += 1
                rec.err_buckets[b] += 1
                continue
            try:
                if conn is None or conn.closed or not conn.keep_alive:
                    if conn is not None:
                        conn.close()
                    conn = await asyncio.wait_for(_connect(host, port), timeout)
                    rec.connects += 1
                status = await _one(conn, raws[i % len(raws)], timeout - (clock() - intended))
                i += 1
            except Exception as exc:  # every failure is a counted result
                rec.errors[_classify(exc)] += 1
                rec.err_buckets[b] += 1
                if conn is not None:
                    conn.close()
                conn = None
                continue
            t1 = clock()
            if 200 <= status < 400:
                rec.lat.append(int((t1 - intended) * 1e6))
                rec.buckets.append(b)
            else:
                rec.errors[f"http_{status}"] += 1
                rec.err_buckets[b] += 1
        if conn is not None:
            conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(max_conns)]
    await dispatcher()
    total_s = sum(d for _, d in phases)
    try:
        await asyncio.wait_for(asyncio.gather(*workers), timeout + 2)
    except TimeoutError:
        rec.errors["unfinished"] += queue.qsize()
    hist = rec.histogram()
    timeline: list[TimelineBucket] = []
    per_bucket: dict[int, list[int]] = collections.defaultdict(list)
    for b, lat in zip(rec.buckets, rec.lat, strict=True):
        per_bucket[b].append(lat)
    for b in range(len(sent)):
        lats = sorted(per_bucket.get(b, []))
        timeline.append({
            "t": round(b * bucket_s, 3),
            "sent": sent[b],
            "ok": len(lats),
            "errors": rec.err_buckets.get(b, 0),
            "p50_us": lats[len(lats) // 2] if lats else None,
            "p99_us": lats[min(len(lats) - 1, int(len(lats) * 0.99))] if lats else None,
        })
    ok = hist.get_total_count()
    return {
        "mode": "open",
        "ok": ok,
        "errors": dict(rec.errors),
        "connects": rec.connects,
        "elapsed_s": total_s,
        "rps": round(ok / total_s, 2),
        "latency": _summary(hist),
        "hdr": base64.b64encode(hist.encode()).decode(),
        "timeline": timeline,
    }


async def run_sse(spec: LoadSpec) -> LoadResult:
    """S subscribers at once; time to first event and per-event lateness vs the schedule."""
    host, port = spec.get("host", "127.0.0.1"), int(spec["port"])
    raw = _request_bytes(host, port, spec["paths"][0])
    subs = int(spec["subscribers"])
    count = int(spec["count"])
    interval = float(spec["interval_ms"]) / 1000
    timeout = float(spec.get("timeout", count * interval + 15))
    clock = time.perf_counter
    ttfe = array("q")
    late = array("q")
    errors: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[int] = collections.Counter()
    complete = 0
    held = {"now": 0, "max": 0}

    async def subscriber() -> None:
        nonlocal complete
        loop = asyncio.get_running_loop()
        events: list[float] = []
        done = loop.create_future()
        state = {"head": False, "buf": bytearray()}

        class Stream(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                t = clock()
                buf = state["buf"]
                assert isinstance(buf, bytearray)
                buf += data
                if not state["head"]:
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        return
                    state["head"] = True
                    status = int(bytes(buf[9:12]))
                    statuses[status] += 1
                    if status != 200:
                        if not done.done():
                            done.set_result(False)
                        return
                    del buf[: end + 4]
                n = buf.count(b"data:")
                if n:
                    events.extend([t] * n)
                    # Keep only a tail that might hold a split "data:" marker.
                    del buf[: max(0, len(buf) - 4)]
                if len(events) >= count and not done.done():
                    done.set_result(True)

            def connection_lost(self, exc: Exception | None) -> None:
                if not done.done():
                    done.set_result(len(events) >= count)

        t0 = clock()
        transport = None
        failed = False
        try:
            transport, _ = await asyncio.wait_for(
                loop.create_connection(Stream, host, port), timeout)
            held["now"] += 1
            held["max"] = max(held["max"], held["now"])
            transport.write(raw)
            ok = await asyncio.wait_for(done, timeout)
        except Exception as exc:  # every failure is a counted result
            errors[_classify(exc)] += 1
            ok, failed = False, True
        finally:
            if transport is not None:
                held["now"] -= 1
                transport.close()
        if events:
            ttfe.append(int((events[0] - t0) * 1e6))
            for k, t in enumerate(events[1:], start=1):
                late.append(max(0, int((t - events[0] - k * interval) * 1e6)))
        if ok:
            complete += 1
        elif not failed:
            errors["incomplete"] += 1

    t_begin = clock()
    await asyncio.gather(*(subscriber() for _ in range(subs)))
    h_first = HdrHistogram(1, HDR_MAX_US, 3)
    for v in ttfe:
        h_first.record_value(min(max(v, 1), HDR_MAX_US))
    h_late = HdrHistogram(1, HDR_MAX_US, 3)
    for v in late:
        h_late.record_value(min(max(v, 1), HDR_MAX_US))
    return {
        "mode": "sse",
        "subscribers": subs,
        "complete": complete,
        "errors": dict(errors),
        "statuses": {str(k): v for k, v in statuses.items()},
        "max_concurrent_open": held["max"],
        "elapsed_s": round(clock() - t_begin, 3),
        "first_event": _summary(h_first),
        "lateness": _summary(h_late),
    }


async def _main(spec: LoadSpec) -> LoadResult:
    mode = spec["mode"]
    if mode == "closed":
        return await run_closed(spec)
    if mode == "open":
        return await run_open(spec)
    if mode == "sse":
        return await run_sse(spec)
    raise SystemExit(f"unknown mode {mode!r}")


def run_spec(spec: LoadSpec) -> LoadResult:
    """Run one spec in this process (the harness calls it through a subprocess)."""
    # The client makes cyclic garbage (futures, callbacks); a full collection pauses the loop
    # for ~10 ms, which showed up as p99 latency the server never caused. A run is bounded in
    # time, so the process simply does not collect until it is done.
    gc.disable()
    try:
        import uvloop

        runner: Callable[[Coroutine[Any, Any, LoadResult]], LoadResult] = uvloop.run
        loop_name = "uvloop"
    except ImportError:  # pragma: no cover - uvloop is in the bench extra
        runner, loop_name = asyncio.run, "asyncio"
    cpu0 = time.process_time()
    result = runner(_main(spec))
    result["generator"] = {
        "name": "builtin",
        "loop": loop_name,
        "cpu_s": round(time.process_time() - cpu0, 3),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "gc": "disabled during the run",
    }
    return result


def main() -> None:
    spec = json.load(sys.stdin)
    json.dump(run_spec(spec), sys.stdout)


if __name__ == "__main__":
    main()
