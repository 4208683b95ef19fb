"""A chat request's output options: `response_format`, `logprobs`, `top_logprobs`.

Checked as the API checks them (400 with the parameter's name), for every engine. Pure: no
engine, no I/O. `json_answer` turns a simulated answer into JSON of the requested format: an
object for JSON mode, an instance of the schema for Structured Outputs.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from finetune_kit.platform.wire import ApiError

__all__ = ["MAX_TOP_LOGPROBS", "json_answer", "output_params", "schema_instance"]

MAX_TOP_LOGPROBS = 20
_SCHEMA_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_TYPES = ("text", "json_object", "json_schema")


def output_params(body: dict[str, Any], messages: list[Any]) -> dict[str, Any]:
    """The checked output options of a chat request, for the engine's `params`.

    `response_format` is None (text) or the format as sent (`json_object`, `json_schema`);
    `logprobs` a bool; `top_logprobs` an int from 0 to 20 (0 unless asked).

    Raises:
        ApiError: 400, as the API answers a malformed option, or JSON mode without the word
            "json" in the messages.
    """
    return {
        "response_format": _response_format(body.get("response_format"), messages),
        **_logprobs(body.get("logprobs"), body.get("top_logprobs")),
    }


def _response_format(value: Any, messages: list[Any]) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(
            400,
            f"Invalid type for 'response_format': expected an object, but got "
            f"{type(value).__name__} instead.",
            param="response_format",
            code="invalid_type",
        )
    kind = value.get("type")
    if kind not in _TYPES:
        raise ApiError(
            400,
            f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object', and "
            "'json_schema'.",
            param="response_format.type",
            code="invalid_value",
        )
    if kind == "text":
        return None
    if kind == "json_object":
        if "json" not in json.dumps(messages).lower():
            raise ApiError(
                400,
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
                param="messages",
            )
        return value
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise ApiError.missing("response_format.json_schema")
    name = spec.get("name")
    if not isinstance(name, str) or not _SCHEMA_NAME.fullmatch(name):
        raise ApiError(
            400,
            f"Invalid 'response_format.json_schema.name': {name!r}. Expected a string of "
            "1 to 64 letters, digits, underscores or dashes.",
            param="response_format.json_schema.name",
            code="invalid_value",
        )
    schema = spec.get("schema", {})
    if not isinstance(schema, dict):
        raise ApiError(
            400,
            "Invalid type for 'response_format.json_schema.schema': expected an object.",
            param="response_format.json_schema.schema",
            code="invalid_type",
        )
    return value


def _logprobs(logprobs: Any, top: Any) -> dict[str, Any]:
    if logprobs is not None and not isinstance(logprobs, bool):
        raise ApiError(
            400,
            f"Invalid type for 'logprobs': expected a boolean, but got {type(logprobs).__name__} "
            "instead.",
            param="logprobs",
            code="invalid_type",
        )
    if top is None:
        return {"logprobs": bool(logprobs), "top_logprobs": 0}
    if not isinstance(top, int) or isinstance(top, bool):
        raise ApiError(
            400,
            f"Invalid type for 'top_logprobs': expected an integer, but got {type(top).__name__} "
            "instead.",
            param="top_logprobs",
            code="invalid_type",
        )
    if not 0 <= top <= MAX_TOP_LOGPROBS:
        raise ApiError(
            400,
            f"Invalid 'top_logprobs': expected a value from 0 to {MAX_TOP_LOGPROBS}, but got "
            f"{top} instead.",
            param="top_logprobs",
            code="invalid_value",
        )
    if not logprobs:
        raise ApiError(
            400,
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is used.",
            param="top_logprobs",
            code="invalid_value",
        )
    return {"logprobs": True, "top_logprobs": top}


def json_answer(text: str, response_format: dict[str, Any]) -> str:
    """`text` as JSON of `response_format`: `{"answer": text}` for JSON mode, else the schema's.

    >>> json_answer("Hi", {"type": "json_object"})
    '{"answer": "Hi"}'
    """
    if response_format.get("type") == "json_schema":
        schema = response_format["json_schema"].get("schema", {})
        return json.dumps(schema_instance(schema, text, schema), ensure_ascii=False)
    return json.dumps({"answer": text}, ensure_ascii=False)


def schema_instance(schema: Any, text: str, root: Any = None, depth: int = 0) -> Any:
    """A value that `schema` accepts, its strings `text` (the subset Structured Outputs takes).

    Objects get every property (strict mode requires them all), arrays their minimum of items
    (at least one), enums and consts their first value, numbers their minimum or 0, unions
    (`anyOf`, a list of types) their first branch that is not null, `$ref` its `$defs` entry.

    >>> schema_instance({"type": "object", "properties": {"a": {"type": "string"}}}, "x")
    {'a': 'x'}
    """
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 16:
        return None
    if "$ref" in schema:
        return schema_instance(_resolve(root, schema["$ref"]), text, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for union in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(union)
        if isinstance(branches, list) and branches:
            typed = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
            return schema_instance((typed or branches)[0], text, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {key: schema_instance(sub, text, root, depth + 1) for key, sub in properties.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 1) or 1), 1)
        return [schema_instance(schema.get("items", {}), text, root, depth + 1)] * count
    if kind in ("number", "integer"):
        low, above = schema.get("minimum"), schema.get("exclusiveMinimum")
        value: float = 0
        if isinstance(low, int | float):
            value = low
        elif isinstance(above, int | float):
            value = above + 1
        return math.ceil(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return text


def _resolve(root: Any, ref: Any) -> Any:
    """The schema `ref` ("#/$defs/name") points to in `root`, or {} when it points nowhere."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return {}
    node = root
    for part in filter(None, ref[1:].split("/")):
        if not isinstance(node, dict):
            return {}
        node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
    return node
