"""Per-project rules: validation, key globs, JSON inside strings, spans, budgets, the cache."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spanlink.receiver.redaction import (
    EMPTY_RULES,
    MAX_PATTERN_LENGTH,
    MAX_RULES,
    RedactionBudget,
    RedactionConfig,
    RedactionConfigError,
    RulesCache,
    compile_rules,
    parse_config,
    redact_attributes,
    redact_span,
    redact_text,
    redact_value,
)
from spanlink.tracer.model import SpanEvent, SpanLink, SpanRecord

ALL = ["email", "credit_card", "api_key", "aws_key", "jwt", "bearer_token"]


def _rules(document: dict[str, Any]) -> Any:
    return compile_rules(parse_config(document))


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be an object"),
        ({"builtin": ["nope"]}, "unknown builtin detector 'nope'"),
        ({"builtin": "email"}, "builtin must be a list"),
        ({"extra": 1}, "unknown field(s) 'extra'"),
        ({"rules": [{"name": "Bad Name", "pattern": "x"}]}, "name must match"),
        ({"rules": [{"name": "a" * 65, "pattern": "x"}]}, "name must match"),
        ({"rules": [{"name": "r", "pattern": "("}]}, "not a valid regular expression"),
        ({"rules": [{"name": "r", "pattern": "x*"}]}, "matches the empty string"),
        ({"rules": [{"name": "r"}]}, "needs a pattern, keys, or both"),
        ({"rules": [{"name": "r", "keys": "password"}]}, "keys must be a list"),
        ({"rules": [{"name": "r", "pattern": "x", "flags": 1}]}, "unknown field(s) 'flags'"),
        ({"rules": [{"name": "r", "pattern": "a" * (MAX_PATTERN_LENGTH + 1)}]}, "the limit is"),
        ({"rules": [{"name": f"r{i}", "pattern": "x"} for i in range(MAX_RULES + 1)]}, "limit"),
        (
            {"rules": [{"name": "r", "pattern": "x"}, {"name": "r", "pattern": "y"}]},
            "already used",
        ),
        ({"builtin": ["email"], "rules": [{"name": "email", "pattern": "y"}]}, "already used"),
    ],
)
def test_invalid_documents_say_what_is_wrong(document: Any, message: str) -> None:
    with pytest.raises(RedactionConfigError) as caught:
        parse_config(document)
    assert message in str(caught.value)
    assert caught.value.problems


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RedactionConfigError) as caught:
        parse_config({"builtin": ["nope"], "rules": [{"name": "X", "pattern": "("}]})
    assert len(caught.value.problems) == 3


def test_round_trip_and_duplicates_of_builtin_names_dropped() -> None:
    document = {
        "builtin": ["email", "jwt", "email"],
        "rules": [
            {"name": "ssn", "pattern": r"\d{3}-\d{2}-\d{4}", "keys": []},
            {"name": "pw", "keys": ["*password*"]},
        ],
    }
    config = parse_config(document)
    assert config.builtin == ("email", "jwt")
    assert parse_config(config.to_dict()) == config
    assert parse_config({}).is_empty and compile_rules(parse_config({})).is_empty


# --- applying ---------------------------------------------------------------------------


def test_key_globs_replace_the_whole_value_of_any_type() -> None:
    rules = _rules({"rules": [{"name": "secret", "keys": ["*password*", "DB.*"]}]})
    value = {
        "user.Password": "hunter2",
        "db.url": ["postgres://u:p@h"],
        "db.port": 5432,
        "config": {"password": "x", "other": "kept"},
        "name": "kept",
    }
    assert redact_value(value, rules) == {
        "user.Password": "[REDACTED:secret]",
        "db.url": "[REDACTED:secret]",
        "db.port": "[REDACTED:secret]",
        "config": {"password": "[REDACTED:secret]", "other": "kept"},
        "name": "kept",
    }


def test_a_rule_with_keys_and_pattern_applies_its_pattern_within_those_keys() -> None:
    rules = _rules({"rules": [{"name": "order", "pattern": r"ORD-\d+", "keys": ["shop.*"]}]})
    value = {"shop.note": "see ORD-123 and ORD-9", "other": "ORD-123"}
    assert redact_value(value, rules) == {
        "shop.note": "see [REDACTED:order] and [REDACTED:order]",
        "other": "ORD-123",
    }


def test_key_globs_match_flattened_and_json_nested_paths_alike() -> None:
    rules = _rules({"rules": [{"name": "content", "keys": ["llm.input_messages.*.content"]}]})
    flattened = {"llm.input_messages.0.message.content": "hi", "llm.input_messages.0.role": "u"}
    nested = {"llm.input_messages": json.dumps([{"message": {"content": "hi"}, "role": "u"}])}
    assert redact_value(flattened, rules)["llm.input_messages.0.message.content"] == (
        "[REDACTED:content]"
    )
    assert json.loads(redact_value(nested, rules)["llm.input_messages"]) == [
        {"message": {"content": "[REDACTED:content]"}, "role": "u"}
    ]


def test_json_in_a_string_is_parsed_redacted_and_written_back() -> None:
    rules = _rules({"builtin": ALL})
    messages = [
        {"role": "user", "parts": [{"type": "text", "content": "I am bob@example.com"}]},
        {"role": "assistant", "content": "noted \u00e9"},
    ]
    text = json.dumps(messages, indent=2)
    redacted = redact_value({"gen_ai.input.messages": text}, rules)["gen_ai.input.messages"]
    assert "bob@example.com" not in redacted
    assert json.loads(redacted)[0]["parts"][0]["content"] == "I am [REDACTED:email]"
    assert json.loads(redacted)[1] == messages[1]
    # Nothing to redact: the string is kept byte for byte (not re-serialized).
    untouched = json.dumps([{"role": "user", "content": "hello"}], indent=2)
    assert redact_value({"m": untouched}, rules)["m"] is untouched


def test_escaped_secrets_in_json_are_found_after_parsing() -> None:
    rules = _rules({"builtin": ["email"]})
    text = '{"content": "bob\\u0040example.com"}'
    assert "example" not in redact_text(text, rules)


def test_json_in_json_and_arrays_of_strings() -> None:
    rules = _rules({"builtin": ["api_key"]})
    key = "sk-" + "A" * 30
    inner = json.dumps({"content": f"use {key}"})
    value = {"outer": json.dumps({"payload": inner}), "list": ["a", f"key {key}"]}
    redacted = redact_value(value, rules)
    assert key not in json.dumps(redacted)
    assert redacted["list"] == ["a", "key [REDACTED:api_key]"]


def test_invalid_or_very_deep_json_is_redacted_as_text() -> None:
    rules = _rules({"builtin": ["email"]})
    assert redact_text('{"a": bob@example.com}', rules) == '{"a": [REDACTED:email]}'
    deep = "[" * 5000 + '"bob@example.com"' + "]" * 5000
    assert "bob@example.com" not in redact_text(deep, rules)
    nested: Any = "bob@example.com"
    for _ in range(200):
        nested = {"k": nested}
    assert "bob@example.com" not in json.dumps(redact_value(nested, rules))


def test_card_numbers_sent_as_numbers() -> None:
    rules = _rules({"builtin": ["credit_card"]})
    assert redact_value({"card": 4111111111111111, "n": 12, "t": 1733150000000000003}, rules) == {
        "card": "[REDACTED:credit_card]",
        "n": 12,
        "t": 1733150000000000003,
    }


def test_secrets_in_keys_of_nested_mappings() -> None:
    rules = _rules({"builtin": ["email"]})
    assert redact_value({"by_user": {"bob@example.com": 3}}, rules) == {
        "by_user": {"[REDACTED:email]": 3}
    }


def test_the_marker_echoes_nothing_of_what_it_replaced() -> None:
    rules = _rules({"builtin": ALL, "rules": [{"name": "code", "pattern": r"CODE-[A-Z]{4}"}]})
    cases = {
        "email": "someone.long.name@example.com",
        "api_key": "sk-proj-" + "Q" * 40,
        "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "code": "CODE-WXYZ",
    }
    for rule, secret in cases.items():
        assert redact_text(f"<{secret}>", rules) == f"<[REDACTED:{rule}]>"
    # The same marker whatever the length of the secret: no length hint either.
    assert redact_text("sk-" + "a" * 20, rules) == redact_text("sk-" + "a" * 200, rules)


def test_redaction_is_idempotent() -> None:
    rules = _rules(
        {
            "builtin": ALL,
            "rules": [
                {"name": "caps", "pattern": r"[A-Z]{5,}"},  # would match inside markers
                {"name": "bracket", "pattern": r"\[\w+"},
                {"name": "pw", "keys": ["*password"]},
            ],
        }
    )
    value = {
        "text": "HELLO bob@example.com Bearer abcdefgh123 [x and 4111 1111 1111 1111",
        "password": "p",
        "nested": json.dumps({"c": "AKIAIOSFODNN7EXAMPLE"}),
    }
    once = redact_value(value, rules)
    assert redact_value(once, rules) == once
    assert "REDACTED" in once["text"] and "HELLO" not in once["text"]


def test_zero_width_matches_change_nothing() -> None:
    rules = _rules({"rules": [{"name": "b", "pattern": r"\b(?=x)|y"}]})
    assert redact_text("ab xy", rules) == "ab x[REDACTED:b]"


def test_redact_span_covers_every_text_field() -> None:
    rules = _rules({"builtin": ["email"]})
    secret = "eve@example.com"
    record = SpanRecord(
        trace_id="0" * 31 + "1",
        span_id="0" * 15 + "1",
        name=f"send to {secret}",
        start_time_unix_nano=1,
        end_time_unix_nano=2,
        status_message=f"failed for {secret}",
        attributes={"a": secret, "llm.input_messages": json.dumps([{"content": secret}])},
        events=[SpanEvent(f"event {secret}", 1, {"b": [secret]})],
        links=[SpanLink("0" * 31 + "2", "0" * 15 + "2", {"c": secret})],
        resource={"service.owner": secret},
        scope_name=f"scope {secret}",
    )
    redacted = redact_span(record, rules)
    assert secret not in repr(redacted)
    assert redacted.name == "send to [REDACTED:email]"
    assert record.name == f"send to {secret}"  # the input is not changed
    assert redact_span(record, rules, include_resource=False).resource == record.resource
    assert redact_span(record, EMPTY_RULES) is record


def test_attributes_left_alone_are_copied_not_shared() -> None:
    rules = _rules({"builtin": ["email"]})
    attributes = {"a": "nothing here"}
    result = redact_attributes(attributes, rules)
    assert result == attributes and result is not attributes


# --- catastrophic patterns --------------------------------------------------------------


def test_a_catastrophic_pattern_fails_closed_within_its_budget() -> None:
    rules = _rules({"rules": [{"name": "evil", "pattern": r"(a|aa)+$"}]})
    budget = RedactionBudget(seconds=1.0)
    value = {"x": "a" * 40 + "!", "y": "plain text"}
    result = redact_value(value, rules, budget=budget)
    # The value that could not be searched in time is not stored as it was.
    assert result["x"] == "[REDACTED:evil]"
    assert budget.timed_out == {"evil"}


def test_a_spent_budget_replaces_every_value_a_pattern_applies_to() -> None:
    rules = _rules({"builtin": ["email"], "rules": [{"name": "p", "pattern": "zzz"}]})
    budget = RedactionBudget(seconds=0.0)
    result = redact_value({"a": "hello", "b": 3}, rules, budget=budget)
    assert result == {"a": "[REDACTED:p]", "b": 3}


# --- the cache --------------------------------------------------------------------------


def test_cache_loads_once_and_reloads_after_invalidation() -> None:
    stored: dict[int, RedactionConfig] = {1: parse_config({"builtin": ["email"]})}
    loads: list[int] = []

    def loader(project_id: int) -> RedactionConfig | None:
        loads.append(project_id)
        return stored.get(project_id)

    cache = RulesCache(loader, ttl_seconds=3600)
    first = cache.get(1)
    assert cache.get(1) is first and loads == [1]
    assert cache.get(2) is EMPTY_RULES
    stored[1] = parse_config({"builtin": ["jwt"]})
    assert cache.get(1) is first  # still cached
    cache.invalidate(1)
    assert cache.get(1).config.builtin == ("jwt",)
    assert loads == [1, 2, 1]
    put = cache.put(2, parse_config({"builtin": ["api_key"]}))
    assert cache.get(2) is put and loads == [1, 2, 1]


def test_cache_expires_entries() -> None:
    loads: list[int] = []

    def loader(project_id: int) -> RedactionConfig | None:
        loads.append(project_id)
        return None

    cache = RulesCache(loader, ttl_seconds=0)
    cache.get(1)
    cache.get(1)
    assert loads == [1, 1]
