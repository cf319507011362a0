"""``ProtocolError``, the one exception of the protocol, and the error codes."""

from __future__ import annotations

from typing import Any, Final, Literal, TypeAlias, get_args

__all__ = ["ERROR_CODES", "ErrorCode", "ProtocolError", "shown"]

#: The most characters of a received value an error message repeats.
SHOWN_CHARS: Final = 120
#: The most items of a received list an error message repeats.
SHOWN_ITEMS: Final = 5

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


def shown(value: Any) -> str:
    """``repr(value)`` cut short, for error messages that name what was received.

    A peer's value can be as long as a whole message: repeated in full, the ``error`` reply
    would be as large as the offending message (and over the peer's own size limit). A list
    shows its first :data:`SHOWN_ITEMS` items and how many there are.
    """
    if isinstance(value, list) and len(value) > SHOWN_ITEMS:
        head = ", ".join(shown(item) for item in value[:SHOWN_ITEMS])
        return f"[{head}, ...] ({len(value)} in all)"
    if isinstance(value, list):
        return "[" + ", ".join(shown(item) for item in value) + "]"
    text = repr(value[: SHOWN_CHARS + 1] if isinstance(value, str) else value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."
