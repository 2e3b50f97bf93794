"""The smallest Quart app serving the same `/json` and `/plaintext` as twinport."""

from __future__ import annotations

from quart import Quart, Response, jsonify

app = Quart(__name__)


@app.get("/json")
async def json_() -> Response:
    return jsonify(message="Hello, World!")


@app.get("/plaintext")
async def plaintext() -> Response:
    return Response("Hello, World!", mimetype="text/plain")


@app.get("/healthz")
async def healthz() -> Response:
    return jsonify(status="ok")
