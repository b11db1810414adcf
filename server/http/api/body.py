"""Reading a JSON request body strictly: media type, syntax, object, known fields, types.

Every JSON endpoint reads its body through ``json_body`` so clients get the same
answers everywhere: 415 for another media type, 400 for malformed JSON, 422 naming
the field for a missing, unknown or wrongly typed member.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Any

import orjson
from flask import request

from server.http.api.problems import Problem, http_problem, validation


@dataclass(frozen=True)
class Field:
    """One member of a JSON object: its JSON type(s) and whether it must be present."""

    kind: type | tuple[type, ...]
    required: bool = True
    nullable: bool = False


# Deeper than any request the API takes (evidence is 4 levels): everything behind the
# parser may then recurse over a body without running out of stack.
MAX_DEPTH = 32

_JSON_NAMES = {str: "string", int: "integer", bool: "boolean", float: "number",
               dict: "object", list: "array"}


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_JSON_NAMES.get(k, k.__name__) for k in kinds)


def _is_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON true/false are Python bools, which are ints: never accept them as numbers.
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def json_body(fields: dict[str, Field]) -> dict[str, Any]:
    """The request's JSON object, checked against ``fields``; raises Problem otherwise."""
    return parse_body(request.mimetype, request.get_data(cache=True), fields)


def is_json(mimetype: str) -> bool:
    """``application/json`` or ``application/*+json`` (RFC 6839), as Werkzeug decides."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json"))


def parse_body(mimetype: str, raw: bytes, fields: dict[str, Field]) -> dict[str, Any]:
    """A request body of media type ``mimetype`` (lower case, no parameters) as a JSON
    object checked against ``fields``; raises Problem otherwise."""
    if not is_json(mimetype):
        raise http_problem(415, "send the body as application/json")
    # A parser may ignore a byte order mark (RFC 8259 clause 8.1); orjson refuses one.
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if _exhausts_recursion(raw):
            raise _too_deep() from None
        raise Problem(400, "malformed-json", "Malformed JSON",
                      f"the body is not valid JSON at line {exc.lineno} column {exc.colno}"
                      ) from None
    if nested_deeper_than(data, MAX_DEPTH):
        raise _too_deep()
    return check_object(data, fields)


def _too_deep() -> Problem:
    return Problem(400, "malformed-json", "Malformed JSON",
                   f"the body is nested too deeply (at most {MAX_DEPTH} levels of "
                   "arrays and objects)")


def _exhausts_recursion(raw: bytes) -> bool:
    """Whether the standard library's decoder runs out of stack on ``raw`` (one frame per
    level).  orjson refuses more than 1,024 levels as invalid JSON like any other
    error; this tells a body that is only nested too deeply apart, on the error path."""
    try:
        json.loads(raw)
    except RecursionError:
        return True
    except ValueError:  # malformed (UnicodeDecodeError is a ValueError too)
        pass
    return False


def nested_deeper_than(value: Any, levels: int) -> bool:
    """Whether ``value`` has more than ``levels`` levels of lists and dicts (walked level
    by level, not recursively, so any depth can be measured)."""
    level = [value]
    for _ in range(levels + 1):
        containers = [v for v in level if isinstance(v, dict | list)]
        if not containers:
            return False
        level = [child for c in containers
                 for child in (c.values() if isinstance(c, dict) else c)]
    return True


def check_object(data: Any, fields: dict[str, Field], where: str = "") -> dict[str, Any]:
    """Check a decoded JSON value is an object matching ``fields`` (no unknown members)."""
    if not isinstance(data, dict):
        raise validation(where or "body", "expected a JSON object")
    prefix = f"{where}." if where else ""
    for name in data:
        if name not in fields:
            raise validation(f"{prefix}{name}", "unknown field")
    for name, spec in fields.items():
        if name not in data:
            if spec.required:
                raise validation(f"{prefix}{name}", "required field missing")
            continue
        value = data[name]
        if value is None and spec.nullable:
            continue
        if not _is_kind(value, spec.kind):
            raise validation(f"{prefix}{name}", f"expected {_type_name(spec.kind)}")
    return data


def int_arg(name: str, default: int, minimum: int = 0, maximum: int = 1 << 31) -> int:
    """An integer query parameter, 422 naming it when it is not one or out of range."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise validation(name, "expected a non-negative integer")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise validation(name, f"must be between {minimum} and {maximum}")
    return value
