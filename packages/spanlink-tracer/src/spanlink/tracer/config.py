"""``configure()``: the one call for an application that has no OpenTelemetry set up yet.

Explicit arguments win over ``SPANLINK_*`` variables, which win over the standard
``OTEL_*`` ones. If an SDK ``TracerProvider`` is already the global one, the processor is
added to it instead of replacing it. Calling ``configure`` again swaps the exporter of the
processor installed the first time, so spans are never exported twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from spanlink.tracer.context import attach_environment_context
from spanlink.tracer.processor import SpanlinkProcessor, export_processor, run_with_deadline
from spanlink.tracer.semconv import attributes as a

__all__ = ["ConfigurationError", "configure", "flush", "shutdown"]

logger = logging.getLogger("spanlink.tracer")

_lock = threading.Lock()
_installed: SpanlinkProcessor | None = None


class ConfigurationError(ValueError):
    """``configure()`` was given settings it cannot work with; the message says which."""


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _default_exporter(
    endpoint: str | None, api_key: str | None, headers: Mapping[str, str]
) -> SpanExporter:
    try:
        from spanlink.exporter import SpanlinkExporter  # optional distribution
    except ModuleNotFoundError as error:
        if error.name not in {"spanlink.exporter", "spanlink"}:
            raise  # installed but broken: show the real cause
        raise ConfigurationError(
            "no exporter: install spanlink-exporter (pip install spanlink-exporter) "
            "or pass exporter= to configure()"
        ) from None
    exporter: SpanExporter = SpanlinkExporter(
        endpoint=endpoint, api_key=api_key, headers=dict(headers) or None
    )
    return exporter


def configure(
    *,
    endpoint: str | None = None,
    api_key: str | None = None,
    project: str | None = None,
    environment: str | None = None,
    service_name: str | None = None,
    exporter: SpanExporter | None = None,
    processor: SpanProcessor | None = None,
    headers: Mapping[str, str] | None = None,
    enrich: bool = False,
    resource_attributes: Mapping[str, Any] | None = None,
) -> SpanlinkProcessor:
    """Send this application's spans to spanlink (or any OTLP/HTTP backend).

    Args:
        endpoint: receiver base URL; when not given, the exporter reads
            ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_ENDPOINT``, then
            ``SPANLINK_ENDPOINT``.
        api_key: sent as ``Authorization: Bearer`` (default ``SPANLINK_API_KEY``).
        project: project name recorded on the resource (``SPANLINK_PROJECT``).
        environment: ``deployment.environment.name`` (``SPANLINK_ENVIRONMENT``).
        service_name: ``service.name`` (``OTEL_SERVICE_NAME``).
        exporter: a ``SpanExporter`` to use instead of ``spanlink-exporter``'s.
        processor: a processor to forward to instead of ``export_processor(exporter)``.
        headers: extra request headers (default ``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``).
        enrich: run enrichment plugins in-process (see ``SpanlinkProcessor``).
        resource_attributes: more resource attributes for a provider created here.

    A ``TRACEPARENT``/``BAGGAGE`` inherited from a parent process (see
    ``spanlink.tracer.context.context_environment``) becomes the current context, so this
    process's spans join the parent's trace and test.

    Returns the installed ``SpanlinkProcessor``. Raises ``ConfigurationError`` when no
    exporter is available.
    """
    global _installed
    # The endpoint and key are resolved by the exporter itself (arguments, then the OTLP
    # variables, then SPANLINK_ENDPOINT / SPANLINK_API_KEY), so there is one order only.
    project = project or _env("SPANLINK_PROJECT")
    environment = environment or _env("SPANLINK_ENVIRONMENT")
    service_name = service_name or _env("OTEL_SERVICE_NAME")
    if processor is None:
        if exporter is None:
            exporter = _default_exporter(endpoint, api_key, headers or {})
        processor = export_processor(exporter)

    with _lock:
        if _installed is not None:
            previous = _installed.replace_delegate(processor)
            run_with_deadline(previous.shutdown, 5.0, "shutdown of the previous exporter")
            return _installed

        provider = trace.get_tracer_provider()
        if isinstance(provider, TracerProvider):
            # Their resource is theirs; carry our settings on the spans instead.
            stamped: dict[str, Any] = {}
            if environment:
                stamped[a.DEPLOYMENT_ENVIRONMENT_NAME] = environment
            if project:
                stamped[a.SPANLINK_PROJECT] = project
            spanlink_processor = SpanlinkProcessor(
                processor=processor, enrich=enrich, span_attributes=stamped
            )
            provider.add_span_processor(spanlink_processor)
        else:
            resource_values: dict[str, Any] = dict(resource_attributes or {})
            if service_name:
                resource_values[a.SERVICE_NAME] = service_name
            if environment:
                resource_values[a.DEPLOYMENT_ENVIRONMENT_NAME] = environment
            if project:
                resource_values[a.SPANLINK_PROJECT] = project
            spanlink_processor = SpanlinkProcessor(processor=processor, enrich=enrich)
            new_provider = TracerProvider(resource=Resource.create(resource_values))
            new_provider.add_span_processor(spanlink_processor)
            trace.set_tracer_provider(new_provider)
            if trace.get_tracer_provider() is not new_provider:
                # Someone set a non-SDK provider first; OpenTelemetry allows only one.
                logger.warning(
                    "spanlink: a non-SDK tracer provider is already global; "
                    "add SpanlinkProcessor to your provider instead"
                )
        _installed = spanlink_processor
    attach_environment_context()
    return spanlink_processor


def flush(timeout: float = 5.0) -> bool:
    """Export what is buffered, waiting at most ``timeout`` seconds. True when done."""
    processor = _installed
    if processor is None:
        return True
    return processor.force_flush(int(timeout * 1000))


def shutdown(timeout: float = 5.0) -> None:
    """Export what is buffered and stop the processor installed by ``configure``.

    Returns within ``timeout`` seconds: shutting a batch processor down exports its queue
    (spanlink-exporter's spools what it cannot deliver in time, when it has a spool).
    """
    global _installed
    with _lock:
        processor, _installed = _installed, None
    if processor is not None:
        processor.shutdown(timeout_millis=timeout * 1000)
