"""``ProtocolError``, the one exception of the protocol, and the error codes."""

from __future__ import annotations

from typing import Final, Literal, TypeAlias, get_args

__all__ = ["ERROR_CODES", "ErrorCode", "ProtocolError"]

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
