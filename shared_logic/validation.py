"""One validation vocabulary for query parameters, JSON bodies, job parameters and forms.

A field is declared once, as a spec that both checks a value and describes it in JSON
Schema, so the bounds /openapi.json documents are the bounds the server enforces. Every
invalid field is reported at once, as `{name, reason}` in the problem's `errors`.

- `parse(raw)` reads a query parameter (text, or None when absent): `parse_query`;
- `check(value)` reads a decoded JSON value: `ObjectOf` for bodies and job parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from shared_logic.protocol.http import Problem, ProblemError, QueryArgs

INVALID_PARAMETERS = "/problems/invalid-parameters"
INVALID_FIELDS = "/problems/invalid-fields"
# The largest id either database stores (bigint, SQLite INTEGER). A larger one in a URL
# names no row, and must not reach the driver: sqlite3 cannot even bind it.
MAX_ID = (1 << 63) - 1
# PostgreSQL text cannot hold U+0000 (SQLite can): stored text refuses it on both, rather
# than be stored on one backend and fail with a 500 on the other.
NUL_REASON = "must not contain the NUL character (U+0000)"
_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")


def iso_timestamp(seconds: float) -> str:
    """Every timestamp the API sends: UTC, millisecond precision, `2026-01-01T00:00:00.000Z`."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


FieldError = tuple[str, str]  # (name, reason); the name "" is the whole body


class Invalid(ValueError):
    """Why a value is invalid, as errors whose names are relative to the value's own name."""

    def __init__(self, reason: str = "", *, errors: Sequence[FieldError] = ()) -> None:
        self.errors = list(errors) or [("", reason)]
        super().__init__("; ".join(reason for _, reason in self.errors))


def _qualified(parent: str, child: str) -> str:
    """`params` + `notes[0].title` -> `params.notes[0].title`; `notes` + `[0]` -> `notes[0]`."""
    if not child:
        return parent
    if not parent or child.startswith("["):
        return parent + child
    return f"{parent}.{child}"


def listed_errors(
    status: int, title: str, type_: str, errors: Sequence[FieldError]
) -> ProblemError:
    """The one problem builder for `{name, reason}` lists (400, 422)."""
    detail = "; ".join(f"{name} {reason}" if name else reason for name, reason in errors)
    listed = [{"name": name, "reason": reason} for name, reason in errors]
    return ProblemError(Problem(status, title, detail, type=type_, extra={"errors": listed}))


def invalid_parameters(errors: Sequence[FieldError]) -> ProblemError:
    return listed_errors(400, "Invalid query parameters", INVALID_PARAMETERS, errors)


def invalid_fields(errors: Sequence[FieldError]) -> ProblemError:
    return listed_errors(422, "Invalid fields", INVALID_FIELDS, errors)


# ------------------------------------------------------------------ field specs
@dataclass(frozen=True, slots=True)
class Integer:
    name: str
    default: int
    minimum: int
    maximum: int
    description: str = ""
    # "reject": out-of-range or non-integer is an error. "clamp" (query only): TechEmpower's
    # rule, non-integers become `default`, out-of-range values are clamped into the bounds.
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
            raise Invalid(f"must be an integer from {self.minimum} to {self.maximum}") from None
        if self.minimum <= value <= self.maximum:
            return value
        if self.on_invalid == "clamp":
            return min(max(value, self.minimum), self.maximum)
        raise Invalid(f"must be from {self.minimum} to {self.maximum}, got {value}")

    def check(self, value: Any) -> int:
        # bool is an int in Python, but `true` is not a number in JSON.
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid("must be an integer")
        if not self.minimum <= value <= self.maximum:
            raise Invalid(f"must be from {self.minimum} to {self.maximum}")
        return value

    def absent(self) -> int:
        return self.default

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
class Choice:
    name: str
    default: str
    choices: tuple[str, ...]
    description: str = ""

    def parse(self, raw: str | None) -> str:
        if raw is None:
            return self.default
        if raw in self.choices:
            return raw
        raise Invalid(f"must be one of {', '.join(self.choices)}")

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices), "default": self.default}


@dataclass(frozen=True, slots=True)
class Text:
    """A string; `pattern` must match the whole value. Absent means `default` unless required."""

    name: str
    description: str = ""
    max_length: int | None = None
    pattern: str | None = None
    not_blank: bool = False
    required: bool = False
    default: str | None = None

    def parse(self, raw: str | None) -> str | None:
        if raw is None:
            return self.default
        if self.max_length is not None and len(raw) > self.max_length:
            raise Invalid(f"must be at most {self.max_length} characters")
        if self.pattern is not None and re.fullmatch(self.pattern, raw) is None:
            raise Invalid(f"must match {self.pattern}")
        return raw

    def check(self, value: Any) -> str:
        if self.pattern is not None:
            if not isinstance(value, str) or re.fullmatch(self.pattern, value) is None:
                raise Invalid(f"must be a string matching {self.pattern}")
        elif not isinstance(value, str):
            raise Invalid("must be a string")
        if "\x00" in value:
            raise Invalid(NUL_REASON)
        if self.not_blank and not value.strip():
            raise Invalid("must not be blank")
        if self.max_length is not None and len(value) > self.max_length:
            raise Invalid(f"must be at most {self.max_length} characters")
        return value

    def absent(self) -> str | None:
        if self.required:
            raise Invalid("is required")
        return self.default

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.not_blank:
            schema["minLength"] = 1
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.pattern is not None:
            schema["pattern"] = f"^{self.pattern}$"
        if self.default is not None:
            schema["default"] = self.default
        return schema


class BodyField(Protocol):
    """A field of a JSON object: checks a decoded value, or supplies one when absent."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    def check(self, value: Any) -> Any: ...

    def absent(self) -> Any: ...

    def schema(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ArrayOf:
    """A JSON array of `items`; `noun` names them in reasons (`must be an array of strings`)."""

    name: str
    items: BodyField
    noun: str
    max_items: int
    min_items: int = 0
    unique: bool = False
    # Absent means this (copied); None makes the array required.
    default: Sequence[Any] | None = None
    description: str = ""

    def _shape_reason(self) -> str:
        if self.min_items:
            return f"must be an array of {self.min_items} to {self.max_items} {self.noun}"
        return f"must be an array of {self.noun}"

    def check(self, value: Any) -> list[Any]:
        if not isinstance(value, list) or (
            self.min_items and not self.min_items <= len(value) <= self.max_items
        ):
            raise Invalid(self._shape_reason())
        if len(value) > self.max_items:
            raise Invalid(f"must have at most {self.max_items} items")
        checked, errors = [], []
        for index, item in enumerate(value):
            try:
                checked.append(self.items.check(item))
            except Invalid as exc:
                errors += [(_qualified(f"[{index}]", name), why) for name, why in exc.errors]
        if errors:
            raise Invalid(errors=errors)
        if self.unique and len(set(checked)) != len(checked):
            raise Invalid(f"must not repeat a {self.items.name}")
        return checked

    def absent(self) -> list[Any]:
        if self.default is None:  # an absent array is as short as an empty one
            raise Invalid(self._shape_reason() if self.min_items else "is required")
        return list(self.default)

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array"}
        if self.min_items:
            schema["minItems"] = self.min_items
        schema["maxItems"] = self.max_items
        if self.unique:
            schema["uniqueItems"] = True
        schema["items"] = self.items.schema()
        if self.default is not None:
            schema["default"] = list(self.default)
        return schema


@dataclass(frozen=True, slots=True)
class ObjectOf:
    """A JSON object with declared fields; any other key is an error (`unknown`), or ignored."""

    fields: tuple[BodyField, ...]
    name: str = ""
    unknown: str | None = "is not a known field"
    description: str = ""

    def check(self, value: Any, *, partial: bool = False) -> dict[str, Any]:
        """Every field's value (defaults filled in), or Invalid listing every error.

        `partial` (a patch): absent fields stay absent, and at least one must be given.
        """
        if not isinstance(value, dict):
            raise Invalid("must be an object")
        names = [field.name for field in self.fields]
        errors = (
            []
            if self.unknown is None
            else [(key, self.unknown) for key in value if key not in names]
        )
        if partial and not any(name in value for name in names):
            errors.append(("", f"name at least one of {', '.join(names)}"))
        checked: dict[str, Any] = {}
        for field in self.fields:
            try:
                if field.name in value:
                    checked[field.name] = field.check(value[field.name])
                elif not partial:
                    checked[field.name] = field.absent()
            except Invalid as exc:
                errors += [(_qualified(field.name, name), why) for name, why in exc.errors]
        if errors:
            raise Invalid(errors=errors)
        return checked

    def absent(self) -> dict[str, Any]:
        raise Invalid("is required")

    def schema(self, *, partial: bool = False) -> dict[str, Any]:
        properties = {field.name: _documented(field) for field in self.fields}
        if partial:  # an absent field is left as it is, not set to a default
            properties = {
                name: {key: value for key, value in schema.items() if key != "default"}
                for name, schema in properties.items()
            }
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": [] if partial else [f.name for f in self.fields if _required(f)],
        }
        if self.unknown is not None:
            schema["additionalProperties"] = False
        if partial:
            schema["minProperties"] = 1
        return schema


def _documented(field: BodyField) -> dict[str, Any]:
    schema = field.schema()
    if field.description:
        schema["description"] = field.description
    return schema


def _required(field: BodyField) -> bool:
    try:
        field.absent()
    except Invalid:
        return True
    return False


# ------------------------------------------------------------------ query parameters
QueryParam = Integer | Choice | Text


def parse_query(specs: Sequence[QueryParam], query: QueryArgs) -> Mapping[str, Any]:
    """Validate every declared parameter and report all failures at once (400)."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for spec in specs:
        given = query.getlist(spec.name)
        if len(given) > 1 and not (isinstance(spec, Integer) and spec.on_invalid == "clamp"):
            errors.append((spec.name, "must be given at most once"))
            continue
        try:
            values[spec.name] = spec.parse(given[0] if given else None)
        except Invalid as exc:
            errors += [(_qualified(spec.name, name), why) for name, why in exc.errors]
    if errors:
        raise invalid_parameters(errors)
    return values
