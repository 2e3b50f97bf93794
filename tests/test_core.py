"""Unit tests of the framework-free core (shared_logic): no app, no server, no database."""

from __future__ import annotations

import hashlib
import re
from http import HTTPStatus
from pathlib import Path
from typing import Any

import orjson
import pytest
from werkzeug.datastructures import MultiDict

from shared_logic import config
from shared_logic.effects import DatabaseUnavailable, FetchOne, Workflow, run_pure
from shared_logic.features import notes
from shared_logic.features.cpu import fibonacci_report
from shared_logic.openapi import document, openapi_path
from shared_logic.protocol.http import (
    PROBLEM_JSON,
    Problem,
    ProblemError,
    framework_error,
    internal_error,
    json_response,
    service_unavailable,
    status_problem,
)
from shared_logic.routes import ROUTES
from shared_logic.sql import STATEMENTS, begin_statement, postgres_session_settings, sqlite_pragmas
from shared_logic.validation import (
    ArrayOf,
    Choice,
    Integer,
    Invalid,
    ObjectOf,
    Text,
    parse_query,
)

CLAMP = Integer("queries", 1, 1, 500, "rows", on_invalid="clamp")
REJECT = Integer("n", 1000, 1, 10_000, "n")


# ------------------------------------------------------------------ params
@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 1), ("1", 1), ("20", 20), (" 7 ", 7), ("0", 1), ("-5", 1), ("501", 500),
     ("500", 500), ("foo", 1), ("", 1), ("2.5", 1), ("99999999999999999999999", 500),
     ("+3", 3)],
)
def test_clamped_int_param(raw: str | None, expected: int) -> None:
    assert CLAMP.parse(raw) == expected


@pytest.mark.parametrize("raw", ["0", "10001", "foo", "", "1e3", "-1"])
def test_rejecting_int_param(raw: str) -> None:
    with pytest.raises(Invalid):
        REJECT.parse(raw)


@pytest.mark.parametrize("raw", ["1_0", "\u0663"])
def test_int_param_accepts_ascii_digits_only(raw: str) -> None:
    assert CLAMP.parse(raw) == 1
    with pytest.raises(Invalid):
        REJECT.parse(raw)


def test_int_param_schemas() -> None:
    assert CLAMP.schema() == {"type": "string", "default": "1"}
    assert REJECT.schema() == {"type": "integer", "minimum": 1, "maximum": 10_000,
                               "default": 1000}


def test_choice_and_str_params() -> None:
    mode = Choice("mode", "a", ("a", "b"), "mode")
    assert mode.parse(None) == "a" and mode.parse("b") == "b"
    with pytest.raises(Invalid):
        mode.parse("A")
    tag = Text("tag", "tag", 4, "[a-z]+")
    assert tag.parse(None) is None and tag.parse("abcd") == "abcd"
    for bad in ("abcde", "AB", ""):
        with pytest.raises(Invalid):
            tag.parse(bad)


def test_parse_query_reports_every_error() -> None:
    specs = (REJECT, Integer("rounds", 1, 1, 100, "r"), Choice("m", "x", ("x",), "m"))
    with pytest.raises(ProblemError) as info:
        parse_query(specs, MultiDict([("n", "0"), ("rounds", "1"), ("rounds", "2"), ("m", "y")]))
    body = info.value.problem.body()
    assert body["status"] == 400 and body["type"] == "/problems/invalid-parameters"
    assert [e["name"] for e in body["errors"]] == ["n", "rounds", "m"]
    assert body["errors"][1]["reason"] == "must be given at most once"
    assert body["detail"] == "; ".join(f"{e['name']} {e['reason']}" for e in body["errors"])


def test_object_specs_report_every_field_by_its_path() -> None:
    spec = ObjectOf((Integer("n", 1, 1, 9), ArrayOf("notes", notes.NOTE, "notes", 3, min_items=1)))
    with pytest.raises(Invalid) as info:
        spec.check({"n": True, "notes": [{"title": " ", "tags": ["a", "a"]}, 3], "x": 1})
    assert info.value.errors == [
        ("x", "is not a known field"),
        ("n", "must be an integer"),
        ("notes[0].title", "must not be blank"),
        ("notes[0].tags", "must not repeat a tag"),
        ("notes[1]", "must be an object"),
    ]
    assert spec.check({"notes": [{"title": "t"}]}) == {
        "n": 1, "notes": [{"title": "t", "body": "", "tags": []}]
    }


def test_parse_query_clamped_repeats_take_the_first() -> None:
    assert parse_query((CLAMP,), MultiDict([("queries", "3"), ("queries", "9")])) == {
        "queries": 3
    }
    assert parse_query((REJECT,), MultiDict()) == {"n": 1000}


# ------------------------------------------------------------------ problems
def test_problem_body_and_response() -> None:
    problem = Problem(409, "Conflict", "busy", "/problems/x", {"extra": 1}, (("A", "b"),))
    response = problem.to_response()
    assert response.status == 409 and response.content_type == PROBLEM_JSON
    assert orjson.loads(response.body) == {
        "type": "/problems/x", "title": "Conflict", "status": 409, "detail": "busy", "extra": 1
    }
    assert response.headers == [("A", "b")]
    assert list(orjson.loads(status_problem(404).to_response().body)) == [
        "type", "title", "status"
    ]


@pytest.mark.parametrize(
    ("status", "title", "detail"),
    [(404, "Not Found", "No route matches '/x'."),
     (405, "Method Not Allowed", "PUT is not allowed here; allowed: GET, HEAD, OPTIONS."),
     (413, "Content Too Large", "The request body exceeds the 10-byte limit."),
     (400, "Bad Request", "The request could not be parsed."),
     (418, HTTPStatus(418).phrase, None),
     (599, "Error", None)],
)
def test_framework_errors(status: int, title: str, detail: str | None) -> None:
    problem = framework_error(status, "PUT", "/x", ["OPTIONS", "HEAD", "GET"], 10)
    assert (problem.status, problem.title, problem.detail) == (status, title, detail)
    if status == 405:
        assert dict(problem.headers) == {"Allow": "GET, HEAD, OPTIONS"}


def test_internal_error_and_unavailable() -> None:
    assert "Traceback" not in str(internal_error().body())
    assert internal_error().status == 500
    unavailable = service_unavailable("down", 3)
    assert unavailable.status == 503 and dict(unavailable.headers) == {"Retry-After": "3"}
    assert service_unavailable("down").headers == ()


def test_json_response_uses_compact_orjson() -> None:
    response = json_response({"b": 1, "a": [1, 2]}, 201, [("X", "y")])
    assert (response.status, response.body, response.headers) == (
        201, b'{"b":1,"a":[1,2]}', [("X", "y")]
    )


# ------------------------------------------------------------------ openapi
def test_openapi_covers_the_route_table() -> None:
    doc = document(ROUTES)
    assert doc["openapi"].startswith("3.1")
    operations = {
        (method.upper(), path): op for path, item in doc["paths"].items()
        for method, op in item.items()
    }
    assert set(operations) == {(r.method, openapi_path(r.path)) for r in ROUTES}
    ids = [op["operationId"] for op in operations.values()]
    assert len(ids) == len(set(ids))
    text = orjson.dumps(doc).decode()
    for ref in re.findall(r'"\$ref":"([^"]+)"', text):
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    for route in ROUTES:
        op = operations[(route.method, openapi_path(route.path))]
        declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "query"}
        assert declared == {p.name for p in route.params}
        path_params = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
        assert path_params == set(re.findall(r"\{(\w+)\}", openapi_path(route.path)))
        for status, reply in op["responses"].items():
            assert status.isdigit() and reply["description"]


def test_openapi_path_conversion() -> None:
    assert openapi_path("/api/notes/<int:note_id>/x/<name>") == "/api/notes/{note_id}/x/{name}"


def test_openapi_document_is_valid() -> None:
    validator = pytest.importorskip(
        "openapi_spec_validator", reason="openapi-spec-validator not installed"
    )
    validator.validate(document(ROUTES))


# ------------------------------------------------------------------ sql
def test_statements_per_dialect() -> None:
    sqlite, postgres = STATEMENTS["sqlite"], STATEMENTS["postgresql"]
    assert sqlite.select_world == "SELECT id, randomnumber FROM world WHERE id = ?"
    assert postgres.select_world == "SELECT id, randomnumber FROM world WHERE id = %s"
    assert "?" not in postgres.update_world and "%s" not in sqlite.update_world
    assert "pg_sleep" in postgres.db_sleep and "twinport_sleep_ms" in sqlite.db_sleep
    assert postgres.schema_lock and sqlite.schema_lock is None
    assert begin_statement("sqlite", True) == "BEGIN IMMEDIATE"
    assert begin_statement("sqlite", False) == begin_statement("postgresql", True) == "BEGIN"
    assert "PRAGMA busy_timeout = 1234" in sqlite_pragmas(1234)
    assert "PRAGMA journal_mode = WAL" in sqlite_pragmas(1)
    assert postgres_session_settings(1.5) == ("SET statement_timeout = 1500",)


def test_run_pure() -> None:
    def pure() -> Any:
        return 5
        yield

    def impure() -> Any:
        yield FetchOne("SELECT 1")

    assert run_pure(pure()) == 5
    with pytest.raises(TypeError):
        run_pure(impure())


def test_yield_from_an_effect_hands_the_driver_the_effect_and_returns_its_result() -> None:
    effect = FetchOne("SELECT 1")

    def workflow() -> Workflow[str]:
        row = yield from effect
        try:
            yield from effect
        except DatabaseUnavailable:
            return f"{row} then unavailable"
        return "not reached"

    steps = workflow()
    assert next(steps) is effect
    assert steps.send((1,)) is effect
    with pytest.raises(StopIteration) as stop:
        steps.throw(DatabaseUnavailable())
    assert stop.value.value == "(1,) then unavailable"


# ------------------------------------------------------------------ fibonacci
def reference_fib(n: int) -> tuple[int, str]:
    numbers = [0, 1]
    while len(numbers) < n:
        numbers.append(numbers[-1] + numbers[-2])
    numbers = numbers[:n]
    text = "".join(f"{x}\n" for x in numbers).encode()
    return len(str(numbers[-1])), hashlib.sha256(text).hexdigest()


@pytest.mark.parametrize("n", [1, 2, 3, 10, 100, 1000])
def test_fibonacci_report(n: int) -> None:
    digits, digest = reference_fib(n)
    assert fibonacci_report(n, 1) == {"n": n, "rounds": 1, "last_digits": digits,
                                      "sha256": digest}
    assert fibonacci_report(n, 3)["sha256"] == digest


def test_fibonacci_known_digest() -> None:
    assert fibonacci_report(1, 1)["sha256"] == hashlib.sha256(b"0\n").hexdigest()
    assert fibonacci_report(10, 1)["last_digits"] == 2  # F(9) = 34


# ------------------------------------------------------------------ config
@pytest.mark.parametrize(
    ("url", "backend", "target"),
    [("sqlite:////abs/x.db", "sqlite", "/abs/x.db"),
     ("sqlite:///rel/x.db", "sqlite", "rel/x.db"),
     ("postgresql://u@h/db", "postgresql", "postgresql://u@h/db"),
     ("postgres://u@h/db", "postgresql", "postgres://u@h/db")],
)
def test_parse_database_url(url: str, backend: str, target: str) -> None:
    parsed = config.parse_database_url(url)
    assert (parsed.backend, parsed.target) == (backend, target)


@pytest.mark.parametrize("url", ["sqlite:///", "mysql://x", "sqlite://x.db", ""])
def test_bad_database_urls(url: str) -> None:
    with pytest.raises(ValueError):
        config.parse_database_url(url)


def test_settings_from_env() -> None:
    settings = config.Settings.from_env(
        {
            "TWINPORT_INSTANCE_PATH": "/srv/tp",
            "DATABASE_URL": "postgresql://x/y",
            "TWINPORT_DB_POOL_SIZE": "3",
            "TWINPORT_DB_POOL_TIMEOUT_S": "1.5",
            "TWINPORT_CPU_EXECUTOR": "thread",
            "TWINPORT_RANDOM_SEED": "42",
            "TWINPORT_MAX_BODY_BYTES": "",
            "UPSTREAM_URL": "http://u:1",
        }
    )
    assert settings.instance_path == Path("/srv/tp")
    assert settings.database.backend == "postgresql"
    assert (settings.db_pool_size, settings.db_pool_timeout_s) == (3, 1.5)
    assert settings.cpu_executor == "thread" and settings.random_seed == 42
    assert settings.max_body_bytes == config.Settings().max_body_bytes  # empty = default
    assert settings.upstream_url == "http://u:1"


def test_settings_defaults_to_sqlite_in_the_instance_folder() -> None:
    settings = config.Settings.from_env({"TWINPORT_INSTANCE_PATH": "/tmp/i"})
    assert settings.database.backend == "sqlite"
    assert settings.database.target == "/tmp/i/twinport.sqlite3"
    assert settings.random_seed is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("TWINPORT_DB_POOL_SIZE", "ten", "TWINPORT_DB_POOL_SIZE must be an integer"),
     ("TWINPORT_DB_POOL_TIMEOUT_S", "soon", "TWINPORT_DB_POOL_TIMEOUT_S must be a number"),
     ("TWINPORT_CPU_EXECUTOR", "gpu", "TWINPORT_CPU_EXECUTOR must be"),
     ("TWINPORT_RANDOM_SEED", "x", "invalid literal for int()")],
)
def test_bad_settings(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        config.Settings.from_env({name: value})


def test_resolve() -> None:
    settings = config.Settings(db_pool_size=7)
    assert config.resolve(settings, {}) is settings
    assert config.resolve({"db_pool_size": 5}, {}).db_pool_size == 5
    with pytest.raises(TypeError):
        config.resolve({"no_such_setting": 1}, {})
