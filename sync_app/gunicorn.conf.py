"""Production settings for the Flask twin: `gunicorn -c sync_app/gunicorn.conf.py sync_app:app`.

The bare `gunicorn -w 4 --threads 2 sync_app:app` works without this file; these values
make the choices explicit and line them up with `async_app/hypercorn.toml` so that the
two servers differ only where their concurrency models do. Each value can be overridden
on the command line (command-line flags win over this file).
"""

import os
from typing import Any

from shared_logic.config import Settings

bind = [os.environ.get("TWINPORT_BIND", "127.0.0.1:8000")]
# gthread: each worker process runs `threads` request threads. 4 x 2 = 8 requests at once.
worker_class = "gthread"
workers = int(os.environ.get("TWINPORT_WORKERS", "4"))
threads = int(os.environ.get("TWINPORT_THREADS", "2"))
# Gunicorn's default; Hypercorn's is 100, so hypercorn.toml raises it to match.
backlog = 2048
# gthread's `timeout` is a worker heartbeat (the main loop pings it), not a per-request
# limit, so long SSE streams survive; a worker stuck for this long is restarted.
timeout = 30
graceful_timeout = 30  # SIGTERM: finish in-flight requests (and jobs) for up to this long
keepalive = 5  # seconds an idle keep-alive connection is held (Hypercorn: keep_alive_timeout)
# Request-head limits come from the same Settings the apps enforce (check_request_head), so a
# request Gunicorn would refuse is refused alike when Hypercorn serves the Quart app.
_settings = Settings.from_env(os.environ)
limit_request_line = _settings.max_request_line
limit_request_fields = _settings.max_header_fields
limit_request_field_size = _settings.max_header_field_bytes
accesslog = None
errorlog = "-"
loglevel = "info"


def worker_exit(server: Any, worker: Any) -> None:
    """In the worker, once it has stopped serving (SIGTERM, max_requests, reload): give
    running jobs TWINPORT_JOB_GRACE_S, then mark the rest interrupted (sync_app/jobs.py).

    The app registers the same close with `atexit`, which is what runs under the bare
    command; this hook runs it earlier, before interpreter teardown. Closing twice is a
    no-op. Keep graceful_timeout above the job grace period plus the time in-flight
    requests need, or Gunicorn's SIGKILL comes first (the jobs are then recovered by the
    next start-up's stale-heartbeat sweep instead).
    """
    app = getattr(worker, "wsgi", None)
    resources = getattr(app, "extensions", {}).get("twinport")
    if resources is not None:
        resources.close()
