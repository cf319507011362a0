"""``configure()``: the one call for an application that has no OpenTelemetry set up yet.

Explicit arguments win over ``SPANLINK_*`` variables, which win over the standard
``OTEL_*`` ones. If an SDK ``TracerProvider`` is already the global one, the processor is
added to it instead of replacing it. Calling ``configure`` again swaps the exporter of the
processor installed the first time, so spans are never exported twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from spanlink.tracer import _env
from spanlink.tracer._context import attach_environment_context
from spanlink.tracer._processor import SpanlinkProcessor, export_processor, run_with_deadline
from spanlink.tracer.semconv import attributes as a

__all__ = ["EXPORTER_ENTRY_POINT_GROUP", "ConfigurationError", "configure", "flush", "shutdown"]

#: The entry point group of exporter factories: ``name = "module:factory"``, called with
#: keyword arguments ``endpoint``, ``api_key`` and ``headers`` (each may be None).
EXPORTER_ENTRY_POINT_GROUP: Final = "spanlink_exporter"

logger = logging.getLogger("spanlink.tracer")

_lock = threading.Lock()
_installed: SpanlinkProcessor | None = None


class ConfigurationError(ValueError):
    """``configure()`` was given settings it cannot work with; the message says which."""


def _default_exporter(
    endpoint: str | None, api_key: str | None, headers: Mapping[str, str]
) -> SpanExporter:
    """The exporter of the installed distribution that declares one (entry point group
    ``spanlink_exporter``), as the OpenTelemetry SDK finds ``opentelemetry_traces_exporter``."""
    found = {entry.name: entry for entry in metadata.entry_points(group=EXPORTER_ENTRY_POINT_GROUP)}
    chosen = _env.env_value(_env.SPANLINK_EXPORTER)
    if chosen is not None:
        if chosen not in found:
            raise ConfigurationError(
                f"{_env.SPANLINK_EXPORTER}={chosen!r} names no installed exporter (installed: "
                f"{sorted(found) or 'none'}); set it to one of those, or install the "
                "distribution that provides it"
            )
        entry = found[chosen]
    elif not found:
        raise ConfigurationError(
            "no exporter: install spanlink-exporter (pip install spanlink-exporter) "
            "or pass exporter= to configure()"
        )
    elif len(found) > 1:
        raise ConfigurationError(
            f"several exporters are installed ({sorted(found)}): choose one with "
            f"{_env.SPANLINK_EXPORTER}=<name>, or pass exporter= to configure()"
        )
    else:
        [entry] = found.values()
    factory: Callable[..., SpanExporter] = entry.load()
    return factory(endpoint=endpoint, api_key=api_key, headers=dict(headers) or None)


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
        exporter: a ``SpanExporter`` to use instead of the installed one (the entry point
            of group ``spanlink_exporter``; ``SPANLINK_EXPORTER`` names it when several
            distributions declare one; ``spanlink-exporter``'s is ``spanlink``).
        processor: a processor to forward to instead of ``export_processor(exporter)``.
        headers: extra request headers (default ``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``).
        enrich: run enrichment plugins in-process (see ``SpanlinkProcessor``).
        resource_attributes: more resource attributes for a provider created here.

    A ``TRACEPARENT``/``BAGGAGE`` inherited from a parent process (see
    ``spanlink.tracer.context_environment``) becomes the current context, so this
    process's spans join the parent's trace and test.

    Returns the installed ``SpanlinkProcessor``. Raises ``ConfigurationError`` when no
    exporter is available.
    """
    global _installed
    # The endpoint and key are resolved by the exporter itself (arguments, then the OTLP
    # variables, then SPANLINK_ENDPOINT / SPANLINK_API_KEY), so there is one order only.
    project = _env.env_setting(project, _env.SPANLINK_PROJECT)
    environment = _env.env_setting(environment, _env.SPANLINK_ENVIRONMENT)
    service_name = _env.env_setting(service_name, _env.OTEL_SERVICE_NAME)
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
