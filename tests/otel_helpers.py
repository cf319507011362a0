"""The process-wide OpenTelemetry SDK provider the tracer and endpoint tests share.

OpenTelemetry lets a process set the global tracer provider only once, so a test session
shares one SDK ``TracerProvider``: the global one when it is already an SDK provider, else
one set here.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def global_sdk_provider() -> TracerProvider:
    """The global SDK ``TracerProvider``, set now (``service.name`` spanlink-tests) if none is."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    trace.set_tracer_provider(
        TracerProvider(resource=Resource.create({"service.name": "spanlink-tests"}))
    )
    provider = trace.get_tracer_provider()  # ours, or whoever won the race
    assert isinstance(provider, TracerProvider), (
        "the global tracer provider is not an SDK TracerProvider"
    )
    return provider
