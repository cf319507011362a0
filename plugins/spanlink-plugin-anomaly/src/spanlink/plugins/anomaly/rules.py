"""The anomaly rules. Each finding is ``{rule, span_id, severity, message, value, threshold}``.

Span rules need only the span (``slow_span`` absolute, ``error_span``, ``token_spike``
absolute, ``empty_output``); trace rules compare spans with each other, with the cost
plugin's results or with the host's baselines (``slow_span`` relative, ``token_spike``
relative, ``cost_spike``, ``tool_loop``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from statistics import median
from typing import Any

from spanlink.plugins.anomaly.config import Settings
from spanlink.tracer.model import SpanRecord, Trace
from spanlink.tracer.semconv import attributes as a

__all__ = [
    "GENERATION_OPERATIONS",
    "Finding",
    "finding",
    "span_findings",
    "trace_findings",
]

Finding = dict[str, Any]

#: Operations that generate output (embeddings have no output to be empty).
GENERATION_OPERATIONS = frozenset({a.OP_CHAT, a.OP_TEXT_COMPLETION, a.OP_GENERATE_CONTENT})
_EMPTY_CAPTURES = frozenset({"", '""', "null", "[]", "{}"})


def finding(
    rule: str,
    span_id: str | None,
    severity: str,
    message: str,
    value: Any,
    threshold: Any,
) -> Finding:
    """One anomaly, in the shape every rule returns."""
    return {
        "rule": rule,
        "span_id": span_id,
        "severity": severity,
        "message": message,
        "value": value,
        "threshold": threshold,
    }


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _is_llm(attributes: Mapping[str, Any]) -> bool:
    operation = attributes.get(a.GEN_AI_OPERATION_NAME)
    if operation is not None:
        # Any OTLP value can sit here (normalize passes GenAI names through): never hash it.
        return isinstance(operation, str) and operation in a.MODEL_OPERATIONS
    return a.GEN_AI_REQUEST_MODEL in attributes or a.GEN_AI_RESPONSE_MODEL in attributes


def _total_tokens(attributes: Mapping[str, Any]) -> int | None:
    tokens_in = _int(attributes.get(a.GEN_AI_USAGE_INPUT_TOKENS))
    tokens_out = _int(attributes.get(a.GEN_AI_USAGE_OUTPUT_TOKENS))
    if tokens_in is None and tokens_out is None:
        return None
    return (tokens_in or 0) + (tokens_out or 0)


def _has_content(value: Any) -> bool:
    """True when a parsed GenAI message structure holds any text or tool call."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, Mapping):
        if value.get("type") in ("tool_call", "tool_calls", "function_call"):
            return True
        return any(
            _has_content(value.get(key))
            for key in ("parts", "content", "text", "tool_calls", "result", "arguments")
        )
    if isinstance(value, (list, tuple)):
        return any(_has_content(item) for item in value)
    return value is not None and value is not False


def _generates(attributes: Mapping[str, Any]) -> bool:
    """A call that generates output (chat when no operation is recorded)."""
    operation = attributes.get(a.GEN_AI_OPERATION_NAME, a.OP_CHAT)
    return isinstance(operation, str) and operation in GENERATION_OPERATIONS


def _output_is_empty(attributes: Mapping[str, Any]) -> tuple[bool, Any]:
    """(empty, evidence): only claims emptiness when something recorded the output."""
    output_tokens = _int(attributes.get(a.GEN_AI_USAGE_OUTPUT_TOKENS))
    if output_tokens is not None:
        return output_tokens == 0, output_tokens
    messages = attributes.get(a.GEN_AI_OUTPUT_MESSAGES)
    if isinstance(messages, str):
        try:
            parsed = json.loads(messages)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            return (not messages.strip()), len(messages)
        return (not _has_content(parsed)), 0
    captured = attributes.get(a.SPANLINK_OUTPUT)
    if isinstance(captured, str):
        return captured.strip() in _EMPTY_CAPTURES, len(captured)
    return False, None


def span_findings(span: SpanRecord, settings: Settings) -> list[Finding]:
    """The rules that need only this span."""
    found: list[Finding] = []
    attributes = span.attributes
    rule = settings["slow_span"]
    if rule["enabled"]:
        duration_ms = span.duration_ns / 1e6
        if duration_ms > rule["threshold_ms"]:
            found.append(
                finding(
                    "slow_span",
                    span.span_id,
                    rule["severity"],
                    f"{span.name!r} took {duration_ms:.0f} ms, over the "
                    f"{rule['threshold_ms']:.0f} ms limit",
                    round(duration_ms, 3),
                    rule["threshold_ms"],
                )
            )
    rule = settings["error_span"]
    if rule["enabled"] and span.status_code == "ERROR":
        error_type = attributes.get(a.ERROR_TYPE)
        detail = _error_detail(error_type, span.status_message)
        found.append(
            finding(
                "error_span",
                span.span_id,
                rule["severity"],
                f"{span.name!r} failed" + (f": {detail}" if detail else ""),
                str(error_type or span.status_message or "ERROR"),
                None,
            )
        )
    if not _is_llm(attributes):
        return found
    rule = settings["token_spike"]
    if rule["enabled"]:
        tokens = _total_tokens(attributes)
        if tokens is not None and tokens > rule["max_tokens"]:
            found.append(
                finding(
                    "token_spike",
                    span.span_id,
                    rule["severity"],
                    f"{span.name!r} used {tokens} tokens, over the {rule['max_tokens']} limit",
                    tokens,
                    rule["max_tokens"],
                )
            )
    rule = settings["empty_output"]
    if rule["enabled"] and span.status_code != "ERROR" and _generates(attributes):
        empty, evidence = _output_is_empty(attributes)
        if empty:
            found.append(
                finding(
                    "empty_output",
                    span.span_id,
                    rule["severity"],
                    f"{span.name!r} returned no output",
                    evidence,
                    None,
                )
            )
    return found


def _names_type(message: str, error_type: str) -> bool:
    """True when ``message`` already starts with the error type (or its unqualified name)."""
    for name in {error_type, error_type.rsplit(".", 1)[-1]}:
        if message == name or message.startswith(f"{name}:"):
            return True
    return False


def _error_detail(error_type: Any, status_message: str | None) -> str:
    """``<type>: <message>`` naming the type once: the OpenTelemetry SDK already writes the
    status description as ``"ValueError: bad tool"`` next to ``error.type = "ValueError"``."""
    kind = str(error_type) if error_type not in (None, "") else ""
    message = status_message or ""
    if kind and message and _names_type(message, kind):
        return message
    return ": ".join(part for part in (kind, message) if part)


def _flagged(findings: Sequence[Finding], rule: str) -> set[str]:
    return {f["span_id"] for f in findings if f["rule"] == rule and f["span_id"] is not None}


def _slow_relative(
    trace: Trace, rule: Mapping[str, Any], baselines: Mapping[str, Any], skip: set[str]
) -> list[Finding]:
    # Each name's limit once per trace: baselines are per name, spans are many.
    limits: dict[str, tuple[float, float] | None] = {}
    for name in {span.name for span in trace.spans}:
        baseline = baselines.get(name)
        limits[name] = None
        if not isinstance(baseline, (dict, Mapping)):
            continue
        p95 = baseline.get("p95_ms")
        count = baseline.get("count", 0)
        if isinstance(p95, bool) or not isinstance(p95, (int, float)) or p95 <= 0:
            continue
        if isinstance(count, (int, float)) and count < rule["min_baseline_count"]:
            continue
        limits[name] = (float(p95), max(p95 * rule["relative_factor"], rule["min_ms"]))
    found: list[Finding] = []
    for span in trace.spans:
        limit = limits[span.name]
        if limit is None:
            continue
        p95, threshold = limit
        duration_ms = span.duration_ns / 1e6
        if duration_ms > threshold and span.span_id not in skip:
            found.append(
                finding(
                    "slow_span",
                    span.span_id,
                    rule["severity"],
                    f"{span.name!r} took {duration_ms:.0f} ms, {duration_ms / p95:.1f}x the "
                    f"p95 of {p95:.0f} ms for this span name",
                    round(duration_ms, 3),
                    round(p95 * rule["relative_factor"], 3),
                )
            )
    return found


def _spikes(
    rule_name: str,
    values: list[tuple[str, str, float]],
    rule: Mapping[str, Any],
    minimum: float,
    unit: str,
    skip: set[str],
) -> list[Finding]:
    """Values above factor x the trace's median (given enough model calls to compare)."""
    if len(values) < rule["min_llm_spans"]:
        return []
    middle = median(value for _, _, value in values)
    if middle <= 0:
        return []
    limit = middle * rule["relative_factor"]
    return [
        finding(
            rule_name,
            span_id,
            rule["severity"],
            f"{name!r} used {value:g} {unit}, {value / middle:.1f}x the trace's median call",
            value,
            round(limit, 12),
        )
        for span_id, name, value in values
        if value > limit and value >= minimum and span_id not in skip
    ]


def _cost_findings(
    trace: Trace, span_results: Mapping[str, Mapping[str, Any]], rule: Mapping[str, Any]
) -> list[Finding]:
    costs: list[tuple[str, str, float]] = []
    for span in trace.spans:
        by_plugin = span_results.get(span.span_id)
        cost = by_plugin.get("cost") if by_plugin else None
        if cost is not None and isinstance(cost, (dict, Mapping)) and cost.get("status") == "ok":
            value = cost.get("total_cost")
            if isinstance(value, (int, float)):
                costs.append((span.span_id, span.name, float(value)))
    found = [
        finding(
            "cost_spike",
            span_id,
            rule["severity"],
            f"{name!r} cost ${value:.4f}, over the ${rule['max_span_usd']:g} limit per call",
            value,
            rule["max_span_usd"],
        )
        for span_id, name, value in costs
        if value > rule["max_span_usd"]
    ]
    found += _spikes(
        "cost_spike", costs, rule, rule["min_usd"], "USD", _flagged(found, "cost_spike")
    )
    total = sum(value for _, _, value in costs)
    if total > rule["max_trace_usd"]:
        found.append(
            finding(
                "cost_spike",
                None,
                rule["severity"],
                f"the trace cost ${total:.4f}, over the ${rule['max_trace_usd']:g} limit per trace",
                round(total, 12),
                rule["max_trace_usd"],
            )
        )
    return found


_canonical_cache: dict[str, str] = {}


def _canonical(arguments: str) -> str:
    """The same arguments written with another key order or spacing compare equal."""
    cached = _canonical_cache.get(arguments)
    if cached is not None:
        return cached
    stripped = arguments.strip()
    canonical = stripped
    if stripped[:1] in ("{", "["):
        # Not JSON, or nested past the parser's depth: compare the text as it is.
        with contextlib.suppress(ValueError, RecursionError):
            canonical = json.dumps(json.loads(stripped), sort_keys=True)
    if len(_canonical_cache) >= 4096:  # bounded: arguments come from input
        _canonical_cache.clear()
    _canonical_cache[arguments] = canonical
    return canonical


def _tool_key(span: SpanRecord) -> tuple[str, str] | None:
    attributes = span.attributes
    operation = attributes.get(a.GEN_AI_OPERATION_NAME)
    if operation != a.OP_EXECUTE_TOOL and (
        operation is not None or a.GEN_AI_TOOL_NAME not in attributes
    ):
        return None
    tool = attributes.get(a.GEN_AI_TOOL_NAME)
    arguments = attributes.get(a.GEN_AI_TOOL_CALL_ARGUMENTS, attributes.get(a.SPANLINK_INPUT))
    if isinstance(arguments, str):
        return (str(tool or span.name), _canonical(arguments))
    return (str(tool or span.name), "" if arguments is None else str(arguments))


def _tool_loops(trace: Trace, rule: Mapping[str, Any]) -> list[Finding]:
    calls = [
        (span, key)
        for span in sorted(trace.spans, key=lambda s: (s.start_time_unix_nano, s.span_id))
        if (key := _tool_key(span)) is not None
    ]
    found: list[Finding] = []
    repeats = rule["repeats"]
    index = 0
    while index < len(calls):
        end = index
        while end + 1 < len(calls) and calls[end + 1][1] == calls[index][1]:
            end += 1
        run = end - index + 1
        if run >= repeats:
            tool = calls[index][1][0]
            found.append(
                finding(
                    "tool_loop",
                    calls[end][0].span_id,
                    rule["severity"],
                    f"tool {tool!r} called {run} times in a row with the same arguments",
                    run,
                    repeats,
                )
            )
        index = end + 1
    return found


def trace_findings(
    trace: Trace,
    span_results: Mapping[str, Mapping[str, Any]],
    settings: Settings,
    baselines: Mapping[str, Any],
    span_level: Sequence[Finding],
) -> list[Finding]:
    """The rules that compare spans of the trace (``span_level``: findings already made)."""
    found: list[Finding] = []
    rule = settings["slow_span"]
    if rule["enabled"] and baselines:
        found += _slow_relative(trace, rule, baselines, _flagged(span_level, "slow_span"))
    rule = settings["token_spike"]
    if rule["enabled"]:
        tokens: list[tuple[str, str, float]] = [
            (span.span_id, span.name, total)
            for span in trace.spans
            if _is_llm(span.attributes) and (total := _total_tokens(span.attributes)) is not None
        ]
        found += _spikes(
            "token_spike",
            tokens,
            rule,
            rule["min_tokens"],
            "tokens",
            _flagged(span_level, "token_spike"),
        )
    rule = settings["cost_spike"]
    if rule["enabled"]:
        found += _cost_findings(trace, span_results, rule)
    rule = settings["tool_loop"]
    if rule["enabled"]:
        found += _tool_loops(trace, rule)
    return found
