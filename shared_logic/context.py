"""What a handler may know about the running service, besides the request."""

from __future__ import annotations

import random
from dataclasses import dataclass

from shared_logic.config import Settings
from shared_logic.sessions import SessionCodec, resolve_secret_key
from shared_logic.sql import STATEMENTS, Statements


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    sql: Statements
    rng: random.Random
    sessions: SessionCodec

    @classmethod
    def create(cls, settings: Settings) -> Context:
        return cls(
            settings=settings,
            sql=STATEMENTS[settings.database.backend],
            rng=random.Random(settings.random_seed),
            # Raises MissingSecretKey in production without SECRET_KEY: create_app fails.
            sessions=SessionCodec(resolve_secret_key(settings), settings),
        )
