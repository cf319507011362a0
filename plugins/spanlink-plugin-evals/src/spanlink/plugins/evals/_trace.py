"""Trace evaluators: they judge what the app did, from the linked ``Trace`` and its enrichment.

They read GenAI attribute names only (the host normalizes spans first). A tool call is a
span with ``gen_ai.operation.name == "execute_tool"`` named by ``gen_ai.tool.name``; an LLM
call a span whose operation is ``chat``, ``text_completion`` or ``generate_content`` (or,
without an operation, one that names a model). Each is one pass over the spans.

What is not known is never taken for zero: without a linked trace, without the cost
plugin's trace result, or with model calls that report no usage, a budget evaluator gives
no verdict and says why (unless the known part alone already breaks the budget).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spanlink.plugins.evals._base import BuiltinEvaluator, Params, Subject
from spanlink.plugins.evals._json import MISSING, as_json, as_text, json_equal
from spanlink.tracer.model import Score, SpanRecord, Trace
from spanlink.tracer.semconv import TOTAL_TOKENS
from spanlink.tracer.semconv import attributes as a
from spanlink.tracer.support import saturating_add

__all__ = [
    "LLM_OPERATIONS",
    "TRACE_EVALUATORS",
    "MaxCostUsd",
    "MaxLatencyMs",
    "MaxLlmCalls",
    "MaxTokens",
    "MaxToolCalls",
    "NoAnomaly",
    "NoErrorSpans",
    "SpanExists",
    "ToolCalled",
    "ToolNotCalled",
    "ToolOrder",
]

#: Operations that are calls to a language model (embeddings are model calls, not LLM calls).
LLM_OPERATIONS = frozenset({a.OP_CHAT, a.OP_TEXT_COMPLETION, a.OP_GENERATE_CONTENT})
_MODEL_KEYS = (a.GEN_AI_REQUEST_MODEL, a.GEN_AI_RESPONSE_MODEL)
_NO_TRACE = "no trace is linked to this result, so what the app did is unknown"
_LISTED = 10  # names or ids quoted in an explanation
SEVERITIES = ("info", "warning", "error", "critical")


def _operation(span: SpanRecord) -> str | None:
    operation = span.attributes.get(a.GEN_AI_OPERATION_NAME)
    return operation if isinstance(operation, str) else None


def _names_model(span: SpanRecord) -> bool:
    return any(isinstance(span.attributes.get(key), str) for key in _MODEL_KEYS)


def is_llm_call(span: SpanRecord) -> bool:
    """An LLM call: see the module docstring."""
    operation = _operation(span)
    if operation is not None:
        return operation in LLM_OPERATIONS
    return _names_model(span)


def is_model_call(span: SpanRecord) -> bool:
    """Any model call (LLM calls and embeddings): the spans that use tokens."""
    operation = _operation(span)
    if operation is not None:
        return operation in a.MODEL_OPERATIONS
    return _names_model(span)


def tool_name(span: SpanRecord) -> str | None:
    """The tool a span executes, or None when it is no tool call."""
    if _operation(span) != a.OP_EXECUTE_TOOL:
        return None
    name = span.attributes.get(a.GEN_AI_TOOL_NAME)
    return name if isinstance(name, str) else ""


def _tool_calls(trace: Trace) -> Iterator[tuple[str, SpanRecord]]:
    for span in trace.spans:
        name = tool_name(span)
        if name is not None:
            yield name, span


def _subset(expected: Any, actual: Any) -> bool:
    """Every key of ``expected`` (recursively, for objects) is in ``actual`` with an equal
    value; anything else compares with JSON equality."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return False
        return all(key in actual and _subset(value, actual[key]) for key, value in expected.items())
    return json_equal(expected, actual)


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f" and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


class _TraceEvaluator(BuiltinEvaluator[Any]):
    """Judges the linked trace (``check``); without one, no verdict.

    The evaluators that read an enrichment plugin's result instead (``max_cost_usd``,
    ``no_anomaly``) override ``judge`` itself: that result is what they need.
    """

    needs_trace = True

    def judge(self, subject: Subject, options: Any, threshold: float | None) -> Score:
        if subject.trace is None:
            return self.unknown(_NO_TRACE)
        return self.check(subject.trace, options, threshold)

    def check(self, trace: Trace, options: Any, threshold: float | None) -> Score:
        """Score the linked ``trace`` with already-parsed ``options``."""
        raise NotImplementedError


# --- tools ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ToolOptions:
    name: str
    arguments: Mapping[str, Any] | None


class ToolCalled(_TraceEvaluator):
    """``tool_called``: the tool ``name`` was executed, with ``arguments`` if given.

    ``arguments`` is a subset the call's ``gen_ai.tool.call.arguments`` (a JSON object, or
    the object itself) must contain, nested objects included. The score's ``span_id`` is
    the first matching call.
    """

    name = "tool_called"
    params = frozenset({"name", "arguments"})

    def parse(self, params: Params) -> _ToolOptions:
        return _ToolOptions(params.text("name", required=True), params.mapping("arguments"))

    def check(self, trace: Trace, options: _ToolOptions, threshold: float | None) -> Score:
        calls = [span for name, span in _tool_calls(trace) if name == options.name]
        if not calls:
            return self.verdict(0.0, threshold, f"tool {options.name!r} was not called")
        if options.arguments is None:
            first = min(calls, key=lambda s: s.start_time_unix_nano)
            explanation = f"tool {options.name!r} was called {len(calls)} time(s)"
            return self.verdict(1.0, threshold, explanation, span_id=first.span_id)
        matching = None
        last_arguments: Any = MISSING
        for span in sorted(calls, key=lambda s: (s.start_time_unix_nano, s.span_id)):
            last_arguments = as_json(span.attributes.get(a.GEN_AI_TOOL_CALL_ARGUMENTS))
            if _subset(options.arguments, last_arguments):
                matching = span
                break
        if matching is not None:
            explanation = f"tool {options.name!r} was called with matching arguments"
            return self.verdict(1.0, threshold, explanation, span_id=matching.span_id)
        recorded = last_arguments is not MISSING and last_arguments is not None
        seen = as_text(last_arguments)[:200] if recorded else "no arguments recorded"
        explanation = (
            f"tool {options.name!r} was called {len(calls)} time(s), never with arguments "
            f"containing {as_text(options.arguments)[:200]} (last: {seen})"
        )
        return self.verdict(0.0, threshold, explanation)


class ToolNotCalled(_TraceEvaluator):
    """``tool_not_called``: the tool ``name`` was never executed.

    The score's ``span_id`` is the first offending call.
    """

    name = "tool_not_called"
    params = frozenset({"name"})

    def parse(self, params: Params) -> str:
        name: str = params.text("name", required=True)
        return name

    def check(self, trace: Trace, options: str, threshold: float | None) -> Score:
        calls = [span for name, span in _tool_calls(trace) if name == options]
        if not calls:
            return self.verdict(1.0, threshold, f"tool {options!r} was not called")
        first = min(calls, key=lambda s: s.start_time_unix_nano)
        explanation = f"tool {options!r} was called {len(calls)} time(s)"
        return self.verdict(0.0, threshold, explanation, span_id=first.span_id)


class ToolOrder(_TraceEvaluator):
    """``tool_order``: ``names`` occur, in this order, among the executed tool calls.

    A subsequence: other calls may come before, between and after. Calls are ordered by
    start time. Value: the fraction of ``names`` matched in order; without a threshold,
    all must be.
    """

    name = "tool_order"
    params = frozenset({"names"})

    def parse(self, params: Params) -> tuple[str, ...]:
        return tuple(params.texts("names", required=True, single=False))

    def check(self, trace: Trace, options: tuple[str, ...], threshold: float | None) -> Score:
        executed = [
            name
            for name, _ in sorted(
                _tool_calls(trace), key=lambda item: (item[1].start_time_unix_nano, item[1].span_id)
            )
        ]
        matched = 0
        for name in executed:  # greedy: the longest prefix of names found in order
            if matched < len(options) and name == options[matched]:
                matched += 1
        complete = matched == len(options)
        explanation = f"executed: [{_listing(executed)}]"
        if not complete:
            explanation += f"; {options[matched]!r} (#{matched + 1}) not found in order"
        return self.verdict(matched / len(options), threshold, explanation, rule=complete)


# --- budgets --------------------------------------------------------------------------


class _Budget(_TraceEvaluator):
    """A measured quantity that must not exceed ``max`` (the budget is its threshold).

    Value: the quantity; label ``"within"`` or ``"over"``.
    """

    params = frozenset({"max"})
    unit = ""

    def parse(self, params: Params) -> float:
        limit: float = params.number("max", required=True, minimum=0)
        return limit

    def budget(
        self, value: float, limit: float, explanation: str, span_id: str | None = None
    ) -> Score:
        within = value <= limit
        return Score(
            name=self.name,
            value=float(value),
            label="within" if within else "over",
            passed=within,
            explanation=f"{explanation} (max {limit:g}{self.unit})",
            evaluator=self.name,
            evaluator_version=self.version,
            span_id=span_id,
        )


class MaxLlmCalls(_Budget):
    """``max_llm_calls``: at most ``max`` LLM calls."""

    name = "max_llm_calls"

    def check(self, trace: Trace, options: float, threshold: float | None) -> Score:
        count = sum(1 for span in trace.spans if is_llm_call(span))
        return self.budget(count, options, f"{count} LLM call(s)")


class MaxToolCalls(_Budget):
    """``max_tool_calls``: at most ``max`` tool calls."""

    name = "max_tool_calls"

    def check(self, trace: Trace, options: float, threshold: float | None) -> Score:
        count = sum(1 for _ in _tool_calls(trace))
        return self.budget(count, options, f"{count} tool call(s)")


class MaxLatencyMs(_Budget):
    """``max_latency_ms``: the trace, from its first span's start to its last span's end,
    took at most ``max`` milliseconds."""

    name = "max_latency_ms"
    unit = " ms"

    def check(self, trace: Trace, options: float, threshold: float | None) -> Score:
        if not trace.spans:
            return self.unknown(_NO_TRACE)
        latency = trace.duration_ns / 1e6
        slowest = max(trace.spans, key=lambda s: s.duration_ns)
        return self.budget(latency, options, f"took {latency:.1f} ms", span_id=slowest.span_id)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


class MaxTokens(_Budget):
    """``max_tokens``: the model calls used at most ``max`` tokens (input + output, or the
    recorded total when a call has no split). A model call without usage makes the sum a
    lower bound: no verdict, unless the known tokens already exceed ``max``."""

    name = "max_tokens"
    unit = " tokens"

    def check(self, trace: Trace, options: float, threshold: float | None) -> Score:
        total = 0
        unknown: list[str] = []
        for span in trace.spans:
            attributes = span.attributes
            tokens_in = _count(attributes.get(a.GEN_AI_USAGE_INPUT_TOKENS))
            tokens_out = _count(attributes.get(a.GEN_AI_USAGE_OUTPUT_TOKENS))
            if tokens_in is not None or tokens_out is not None:
                total = saturating_add(total, saturating_add(tokens_in or 0, tokens_out or 0))
                continue
            tokens = _count(attributes.get(TOTAL_TOKENS))
            if tokens is not None:
                total = saturating_add(total, tokens)
            elif is_model_call(span):
                unknown.append(span.name)
        if unknown and total <= options:
            return self.unknown(
                f"at least {total} tokens, but {len(unknown)} model call(s) report no usage "
                f"({_listing(unknown)}): the total is unknown",
                value=float(total),
            )
        suffix = f", more in {len(unknown)} call(s) without usage" if unknown else ""
        return self.budget(total, options, f"{total} tokens{suffix}")


class MaxCostUsd(_Budget):
    """``max_cost_usd``: the trace cost at most ``max`` US dollars, from the ``cost``
    plugin's trace result (``enrichment["trace"]["cost"]["total_cost"]``).

    Without that result the cost is unknown: no verdict. When the cost plugin could not
    price every call (``complete`` false) the total is a lower bound: over budget if it
    already exceeds ``max``, otherwise no verdict.
    """

    name = "max_cost_usd"
    unit = " USD"

    def judge(self, subject: Subject, options: float, threshold: float | None) -> Score:
        cost = _trace_result(subject.enrichment, "cost")
        total = cost.get("total_cost") if cost is not None else None
        if cost is None or isinstance(total, bool) or not isinstance(total, (int, float)):
            return self.unknown(
                "the cost is unknown: no cost enrichment for this result's trace (is "
                "spanlink-plugin-cost installed, and has enrichment run?)"
            )
        if total != total or total in (float("inf"), float("-inf")):
            return self.unknown(f"the cost enrichment holds no usable total ({total!r})")
        if cost.get("complete") is False and total <= options:
            unknown = cost.get("unknown_models") or []
            return self.unknown(
                f"at least {total:g} USD, but some model calls could not be priced"
                + (f" (unknown models: {_listing([str(m) for m in unknown])})" if unknown else "")
                + ": the total is unknown",
                value=float(total),
            )
        lower = " at least" if cost.get("complete") is False else ""
        return self.budget(float(total), options, f"cost{lower} {total:g} USD")


def _trace_result(enrichment: Mapping[str, Any] | None, plugin: str) -> Mapping[str, Any] | None:
    if not isinstance(enrichment, Mapping):
        return None
    by_plugin = enrichment.get("trace")
    result = by_plugin.get(plugin) if isinstance(by_plugin, Mapping) else None
    return result if isinstance(result, Mapping) else None


# --- errors, anomalies, spans ---------------------------------------------------------


class NoErrorSpans(_TraceEvaluator):
    """``no_error_spans``: no span of the trace has status ERROR. The score's ``span_id``
    is the first failing span."""

    name = "no_error_spans"

    def parse(self, params: Params) -> None:
        return None

    def check(self, trace: Trace, options: None, threshold: float | None) -> Score:
        failed = [span for span in trace.spans if span.is_error]
        if not failed:
            return self.verdict(1.0, threshold, f"none of {len(trace.spans)} span(s) failed")
        first = min(failed, key=lambda s: s.start_time_unix_nano)
        described = [
            span.name + (f" ({span.status_message[:80]})" if span.status_message else "")
            for span in failed
        ]
        explanation = f"{len(failed)} span(s) failed: {_listing(described)}"
        return self.verdict(0.0, threshold, explanation, span_id=first.span_id)


@dataclass(frozen=True, slots=True)
class _AnomalyOptions:
    kinds: frozenset[str] | None
    min_severity: int


class NoAnomaly(_TraceEvaluator):
    """``no_anomaly``: the ``anomaly`` plugin found nothing of the given kinds.

    Params: ``kinds`` (rule names such as ``slow_span``, ``error_span``, ``token_spike``,
    ``cost_spike``, ``empty_output``, ``tool_loop``; default: every kind), ``min_severity``
    (``info``, the default, ``warning``, ``error`` or ``critical``). Reads
    ``enrichment["trace"]["anomaly"]["anomalies"]``; without it, no verdict.
    """

    name = "no_anomaly"
    params = frozenset({"kinds", "min_severity"})

    def parse(self, params: Params) -> _AnomalyOptions:
        kinds = params.texts("kinds", single=False) if params.has("kinds") else None
        severity = params.choice("min_severity", SEVERITIES, "info")
        return _AnomalyOptions(
            frozenset(kinds) if kinds is not None else None, SEVERITIES.index(severity)
        )

    def judge(self, subject: Subject, options: _AnomalyOptions, threshold: float | None) -> Score:
        result = _trace_result(subject.enrichment, "anomaly")
        findings = result.get("anomalies") if result is not None else None
        if not isinstance(findings, list):
            return self.unknown(
                "anomalies are unknown: no anomaly enrichment for this result's trace (is "
                "spanlink-plugin-anomaly installed, and has enrichment run?)"
            )
        hits = []
        for finding in findings:
            if not isinstance(finding, Mapping):
                continue
            rule = finding.get("rule")
            severity = finding.get("severity")
            rank = SEVERITIES.index(severity) if severity in SEVERITIES else 0
            if (options.kinds is None or rule in options.kinds) and rank >= options.min_severity:
                hits.append(finding)
        if not hits:
            return self.verdict(1.0, threshold, f"no anomaly among {len(findings)} finding(s)")
        span_id = hits[0].get("span_id")
        described = [f"{hit.get('rule')}: {hit.get('message')}" for hit in hits]
        return self.verdict(
            0.0,
            threshold,
            f"{len(hits)} anomaly finding(s): {_listing(described)}",
            span_id=span_id if isinstance(span_id, str) else None,
        )


@dataclass(frozen=True, slots=True)
class _SpanOptions:
    name: str | None
    attributes: Mapping[str, Any] | None


class SpanExists(_TraceEvaluator):
    """``span_exists``: some span has this ``name`` and/or these ``attributes`` (a subset,
    compared with JSON equality). The score's ``span_id`` is the first match."""

    name = "span_exists"
    params = frozenset({"name", "attributes"})

    def parse(self, params: Params) -> _SpanOptions:
        options = _SpanOptions(params.text("name"), params.mapping("attributes"))
        if options.name is None and not options.attributes:
            params.fail("give 'name', 'attributes' or both")
        return options

    def check(self, trace: Trace, options: _SpanOptions, threshold: float | None) -> Score:
        wanted = options.attributes or {}
        first: SpanRecord | None = None
        for span in trace.spans:
            if options.name is not None and span.name != options.name:
                continue
            if all(
                key in span.attributes and _subset(value, span.attributes[key])
                for key, value in wanted.items()
            ) and (first is None or span.start_time_unix_nano < first.start_time_unix_nano):
                first = span
        described = " and ".join(
            part
            for part in (
                f"named {options.name!r}" if options.name is not None else "",
                f"with attributes {as_text(wanted)[:200]}" if wanted else "",
            )
            if part
        )
        if first is None:
            return self.verdict(0.0, threshold, f"no span {described}")
        return self.verdict(1.0, threshold, f"found a span {described}", span_id=first.span_id)


#: The trace evaluators, in the order of the plugin's docs.
TRACE_EVALUATORS = (
    ToolCalled,
    ToolNotCalled,
    ToolOrder,
    MaxLlmCalls,
    MaxToolCalls,
    MaxCostUsd,
    MaxLatencyMs,
    MaxTokens,
    NoErrorSpans,
    NoAnomaly,
    SpanExists,
)
