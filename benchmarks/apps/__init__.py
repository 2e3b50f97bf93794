"""Minimal apps the lab measures next to twinport: the ceilings for framework overhead.

* `bare_wsgi` / `bare_asgi`: no framework at all, the most a server can do.
* `hello_flask` / `hello_quart`: the smallest app of each framework, the baseline that the
  issue's targets compare twinport's own apps against (shared core costs <= 10%).
* `raw_responder`: an asyncio socket server with a canned answer, to measure how fast the load
  generator itself can go.
"""
