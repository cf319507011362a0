"""Moved to :mod:`spanlink.receiver.linking` (importable from here, with a warning, for one
release).

The hook implementation stays importable without a warning: environments installed before
the move still name this module as the ``linking`` entry point of group ``spanlink``.
"""

from __future__ import annotations

from spanlink.receiver._deprecated import moved
from spanlink.receiver.linking._strategies import spanlink_linking_strategy

__all__ = ["spanlink_linking_strategy"]

__getattr__ = moved(
    __name__,
    "spanlink.receiver.linking",
    (
        "DEFAULT_STRATEGY",
        "HybridStrategy",
        "ReceiverLinkingStrategy",
        "ResultLink",
        "TraceIdStrategy",
    ),
)
