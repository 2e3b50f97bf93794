"""The suite's own environment, set once when pytest loads the suite.

Every app and server the suite starts keeps its state under one temporary folder,
`TMP_ROOT`, removed at the end of the session. A developer's `DATABASE_URL` is taken out
of the environment (it names the PostgreSQL server to test against, see `options.py`), so
no app or server process the suite builds from the environment writes to it; the other
defaults keep such apps small and reproducible.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
TMP_ROOT = Path(tempfile.mkdtemp(prefix="twinport-tests-"))
ENV_DATABASE_URL = os.environ.pop("DATABASE_URL", "")
os.environ["TWINPORT_INSTANCE_PATH"] = str(TMP_ROOT / "from-environment")
os.environ.setdefault("TWINPORT_DB_POOL_SIZE", "2")
os.environ.setdefault("TWINPORT_CPU_EXECUTOR", "thread")
os.environ.setdefault("TWINPORT_RANDOM_SEED", "1")
