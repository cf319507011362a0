"""JSON request bodies must be JSON: ``NaN``, ``Infinity`` and ``-Infinity`` are refused (422).

Python's ``json`` (and so FastAPI) accepts these non-standard constants. In a validated
number field they fail validation; anywhere else (``metadata``, ``inputs``, ``output``...)
they would travel on to code that cannot store them (Postgres ``jsonb`` has no NaN) and
fail there with a 500. This ASGI middleware checks every JSON body of the API once, before
any route reads it: the common body (no ``NaN``/``Infinity`` bytes at all) costs one byte
search; a body that has them is parsed to tell a constant from the same letters in a string.
OTLP ingestion decodes its own bodies and is not touched.
"""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spanlink.receiver.api._errors import error_response

__all__ = ["StrictJSONBodies"]

#: Paths whose bodies are not the API's JSON (OTLP decodes its own, with its own limits).
UNCHECKED_PATHS: Final = frozenset({"/v1/traces", "/telemetry/traces"})
_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


class _Constant(ValueError):
    pass


def _refuse(name: str) -> Any:
    raise _Constant(name)


def _constant_in(body: bytes) -> str | None:
    """The first non-standard constant in ``body`` (None: none, or not JSON at all)."""
    if b"NaN" not in body and b"Infinity" not in body:
        return None
    try:
        json.loads(body, parse_constant=_refuse)
    except _Constant as found:
        return str(found)
    except ValueError:
        return None  # malformed: the route's own parsing answers that
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class StrictJSONBodies:
    """Answer 422 for a JSON request body holding ``NaN`` or ``Infinity``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in _METHODS
            or scope.get("path") in UNCHECKED_PATHS
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: let the app see it
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        constant = _constant_in(b"".join(chunks))
        if constant is not None:
            response = error_response(
                422,
                f"the request body is not valid JSON: {constant} is not a JSON number, "
                "numbers must be finite (send null, or the value as a string)",
            )
            await response(scope, receive, send)
            return
        pending = iter(messages)

        async def replay() -> Message:
            message = next(pending, None)
            return message if message is not None else await receive()

        await self.app(scope, replay, send)
