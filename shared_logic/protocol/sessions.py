"""Signed-cookie sessions, CSRF tokens and flash messages, built and parsed in the core.

Neither `flask.session` nor `quart.session` is used: their cookie formats, salts and
default attributes differ, so the two apps would issue different cookies and could not
read each other's. Here one serializer (itsdangerous, the library both frameworks use
underneath) writes one cookie with the same attributes from both apps:

    twinport_session=<payload.timestamp.signature>; Path=/; HttpOnly; SameSite=Lax[; Secure]

The payload is signed, not encrypted: a client can read it, so it holds only a CSRF token
and a flash message, never anything secret.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared_logic.config import Settings
from shared_logic.protocol.http import Request

COOKIE_NAME = "twinport_session"
SALT = "twinport.session"
CSRF_FIELD = "csrf_token"


def cookie_value(header: str | None, name: str) -> str | None:
    """One cookie from a `Cookie:` header (RFC 6265 `name=value; name2=value2`)."""
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip('"')
    return None


@dataclass(slots=True)
class Session:
    data: dict[str, Any] = field(default_factory=dict)
    modified: bool = False

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.modified = True

    def pop(self, key: str) -> Any:
        if key not in self.data:
            return None
        self.modified = True
        return self.data.pop(key)


class SessionCodec:
    """Reads and writes the session cookie with the app's secret key."""

    def __init__(self, secret_key: str, settings: Settings) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self._max_age_s = settings.session_max_age_s
        self._secure = settings.session_cookie_secure

    def load(self, request: Request) -> Session:
        """The request's session; a missing, tampered or expired cookie is an empty one."""
        raw = cookie_value(request.headers.get("Cookie"), COOKIE_NAME)
        if not raw:
            return Session()
        try:
            data = self._serializer.loads(raw, max_age=self._max_age_s)
        except BadSignature:  # includes SignatureExpired
            return Session()
        return Session(data if isinstance(data, dict) else {})

    def dump(self, session: Session) -> str:
        return str(self._serializer.dumps(session.data))

    def set_cookie(self, session: Session) -> tuple[str, str]:
        """The Set-Cookie header carrying `session`, with the same attributes in both apps."""
        parts = [f"{COOKIE_NAME}={self.dump(session)}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if self._secure:
            parts.append("Secure")
        return "Set-Cookie", "; ".join(parts)


# ------------------------------------------------------------------ CSRF and flash
def csrf_token(session: Session) -> str:
    """This session's CSRF token, created on first use (synchronizer-token pattern)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session.set("csrf", token)
    return token


def csrf_valid(session: Session, submitted: str | None) -> bool:
    expected = session.get("csrf")
    if not isinstance(expected, str) or not isinstance(submitted, str):
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def flash(session: Session, message: str) -> None:
    session.set("flash", message)


def take_flash(session: Session) -> str | None:
    """The pending flash message, removed so it is shown once."""
    message = session.pop("flash")
    return message if isinstance(message, str) else None
