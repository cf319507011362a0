"""The distribution's version and the protocol versions it speaks."""

from __future__ import annotations

from typing import Final

__all__ = ["PROTOCOL_VERSION", "SUPPORTED_VERSIONS", "__version__"]

__version__ = "0.1.0"

#: The version written in every message's ``v``.
PROTOCOL_VERSION: Final = 1
#: Versions :func:`spanlink.protocol.decode` accepts.
SUPPORTED_VERSIONS: Final = frozenset({1})
