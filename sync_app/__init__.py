"""The Flask (WSGI) twin: `gunicorn -w 4 --threads 2 sync_app:app`.

`app` is built on its first request, not at import (see `BuiltOnFirstRequest`);
`'sync_app:create_app()'` builds one when the server calls the factory.
"""

from sync_app.app import BuiltOnFirstRequest, create_app

app = BuiltOnFirstRequest(create_app)

__all__ = ["app", "create_app"]
