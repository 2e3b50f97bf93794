"""Importing any module of the core or the shells creates no file, thread or connection.

Run in a fresh interpreter in an empty folder, with the default settings (SQLite under
`./instance`), so anything built at import would show up as a file or a thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.session import REPO

PACKAGES = ("shared_logic", "shell_support", "sync_app", "async_app")

IMPORT_EVERYTHING = f"""
import importlib, pkgutil, threading, json
names = []
for package in {PACKAGES!r}:
    module = importlib.import_module(package)
    names.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        importlib.import_module(info.name)
        names.append(info.name)
import sync_app, async_app
assert callable(sync_app.app) and callable(async_app.app)
print(json.dumps({{"modules": names, "threads": [t.name for t in threading.enumerate()]}}))
"""


def test_importing_every_module_creates_no_file_and_no_thread(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TWINPORT_") and key not in ("DATABASE_URL", "SECRET_KEY")
    }
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "sync_app.app" in report["modules"] and "shared_logic.routes" in report["modules"]
    assert report["threads"] == ["MainThread"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == []
