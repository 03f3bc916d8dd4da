"""A route's query string as one pydantic model, parsed by the route itself.

FastAPI validates each declared query parameter with a pass of its own machinery per field;
on the hottest polls that costs more than everything else the route does. `parse_query`
validates the whole query with one `model_validate` and raises the same RequestValidationError
(locations under "query"), and `query_parameters` documents the fields in OpenAPI as if they
were declared one by one (pass it as the route's openapi_extra).
"""

from __future__ import annotations

from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def _is_list(annotation: Any) -> bool:
    if annotation is list or get_origin(annotation) is list:
        return True
    return get_origin(annotation) in (Union, UnionType) and any(_is_list(a) for a in get_args(annotation))


def parse_query(model: type[Model], request: Request) -> Model:
    """The request's query as `model`; a bad value is a 422 naming ("query", field)."""
    params = request.query_params
    raw: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name in params:
            raw[name] = params.getlist(name) if _is_list(field.annotation) else params[name]
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in error.errors(include_url=False, include_context=False)]
        ) from None


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """openapi_extra listing the model's fields as query parameters."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        entry: dict[str, Any] = {"name": name, "in": "query", "required": name in required,
                                 "schema": {k: v for k, v in prop.items() if k != "description"}}
        if "description" in prop:
            entry["description"] = prop["description"]
        parameters.append(entry)
    return {"parameters": parameters}
