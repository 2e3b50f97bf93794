"""What each shell's `create_app` does first: settings from the process, then the context."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from shared_logic.config import Settings, resolve
from shared_logic.context import Context
from shell_support.secret_key import resolve_secret_key
from shell_support.worker import worker_id


def load_settings(config: Settings | Mapping[str, Any] | None) -> Settings:
    """What `create_app(config)` accepts: None (environment), Settings, or overrides of it."""
    return resolve(config, os.environ)


def create_context(settings: Settings) -> Context:
    # Raises MissingSecretKey in production without SECRET_KEY: create_app fails.
    return Context.create(settings, resolve_secret_key(settings), worker_id)


def cpu_workers(settings: Settings) -> int:
    """TWINPORT_CPU_WORKERS, where 0 (the default) means one per CPU."""
    return settings.cpu_workers or os.cpu_count() or 1
