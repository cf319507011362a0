"""One message per WebSocket text frame: :func:`decode` and :func:`encode`."""

from __future__ import annotations

import json
from typing import Any, Final

from spanlink.protocol._errors import SHOWN_CHARS, ProtocolError, shown
from spanlink.protocol._json import is_json_integer, json_type
from spanlink.protocol._messages import MESSAGE_CLASSES, Message
from spanlink.protocol._version import SUPPORTED_VERSIONS

__all__ = ["DEFAULT_MAX_BYTES", "MESSAGE_TYPES", "decode", "encode"]

#: Default limit of one message, in UTF-8 bytes of its JSON text.
DEFAULT_MAX_BYTES: Final = 1024 * 1024
#: Every message ``type`` of this protocol version.
MESSAGE_TYPES: Final[frozenset[str]] = frozenset(MESSAGE_CLASSES)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _byte_length(text: str, limit: int) -> int:
    # A str of n characters is n..4n UTF-8 bytes: only encode when the answer is in doubt.
    if len(text) > limit or len(text) * 4 <= limit:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def decode(text: str | bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Message:
    """Parse and validate one message.

    Raises :class:`ProtocolError` (``code`` says which) when the text is larger than
    ``max_bytes`` UTF-8 bytes (``oversized``), is not a JSON object (``malformed_json``),
    has a missing/unknown ``type`` (``unknown_type``), an unsupported ``v``
    (``unsupported_version``), or a missing or wrongly typed field (``invalid_message``).
    """
    size = len(text) if isinstance(text, bytes) else _byte_length(text, max_bytes)
    if size > max_bytes:
        raise ProtocolError(
            f"message of more than {max_bytes} bytes (limit {max_bytes}); send less data "
            "per message, e.g. shorter arguments or output",
            "oversized",
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProtocolError(f"message is not valid UTF-8: {error}", "malformed_json") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ProtocolError("message is nested too deeply", "malformed_json") from None
    except ValueError as error:
        raise ProtocolError(f"message is not valid JSON: {error}", "malformed_json") from None
    if not isinstance(data, dict):
        raise ProtocolError(
            f"message must be a JSON object, got {json_type(data)}", "malformed_json"
        )
    kind = data.get("type")
    invocation_id = data.get("invocation_id")
    known_id = invocation_id if isinstance(invocation_id, str) and invocation_id else None
    if not isinstance(kind, str) or not kind:
        raise ProtocolError(
            "message has no 'type' (a string naming the message kind)", "unknown_type"
        )
    cls = MESSAGE_CLASSES.get(kind)
    if cls is None:
        raise ProtocolError(
            f"unknown message type {shown(kind)}; known types: {sorted(MESSAGE_CLASSES)}",
            "unknown_type",
            message_type=kind[:SHOWN_CHARS],
            invocation_id=known_id,
        )
    version = data.get("v")
    if not is_json_integer(version):
        raise ProtocolError(
            f"{kind}: field 'v' (protocol version) is required and must be an integer",
            "invalid_message",
            message_type=kind,
            invocation_id=known_id,
        )
    if version not in SUPPORTED_VERSIONS:
        raise ProtocolError(
            f"{kind}: protocol version {version} is not supported (supported: "
            f"{sorted(SUPPORTED_VERSIONS)}); upgrade the older side",
            "unsupported_version",
            message_type=kind,
            invocation_id=known_id,
        )
    try:
        return cls.from_dict(data)
    except ProtocolError as error:
        error.message_type = kind
        error.invocation_id = known_id
        raise


def encode(message: Message) -> str:
    """The JSON text of ``message`` (compact, UTF-8 friendly).

    Raises :class:`ProtocolError` when a payload (arguments, output, metadata, schema) holds
    a value JSON cannot express, such as NaN, a set or an arbitrary object.
    """
    try:
        return json.dumps(
            message.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
    except (TypeError, ValueError, RecursionError) as error:
        raise ProtocolError(
            f"{message.type}: cannot encode as JSON: {error}",
            "invalid_message",
            message_type=message.type,
            invocation_id=getattr(message, "invocation_id", None),
        ) from None
