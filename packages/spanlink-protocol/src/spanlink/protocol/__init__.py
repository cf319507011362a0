"""The endpoint wire protocol: typed messages between an endpoint client and the receiver.

An application's ``@endpoint`` functions (``spanlink-endpoint``) connect to the receiver's
``WS /ws/endpoints`` and exchange JSON text frames, one message per frame. Each message is a
JSON object with a ``type`` and the protocol version ``v``. This package is the one
definition both sides use: dataclasses for the messages, :func:`encode` and :func:`decode`
(which validates everything and raises :class:`ProtocolError` with a clear reason). It is
pure Python with no dependency, so the receiver can speak it without ``spanlink-endpoint``.
The prose version is ``docs/protocol.md``.

Flow::

    client -> register      (functions, environment, sdk version)
    server -> registered    (or error, then close)
    server -> invoke        (invocation_id, function, arguments, test_context, timeout_s)
    client -> chunk         (optional, generators: invocation_id, index, data; in order)
    client -> result        (same invocation_id: status, output, error, duration, trace id)
    server -> cancel        (optional: stop an invocation; its result says "cancelled")
    either -> ping / pong   (application-level heartbeat; pong echoes the ping's id)
    either -> error         (a message could not be handled; the connection stays open)

Unknown fields are ignored (newer peers may add some); unknown types, missing or wrongly
typed fields, oversized frames and other versions are errors.
"""

from __future__ import annotations

from spanlink.protocol._errors import ERROR_CODES, ErrorCode, ProtocolError
from spanlink.protocol._frames import DEFAULT_MAX_BYTES, MESSAGE_TYPES, decode, encode
from spanlink.protocol._json import is_json_integer, json_type
from spanlink.protocol._messages import (
    MAX_FUNCTIONS,
    RESULT_STATUSES,
    TEST_CONTEXT_FIELDS,
    Cancel,
    Chunk,
    Error,
    ErrorInfo,
    FunctionSpec,
    Invoke,
    Message,
    Ping,
    Pong,
    Register,
    Registered,
    Result,
    ResultStatus,
)
from spanlink.protocol._version import PROTOCOL_VERSION, SUPPORTED_VERSIONS, __version__

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ERROR_CODES",
    "MAX_FUNCTIONS",
    "MESSAGE_TYPES",
    "PROTOCOL_VERSION",
    "RESULT_STATUSES",
    "SUPPORTED_VERSIONS",
    "TEST_CONTEXT_FIELDS",
    "Cancel",
    "Chunk",
    "Error",
    "ErrorCode",
    "ErrorInfo",
    "FunctionSpec",
    "Invoke",
    "Message",
    "Ping",
    "Pong",
    "ProtocolError",
    "Register",
    "Registered",
    "Result",
    "ResultStatus",
    "__version__",
    "decode",
    "encode",
    "is_json_integer",
    "json_type",
]
