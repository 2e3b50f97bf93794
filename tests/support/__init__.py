"""The suite's fixtures and hooks, one module per concern; tests/conftest.py registers them.

    options              command-line options, markers, report header
    hypothesis_profiles  the `default`, `thorough` and `debug` Hypothesis profiles
    databases            `backend` (SQLite, PostgreSQL) and `databases` (a fresh one per app)
    processes            servers the suite starts, with their logs for assertion messages
    upstream             `upstream_url`: the bundled upstream service
    twins                `twins`, `twins_factory`: the Flask and the Quart app in-process
    live                 `live_servers`, `live`: Gunicorn and Hypercorn over real sockets
"""
