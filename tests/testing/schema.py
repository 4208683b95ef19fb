"""The official OpenAPI document of the API, as a JSON-schema validator for the simulator's bodies.

The document is `tests/data/openai-openapi-subset.json` (OpenAPI 3.1, so JSON Schema 2020-12),
copied from openai/openai-openapi (MIT; see tests/data/README.md). Three things are adjusted, all
named here and nowhere else:

- `exclusiveMinimum: true` (next to `minimum`) is OpenAPI 3.0 spelling that survived in the 3.1
  document; in 2020-12 it reads as "greater than 1", which would reject a learning-rate
  multiplier of 0.5. It is rewritten to the 3.1 meaning, `exclusiveMinimum: <minimum>`.
- `nullable: true` is OpenAPI 3.0 spelling too (the stream chunk's `finish_reason`, `logprobs`
  and `usage` use it); 2020-12 ignores it, so null would fail `type`. It is rewritten to
  `anyOf: [<the schema>, {type: null}]`.
- `OPEN_ENUM_EXCEPTIONS`: status values the API sends that the spec's closed enums lack.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "OPEN_ENUM_EXCEPTIONS",
    "OPERATIONS",
    "SPEC_PATH",
    "error_schema",
    "problems",
    "response_schema",
    "spec",
    "stream_chunk_schema",
]

SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "openai-openapi-subset.json"
_URI = "urn:openai-openapi"

OPERATIONS: dict[str, tuple[str, str]] = {
    "files.create": ("/files", "post"),
    "files.list": ("/files", "get"),
    "files.retrieve": ("/files/{file_id}", "get"),
    "files.delete": ("/files/{file_id}", "delete"),
    "files.content": ("/files/{file_id}/content", "get"),
    "uploads.create": ("/uploads", "post"),
    "uploads.parts": ("/uploads/{upload_id}/parts", "post"),
    "uploads.complete": ("/uploads/{upload_id}/complete", "post"),
    "uploads.cancel": ("/uploads/{upload_id}/cancel", "post"),
    "jobs.create": ("/fine_tuning/jobs", "post"),
    "jobs.list": ("/fine_tuning/jobs", "get"),
    "jobs.retrieve": ("/fine_tuning/jobs/{fine_tuning_job_id}", "get"),
    "jobs.cancel": ("/fine_tuning/jobs/{fine_tuning_job_id}/cancel", "post"),
    "jobs.pause": ("/fine_tuning/jobs/{fine_tuning_job_id}/pause", "post"),
    "jobs.resume": ("/fine_tuning/jobs/{fine_tuning_job_id}/resume", "post"),
    "jobs.events": ("/fine_tuning/jobs/{fine_tuning_job_id}/events", "get"),
    "jobs.checkpoints": ("/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints", "get"),
    "models.list": ("/models", "get"),
    "models.retrieve": ("/models/{model}", "get"),
    "models.delete": ("/models/{model}", "delete"),
    "chat.create": ("/chat/completions", "post"),
    "batches.create": ("/batches", "post"),
    "batches.list": ("/batches", "get"),
    "batches.retrieve": ("/batches/{batch_id}", "get"),
    "batches.cancel": ("/batches/{batch_id}/cancel", "post"),
}
"""Simulator route name -> the spec's (path, method)."""

OPEN_ENUM_EXCEPTIONS: dict[tuple[str, str], frozenset[str]] = {
    ("FineTuningJob", "status"): frozenset({"paused", "pending"}),
    ("OpenAIFile", "status"): frozenset({"pending"}),
}
"""(schema, property) -> values the API really sends that the spec's closed enum lacks.

OPENAI-FACTS.md finding 4 and section 15: `POST .../pause` answers `"status": "paused"` (the
spec's own example for that operation), and Azure reports jobs and files as `pending`. The SDK's
Literal types lack them too, so strict response validation rejects them (tested).
"""


def _normalise(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _normalise(v) for k, v in node.items()}
        if isinstance(out.get("exclusiveMinimum"), bool):
            exclusive = out.pop("exclusiveMinimum")
            if exclusive and "minimum" in out:
                out["exclusiveMinimum"] = out.pop("minimum")
        if out.get("nullable") is True:
            del out["nullable"]
            return {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_normalise(v) for v in node]
    return node


@cache
def spec() -> dict[str, Any]:
    """The OpenAPI document (3.0-isms rewritten, see the module docstring)."""
    document: dict[str, Any] = _normalise(json.loads(SPEC_PATH.read_text(encoding="utf-8")))
    return document


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_URI, resource)
    return registry


def _absolute(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema whose `#/...` references point into the spec."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        return {"$ref": _URI + ref}
    return schema


def response_schema(route: str, status: int = 200) -> dict[str, Any]:
    """The spec's JSON schema of `route`'s response with this status."""
    path, method = OPERATIONS[route]
    responses = spec()["paths"][path][method]["responses"]
    schema: dict[str, Any] = responses[str(status)]["content"]["application/json"]["schema"]
    return _absolute(schema)


def stream_chunk_schema() -> dict[str, Any]:
    """The spec's schema of one server-sent event of a streamed chat completion."""
    content = spec()["paths"]["/chat/completions"]["post"]["responses"]["200"]["content"]
    schema: dict[str, Any] = content["text/event-stream"]["schema"]
    assert schema == {"$ref": "#/components/schemas/CreateChatCompletionStreamResponse"}
    return _absolute(schema)


def error_schema() -> dict[str, Any]:
    """The spec's `ErrorResponse` schema (the `{"error": {...}}` envelope)."""
    assert "ErrorResponse" in spec()["components"]["schemas"]
    return _absolute({"$ref": "#/components/schemas/ErrorResponse"})


def _excused(error: Any) -> bool:
    if error.validator != "enum":
        return False
    components = spec()["components"]["schemas"]
    return any(
        error.schema == components[name]["properties"][prop] and error.instance in values
        for (name, prop), values in OPEN_ENUM_EXCEPTIONS.items()
    )


def problems(instance: Any, schema: dict[str, Any], *, excuse: bool = True) -> list[str]:
    """Every way `instance` breaks `schema`, as `path: message` (open-enum exceptions excused)."""
    validator = jsonschema.Draft202012Validator(
        copy.deepcopy(schema),
        registry=_registry(),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    found = []
    for error in validator.iter_errors(instance):
        if excuse and _excused(error):
            continue
        where = "/".join(str(p) for p in error.absolute_path) or "<body>"
        found.append(f"{where}: {error.message}")
    return sorted(found)
