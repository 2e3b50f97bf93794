"""The Quart (ASGI) twin: `hypercorn async_app:app`.

`app` is built on its first ASGI event, not at import (see `BuiltOnFirstEvent`);
`'async_app:create_app()'` builds one when the server calls the factory.
"""

from async_app.app import BuiltOnFirstEvent, create_app

app = BuiltOnFirstEvent(create_app)

__all__ = ["app", "create_app"]
