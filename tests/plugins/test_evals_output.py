"""The builtin output evaluators: verdicts, thresholds and parameter validation."""

from __future__ import annotations

from typing import Any

import pytest

from spanlink.plugins.evals import ParamError, builtin_evaluators, parse_path, resolve_path
from spanlink.tracer.model import Case, Score

EVALUATORS = {e.name: e for e in builtin_evaluators()}


def run(
    name: str,
    output: Any,
    params: dict[str, Any] | None = None,
    *,
    expected: Any = None,
    threshold: float | None = None,
) -> Score:
    evaluator = EVALUATORS[name]
    evaluator.validate(params or {})
    result = evaluator.evaluate(
        Case("c", expected=expected), output, None, params=params or {}, threshold=threshold
    )
    assert isinstance(result, Score)
    assert result.evaluator == name and result.evaluator_version
    return result


@pytest.mark.parametrize(
    ("output", "expected", "params", "passed"),
    [
        ("Paris", "Paris", {}, True),
        ("paris ", "Paris", {}, False),
        ("  PARIS\n city ", "paris city", {"ignore_case": True, "collapse_whitespace": True}, True),
        ('{"b": [1, 2.0], "a": "x"}', {"a": "x", "b": [1, 2]}, {}, True),
        ({"a": 1}, {"a": True}, {}, False),  # a bool is no number
        (
            {"a": {"b": "Hello  World"}},
            {"a": {"b": "hello world"}},
            {"ignore_case": True, "collapse_whitespace": True},
            True,
        ),
        ("not json", {"a": 1}, {}, False),
        ([1, 2], [1, 2, 3], {}, False),
        ("x", None, {"expected": "x"}, True),
    ],
)
def test_equals(output: Any, expected: Any, params: dict[str, Any], passed: bool) -> None:
    score = run("equals", output, params, expected=expected)
    assert score.passed is passed
    assert score.value == (1.0 if passed else 0.0)


def test_equals_without_anything_to_compare_gives_no_verdict() -> None:
    score = run("equals", "x")
    assert score.passed is None and "no expected output" in (score.error or "")


def test_contains_modes_and_case() -> None:
    assert run("contains", "The sun is out", {"value": "sun"}).passed is True
    both = run("contains", "The sun is out", {"value": ["sun", "rain"]})
    assert (both.passed, both.value) == (False, 0.5)
    assert "missing ['rain']" in (both.explanation or "")
    assert run("contains", "The sun", {"value": ["sun", "rain"], "mode": "any"}).passed is True
    assert run("contains", "The SUN", {"value": "sun"}).passed is False
    assert run("contains", "The SUN", {"value": "sun", "case_sensitive": False}).passed is True
    # A threshold turns the fraction into the verdict.
    assert run("contains", "sun", {"value": ["sun", "rain"]}, threshold=0.5).passed is True
    assert run("contains", {"answer": "sun"}, {"value": '"answer"'}).passed is True  # JSON text


def test_not_contains() -> None:
    assert run("not_contains", "all good", {"value": ["error", "sorry"]}).passed is True
    one = run("not_contains", "sorry, no", {"value": ["error", "sorry"]})
    assert (one.passed, one.value) == (False, 0.5)
    assert run("not_contains", "sorry, no", {"value": ["error", "sorry"], "mode": "all"}).passed
    assert not run(
        "not_contains", "error sorry", {"value": ["error", "sorry"], "mode": "all"}
    ).passed


def test_regex() -> None:
    assert run("regex", "order #1234 shipped", {"pattern": r"#\d{4}"}).passed is True
    assert run("regex", "order shipped", {"pattern": r"#\d{4}"}).passed is False
    assert run("regex", "ABC", {"pattern": "(?i)abc", "full_match": True}).passed is True
    assert run("regex", "xabc", {"pattern": "abc", "full_match": True}).passed is False


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}


def test_json_schema() -> None:
    assert run("json_schema", '{"city": "Oslo", "days": 2}', {"schema": SCHEMA}).passed is True
    bad = run("json_schema", {"days": 0}, {"schema": SCHEMA})
    assert bad.passed is False
    assert "'city' is a required property" in (bad.explanation or "")
    assert "$.days" in (bad.explanation or "")
    assert run("json_schema", "{oops", {"schema": SCHEMA}).explanation.startswith(
        "output is not JSON"
    )  # type: ignore[union-attr]


def test_json_path() -> None:
    output = '{"choices": [{"message": {"content": "Hi there", "odd key": 3}}]}'
    assert run(
        "json_path", output, {"path": "$.choices[0].message.content", "equals": "Hi there"}
    ).passed
    assert run(
        "json_path", output, {"path": "$.choices[-1].message['odd key']", "equals": 3.0}
    ).passed
    assert run(
        "json_path", output, {"path": "$.choices[0].message.content", "matches": "^Hi"}
    ).passed
    missing = run("json_path", output, {"path": "$.choices[1]"})
    assert missing.passed is False and "not found" in (missing.explanation or "")
    assert run("json_path", output, {"path": "$.choices"}).passed is True  # exists
    assert not run(
        "json_path", output, {"path": "$.choices[0].message.content", "equals": "Bye"}
    ).passed


def test_path_syntax() -> None:
    assert parse_path("$") == ()
    assert parse_path('$.a.b-c[0][\'x y\']["q\\""][-2]') == ("a", "b-c", 0, "x y", 'q"', -2)
    assert resolve_path({"a": [{"b": 1}]}, parse_path("$.a[0].b")) == 1
    for bad in ("a.b", "$.", "$[x]", "$['open", "$[1", "$..a", "$ a"):
        with pytest.raises(ValueError, match="path"):
            parse_path(bad)


def test_numeric() -> None:
    assert run("numeric", "3.14159", {"expected": 3.14, "tolerance": 0.01}).passed is True
    assert run("numeric", 3.2, {"expected": 3.14, "tolerance": 0.01}).passed is False
    assert run("numeric", 105, {"expected": 100, "tolerance": 0.05, "relative": True}).passed
    assert run("numeric", "42", expected=42).passed is True
    assert run("numeric", "forty-two", expected=42).passed is False
    assert run("numeric", True, expected=1).passed is False
    assert run("numeric", "1").error is not None  # nothing to compare with


def test_length() -> None:
    assert run("length", "hello", {"min": 1, "max": 5}).passed is True
    over = run("length", "hello!", {"max": 5})
    assert (over.passed, over.label) == (False, "6")
    assert run("length", "one two three", {"max": 3, "unit": "words"}).passed is True
    assert run("length", "[1, 2, 3]", {"min": 4, "unit": "items"}).passed is False
    assert run("length", "not a list", {"min": 1, "unit": "items"}).passed is False


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("contains", {}, "'value' is required"),
        ("contains", {"value": []}, "non-empty list"),
        ("contains", {"value": "x", "mode": "some"}, "'mode' must be one of"),
        ("contains", {"value": "x", "case_sensitive": "no"}, "true or false"),
        ("contains", {"value": "x", "modes": "any"}, "unknown parameter(s) 'modes'"),
        ("regex", {}, "'pattern' is required"),
        ("regex", {"pattern": "(unclosed"}, "does not compile"),
        ("json_schema", {}, "'schema' is required"),
        ("json_schema", {"schema": {"type": "nope"}}, "not a valid JSON Schema"),
        ("json_schema", {"schema": {"minimum": "1"}}, "not a valid JSON Schema"),
        ("json_path", {"path": "a.b"}, "must start with '$'"),
        ("json_path", {"path": "$.a", "equals": 1, "matches": "x"}, "not both"),
        ("json_path", {"path": "$.a", "matches": "["}, "does not compile"),
        ("numeric", {"tolerance": -1}, "at least 0"),
        ("numeric", {"expected": float("nan")}, "finite number"),
        ("length", {}, "give 'min', 'max' or both"),
        ("length", {"min": 5, "max": 2}, "greater than"),
        ("length", {"max": 2, "unit": "lines"}, "'unit' must be one of"),
        ("equals", {"ignore_case": 1}, "true or false"),
    ],
)
def test_bad_params_are_refused_with_the_parameter_named(
    name: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ParamError) as caught:
        EVALUATORS[name].validate(params)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"{name}: ")
    assert message in str(caught.value)


def test_params_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="params must be an object"):
        EVALUATORS["regex"].validate(["x"])  # type: ignore[arg-type]
