"""What both shells share that is I/O, so it cannot live in the pure core.

`shared_logic` decides what the service does and performs no I/O; `sync_app` and
`async_app` bind it to Flask and Quart. A few pieces of I/O are the same in both shells
and are written once here instead of twice: the blocking file primitives behind the file
effects, the mapping of database-driver exceptions onto the core's effect failures, the
development secret-key file, this process's identity as a job owner, SQLite's stand-in for
`pg_sleep`, and reading the settings from the process environment.

The import contracts (pyproject `[tool.importlinter]`) let the shells import this package
and forbid the core from doing so.
"""
