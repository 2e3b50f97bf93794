"""The smallest Flask app serving the same `/json` and `/plaintext` as twinport."""

from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.get("/json")
def json_() -> Response:
    return jsonify(message="Hello, World!")


@app.get("/plaintext")
def plaintext() -> Response:
    return Response("Hello, World!", mimetype="text/plain")


@app.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")
