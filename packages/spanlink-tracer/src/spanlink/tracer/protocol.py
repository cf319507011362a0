"""Deprecated: the endpoint wire protocol is now ``spanlink.protocol``.

It lives in its own distribution, ``spanlink-protocol`` (no dependencies), which both
``spanlink-endpoint`` and the receiver install. This module re-exports it for one release.
"""

from __future__ import annotations

import warnings

warnings.warn(
    "spanlink.tracer.protocol is deprecated and will be removed in the next release: "
    "import spanlink.protocol instead (distribution spanlink-protocol)",
    DeprecationWarning,
    stacklevel=2,
)

try:
    from spanlink.protocol import *  # noqa: F403
    from spanlink.protocol import __all__  # noqa: F401
except ImportError as error:
    raise ImportError(
        "spanlink.tracer.protocol moved to spanlink.protocol; install the spanlink-protocol "
        "distribution (pip install spanlink-protocol) and import spanlink.protocol"
    ) from error
