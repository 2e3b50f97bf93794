"""Background jobs, written once: kinds, their life in the table, and their HTTP API.

A job is a row in the `jobs` table (state, progress, result) plus a workflow that one
process's job runner drives (a daemon thread in the Flask app, an asyncio task in the Quart
app, see sync_app/jobs.py and async_app/jobs.py). docs/jobs.md has the design.

- `lifecycle`: states, `run_job`, heartbeats and interruption (what the runners drive);
- `kinds`: each kind's parameters, validation and workflow;
- `handlers`: the routes.
"""
