"""The Flask (WSGI) twin: `gunicorn -w 4 --threads 2 sync_app:app`."""

from sync_app.app import create_app

app = create_app()

__all__ = ["app", "create_app"]
