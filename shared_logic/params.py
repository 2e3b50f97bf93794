"""Query-parameter specifications: parsed once here, documented from the same objects.

A route declares its parameters; `parse_query` validates them and the OpenAPI generator
describes them, so the bounds a client reads are the bounds the server enforces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared_logic.protocol.http import Problem, ProblemError, QueryArgs

INVALID_PARAMETERS = "/problems/invalid-parameters"
_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True, slots=True)
class IntParam:
    name: str
    default: int
    minimum: int
    maximum: int
    description: str
    # "reject": out-of-range or non-integer is a 400. "clamp": TechEmpower's rule —
    # non-integers become `default`, out-of-range values are clamped into [minimum, maximum].
    on_invalid: Literal["reject", "clamp"] = "reject"

    def parse(self, raw: str | None) -> int:
        if raw is None:
            return self.default
        try:
            # int() would also take "1_000" and non-ASCII digits such as "٣".
            if _ASCII_INTEGER.fullmatch(raw.strip()) is None:
                raise ValueError(raw)
            value = int(raw.strip(), 10)
        except ValueError:
            if self.on_invalid == "clamp":
                return self.default
            raise InvalidValue(
                f"must be an integer from {self.minimum} to {self.maximum}"
            ) from None
        if self.minimum <= value <= self.maximum:
            return value
        if self.on_invalid == "clamp":
            return min(max(value, self.minimum), self.maximum)
        raise InvalidValue(f"must be from {self.minimum} to {self.maximum}, got {value}")

    def schema(self) -> dict[str, Any]:
        if self.on_invalid == "clamp":
            # Anything is accepted and clamped, so the schema must not promise a 400.
            return {"type": "string", "default": str(self.default)}
        return {
            "type": "integer",
            "minimum": self.minimum,
            "maximum": self.maximum,
            "default": self.default,
        }


@dataclass(frozen=True, slots=True)
class ChoiceParam:
    name: str
    default: str
    choices: tuple[str, ...]
    description: str

    def parse(self, raw: str | None) -> str:
        if raw is None:
            return self.default
        if raw in self.choices:
            return raw
        raise InvalidValue(f"must be one of {', '.join(self.choices)}")

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices), "default": self.default}


@dataclass(frozen=True, slots=True)
class StrParam:
    """An optional string; absent means None. `pattern` must match the whole value."""

    name: str
    description: str
    max_length: int
    pattern: str | None = None

    def parse(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        if len(raw) > self.max_length:
            raise InvalidValue(f"must be at most {self.max_length} characters")
        if self.pattern is not None and re.fullmatch(self.pattern, raw) is None:
            raise InvalidValue(f"must match {self.pattern}")
        return raw

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.pattern is not None:
            schema["pattern"] = f"^{self.pattern}$"
        return schema


Param = IntParam | ChoiceParam | StrParam


class InvalidValue(ValueError):
    pass


def parse_query(specs: Sequence[Param], query: QueryArgs) -> Mapping[str, Any]:
    """Validate every declared parameter and report all failures at once (400)."""
    values: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for spec in specs:
        given = query.getlist(spec.name)
        if len(given) > 1 and not (isinstance(spec, IntParam) and spec.on_invalid == "clamp"):
            errors.append({"name": spec.name, "reason": "must be given at most once"})
            continue
        try:
            values[spec.name] = spec.parse(given[0] if given else None)
        except InvalidValue as exc:
            errors.append({"name": spec.name, "reason": str(exc)})
    if errors:
        raise invalid_parameters(errors)
    return values


def invalid_parameters(errors: list[dict[str, str]]) -> ProblemError:
    """The 400 for bad query parameters, each listed as {name, reason}."""
    detail = "; ".join(f"{error['name']} {error['reason']}" for error in errors)
    return ProblemError(
        Problem(
            status=400,
            title="Invalid query parameters",
            detail=detail,
            type=INVALID_PARAMETERS,
            extra={"errors": errors},
        )
    )
