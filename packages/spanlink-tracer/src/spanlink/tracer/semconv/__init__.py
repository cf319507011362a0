"""spanlink's attribute conventions: GenAI names, the ``spanlink.*`` namespace, ``normalize``."""

from spanlink.tracer.semconv import attributes as _attributes
from spanlink.tracer.semconv.attributes import *  # noqa: F403
from spanlink.tracer.semconv.normalize import TOTAL_TOKENS as TOTAL_TOKENS
from spanlink.tracer.semconv.normalize import AttributeMapping as AttributeMapping
from spanlink.tracer.semconv.normalize import normalize as normalize

__all__ = [*_attributes.__all__, "TOTAL_TOKENS", "AttributeMapping", "normalize"]
