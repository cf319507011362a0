"""Every error answer of the HTTP API has one shape: ``{"code": <status>, "message": "..."}``.

Handlers for FastAPI's ``HTTPException`` (401, 404, 405, 413... whether raised by a route or
by the router itself), request validation errors (422, with ``errors``: each failed field's
``loc``, ``msg`` and ``type``) and any other exception (500, details only in the log). The
values a client sent are never echoed in ``errors``: they may be huge, secret, or not JSON
at all (a NaN in a number field would make the answer itself fail).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from spanlink.receiver.api.responses import ErrorBody

__all__ = ["MAX_LISTED_ERRORS", "error_response", "install_error_handlers"]

logger = logging.getLogger("spanlink.receiver")

#: The most field errors one 422 answer lists (and names in its message).
MAX_LISTED_ERRORS: Final = 20
_MAX_MESSAGE_CHARS: Final = 2000


def error_response(
    http_status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """The ``{"code", "message"}`` answer with this status (``extra`` keys added)."""
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[: _MAX_MESSAGE_CHARS - 3] + "..."
    return JSONResponse(
        {"code": http_status, "message": message, **extra},
        status_code=http_status,
        headers=dict(headers) if headers else None,
    )


def _location(loc: Any) -> str:
    parts = loc if isinstance(loc, (list, tuple)) else [loc]
    # pydantic names a model validator in the path ("function-after[check(), Model]"): it
    # says nothing to the client, the field names around it do.
    return ".".join(str(p) for p in parts if not (isinstance(p, str) and "[" in p and "(" in p))


def _field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    """Each failed field as ``{loc, msg, type}``: JSON-safe, without the sent value."""
    return [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in item.get("loc", ())],
            "msg": str(item.get("msg", "invalid")),
            "type": str(item.get("type", "value_error")),
        }
        for item in error.errors()[:MAX_LISTED_ERRORS]
    ]


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail
    message = detail if isinstance(detail, str) else str(detail)
    return error_response(error.status_code, message, error.headers)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    fields = _field_errors(error)
    total = len(error.errors())
    # As many fields as fit in the message, then how many more there are (never cut off).
    budget = _MAX_MESSAGE_CHARS - 64
    listed: list[str] = []
    for item in fields:
        line = f"{_location(item['loc'])}: {item['msg']}"
        budget -= len(line) + 2
        if budget < 0:
            break
        listed.append(line)
    summary = "; ".join(listed)
    if total > len(listed):
        summary += f"; and {total - len(listed)} more"
    return error_response(422, f"invalid request: {summary}", errors=fields)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.exception("internal error answering %s %s", request.method, request.url.path)
    return error_response(500, "internal error; the receiver's log has the details")


def _document_error_shape(app: FastAPI) -> None:
    """The OpenAPI document describes 422 answers as they are sent, not FastAPI's default."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schemas = schema.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = _error_body_schema(schemas)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error_body_schema(schemas: dict[str, Any]) -> dict[str, Any]:
    definitions = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(definitions.pop("$defs", {}))
    return definitions


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as ``{"code", "message"}`` (and document it so)."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    _document_error_shape(app)
