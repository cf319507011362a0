"""``SpanlinkProcessor``: the drop-in ``SpanProcessor`` for any OpenTelemetry setup.

Add it to an existing ``TracerProvider`` beside the processors already there::

    provider.add_span_processor(SpanlinkProcessor(exporter))

``on_start`` stamps the test/session context on every span (also spans of other
instrumentations); ``on_end`` runs the client-side plugin hooks (filter, redact and, with
``enrich=True``, the enrichment hooks) and hands the span to the wrapped processor
(``BatchSpanProcessor`` around ``exporter`` by default). Nothing global is replaced.

What the other processors see: the context attributes stamped at ``on_start``
(``spanlink.test.*``, ``session.id``, ``user.id``, ``gen_ai.conversation.id`` and the
``span_attributes`` given here) are set on the live span, so they reach *every* processor
and exporter of the provider, as any attribute set during the span would. The ``on_end``
hooks (filter, redaction, enrichment) change only what this processor forwards: the other
processors get the span as it ended, unfiltered and unredacted.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

import pluggy
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from spanlink.tracer._context import span_attributes_from_context
from spanlink.tracer.model import SpanRecord
from spanlink.tracer.plugins import call_each, load_plugins
from spanlink.tracer.semconv import normalize
from spanlink.tracer.support import run_with_deadline, span_with_attributes

__all__ = ["SpanlinkProcessor", "export_processor", "run_with_deadline"]

logger = logging.getLogger("spanlink.tracer")

_SCALARS = (str, bool, int, float)


def export_processor(exporter: SpanExporter) -> SpanProcessor:
    """The processor that batches spans for ``exporter``.

    An exporter may offer its own through ``exporter.span_processor()`` (spanlink-exporter's
    knows its spool: it spills there instead of dropping, and shuts down within a deadline);
    any other exporter gets the SDK's ``BatchSpanProcessor``. Duck-typed: the tracer never
    imports an exporter.
    """
    factory = getattr(exporter, "span_processor", None)
    if callable(factory):
        processor = factory()
        if isinstance(processor, SpanProcessor):
            return processor
    return BatchSpanProcessor(exporter)


def _takes_timeout(shutdown: Callable[..., Any]) -> bool:
    try:
        return "timeout_millis" in inspect.signature(shutdown).parameters
    except (TypeError, ValueError):
        return False


class SpanlinkProcessor(SpanProcessor):
    """Stamps test/session context, runs client-side plugin hooks, forwards to a processor.

    The context attributes stamped at ``on_start`` reach every processor and exporter of the
    provider (they are set on the span itself); filtering, redaction and enrichment at
    ``on_end`` apply only to the spans this processor forwards.

    Args:
        exporter: where spans go; batched by ``export_processor(exporter)`` (the exporter's
            own ``span_processor()`` if it has one, else a ``BatchSpanProcessor``). Give
            this or ``processor``.
        processor: a processor to forward to instead (e.g. your own ``BatchSpanProcessor``).
        enrich: also run the enrichment hooks (``spanlink_enrich_span``) in-process and
            write each plugin's scalar results onto the span as ``spanlink.<plugin>.<key>``
            before export — for backends other than spanlink's receiver.
        plugin_manager: the plugins to run; default: load entry points of group
            ``spanlink`` (honouring ``SPANLINK_DISABLE_PLUGINS``).
        plugin_context: passed to the enrichment hooks as ``context`` (e.g. ``prices``).
        span_attributes: attributes stamped on every span that does not set them itself
            (e.g. ``deployment.environment.name`` when the provider's resource lacks it).
        shutdown_timeout_millis: the most ``shutdown()`` waits for the wrapped processor.
    """

    def __init__(
        self,
        exporter: SpanExporter | None = None,
        *,
        processor: SpanProcessor | None = None,
        enrich: bool = False,
        plugin_manager: pluggy.PluginManager | None = None,
        plugin_context: Mapping[str, Any] | None = None,
        span_attributes: Mapping[str, Any] | None = None,
        shutdown_timeout_millis: int = 10_000,
    ) -> None:
        if (exporter is None) == (processor is None):
            raise TypeError(
                "SpanlinkProcessor needs exactly one of exporter= (wrapped in a "
                "BatchSpanProcessor) or processor= (used as given)"
            )
        self._delegate: SpanProcessor = (
            processor if processor is not None else export_processor(exporter)  # type: ignore[arg-type]
        )
        self._enrich = enrich
        self._span_attributes = dict(span_attributes or {})
        self._plugin_context = dict(plugin_context or {})
        self._shutdown_timeout_s = shutdown_timeout_millis / 1000
        self._is_shutdown = False
        self._failed_plugins: set[str] = set()
        if plugin_manager is None:
            plugin_manager, _ = load_plugins()
        self._plugins = plugin_manager
        hook = plugin_manager.hook
        self._has_filter = bool(hook.spanlink_span_filter.get_hookimpls())
        self._has_redact = bool(hook.spanlink_redact.get_hookimpls())
        self._has_enrich = enrich and bool(hook.spanlink_enrich_span.get_hookimpls())

    @property
    def delegate(self) -> SpanProcessor:
        """The processor spans are forwarded to."""
        return self._delegate

    def replace_delegate(self, processor: SpanProcessor) -> SpanProcessor:
        """Forward to ``processor`` from now on; returns the previous one (not shut down)."""
        previous, self._delegate = self._delegate, processor
        return previous

    # --- SpanProcessor ---------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = span_attributes_from_context(parent_context)
        if self._span_attributes:
            existing = span.attributes or {}
            for key, value in self._span_attributes.items():
                if key not in existing:
                    attributes.setdefault(key, value)
        if attributes:
            span.set_attributes(attributes)
        self._delegate.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self._is_shutdown:
            return
        if self._has_filter or self._has_redact or self._has_enrich:
            try:
                processed = self._run_hooks(span)
            except Exception:  # never into the user's code
                logger.exception("spanlink: plugin hooks failed; exporting the span unchanged")
                processed = span
            if processed is None:
                return
            span = processed
        self._delegate.on_end(span)

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Stop, waiting at most ``timeout_millis`` (default ``shutdown_timeout_millis``).

        The budget is handed to the wrapped processor when its ``shutdown`` takes one.
        """
        if self._is_shutdown:
            return
        self._is_shutdown = True
        budget_s = self._shutdown_timeout_s if timeout_millis is None else timeout_millis / 1000
        delegate_shutdown: Callable[..., Any] = self._delegate.shutdown
        if _takes_timeout(delegate_shutdown):
            # A little less than ours, so it can finish before we stop waiting for it.
            inner_ms = max(0.0, budget_s * 1000 - 50)
            run_with_deadline(
                lambda: delegate_shutdown(timeout_millis=inner_ms), budget_s, "shutdown"
            )
        else:
            run_with_deadline(delegate_shutdown, budget_s, "shutdown")

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        finished, result = run_with_deadline(
            lambda: self._delegate.force_flush(timeout_millis),
            timeout_millis / 1000,
            "force_flush",
        )
        return bool(finished and result is not False)

    # --- plugin hooks ----------------------------------------------------------------

    def _report(self, errors: Mapping[str, Exception], hook: str) -> None:
        for name, error in errors.items():
            if name not in self._failed_plugins:
                self._failed_plugins.add(name)
                logger.error("spanlink: %s (hook %s); it is skipped for this span", error, hook)

    def _run_hooks(self, span: ReadableSpan) -> ReadableSpan | None:
        record = SpanRecord.from_readable_span(span)
        if self._has_filter:
            verdicts, errors = call_each(self._plugins, "spanlink_span_filter", span=record)
            self._report(errors, "spanlink_span_filter")
            if any(verdict is False for verdict in verdicts.values()):
                return None
        attributes = dict(record.attributes)
        changed = False
        if self._has_redact:

            def merge(_plugin: str, replacement: Any) -> None:
                # In place, so the next plugin sees this one's output.
                nonlocal changed
                if isinstance(replacement, Mapping) and replacement:
                    for key, value in replacement.items():
                        if value is None:
                            attributes.pop(key, None)
                        else:
                            attributes[key] = value
                    changed = True

            _, errors = call_each(self._plugins, "spanlink_redact", merge, attributes=attributes)
            self._report(errors, "spanlink_redact")
        if self._has_enrich:
            # Plugins read one convention only: the GenAI names (see the hookspec).
            record.attributes = normalize(attributes)
            results, errors = call_each(
                self._plugins, "spanlink_enrich_span", span=record, context=self._plugin_context
            )
            self._report(errors, "spanlink_enrich_span")
            for plugin, result in results.items():
                if isinstance(result, Mapping):
                    for key, value in result.items():
                        if isinstance(value, _SCALARS):
                            attributes[f"spanlink.{plugin}.{key}"] = value
                            changed = True
        if not changed:
            return span
        return span_with_attributes(span, attributes)
