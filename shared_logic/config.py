"""Configuration, read once from environment variables, identical for both shells.

Every limit the service enforces is here with an explicit default, so the Flask and the
Quart app never differ because one framework's default was left in place. The table in
README.md ("Configuration") is the user-facing copy of this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

Backend = Literal["sqlite", "postgresql"]


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    backend: Backend
    # A filesystem path for SQLite, a libpq conninfo/URL for PostgreSQL.
    target: str


def parse_database_url(url: str) -> DatabaseConfig:
    """`sqlite:///relative.db`, `sqlite:////absolute.db` or `postgresql://…`."""
    if url.startswith(("postgresql://", "postgres://")):
        return DatabaseConfig("postgresql", url)
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path:
            raise ValueError("DATABASE_URL sqlite:/// needs a file path")
        return DatabaseConfig("sqlite", str(path if path.startswith("/") else Path(path)))
    raise ValueError(
        f"DATABASE_URL must start with sqlite:/// or postgresql:// (got {url[:20]!r}…)"
    )


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True, slots=True)
class Settings:
    instance_path: Path = field(default_factory=lambda: Path.cwd() / "instance")
    database_url: str = ""  # empty = SQLite file in the instance folder
    upstream_url: str = "http://127.0.0.1:8900"
    # Per process. Gunicorn -w 4 therefore opens up to 4x this many connections.
    db_pool_size: int = 10
    db_pool_timeout_s: float = 10.0  # wait for a free pooled connection before 503
    db_statement_timeout_s: float = 30.0  # PostgreSQL statement_timeout
    sqlite_busy_timeout_ms: int = 10_000  # how long a SQLite writer waits for the lock
    upstream_pool_size: int = 100  # upstream HTTP connections per process
    upstream_timeout_s: float = 10.0  # whole request: connect, send, wait, read
    upstream_keepalive_s: float = 5.0  # idle pooled connections are closed after this
    fanout_threads: int = 32  # sync app: threads per process for Gather
    cpu_executor: Literal["process", "thread"] = "process"  # async app: where Compute runs
    cpu_workers: int = 0  # 0: one per CPU (the shell asks the OS)
    max_body_bytes: int = 1 << 20  # Flask/Quart MAX_CONTENT_LENGTH
    # Request-head limits: Gunicorn's defaults, enforced by both shells (http.check_request_head)
    # and fed to Gunicorn by gunicorn.conf.py, so Hypercorn-served requests meet the same ones.
    max_request_line: int = 4094
    max_header_fields: int = 100
    max_header_field_bytes: int = 8190
    # One uploaded attachment (checked in the core, 413). The whole multipart body must also
    # fit max_body_bytes, so raise both together.
    max_attachment_bytes: int = 512 << 10
    body_timeout_s: float = 60.0  # Quart BODY_TIMEOUT; Gunicorn's own timeout is separate
    response_timeout_s: float = 3600.0  # Quart RESPONSE_TIMEOUT (Flask has none)
    random_seed: int | None = None  # fixed seed for reproducible tests
    # Sessions (HTML pages): production refuses to start without SECRET_KEY; development
    # generates one, once, in the instance folder (shared_logic/sessions.py).
    environment: Literal["development", "production"] = "development"  # TWINPORT_ENV
    secret_key: str = ""  # SECRET_KEY
    session_cookie_secure: bool = False  # add `Secure` to the session cookie (HTTPS only)
    session_max_age_s: int = 14 * 24 * 3600  # signed sessions older than this are ignored
    # Background jobs (shared_logic/jobs.py), per process: Gunicorn -w 4 runs 4 runners.
    job_workers: int = 2  # jobs running at once
    job_queue_size: int = 16  # accepted jobs waiting for a worker; beyond that, 503
    job_grace_s: float = 10.0  # on shutdown, wait this long for running jobs
    job_heartbeat_s: float = 5.0  # a runner refreshes its jobs' heartbeat this often
    job_stale_s: float = 30.0  # a queued/running job without heartbeat this long is orphaned
    job_events_poll_s: float = 0.5  # GET /jobs/<id>/events re-reads the job this often
    # The live feed (shared_logic/events.py, features/live.py), per process.
    events_poll_s: float = 0.1  # the hub reads new rows of `events` this often
    events_retention_s: float = 300.0  # older events are pruned; `since` reaches this far back
    ws_max_message_bytes: int = 65536  # a bigger client message closes the socket (1009)
    ws_idle_timeout_s: float = 60.0  # a client silent this long is closed (1000, "idle")
    ws_max_sockets: int = 256  # open sockets per process; beyond it the handshake gets 503
    # Events waiting for one socket (a client reading too slowly); past it: close 1013.
    ws_max_queued_events: int = 1000
    # Origins (scheme://host[:port]) allowed besides the request's own host.
    ws_allowed_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from `environ` (the shells pass `os.environ`), then `overrides`."""
        env = environ
        defaults = cls()
        cpu_executor = env.get("TWINPORT_CPU_EXECUTOR", defaults.cpu_executor)
        if cpu_executor not in ("process", "thread"):
            raise ValueError("TWINPORT_CPU_EXECUTOR must be 'process' or 'thread'")
        seed = env.get("TWINPORT_RANDOM_SEED")
        environment = env.get("TWINPORT_ENV", defaults.environment)
        if environment not in ("development", "production"):
            raise ValueError("TWINPORT_ENV must be 'development' or 'production'")
        settings = cls(
            instance_path=Path(env.get("TWINPORT_INSTANCE_PATH") or defaults.instance_path),
            database_url=env.get("DATABASE_URL", ""),
            upstream_url=env.get("UPSTREAM_URL") or defaults.upstream_url,
            db_pool_size=_int(env, "TWINPORT_DB_POOL_SIZE", defaults.db_pool_size),
            db_pool_timeout_s=_float(env, "TWINPORT_DB_POOL_TIMEOUT_S", defaults.db_pool_timeout_s),
            db_statement_timeout_s=_float(
                env, "TWINPORT_DB_STATEMENT_TIMEOUT_S", defaults.db_statement_timeout_s
            ),
            sqlite_busy_timeout_ms=_int(
                env, "TWINPORT_SQLITE_BUSY_TIMEOUT_MS", defaults.sqlite_busy_timeout_ms
            ),
            upstream_pool_size=_int(
                env, "TWINPORT_UPSTREAM_POOL_SIZE", defaults.upstream_pool_size
            ),
            upstream_timeout_s=_float(
                env, "TWINPORT_UPSTREAM_TIMEOUT_S", defaults.upstream_timeout_s
            ),
            upstream_keepalive_s=_float(
                env, "TWINPORT_UPSTREAM_KEEPALIVE_S", defaults.upstream_keepalive_s
            ),
            fanout_threads=_int(env, "TWINPORT_FANOUT_THREADS", defaults.fanout_threads),
            cpu_executor="thread" if cpu_executor == "thread" else "process",
            cpu_workers=_int(env, "TWINPORT_CPU_WORKERS", defaults.cpu_workers),
            max_body_bytes=_int(env, "TWINPORT_MAX_BODY_BYTES", defaults.max_body_bytes),
            max_request_line=_int(env, "TWINPORT_MAX_REQUEST_LINE", defaults.max_request_line),
            max_header_fields=_int(env, "TWINPORT_MAX_HEADER_FIELDS", defaults.max_header_fields),
            max_header_field_bytes=_int(
                env, "TWINPORT_MAX_HEADER_FIELD_BYTES", defaults.max_header_field_bytes
            ),
            max_attachment_bytes=_int(
                env, "TWINPORT_MAX_ATTACHMENT_BYTES", defaults.max_attachment_bytes
            ),
            body_timeout_s=_float(env, "TWINPORT_BODY_TIMEOUT_S", defaults.body_timeout_s),
            response_timeout_s=_float(
                env, "TWINPORT_RESPONSE_TIMEOUT_S", defaults.response_timeout_s
            ),
            random_seed=int(seed) if seed else None,
            environment="production" if environment == "production" else "development",
            secret_key=env.get("SECRET_KEY", ""),
            session_cookie_secure=env.get("TWINPORT_SESSION_COOKIE_SECURE", "") in ("1", "true"),
            session_max_age_s=_int(env, "TWINPORT_SESSION_MAX_AGE_S", defaults.session_max_age_s),
            job_workers=_int(env, "TWINPORT_JOB_WORKERS", defaults.job_workers),
            job_queue_size=_int(env, "TWINPORT_JOB_QUEUE_SIZE", defaults.job_queue_size),
            job_grace_s=_float(env, "TWINPORT_JOB_GRACE_S", defaults.job_grace_s),
            job_heartbeat_s=_float(env, "TWINPORT_JOB_HEARTBEAT_S", defaults.job_heartbeat_s),
            job_stale_s=_float(env, "TWINPORT_JOB_STALE_S", defaults.job_stale_s),
            job_events_poll_s=_float(env, "TWINPORT_JOB_EVENTS_POLL_S", defaults.job_events_poll_s),
            events_poll_s=_float(env, "TWINPORT_EVENTS_POLL_S", defaults.events_poll_s),
            events_retention_s=_float(
                env, "TWINPORT_EVENTS_RETENTION_S", defaults.events_retention_s
            ),
            ws_max_message_bytes=_int(
                env, "TWINPORT_WS_MAX_MESSAGE_BYTES", defaults.ws_max_message_bytes
            ),
            ws_idle_timeout_s=_float(env, "TWINPORT_WS_IDLE_TIMEOUT_S", defaults.ws_idle_timeout_s),
            ws_max_sockets=_int(env, "TWINPORT_WS_MAX_SOCKETS", defaults.ws_max_sockets),
            ws_max_queued_events=_int(
                env, "TWINPORT_WS_MAX_QUEUED_EVENTS", defaults.ws_max_queued_events
            ),
            ws_allowed_origins=tuple(
                origin.strip().rstrip("/")
                for origin in env.get("TWINPORT_WS_ALLOWED_ORIGINS", "").split(",")
                if origin.strip()
            ),
        )
        return replace(settings, **overrides) if overrides else settings

    @property
    def database(self) -> DatabaseConfig:
        url = self.database_url or f"sqlite:///{self.instance_path / 'twinport.sqlite3'}"
        return parse_database_url(url)


def resolve(config: Settings | Mapping[str, Any] | None, environ: Mapping[str, str]) -> Settings:
    """What `create_app(config)` accepts: None (environment), Settings, or overrides."""
    if config is None:
        return Settings.from_env(environ)
    if isinstance(config, Settings):
        return config
    return Settings.from_env(environ, **dict(config))
