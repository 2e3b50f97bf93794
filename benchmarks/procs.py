"""Child processes: start in their own session, pin, measure via /proc, always clean up.

Every process the lab starts goes through `spawn`, which puts it in a new session (so its
whole tree, e.g. Gunicorn's forked workers, shares one process group) and registers it. On
normal exit, failure, SIGINT or SIGTERM, `kill_all` signals each registered group: TERM,
then KILL after a grace period.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_KB = (os.sysconf("SC_PAGE_SIZE") // 1024) if hasattr(os, "sysconf") else 4
_REGISTRY: dict[int, subprocess.Popen[bytes]] = {}
_LOCK = threading.Lock()


def has_affinity() -> bool:
    return hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(cmd: Sequence[str], *, cwd: Path, env: dict[str, str], log: IO[bytes] | int | None,
          cpus: set[int] | None = None, stdin: int | None = subprocess.DEVNULL,
          stdout: IO[bytes] | int | None = None) -> subprocess.Popen[bytes]:
    """Start `cmd` as the leader of a new session, optionally pinned to `cpus`."""

    def pin() -> None:
        if cpus is not None and has_affinity():
            os.sched_setaffinity(0, cpus)

    proc = subprocess.Popen(
        list(cmd), cwd=cwd, env=env, stdin=stdin,
        stdout=stdout if stdout is not None else log,
        stderr=log if log is not None else subprocess.DEVNULL,
        start_new_session=True, preexec_fn=pin,  # affinity is set before exec
    )
    with _LOCK:
        _REGISTRY[proc.pid] = proc
    return proc


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """TERM the process group, KILL it after `grace` seconds, reap the leader."""
    with _LOCK:
        _REGISTRY.pop(proc.pid, None)
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        proc.wait(5)
    # Workers that outlived their master (they should not): kill what is left of the group.
    for pid in session_pids(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_all() -> None:
    with _LOCK:
        procs = list(_REGISTRY.values())
    for proc in procs:
        stop(proc, grace=2.0)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    kill_all()
    raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)


def install_cleanup() -> None:
    """Kill every child on exit, Ctrl-C and SIGTERM (call once from the main thread)."""
    atexit.register(kill_all)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def session_pids(sid: int) -> list[int]:
    """All live processes whose session id is `sid` (the leader's pid)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        # fields[0] is state (field 3); session is field 6 -> index 3.
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


@dataclass
class TreeStats:
    cpu_s: float = 0.0
    rss_kb: int = 0
    hwm_kb: int = 0
    procs: int = 0
    threads: int = 0


def tree_stats(sid: int) -> TreeStats:
    """CPU seconds (user+sys, incl. reaped children), current and peak RSS of a session."""
    out = TreeStats()
    for pid in session_pids(sid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        f = stat[stat.rfind(")") + 2 :].split()
        # utime, stime, cutime, cstime are fields 14-17 -> indices 11-14.
        out.cpu_s += sum(int(x) for x in f[11:15]) / _CLK_TCK
        out.threads += int(f[17])
        out.procs += 1
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                out.rss_kb += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                out.hwm_kb += int(line.split()[1])
    return out


def listen_overflows() -> int | None:
    """The kernel's count of handshakes dropped because a listen queue was full.

    Machine-wide (TcpExt ListenOverflows); sampled around a point it shows whether clients
    had to retry their SYN, which costs them the 1 s initial retransmission timeout.
    """
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            row = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(row["ListenOverflows"]) if "ListenOverflows" in row else None
    return None


def set_tree_affinity(sid: int, cpus: set[int]) -> None:
    """Re-pin every thread of a running process tree (e.g. unpin for the CPU sweep)."""
    if not has_affinity():
        return
    for pid in session_pids(sid):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(tid), cpus)


@dataclass
class RssSampler:
    """Samples a session's total RSS in a thread; `peak_kb` is the largest total seen."""

    sid: int
    interval: float = 0.1
    port: int | None = None
    peak_kb: int = 0
    conns_per_process: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, tree_stats(self.sid).rss_kb)
            if self.port and not self.conns_per_process and time.monotonic() - t0 > 1.0:
                self.conns_per_process = connections_per_process(self.sid, self.port)
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def wait_listening(port: int, proc: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """Wait until a helper process we started accepts connections on `port`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"helper process exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"helper on port {port} not up after {timeout}s")


def wait_port_free(port: int, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)


def server_connections(port: int) -> tuple[int, int]:
    """(established or half-open, close-wait) connections on the server side of `port`."""
    live = closing = 0
    hex_port = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if not parts[1].endswith(hex_port):
                continue
            if parts[3] in ("01", "03"):  # ESTABLISHED, SYN_RECV
                live += 1
            elif parts[3] == "08":  # CLOSE_WAIT: the client left, the server has not closed
                closing += 1
    return live, closing


def drain(port: int, timeout: float = 60.0, settle: float = 0.5) -> float:
    """Wait until the server has worked off the previous point's connections.

    Without this a server that queued requests (256 connections on 8 threads) is still busy
    with them when the next point starts. A connection the client closed stays CLOSE_WAIT
    until the server gets to it; some servers (hypercorn) leave idle ones until their
    keep-alive timeout, so a CLOSE_WAIT count that stops falling for `settle` s counts as
    drained.
    """
    t0 = time.monotonic()
    last, since = -1, t0
    while (now := time.monotonic()) - t0 < timeout:
        live, closing = server_connections(port)
        if live == 0 and closing == 0:
            break
        if live == 0:
            if closing != last:
                last, since = closing, now
            elif now - since >= settle:
                break
        time.sleep(0.05)
    return time.monotonic() - t0


class CpuClock:
    """Busy CPU seconds of the whole machine (all processes) from /proc/stat."""

    @staticmethod
    def busy_s() -> float:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except OSError:
            return 0.0
        vals = [int(x) for x in fields]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
        return (sum(vals[:8]) - idle) / _CLK_TCK


def connections_per_process(sid: int, port: int) -> list[int]:
    """Established connections on `port` held by each process of a tree, largest first.

    Shows how a pre-fork server spread keep-alive connections over its workers.
    """
    hex_port = f":{port:04X}"
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[1].endswith(hex_port) and parts[3] == "01":
                inodes.add(parts[9])
    counts = []
    for pid in session_pids(sid):
        n = 0
        try:
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(fd.path)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        n += 1
        except OSError:
            continue
        if n:
            counts.append(n)
    return sorted(counts, reverse=True)
