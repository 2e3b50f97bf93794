"""The bundled upstream service (`python -m benchmarks.upstream`) the apps fan out to."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from benchmarks import procs
from tests.support.processes import start_server


@pytest.fixture(scope="session")
def upstream_url() -> Iterator[str]:
    port = procs.free_port()
    server = start_server(
        "upstream",
        [sys.executable, "-m", "benchmarks.upstream", "--port", str(port)],
        dict(os.environ),
        port,
    )
    yield server.url
    server.stop()
