"""Hook specifications of project ``spanlink``: the plugin author's manual.

A plugin implements any subset of these functions with ``@spanlink.tracer.hookimpl`` (same
names, any subset of the parameters) and is declared as an entry point in group
``spanlink`` (see :mod:`spanlink.tracer.plugins`). Hosts add these specifications with
``manager.add_hookspecs(spanlink.tracer.hookspecs)``; a host with hooks of its own adds its
module next to this one (the receiver's is ``spanlink.receiver.hookspecs``).

Plugins see only :class:`~spanlink.tracer.model.SpanRecord`,
:class:`~spanlink.tracer.model.Trace` and the evaluation types of
:mod:`spanlink.tracer.model`: never database rows, SQL or SDK internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from spanlink.tracer.model import Evaluator, SpanRecord, Trace

__all__ = [
    "PROJECT_NAME",
    "hookspec",
    "spanlink_enrich_span",
    "spanlink_enrich_trace",
    "spanlink_evaluators",
    "spanlink_redact",
    "spanlink_span_filter",
]

#: The pluggy project name of every spanlink hook.
PROJECT_NAME = "spanlink"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# --- enrichment (the receiver, and in-process with SpanlinkProcessor(enrich=True)) ----------


@hookspec
def spanlink_enrich_span(span: SpanRecord, context: Mapping[str, Any]) -> dict[str, Any] | None:
    """Compute enrichment for one finished span.

    Called once per span, after ``normalize``: read GenAI attribute names only
    (``gen_ai.request.model``, ``gen_ai.usage.input_tokens``...). Must not mutate ``span``.
    Must be fast: it runs for every span.

    :param span: The finished span, its attributes normalized to the GenAI names.
    :param context: What the host knows beyond the span (an implementation may omit the
        parameter): ``"project"`` (receiver only), ``"prices"`` (per-project price
        overrides: model pattern to per-token prices), and ``"config"`` (plugin settings
        by plugin name). It may be empty; never require a key.
    :returns: A JSON-safe dict, or None when the plugin has nothing to say about this span.
        The result is stored under the plugin's name; in-process it is also written onto
        the span as attributes ``spanlink.<plugin>.<key>`` for scalar values.
    """


@hookspec
def spanlink_enrich_trace(
    trace: Trace,
    span_results: Mapping[str, Mapping[str, Any]],
    context: Mapping[str, Any],
) -> dict[str, Any] | None:
    """Compute enrichment for a whole trace (rollups, cross-span rules).

    Runs in the receiver when a trace has been quiet for the debounce interval, and again
    when later spans arrive.

    :param trace: The trace's spans, normalized, with its tree helpers.
    :param span_results: Span id to ``{plugin name: that plugin's span result}`` from
        :func:`spanlink_enrich_span`, so a rollup never recomputes per-span work.
    :param context: As for :func:`spanlink_enrich_span`, plus, in the receiver,
        ``"baselines"``: span name to ``{"p95_ms": float, "count": int}`` over the
        project's recent history (absent when the host has no history).
    :returns: A JSON-safe dict, or None.
    """


# --- evaluation --------------------------------------------------------------------------


@hookspec
def spanlink_evaluators() -> list[Evaluator] | None:
    """Return the evaluators this plugin provides (see :class:`spanlink.tracer.model.Evaluator`).

    Called once when the host loads plugins.

    :returns: Evaluators, each found by its ``name``; a name given by two plugins resolves
        to the one registered last, with a warning. None when the plugin has none.
    """


# --- client side (SpanlinkProcessor, before export) ---------------------------------------


@hookspec
def spanlink_span_filter(span: SpanRecord) -> bool | None:
    """Client side: decide whether a finished span is exported.

    :param span: The finished span, attributes as recorded.
    :returns: False to drop the span, None or True to keep it. A span is dropped when any
        plugin returns False.
    """


@hookspec
def spanlink_redact(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """Client side: replace span attributes before export (secrets, personal data).

    Plugins run in registration order, each seeing the previous one's output.

    :param attributes: The span's attributes as they are so far.
    :returns: Attributes to merge over the span's (a value of None removes the key), or
        None to leave them unchanged.
    """
