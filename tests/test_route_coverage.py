"""Both apps expose exactly the route table, and every route has parity cases.

Adding a route to shared_logic.routes.ROUTES without a row in tests/cases.py fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.routing import Map, Rule

from shared_logic.routes import ROUTES
from tests.cases import CASES
from tests.support.twins import Twins

AUTOMATIC = {"HEAD", "OPTIONS"}  # werkzeug adds HEAD to GET rules; both frameworks add OPTIONS


def rules(app: Any) -> set[tuple[str, str, frozenset[str]]]:
    return {
        (rule.rule, rule.endpoint, frozenset(rule.methods or ()) - AUTOMATIC)
        for rule in app.url_map.iter_rules()
    }


def table() -> set[tuple[str, str, frozenset[str]]]:
    return {(route.path, route.name, frozenset({route.method})) for route in ROUTES}


# Rules the frameworks would add on their own: none, since both shells pass
# static_folder=None (docs/parity.md "Undeclared static route").
FRAMEWORK_RULES: set[tuple[str, str, frozenset[str]]] = set()


async def test_both_apps_register_the_same_rules(twins: Twins) -> None:
    assert rules(twins.flask_app) == rules(twins.quart_app)


async def test_both_apps_register_the_route_table(twins: Twins) -> None:
    assert rules(twins.flask_app) - FRAMEWORK_RULES == table()
    assert rules(twins.quart_app) - FRAMEWORK_RULES == table()


async def test_no_rules_outside_the_route_table(twins: Twins) -> None:
    assert rules(twins.flask_app) == table()
    assert rules(twins.quart_app) == table()


async def test_automatic_methods_are_the_same(twins: Twins) -> None:
    def full(app: Any) -> set[tuple[str, frozenset[str]]]:
        return {(r.rule, frozenset(r.methods or ())) for r in app.url_map.iter_rules()}

    assert full(twins.flask_app) == full(twins.quart_app)


def test_route_names_and_method_paths_are_unique() -> None:
    assert len({route.name for route in ROUTES}) == len(ROUTES)
    assert len({(route.method, route.path) for route in ROUTES}) == len(ROUTES)


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def covered_routes() -> dict[str, list[str]]:
    """Route name -> ids of the cases whose method and path reach that route."""
    url_map = Map(
        [Rule(route.path, endpoint=route.name, methods=[route.method]) for route in ROUTES]
    )
    adapter = url_map.bind("localhost")
    covered: dict[str, list[str]] = {route.name: [] for route in ROUTES}
    for case in CASES:
        try:
            endpoint, _ = adapter.match(case.path, method=case.method)
        except Exception:  # 404/405/redirect cases cover error paths, not a route
            continue
        if case.method not in AUTOMATIC or case.method == endpoint:
            covered[str(endpoint)].append(case.id)
    return covered


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route.method} {route.path}")
def test_every_route_has_a_parity_case(route: Any) -> None:
    cases = covered_routes()[route.name]
    assert cases, (
        f"route {route.method} {route.path} ({route.name}) has no parity case: add a row "
        "to CASES in tests/cases.py (see the instructions at the top of that module)"
    )
    direct = [c.id for c in CASES if c.method == route.method and c.id in cases]
    assert direct, f"{route.method} {route.path} is only covered through HEAD/OPTIONS"
