"""The Quart (ASGI) twin: `hypercorn async_app:app`."""

from async_app.app import create_app

app = create_app()

__all__ = ["app", "create_app"]
