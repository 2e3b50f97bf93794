"""The key that signs session cookies: SECRET_KEY, or in development a generated file."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from shared_logic.config import Settings

SECRET_KEY_FILE = "secret_key"


class MissingSecretKey(RuntimeError):
    pass


def resolve_secret_key(settings: Settings) -> str:
    """SECRET_KEY; in development, a key generated once and kept in the instance folder.

    Production (TWINPORT_ENV=production) refuses to run without SECRET_KEY: a generated
    key would differ per machine and log every user out on redeploy. In development the
    key must still be shared by all Gunicorn workers, which start at the same moment: each
    writes its candidate to a private temp file and `os.link`s it to the final name, which
    fails if another got there first. Exactly one key wins and nobody reads a half-written
    file.
    """
    if settings.secret_key:
        return settings.secret_key
    if settings.environment == "production":
        raise MissingSecretKey(
            "SECRET_KEY is not set. TWINPORT_ENV=production needs a fixed secret key for "
            "session cookies, e.g. SECRET_KEY=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')."
        )
    path = Path(settings.instance_path) / SECRET_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_urlsafe(48).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass  # another worker won the race; use its key
        finally:
            os.unlink(candidate)
    return path.read_text().strip()
