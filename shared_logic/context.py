"""What a handler may know about the running service, besides the request."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from shared_logic.config import Settings
from shared_logic.protocol.sessions import SessionCodec
from shared_logic.sql import STATEMENTS, Statements


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    sql: Statements
    rng: random.Random
    sessions: SessionCodec
    # Names this process as a job's owner; the shell supplies it (host, pid: I/O).
    worker_id: Callable[[], str]

    @classmethod
    def create(cls, settings: Settings, secret_key: str, worker_id: Callable[[], str]) -> Context:
        return cls(
            settings=settings,
            sql=STATEMENTS[settings.database.backend],
            rng=random.Random(settings.random_seed),
            sessions=SessionCodec(secret_key, settings),
            worker_id=worker_id,
        )
