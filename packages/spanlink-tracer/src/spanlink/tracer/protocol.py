"""The endpoint wire protocol: typed messages between an endpoint client and the receiver.

An application's ``@endpoint`` functions (``spanlink-endpoint``) connect to the receiver's
``WS /ws/endpoints`` and exchange JSON text frames, one message per frame. Each message is a
JSON object with a ``type`` and the protocol version ``v``. This module is the one
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

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, TypeAlias, cast, get_args

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ERROR_CODES",
    "MESSAGE_TYPES",
    "PROTOCOL_VERSION",
    "RESULT_STATUSES",
    "SUPPORTED_VERSIONS",
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
    "TestContextInfo",
    "decode",
    "encode",
]

#: The version this module writes in ``v``.
PROTOCOL_VERSION: Final = 1
#: Versions :func:`decode` accepts.
SUPPORTED_VERSIONS: Final = frozenset({1})
#: Default limit of one message, in UTF-8 bytes of its JSON text.
DEFAULT_MAX_BYTES: Final = 1024 * 1024

ResultStatus: TypeAlias = Literal["success", "error", "timeout", "cancelled"]
#: The values of ``Result.status``.
RESULT_STATUSES: Final[frozenset[str]] = frozenset(get_args(ResultStatus))

ErrorCode: TypeAlias = Literal[
    "malformed_json",
    "unknown_type",
    "invalid_message",
    "oversized",
    "unsupported_version",
    "unexpected_message",
    "unknown_function",
    "invalid_arguments",
    "duplicate_invocation",
    "overloaded",
    "unauthorized",
    "internal",
]
#: The values of ``Error.code`` (and ``ProtocolError.code``).
ERROR_CODES: Final[frozenset[str]] = frozenset(get_args(ErrorCode))


class ProtocolError(ValueError):
    """A message could not be decoded or encoded; ``str(error)`` says why.

    Attributes:
        code: one of :data:`ERROR_CODES` (what to put in the ``error`` reply).
        message_type: the ``type`` of the offending message, when it could be read.
        invocation_id: its ``invocation_id``, when it could be read (so an ``invoke``
            that fails validation can still be answered with a failed ``result``).
    """

    def __init__(
        self,
        reason: str,
        code: ErrorCode = "invalid_message",
        *,
        message_type: str | None = None,
        invocation_id: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code: ErrorCode = code
        self.message_type = message_type
        self.invocation_id = invocation_id


# --- field readers: each raises ProtocolError naming the message type and the field -------


class _Reader:
    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def fail(self, name: str, problem: str) -> ProtocolError:
        return ProtocolError(f"{self.where}: field {name!r} {problem}", "invalid_message")

    def get(self, name: str, required: bool) -> Any:
        if name not in self.data or (required and self.data[name] is None):
            if required:
                raise self.fail(name, "is required")
            return None
        return self.data[name]

    def string(self, name: str, *, required: bool = True, nonempty: bool = True) -> Any:
        value = self.get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(name, f"must be a string, got {_json_type(value)}")
        if nonempty and not value:
            raise self.fail(name, "must not be empty")
        return value

    def number(self, name: str, *, required: bool = True, positive: bool = False) -> Any:
        value = self.get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(name, f"must be a number, got {_json_type(value)}")
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise self.fail(name, f"must be a {'positive' if positive else 'non-negative'} number")
        return value

    def integer(self, name: str, *, required: bool = True) -> Any:
        value = self.get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(name, f"must be a non-negative integer, got {_json_type(value)}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, got {_json_type(value)}")
        return value

    def obj(self, name: str, *, required: bool = True) -> Any:
        value = self.get(name, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(name, f"must be a JSON object, got {_json_type(value)}")
        return value

    def array(self, name: str, *, required: bool = True) -> Any:
        value = self.get(name, required)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.fail(name, f"must be a JSON array, got {_json_type(value)}")
        return value

    def one_of(self, name: str, allowed: frozenset[str]) -> Any:
        value = self.string(name)
        if value not in allowed:
            raise self.fail(name, f"must be one of {sorted(allowed)}, got {value!r}")
        return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


# --- nested structures ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One registered function, as announced in ``register``."""

    name: str
    """The name invocations use (``@endpoint(name=...)`` or the function's name)."""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    """JSON Schema (draft 2020-12) of the arguments object."""
    returns: dict[str, Any] = field(default_factory=dict)
    """JSON Schema of the output (``{}`` when unknown)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Free-form, JSON-safe: whatever was given to ``@endpoint(**metadata)``."""
    description: str | None = None
    """The function's docstring, if any."""
    streaming: bool = False
    """True for generators: the output is the concatenation (str chunks) or list of chunks."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form."""
        return _drop_none(
            {
                "name": self.name,
                "parameters": self.parameters,
                "returns": self.returns,
                "metadata": self.metadata,
                "description": self.description,
                "streaming": self.streaming,
            }
        )

    @classmethod
    def from_dict(cls, data: Any, where: str = "register.functions[]") -> FunctionSpec:
        """Validate and build from the JSON object form."""
        if not isinstance(data, dict):
            raise ProtocolError(f"{where} must be a JSON object, got {_json_type(data)}")
        r = _Reader(data, where)
        return cls(
            name=r.string("name"),
            parameters=r.obj("parameters", required=False) or {"type": "object"},
            returns=r.obj("returns", required=False) or {},
            metadata=r.obj("metadata", required=False) or {},
            description=r.string("description", required=False, nonempty=False),
            streaming=r.boolean("streaming", False),
        )


@dataclass(frozen=True, slots=True)
class TestContextInfo:
    """The test an invocation belongs to; the client runs it inside ``test_context(...)``."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    run_id: str | None = None
    case_id: str | None = None
    result_id: str | None = None
    """Allocated by the receiver before invoking, so spans arrive already linked."""
    configuration_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form (unset fields left out)."""
        return _drop_none(
            {
                "run_id": self.run_id,
                "case_id": self.case_id,
                "result_id": self.result_id,
                "configuration_id": self.configuration_id,
            }
        )

    @classmethod
    def from_dict(cls, data: Any, where: str = "invoke.test_context") -> TestContextInfo:
        """Validate and build from the JSON object form."""
        if not isinstance(data, dict):
            raise ProtocolError(f"{where} must be a JSON object, got {_json_type(data)}")
        r = _Reader(data, where)
        return cls(
            run_id=r.string("run_id", required=False),
            case_id=r.string("case_id", required=False),
            result_id=r.string("result_id", required=False),
            configuration_id=r.string("configuration_id", required=False),
        )


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why an invocation failed: the exception type name and its message."""

    type: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form."""
        return {"type": self.type, "message": self.message}

    @classmethod
    def from_dict(cls, data: Any, where: str = "result.error") -> ErrorInfo:
        """Validate and build from the JSON object form."""
        if not isinstance(data, dict):
            raise ProtocolError(f"{where} must be a JSON object, got {_json_type(data)}")
        r = _Reader(data, where)
        return cls(type=r.string("type"), message=r.string("message", nonempty=False))


# --- messages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Register:
    """client -> server, first message on a connection: what this process offers."""

    type: ClassVar[Literal["register"]] = "register"

    functions: tuple[FunctionSpec, ...]
    sdk_version: str
    environment: str | None = None
    """e.g. ``production``, ``staging``; the receiver keeps one registry per environment."""
    sdk: str = "spanlink-endpoint"
    instance_id: str | None = None
    """Stable for the life of the client process, also across reconnects."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """About the process: host name, pid, language version..."""
    v: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form."""
        return _drop_none(
            {
                "type": self.type,
                "v": self.v,
                "functions": [spec.to_dict() for spec in self.functions],
                "sdk": self.sdk,
                "sdk_version": self.sdk_version,
                "environment": self.environment,
                "instance_id": self.instance_id,
                "metadata": self.metadata,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Register:
        """Validate and build from the JSON object form."""
        r = _Reader(data, "register")
        items = r.array("functions")
        functions = tuple(
            FunctionSpec.from_dict(item, f"register.functions[{index}]")
            for index, item in enumerate(items)
        )
        names = [spec.name for spec in functions]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise r.fail("functions", f"has duplicate names: {duplicates}")
        return cls(
            functions=functions,
            sdk_version=r.string("sdk_version"),
            environment=r.string("environment", required=False),
            sdk=r.string("sdk", required=False) or "spanlink-endpoint",
            instance_id=r.string("instance_id", required=False),
            metadata=r.obj("metadata", required=False) or {},
            v=data.get("v", PROTOCOL_VERSION),
        )


@dataclass(frozen=True, slots=True)
class Registered:
    """server -> client: the registration is accepted."""

    type: ClassVar[Literal["registered"]] = "registered"

    functions: tuple[str, ...] = ()
    """The function names now invocable."""
    connection_id: str | None = None
    heartbeat_interval_s: float | None = None
    """How often the server expects traffic (a ``ping`` at least); None: client's choice."""
    max_message_bytes: int | None = None
    """The largest message the server accepts; None: :data:`DEFAULT_MAX_BYTES`."""
    v: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form."""
        return _drop_none(
            {
                "type": self.type,
                "v": self.v,
                "functions": list(self.functions),
                "connection_id": self.connection_id,
                "heartbeat_interval_s": self.heartbeat_interval_s,
                "max_message_bytes": self.max_message_bytes,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Registered:
        """Validate and build from the JSON object form."""
        r = _Reader(data, "registered")
        names = r.array("functions", required=False) or []
        if not all(isinstance(name, str) for name in names):
            raise r.fail("functions", "must be an array of strings")
        return cls(
            functions=tuple(names),
            connection_id=r.string("connection_id", required=False),
            heartbeat_interval_s=r.number("heartbeat_interval_s", required=False, positive=True),
            max_message_bytes=r.integer("max_message_bytes", required=False),
            v=data.get("v", PROTOCOL_VERSION),
        )


@dataclass(frozen=True, slots=True)
class Invoke:
    """server -> client: call ``function`` with ``arguments`` inside ``test_context``."""

    type: ClassVar[Literal["invoke"]] = "invoke"

    invocation_id: str
    function: str
    arguments: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments by parameter name (a JSON object)."""
    test_context: TestContextInfo = field(default_factory=TestContextInfo)
    timeout_s: float | None = None
    """Deadline for the call; None: the client's default."""
    v: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form."""
        return _drop_none(
            {
                "type": self.type,
                "v": self.v,
                "invocation_id": self.invocation_id,
                "function": self.function,
                "arguments": self.arguments,
                "test_context": self.test_context.to_dict(),
                "timeout_s": self.timeout_s,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Invoke:
        """Validate and build from the JSON object form."""
        r = _Reader(data, "invoke")
        context = r.obj("test_context", required=False)
        return cls(
            invocation_id=r.string("invocation_id"),
            function=r.string("function"),
            arguments=r.obj("arguments", required=False) or {},
            test_context=TestContextInfo.from_dict(context) if context else TestContextInfo(),
            timeout_s=r.number("timeout_s", required=False, positive=True),
            v=data.get("v", PROTOCOL_VERSION),
        )


@dataclass(frozen=True, slots=True)
class Result:
    """client -> server: how an invocation ended. Exactly one per ``invoke``."""

    type: ClassVar[Literal["result"]] = "result"

    invocation_id: str
    status: ResultStatus
    output: Any = None
    """JSON value; generators give the concatenation of str chunks, else the list."""
    error: ErrorInfo | None = None
    """Set when status is not ``success``."""
    duration_ms: float = 0.0
    trace_id: str | None = None
    """32 lowercase hex digits: the trace of the invocation's root span."""
    span_count: int | None = None
    """Spans the invocation produced, when the client knows."""
    output_truncated: bool = False
    """True when ``output`` was cut to the size limit (it is then a string)."""
    chunk_count: int | None = None
    """Generators: how many chunks were produced (streamed or not); None otherwise."""
    v: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form (``output`` is always present, possibly null)."""
        data = _drop_none(
            {
                "type": self.type,
                "v": self.v,
                "invocation_id": self.invocation_id,
                "status": self.status,
                "error": self.error.to_dict() if self.error else None,
                "duration_ms": self.duration_ms,
                "trace_id": self.trace_id,
                "span_count": self.span_count,
            }
        )
        data["output"] = self.output
        if self.output_truncated:
            data["output_truncated"] = True
        if self.chunk_count is not None:
            data["chunk_count"] = self.chunk_count
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        """Validate and build from the JSON object form."""
        r = _Reader(data, "result")
        status = r.one_of("status", RESULT_STATUSES)
        error = r.obj("error", required=False)
        if status != "success" and error is None:
            raise r.fail("error", f"is required when status is {status!r}")
        trace_id = r.string("trace_id", required=False)
        if trace_id is not None and not _is_hex(trace_id, 32):
            raise r.fail("trace_id", "must be 32 lowercase hex digits")
        return cls(
            invocation_id=r.string("invocation_id"),
            status=cast(ResultStatus, status),
            output=data.get("output"),
            error=ErrorInfo.from_dict(error) if error is not None else None,
            duration_ms=r.number("duration_ms", required=False) or 0.0,
            trace_id=trace_id,
            span_count=r.integer("span_count", required=False),
            output_truncated=r.boolean("output_truncated", False),
            chunk_count=r.integer("chunk_count", required=False),
            v=data.get("v", PROTOCOL_VERSION),
        )


@dataclass(frozen=True, slots=True)
class Chunk:
    """client -> server: one chunk a generator produced, sent as it is produced.

    Optional and additive: a client may stream none, some (it stops at its own caps) or all
    chunks; the ``result`` that follows still carries the whole output. ``index`` counts the
    chunks of the invocation from 0, so a gap tells that chunks were not streamed.
    """

    type: ClassVar[Literal["chunk"]] = "chunk"

    invocation_id: str
    index: int
    data: Any = None
    """The chunk as a JSON value."""
    v: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form (``data`` is always present, possibly null)."""
        return {
            "type": self.type,
            "v": self.v,
            "invocation_id": self.invocation_id,
            "index": self.index,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chunk:
        """Validate and build from the JSON object form."""
        r = _Reader(data, "chunk")
        if "data" not in data:
            raise r.fail("data", "is required (null is allowed)")
        return cls(
            invocation_id=r.string("invocation_id"),
            index=r.integer("index"),
            data=data["data"],
            v=data.get("v", PROTOCOL_VERSION),
        )


@dataclass(frozen=True, slots=True)
class Cancel:
    """server -> client: stop an invocation (its ``result`` then has status ``cancelled``)."""

    type: ClassVar[Literal["cancel"]] = "cancel"

    invocation_id: str
    reason: str | None = None
    v: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form."""
        return _drop_none(
            {
                "type": self.type,
                "v": self.v,
                "invocation_id": self.invocation_id,
                "reason": self.reason,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cancel:
        """Validate and build from the JSON object form."""
        r = _Reader(data, "cancel")
        return cls(
            invocation_id=r.string("invocation_id"),
            reason=r.string("reason", required=False, nonempty=False),
            v=data.get("v", PROTOCOL_VERSION),
        )


@dataclass(frozen=True, slots=True)
class Ping:
    """either side: are you there? Answer with a ``pong`` carrying the same ``id``."""

    type: ClassVar[Literal["ping"]] = "ping"

    id: str | None = None
    v: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form."""
        return _drop_none({"type": self.type, "v": self.v, "id": self.id})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ping:
        """Validate and build from the JSON object form."""
        return cls(
            id=_Reader(data, "ping").string("id", required=False), v=data.get("v", PROTOCOL_VERSION)
        )


@dataclass(frozen=True, slots=True)
class Pong:
    """either side: the answer to a ``ping``."""

    type: ClassVar[Literal["pong"]] = "pong"

    id: str | None = None
    v: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form."""
        return _drop_none({"type": self.type, "v": self.v, "id": self.id})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pong:
        """Validate and build from the JSON object form."""
        return cls(
            id=_Reader(data, "pong").string("id", required=False), v=data.get("v", PROTOCOL_VERSION)
        )


@dataclass(frozen=True, slots=True)
class Error:
    """either side: a message could not be handled. The connection stays open."""

    type: ClassVar[Literal["error"]] = "error"

    code: ErrorCode
    message: str
    """Human-readable: what happened and, where possible, what to do."""
    invocation_id: str | None = None
    """The invocation concerned, when known."""
    message_type: str | None = None
    """The ``type`` of the message that caused it, when known."""
    v: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form."""
        return _drop_none(
            {
                "type": self.type,
                "v": self.v,
                "code": self.code,
                "message": self.message,
                "invocation_id": self.invocation_id,
                "message_type": self.message_type,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Error:
        """Validate and build from the JSON object form.

        An unknown ``code`` (from a newer peer) is kept as ``internal`` rather than rejected.
        """
        r = _Reader(data, "error")
        code = r.string("code")
        return cls(
            code=cast(ErrorCode, code if code in ERROR_CODES else "internal"),
            message=r.string("message", nonempty=False),
            invocation_id=r.string("invocation_id", required=False),
            message_type=r.string("message_type", required=False),
            v=data.get("v", PROTOCOL_VERSION),
        )

    @classmethod
    def from_exception(cls, error: ProtocolError) -> Error:
        """The reply to a message that failed to decode."""
        return cls(
            code=error.code,
            message=error.reason,
            invocation_id=error.invocation_id,
            message_type=error.message_type,
        )


Message: TypeAlias = Register | Registered | Invoke | Result | Chunk | Cancel | Ping | Pong | Error

_PARSERS: Final[dict[str, Callable[[Mapping[str, Any]], Message]]] = {
    "register": Register.from_dict,
    "registered": Registered.from_dict,
    "invoke": Invoke.from_dict,
    "result": Result.from_dict,
    "chunk": Chunk.from_dict,
    "cancel": Cancel.from_dict,
    "ping": Ping.from_dict,
    "pong": Pong.from_dict,
    "error": Error.from_dict,
}
#: Every message ``type`` of this protocol version.
MESSAGE_TYPES: Final[frozenset[str]] = frozenset(_PARSERS)


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(char in "0123456789abcdef" for char in text)


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
            f"message must be a JSON object, got {_json_type(data)}", "malformed_json"
        )
    kind = data.get("type")
    invocation_id = data.get("invocation_id")
    known_id = invocation_id if isinstance(invocation_id, str) and invocation_id else None
    if not isinstance(kind, str) or not kind:
        raise ProtocolError(
            "message has no 'type' (a string naming the message kind)", "unknown_type"
        )
    if kind not in _PARSERS:
        raise ProtocolError(
            f"unknown message type {kind!r}; known types: {sorted(_PARSERS)}",
            "unknown_type",
            message_type=kind,
            invocation_id=known_id,
        )
    version = data.get("v")
    if isinstance(version, bool) or not isinstance(version, int):
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
        return _PARSERS[kind](data)
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
