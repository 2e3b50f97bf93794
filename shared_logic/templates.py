"""One Jinja environment for both shells, so every page is byte-identical.

The shells do not use `render_template`: Flask and Quart inject different globals
(`request`, `g`, `url_for`) into their own environments, which would let the two apps'
pages drift. Pages get exactly the values their route passes.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

environment = Environment(
    loader=PackageLoader("shared_logic", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
    keep_trailing_newline=True,
)


def render(template: str, **context: Any) -> str:
    return environment.get_template(template).render(**context)
