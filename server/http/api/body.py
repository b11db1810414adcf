"""Reading a request strictly, once, at the edge: the JSON body and the path and query
parameters, each validated by its model in ``server.http.api.request_models``.

Every endpoint reads its input through here so clients get the same answers everywhere:
415 for another media type (or a charset other than UTF-8), 400 for malformed JSON
(invalid UTF-8, NaN, nesting too deep), 422 naming the field for a member that is
missing, unknown, repeated (a duplicate JSON key or query parameter) or malformed.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar, cast

import pydantic
from flask import request
from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_options_header

from server.http.api.problems import Problem, body_too_large, http_problem, validation
from server.http.api.request_models import ParameterModel, RequestModel

M = TypeVar("M", bound=RequestModel)
P = TypeVar("P", bound=ParameterModel)
F = TypeVar("F", bound=Callable[..., Any])

# Deeper than any request the API takes (evidence is 4 levels): everything behind the
# parser may then recurse over a body without running out of stack.
MAX_DEPTH = 32


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuse an object that names a member twice: parsers disagree on which one wins
    (RFC 8259 clause 4), so a value checked here could differ from the one acted on."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def request_body() -> bytes:
    """The request's body, at most ``request.max_content_length`` bytes: 413 beyond.

    Werkzeug stops reading a body sent without Content-Length (chunked) at the limit
    and returns what it read as if it were all, so a body that reaches the limit is
    refused here (one of exactly the limit's length too: it cannot be told apart)."""
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        raise body_too_large(limit)
    return raw


def json_body(model: type[M]) -> M:
    """The request's JSON body as ``model``; raises Problem otherwise."""
    return validated(model, read_json(request.headers.get("Content-Type", ""), request_body()))


def is_json(mimetype: str) -> bool:
    """``application/json`` or ``application/*+json`` (RFC 6839), as Werkzeug decides."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json"))


def read_json(content_type: str, raw: bytes) -> Any:
    """A request body with the ``Content-Type`` header ``content_type`` as decoded JSON
    (any value); raises Problem otherwise."""
    mimetype, options = parse_options_header(content_type)
    if not is_json(mimetype.lower()):
        raise http_problem(415, "send the body as application/json")
    if options.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise http_problem(415, "JSON is UTF-8 (RFC 8259 clause 8.1); send charset=utf-8 "
                                "or no charset")
    # A parser may ignore a byte order mark (RFC 8259 clause 8.1).
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        data = _decoder.decode(raw.decode("utf-8"))
    except _DuplicateKey as exc:
        raise validation(exc.key[:64], "member given more than once") from None
    except UnicodeDecodeError as exc:
        raise _malformed(f"the body is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise _malformed(f"the body is not valid JSON at line {exc.lineno} column "
                         f"{exc.colno}") from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # NaN or Infinity, or an integer of thousands of digits
        raise _malformed("the body holds a number JSON does not allow") from None
    # Each level opens with a bracket, so a body with few of them (every well-formed
    # request) cannot be too deep: the walk is for the rest.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and nested_deeper_than(data, MAX_DEPTH):
        raise _too_deep()
    return data


def _malformed(detail: str) -> Problem:
    return Problem(400, "malformed-json", "Malformed JSON", detail)


def _too_deep() -> Problem:
    return _malformed(f"the body is nested too deeply (at most {MAX_DEPTH} levels of "
                      "arrays and objects)")


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


def _field(loc: Iterable[int | str], data: Any) -> str:
    """pydantic's error location as the API names fields: ``evidence.isim.impu[3]``.
    ``data`` is walked alongside to leave out the tag a discriminated union puts in
    (``evidence.outcome.success.res`` is ``evidence.outcome.res``)."""
    parts = list(loc)
    name, node = "", data
    for i, part in enumerate(parts):
        if isinstance(node, dict) and part not in node and i < len(parts) - 1:
            continue
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return name or "body"


# pydantic's error types in the API's words (the others keep pydantic's message).
_REASONS = {
    "missing": "required field missing", "extra_forbidden": "unknown field",
    "string_type": "expected string", "int_type": "expected integer",
    "bool_type": "expected boolean", "list_type": "expected array",
    "model_type": "expected a JSON object", "model_attributes_type": "expected a JSON object",
    "dict_type": "expected a JSON object",
}


# pydantic's error types whose limit is the message, in the API's words.
_LIMITS = {
    "string_too_short": "expected {min_length} or more characters",
    "string_too_long": "expected {max_length} or fewer characters",
    "too_short": "expected {min_length} or more items",
    "too_long": "expected {max_length} or fewer items",
    "greater_than_equal": "expected at least {ge}", "less_than_equal": "expected at most {le}",
    "string_pattern_mismatch": "expected text matching {pattern}",
    "union_tag_invalid": "expected one of {expected_tags}",  # pydantic's repeats the value
}


def _reason(error: Any) -> str:
    if error["type"] in _LIMITS:
        return _LIMITS[error["type"]].format(**error.get("ctx", {}))
    # A validator's own message comes as "Value error, <message>".
    return _REASONS.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")


def _located(error: Any) -> tuple[int | str, ...]:
    """The error's location; for an unknown union tag, the tag's own member."""
    loc = tuple(error["loc"])
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return (*loc, str(error["ctx"]["discriminator"]).strip("'"))
    return loc


def validated(model: type[M], data: Any) -> M:
    """``data`` as ``model``, or 422 naming every offending field."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = [{"field": _field(_located(e), data), "reason": _reason(e)}
                  for e in exc.errors(include_url=False)]
        field, reason = errors[0]["field"], errors[0]["reason"]
        # "IMEI must be 15 digits" names its field already (as the service's own checks say).
        named = reason.lower().startswith(field.rpartition(".")[2].lower())
        raise Problem(422, "validation-error", "Invalid request",
                      reason if named else f"{field}: {reason}", errors=errors) from None


def parameters(model: type[P], values: MultiDict[str, str] | dict[str, Any]) -> P:
    """Path or query parameters as ``model``: each given at most once."""
    if isinstance(values, MultiDict):
        for name, given in values.lists():
            if len(given) > 1:
                raise validation(name[:64], "given more than once")
        values = values.to_dict()
    return validated(model, values)


def query(model: type[P]) -> P:
    """The request's query parameters as ``model``."""
    return parameters(model, request.args)


def path(model: type[ParameterModel]) -> Callable[[F], F]:
    """Decorator: the view's path parameters validated by ``model`` (422 naming the
    parameter), passed on as the model's typed values."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(**kwargs: Any) -> Any:
            return view(**dict(parameters(model, kwargs)))

        return cast(F, wrapper)

    return decorate
