"""Run a WSGI app on Werkzeug's development server, exactly as `app.run()` would.

    python -m benchmarks.apps.dev_server --app sync_app:app --port P --threaded 0|1
"""

from __future__ import annotations

import argparse
import importlib


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--app", required=True, help="module:attribute")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threaded", type=int, choices=(0, 1), required=True)
    args = parser.parse_args()
    module, _, attr = args.app.partition(":")
    app = getattr(importlib.import_module(module), attr)
    from werkzeug.serving import run_simple

    # What Flask's app.run(threaded=...) does, minus the reloader and debugger.
    run_simple(args.host, args.port, app, threaded=bool(args.threaded), use_reloader=False,
               use_debugger=False)


if __name__ == "__main__":
    main()
