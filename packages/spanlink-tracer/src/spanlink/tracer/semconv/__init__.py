"""spanlink's attribute conventions: GenAI names, the ``spanlink.*`` namespace, ``normalize``."""

from spanlink.tracer.semconv.attributes import *  # noqa: F403
from spanlink.tracer.semconv.attributes import __dict__ as _attributes
from spanlink.tracer.semconv.normalize import TOTAL_TOKENS, AttributeMapping, normalize

__all__ = sorted(
    [name for name in _attributes if name.isupper() and not name.startswith("_")]
    + ["TOTAL_TOKENS", "AttributeMapping", "normalize"]
)
