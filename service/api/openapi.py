"""The OpenAPI document as clients get it: every error documented as RFC 9457 problem details.

FastAPI documents its own 422 as `application/json` HTTPValidationError, and nothing about
the problems our handlers return. This rewrites each operation's error responses to the one
shape the API really sends, `application/problem+json` Problem, so generated clients (and
schemathesis) see the truth.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "message"],
                "properties": {
                    "path": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "column": {"type": ["string", "null"]},
                    "row": {"type": ["integer", "null"]},
                },
            },
        },
    },
}
ERRORS = {
    "400": "Bad request (e.g. a body that is not valid multipart)",
    "401": "Missing or invalid API key",
    "403": "The key may not do this (admin only)",
    "404": "No such resource for this tenant",
    "409": "Conflict with the resource's state (e.g. cancelling a finished job)",
    "413": "Body over the size limit",
    "422": "Invalid request: each bad field is named in `errors`",
    "429": "A tenant limit or too many failed sign-ins",
}
PUBLIC = {"/healthz", "/readyz", "/metrics"}  # /metrics: aggregates only; ADAMANT_METRICS_TOKEN guards it if set


def problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for code, description in ERRORS.items():
                    if path in PUBLIC and code != "422":
                        continue
                    responses[code] = problem_response(description)
                if path == "/readyz":
                    responses["503"] = problem_response("The database or the broker is unreachable")
                if path in PUBLIC:
                    responses.pop("422", None)
                    operation["security"] = []  # liveness and readiness need no key
        if not any("securitySchemes" in k for k in schema["components"]):
            schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
