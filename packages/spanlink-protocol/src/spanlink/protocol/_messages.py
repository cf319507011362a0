"""The message classes of the endpoint protocol, one dataclass per message type.

The fields and their types are the wire spec (see ``_codec``); ``to_dict`` and
``from_dict`` are the codec's, the same for every class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, TypeAlias, TypeVar, get_args

from spanlink.protocol._codec import from_wire, known_keys, to_wire, wire
from spanlink.protocol._errors import ErrorCode, ProtocolError
from spanlink.protocol._version import PROTOCOL_VERSION

__all__ = [
    "MAX_FUNCTIONS",
    "MESSAGE_CLASSES",
    "RESULT_STATUSES",
    "TEST_CONTEXT_FIELDS",
    "Cancel",
    "Chunk",
    "Error",
    "ErrorInfo",
    "FunctionSpec",
    "Invoke",
    "Message",
    "Ping",
    "Pong",
    "Register",
    "Registered",
    "Result",
    "ResultStatus",
]

ResultStatus: TypeAlias = Literal["success", "error", "timeout", "cancelled"]
#: The values of ``Result.status``.
RESULT_STATUSES: Final[frozenset[str]] = frozenset(get_args(ResultStatus))

#: The keys of ``Invoke.test_context``: the fields of ``spanlink.tracer.TestContext``, which
#: the endpoint client builds from them (``test_context(**invoke.test_context)``).
TEST_CONTEXT_FIELDS: Final[tuple[str, ...]] = ("run_id", "case_id", "result_id", "configuration_id")

#: The most functions one ``register`` (and so one ``registered``) may list. A process with
#: more endpoint functions registers them over several connections.
MAX_FUNCTIONS: Final = 1000

_W = TypeVar("_W", bound="_Part")


class _Part:
    """A message or a part of one: the JSON object form comes from the one codec."""

    __slots__ = ()
    _where: ClassVar[str | None] = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form (fields that are None left out, unless always written)."""
        return to_wire(self)

    @classmethod
    def from_dict(cls: type[_W], data: Any, where: str | None = None) -> _W:
        """Validate and build from the JSON object form; raises :class:`ProtocolError`."""
        return from_wire(cls, data, where or cls._where)


# --- nested structures ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionSpec(_Part):
    """One registered function, as announced in ``register``."""

    _where: ClassVar[str | None] = "register.functions[]"

    name: str
    """The name invocations use (``@endpoint(name=...)`` or the function's name)."""
    parameters: dict[str, Any] = field(
        default_factory=lambda: {"type": "object"}, metadata=wire(empty_is_default=True)
    )
    """JSON Schema (draft 2020-12) of the arguments object."""
    returns: dict[str, Any] = field(default_factory=dict)
    """JSON Schema of the output (``{}`` when unknown)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Free-form, JSON-safe: whatever was given to ``@endpoint(**metadata)``."""
    description: str | None = field(default=None, metadata=wire(nonempty=False))
    """The function's docstring, if any."""
    streaming: bool = False
    """True for generators: the output is the concatenation (str chunks) or list of chunks."""


@dataclass(frozen=True, slots=True)
class ErrorInfo(_Part):
    """Why an invocation failed: the exception type name and its message."""

    _where: ClassVar[str | None] = "result.error"

    type: str
    message: str = field(metadata=wire(nonempty=False))


# --- messages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Register(_Part):
    """client -> server, first message on a connection: what this process offers."""

    type: ClassVar[Literal["register"]] = "register"
    _wire_order: ClassVar[tuple[str, ...]] = (
        "functions",
        "sdk",
        "sdk_version",
        "environment",
        "instance_id",
        "metadata",
    )

    functions: tuple[FunctionSpec, ...] = field(
        metadata=wire(unique="name", max_items=MAX_FUNCTIONS)
    )
    """At most :data:`MAX_FUNCTIONS`, names unique."""
    sdk_version: str
    environment: str | None = None
    """e.g. ``production``, ``staging``; the receiver keeps one registry per environment."""
    sdk: str = "spanlink-endpoint"
    instance_id: str | None = None
    """Stable for the life of the client process, also across reconnects."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """About the process: host name, pid, language version..."""
    v: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Registered(_Part):
    """server -> client: the registration is accepted."""

    type: ClassVar[Literal["registered"]] = "registered"

    functions: tuple[str, ...] = field(default=(), metadata=wire(max_items=MAX_FUNCTIONS))
    """The function names now invocable."""
    connection_id: str | None = None
    heartbeat_interval_s: float | None = field(default=None, metadata=wire(positive=True))
    """How often the server expects traffic (a ``ping`` at least); None: client's choice."""
    max_message_bytes: int | None = None
    """The largest message the server accepts; None: :data:`DEFAULT_MAX_BYTES`."""
    v: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Invoke(_Part):
    """server -> client: call ``function`` with ``arguments`` inside ``test_context``."""

    type: ClassVar[Literal["invoke"]] = "invoke"

    invocation_id: str
    function: str
    arguments: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments by parameter name (a JSON object)."""
    test_context: Mapping[str, str | None] = field(
        default_factory=dict, metadata=wire(keys=TEST_CONTEXT_FIELDS)
    )
    """The test the call belongs to, by :data:`TEST_CONTEXT_FIELDS` (None values left out).

    ``result_id`` is allocated by the receiver before invoking, so spans arrive linked.
    """
    timeout_s: float | None = field(default=None, metadata=wire(positive=True))
    """Deadline for the call; None: the client's default."""
    v: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        known = known_keys(self.test_context, TEST_CONTEXT_FIELDS, "Invoke.test_context")
        object.__setattr__(self, "test_context", known)


@dataclass(frozen=True, slots=True)
class Result(_Part):
    """client -> server: how an invocation ended. Exactly one per ``invoke``."""

    type: ClassVar[Literal["result"]] = "result"
    _wire_order: ClassVar[tuple[str, ...]] = (
        "invocation_id",
        "status",
        "error",
        "duration_ms",
        "trace_id",
        "span_count",
        "output",
        "output_truncated",
        "chunk_count",
    )

    invocation_id: str
    status: ResultStatus
    output: Any = field(default=None, metadata=wire(always=True))
    """JSON value; generators give the concatenation of str chunks, else the list."""
    error: ErrorInfo | None = field(
        default=None, metadata=wire(required_unless=("status", "success"))
    )
    """Set when status is not ``success``."""
    duration_ms: float = field(default=0.0, metadata=wire(empty_is_default=True))
    trace_id: str | None = field(default=None, metadata=wire(hex_digits=32))
    """32 lowercase hex digits: the trace of the invocation's root span."""
    span_count: int | None = None
    """Spans the invocation produced, when the client knows."""
    output_truncated: bool = field(default=False, metadata=wire(omit_default=True))
    """True when ``output`` was cut to the size limit (it is then a string)."""
    chunk_count: int | None = None
    """Generators: how many chunks were produced (streamed or not); None otherwise."""
    v: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Chunk(_Part):
    """client -> server: one chunk a generator produced, sent as it is produced.

    Optional and additive: a client may stream none, some (it stops at its own caps) or all
    chunks; the ``result`` that follows still carries the whole output. ``index`` counts the
    chunks of the invocation from 0, so a gap tells that chunks were not streamed.
    """

    type: ClassVar[Literal["chunk"]] = "chunk"

    invocation_id: str
    index: int
    data: Any = field(default=None, metadata=wire(always=True, present=True))
    """The chunk as a JSON value."""
    v: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Cancel(_Part):
    """server -> client: stop an invocation (its ``result`` then has status ``cancelled``)."""

    type: ClassVar[Literal["cancel"]] = "cancel"

    invocation_id: str
    reason: str | None = field(default=None, metadata=wire(nonempty=False))
    v: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Ping(_Part):
    """either side: are you there? Answer with a ``pong`` carrying the same ``id``."""

    type: ClassVar[Literal["ping"]] = "ping"

    id: str | None = None
    v: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Pong(_Part):
    """either side: the answer to a ``ping``."""

    type: ClassVar[Literal["pong"]] = "pong"

    id: str | None = None
    v: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Error(_Part):
    """either side: a message could not be handled. The connection stays open.

    An unknown ``code`` (from a newer peer) decodes as ``internal`` rather than failing.
    """

    type: ClassVar[Literal["error"]] = "error"

    code: ErrorCode = field(metadata=wire(unknown="internal"))
    message: str = field(metadata=wire(nonempty=False))
    """Human-readable: what happened and, where possible, what to do."""
    invocation_id: str | None = None
    """The invocation concerned, when known."""
    message_type: str | None = None
    """The ``type`` of the message that caused it, when known."""
    v: int = PROTOCOL_VERSION

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

#: The class of each message ``type``.
MESSAGE_CLASSES: Final[Mapping[str, type[Message]]] = {
    cls.type: cls
    for cls in (Register, Registered, Invoke, Result, Chunk, Cancel, Ping, Pong, Error)
}
