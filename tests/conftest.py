"""Fixtures and hooks of the parity suite: the modules of tests/support, one per concern."""

from __future__ import annotations

import shutil

import pytest

from tests.support.session import TMP_ROOT

pytest_plugins = [
    "tests.support.options",
    "tests.support.hypothesis_profiles",
    "tests.support.databases",
    "tests.support.upstream",
    "tests.support.twins",
    "tests.support.live",
]


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(TMP_ROOT, ignore_errors=True)
