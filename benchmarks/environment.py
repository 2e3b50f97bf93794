"""The environment a run happened in, recorded next to its raw samples."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

from benchmarks import wrk
from benchmarks.results import Environment

PACKAGES = ("flask", "werkzeug", "quart", "gunicorn", "hypercorn", "uvicorn", "granian",
            "waitress", "uwsgi", "uvloop", "h11", "httpx", "orjson", "jinja2", "psycopg",
            "psycopg-pool", "aiosqlite", "hdrhistogram", "rich")
TWINPORT_VARS = ("DATABASE_URL", "UPSTREAM_URL", "TWINPORT_DB_POOL_SIZE",
                 "TWINPORT_CPU_EXECUTOR", "TWINPORT_CPU_WORKERS")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _os() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                             check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _postgres_version(url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
    except Exception:  # any failure means "not usable": the caller reports it
        return None


def capture(root: Path, postgres_url: str | None) -> Environment:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    status = _git(root, "status", "--porcelain")
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        if hasattr(os, "sysconf") else None,
        "os": _os(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_impl": platform.python_implementation(),
        "packages": versions,
        "wrk": wrk.version(),
        "git_commit": _git(root, "rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "hostname": platform.node(),
        "postgres": _postgres_version(postgres_url) if postgres_url else None,
        "env": {k: os.environ.get(k) for k in TWINPORT_VARS},
    }
