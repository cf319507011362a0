"""Apply compiled rules to any JSON value and to every text field of a span.

Values are walked with their dotted key path (``llm.input_messages.0.message.content``),
the path key globs are matched against. A string that holds a JSON object or array (chat
messages in ``gen_ai.input.messages``) is parsed, redacted inside and written back; it is
left byte for byte as it was when nothing in it matched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from spanlink.receiver.redaction._compiled import CompiledRules, RedactionBudget
from spanlink.tracer.model import SpanEvent, SpanLink, SpanRecord

__all__ = ["redact_attributes", "redact_evaluators", "redact_span", "redact_text", "redact_value"]

#: Nesting followed into containers; deeper content is redacted as JSON text.
_MAX_DEPTH = 32
#: Integers this large may be card numbers (13+ digits) and are searched as text.
_NUMBER_SCAN_FROM = 10**12

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _looks_like_json(text: str) -> bool:
    first = text[:1]
    if first not in ("{", "[") and not (first.isspace() and text.lstrip()[:1] in ("{", "[")):
        return False
    return text.rstrip()[-1:] in ("}", "]")


def _string(text: str, path: str, rules: CompiledRules, budget: RedactionBudget, depth: int) -> str:
    if depth < _MAX_DEPTH and _looks_like_json(text):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, (dict, list)):
            redacted, changed = _walk(parsed, path, rules, budget, depth + 1)
            if not changed:
                return text
            try:
                return _ENCODER.encode(redacted)
            except (ValueError, RecursionError):
                pass  # not writable back (too deep): redact the text itself below
    return rules.redact_text(text, rules.for_key(path).patterns if path else (), budget)


def _walk(
    value: Any, path: str, rules: CompiledRules, budget: RedactionBudget, depth: int
) -> tuple[Any, bool]:
    """``(redacted value, changed)``; the value itself is returned when nothing changed."""
    if path:
        whole = rules.for_key(path).whole
        if whole is not None:
            return whole, value != whole
    if isinstance(value, str):
        result = _string(value, path, rules, budget, depth)
        return result, result != value
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value, False
    if isinstance(value, int):
        if abs(value) < _NUMBER_SCAN_FROM or not rules.scans_numbers:
            return value, False
        text = str(value)
        result = _string(text, path, rules, budget, depth)
        return (result, True) if result != text else (value, False)
    if depth >= _MAX_DEPTH:
        text = _ENCODER.encode(value)
        result = rules.redact_text(text, (), budget)
        return (result, True) if result != text else (value, False)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            name = rules.redact_key(key) if isinstance(key, str) else key
            redacted, item_changed = _walk(item, _child(path, str(key)), rules, budget, depth + 1)
            out[name] = redacted
            changed = changed or item_changed or name != key
        return (out, True) if changed else (value, False)
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        changed = False
        for index, item in enumerate(value):
            redacted, item_changed = _walk(item, _child(path, str(index)), rules, budget, depth + 1)
            items.append(redacted)
            changed = changed or item_changed
        return (items, True) if changed else (value, False)
    return value, False


def redact_value(
    value: Any, rules: CompiledRules, path: str = "", budget: RedactionBudget | None = None
) -> Any:
    """Any JSON value (test case inputs, outputs, expected values, dataset cases, score
    explanations and labels) with ``rules`` applied; returned unchanged (the same object)
    when nothing matched.

    ``path`` is the value's key path, which key globs match (``""``: the top-level keys of
    a mapping are the paths of its values). Strings holding JSON are redacted inside.
    """
    if rules.is_empty:
        return value
    return _walk(value, path, rules, budget or RedactionBudget(), 0)[0]


def redact_text(text: str, rules: CompiledRules, budget: RedactionBudget | None = None) -> str:
    """A free-standing text (a span name, a status message) with the value rules applied."""
    if rules.is_empty or not text:
        return text
    return _string(text, "", rules, budget or RedactionBudget(), 0)


def redact_attributes(
    attributes: Mapping[str, Any], rules: CompiledRules, budget: RedactionBudget | None = None
) -> dict[str, Any]:
    """Span, event, link or resource attributes with ``rules`` applied (a new dict)."""
    if rules.is_empty or not attributes:
        return dict(attributes)
    result = _walk(attributes, "", rules, budget or RedactionBudget(), 0)[0]
    return result if result is not attributes else dict(attributes)


def _optional(text: str | None, rules: CompiledRules, budget: RedactionBudget) -> str | None:
    return redact_text(text, rules, budget) if text else text


def redact_span(
    record: SpanRecord,
    rules: CompiledRules,
    budget: RedactionBudget | None = None,
    *,
    include_resource: bool = True,
) -> SpanRecord:
    """A copy of ``record`` with ``rules`` applied to its name, status message, attributes,
    events (names and attributes), links' attributes, scope and (unless
    ``include_resource=False``, for a resource redacted once per batch) resource attributes.
    Returns ``record`` itself when the rules are empty.
    """
    if rules.is_empty:
        return record
    budget = budget or RedactionBudget()
    return replace(
        record,
        name=redact_text(record.name, rules, budget),
        status_message=_optional(record.status_message, rules, budget),
        attributes=redact_attributes(record.attributes, rules, budget),
        events=[
            SpanEvent(
                redact_text(event.name, rules, budget),
                event.time_unix_nano,
                redact_attributes(event.attributes, rules, budget),
            )
            for event in record.events
        ],
        links=[
            SpanLink(link.trace_id, link.span_id, redact_attributes(link.attributes, rules, budget))
            for link in record.links
        ],
        resource=(
            redact_attributes(record.resource, rules, budget)
            if include_resource
            else record.resource
        ),
        scope_name=_optional(record.scope_name, rules, budget),
        scope_version=_optional(record.scope_version, rules, budget),
    )


def redact_evaluators(
    evaluators: Any, rules: CompiledRules, budget: RedactionBudget | None = None
) -> list[Any]:
    """Evaluator configurations with their ``params`` redacted (a judge's rubric is sent to
    a model, a ``contains`` value is compared with outputs that are stored redacted); the
    names, thresholds and flags stay as given."""
    if rules.is_empty or not evaluators:
        return list(evaluators or ())
    redacted: list[Any] = []
    for config in evaluators:
        if isinstance(config, dict) and isinstance(config.get("params"), dict):
            config = {**config, "params": redact_value(config["params"], rules, budget=budget)}
        redacted.append(config)
    return redacted
