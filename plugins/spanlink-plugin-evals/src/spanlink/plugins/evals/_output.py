"""Output evaluators: they read the app's output (and the case's ``expected``), never the trace.

Each scores 1.0 or 0.0 (``contains``/``not_contains``: the fraction of strings that hold)
and passes at ``threshold`` (default 1.0). The output is read as text (strings as they
are, other values as JSON) or as JSON (strings parsed), as each evaluator says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from spanlink.plugins.evals._base import BuiltinEvaluator, Params, Subject, cached
from spanlink.plugins.evals._json import (
    MISSING,
    as_json,
    as_text,
    json_equal,
    parse_path,
    resolve_path,
)
from spanlink.tracer.model import Score

__all__ = [
    "OUTPUT_EVALUATORS",
    "Contains",
    "Equals",
    "JsonPath",
    "JsonSchema",
    "Length",
    "NotContains",
    "Numeric",
    "Regex",
]

_SHOWN = 200  # characters of an output or value quoted in an explanation


def _quote(value: Any) -> str:
    text = as_text(value) if not isinstance(value, str) else value
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


@cached(256)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _pattern(params: Params, key: str) -> re.Pattern[str] | None:
    pattern = params.text(key)
    if pattern is None:
        return None
    try:
        compiled: re.Pattern[str] = _compile(pattern)
    except re.error as error:
        return params.fail(f"{key!r} {pattern!r} does not compile: {error}")
    return compiled


# --- equals ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _EqualsOptions:
    expected: Any
    ignore_case: bool
    collapse_whitespace: bool


class Equals(BuiltinEvaluator[_EqualsOptions]):
    """``equals``: the output equals ``expected`` as JSON.

    Params: ``expected`` (default: the case's ``expected``), ``ignore_case`` and
    ``collapse_whitespace`` (fold strings, at every depth; default false). A string output
    is compared as JSON when ``expected`` is structured (``'{"a": 1}'`` equals ``{"a": 1}``).
    """

    name = "equals"
    params = frozenset({"expected", "ignore_case", "collapse_whitespace"})

    def parse(self, params: Params) -> _EqualsOptions:
        return _EqualsOptions(
            params.raw("expected"),
            params.flag("ignore_case", False),
            params.flag("collapse_whitespace", False),
        )

    def judge(self, subject: Subject, options: _EqualsOptions, threshold: float | None) -> Score:
        output = subject.output
        expected = options.expected if options.expected is not None else subject.case.expected
        if expected is None:
            return self.unknown(
                "nothing to compare with: the case has no expected output and params give "
                "no 'expected'"
            )
        actual = output
        if isinstance(output, str) and not isinstance(expected, str):
            parsed = as_json(output)
            actual = output if parsed is MISSING else parsed
        equal = json_equal(
            actual,
            expected,
            ignore_case=options.ignore_case,
            collapse_whitespace=options.collapse_whitespace,
        )
        explanation = (
            "output equals the expected output"
            if equal
            else f"output {_quote(output)} differs from expected {_quote(expected)}"
        )
        return self.verdict(1.0 if equal else 0.0, threshold, explanation)


# --- contains / not_contains ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ContainsOptions:
    values: tuple[str, ...]
    folded: tuple[str, ...]
    mode: str
    case_sensitive: bool


class Contains(BuiltinEvaluator[_ContainsOptions]):
    """``contains``: the output text contains the given string(s).

    Params: ``value`` (a string or a list of strings, required), ``mode`` (``"all"``, the
    default: every string must appear; ``"any"``: at least one), ``case_sensitive``
    (default true). Value: the fraction of the strings that appear. Without a threshold,
    passes when the mode holds; with one, when the fraction reaches it.
    """

    name = "contains"
    params = frozenset({"value", "mode", "case_sensitive"})
    default_mode = "all"

    def parse(self, params: Params) -> _ContainsOptions:
        values = tuple(params.texts("value", required=True))
        sensitive = params.flag("case_sensitive", True)
        return _ContainsOptions(
            values,
            values if sensitive else tuple(v.casefold() for v in values),
            params.choice("mode", ("any", "all"), self.default_mode),
            sensitive,
        )

    def _found(self, output: Any, options: _ContainsOptions) -> list[bool]:
        text = as_text(output)
        if not options.case_sensitive:
            text = text.casefold()
        return [needle in text for needle in options.folded]

    def judge(self, subject: Subject, options: _ContainsOptions, threshold: float | None) -> Score:
        found = self._found(subject.output, options)
        present = [v for v, hit in zip(options.values, found, strict=True) if hit]
        missing = [v for v, hit in zip(options.values, found, strict=True) if not hit]
        fraction = len(present) / len(found)
        holds = bool(present) if options.mode == "any" else not missing
        explanation = (
            f"found {len(present)} of {len(found)}"
            + (f"; missing {missing[:10]!r}" if missing else "")
            + f" (mode {options.mode})"
        )
        return self.verdict(fraction, threshold, explanation, rule=holds)


class NotContains(Contains):
    """``not_contains``: the output text does not contain the given string(s).

    Params as ``contains``. ``mode`` ``"any"`` (the default) fails when any of the strings
    appears; ``"all"`` fails only when all of them appear. Value: the fraction of the
    strings that are absent.
    """

    name = "not_contains"
    default_mode = "any"

    def judge(self, subject: Subject, options: _ContainsOptions, threshold: float | None) -> Score:
        found = self._found(subject.output, options)
        present = [v for v, hit in zip(options.values, found, strict=True) if hit]
        fraction = 1.0 - len(present) / len(found)
        holds = not present if options.mode == "any" else len(present) < len(found)
        explanation = (
            f"found {present[:10]!r}" if present else "none of the strings appears"
        ) + f" (mode {options.mode})"
        return self.verdict(fraction, threshold, explanation, rule=holds)


# --- regex ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RegexOptions:
    pattern: re.Pattern[str]
    full: bool


class Regex(BuiltinEvaluator[_RegexOptions]):
    """``regex``: the output text matches ``pattern`` (Python ``re`` syntax).

    Params: ``pattern`` (required; one that does not compile is refused),
    ``full_match`` (the whole text must match; default false: a match anywhere).
    Use inline flags for options, e.g. ``(?i)`` to ignore case.
    """

    name = "regex"
    params = frozenset({"pattern", "full_match"})

    def parse(self, params: Params) -> _RegexOptions:
        pattern = _pattern(params, "pattern")
        if pattern is None:
            return params.fail("'pattern' is required (a regular expression)")
        return _RegexOptions(pattern, params.flag("full_match", False))

    def judge(self, subject: Subject, options: _RegexOptions, threshold: float | None) -> Score:
        text = as_text(subject.output)
        match = options.pattern.fullmatch(text) if options.full else options.pattern.search(text)
        explanation = (
            f"matched {_quote(match.group())}"
            if match
            else f"no match for {options.pattern.pattern!r} in {_quote(text)}"
        )
        return self.verdict(1.0 if match else 0.0, threshold, explanation)


# --- json_schema ----------------------------------------------------------------------


@cached(128)
def _schema_validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


class JsonSchema(BuiltinEvaluator[Any]):
    """``json_schema``: the output (a string is parsed as JSON) validates against ``schema``.

    Params: ``schema`` (required; a JSON Schema object, its ``$schema`` picks the draft,
    default the latest; an invalid schema is refused). The explanation names the first
    errors and where they are.
    """

    name = "json_schema"
    params = frozenset({"schema"})

    def parse(self, params: Params) -> Any:
        schema = params.raw("schema")
        if not isinstance(schema, (Mapping, bool)):
            return params.fail(f"'schema' is required (a JSON Schema object), not {schema!r}")
        try:
            return _schema_validator(json.dumps(schema, sort_keys=True))
        except SchemaError as error:
            return params.fail(f"'schema' is not a valid JSON Schema: {error.message}")
        except (TypeError, ValueError) as error:
            return params.fail(f"'schema' is not JSON: {error}")

    def judge(self, subject: Subject, options: Any, threshold: float | None) -> Score:
        output = subject.output
        data = as_json(output)
        if data is MISSING:
            return self.verdict(0.0, threshold, f"output is not JSON: {_quote(output)}")
        errors = []
        for error in options.iter_errors(data):
            where = "$" + "".join(
                f"[{step}]" if isinstance(step, int) else f".{step}" for step in error.path
            )
            errors.append(f"{where}: {error.message}")
            if len(errors) == 5:
                break
        if not errors:
            return self.verdict(1.0, threshold, "output validates against the schema")
        return self.verdict(0.0, threshold, "; ".join(errors))


# --- json_path ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PathOptions:
    path: str
    steps: tuple[str | int, ...]
    equals: Any
    matches: re.Pattern[str] | None


class JsonPath(BuiltinEvaluator[_PathOptions]):
    """``json_path``: the value at ``path`` in the output (parsed as JSON) equals or matches.

    Params: ``path`` (required; ``$``, ``.name``, ``['name']``, ``[0]``, ``[-1]``, see
    ``spanlink.plugins.evals._json``), and at most one of ``equals`` (JSON equality) or
    ``matches`` (a regular expression searched in the value's text). With neither, the
    path must exist.
    """

    name = "json_path"
    params = frozenset({"path", "equals", "matches"})

    def parse(self, params: Params) -> _PathOptions:
        path = params.text("path", required=True)
        try:
            steps = parse_path(path)
        except ValueError as error:
            params.fail(str(error))
        if params.has("equals") and params.has("matches"):
            params.fail("give 'equals' or 'matches', not both")
        return _PathOptions(path, steps, params.raw("equals"), _pattern(params, "matches"))

    def judge(self, subject: Subject, options: _PathOptions, threshold: float | None) -> Score:
        output = subject.output
        data = as_json(output)
        if data is MISSING:
            return self.verdict(0.0, threshold, f"output is not JSON: {_quote(output)}")
        value = resolve_path(data, options.steps)
        if value is MISSING:
            return self.verdict(0.0, threshold, f"{options.path} not found in the output")
        if options.matches is not None:
            ok = options.matches.search(as_text(value)) is not None
            verb = f"matches {options.matches.pattern!r}" if ok else "does not match"
            return self.verdict(float(ok), threshold, f"{options.path} = {_quote(value)} {verb}")
        if options.equals is not None:
            ok = json_equal(value, options.equals)
            explanation = f"{options.path} = {_quote(value)}" + (
                "" if ok else f", expected {_quote(options.equals)}"
            )
            return self.verdict(float(ok), threshold, explanation)
        return self.verdict(1.0, threshold, f"{options.path} = {_quote(value)}")


# --- numeric --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _NumericOptions:
    expected: float | None
    tolerance: float
    relative: bool


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if number == number and abs(number) != float("inf") else None


class Numeric(BuiltinEvaluator[_NumericOptions]):
    """``numeric``: the output is a number within ``tolerance`` of ``expected``.

    Params: ``expected`` (default: the case's ``expected``), ``tolerance`` (default 0;
    absolute, or a fraction of ``expected`` when ``relative`` is true). A string output is
    parsed as a number.
    """

    name = "numeric"
    params = frozenset({"expected", "tolerance", "relative"})

    def parse(self, params: Params) -> _NumericOptions:
        return _NumericOptions(
            params.number("expected"),
            params.number("tolerance", 0.0, minimum=0.0),
            params.flag("relative", False),
        )

    def judge(self, subject: Subject, options: _NumericOptions, threshold: float | None) -> Score:
        output = subject.output
        expected = (
            options.expected if options.expected is not None else _as_number(subject.case.expected)
        )
        if expected is None:
            return self.unknown(
                "nothing to compare with: neither params nor the case give a numeric 'expected'"
            )
        actual = _as_number(output)
        if actual is None:
            return self.verdict(0.0, threshold, f"output {_quote(output)} is not a number")
        allowed = options.tolerance * abs(expected) if options.relative else options.tolerance
        difference = abs(actual - expected)
        ok = difference <= allowed
        explanation = (
            f"{actual:g} vs expected {expected:g}: off by {difference:g} (allowed {allowed:g})"
        )
        return self.verdict(float(ok), threshold, explanation)


# --- length ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LengthOptions:
    minimum: float | None
    maximum: float | None
    unit: str


class Length(BuiltinEvaluator[_LengthOptions]):
    """``length``: the output's length is within ``min`` and ``max`` (inclusive).

    Params: ``min``, ``max`` (at least one), ``unit``: ``"chars"`` (default; of the text),
    ``"words"`` (whitespace-separated) or ``"items"`` (of a list or object output; a
    string is parsed as JSON). The score's label holds the length.
    """

    name = "length"
    params = frozenset({"min", "max", "unit"})

    def parse(self, params: Params) -> _LengthOptions:
        minimum = params.number("min", minimum=0)
        maximum = params.number("max", minimum=0)
        if minimum is None and maximum is None:
            params.fail("give 'min', 'max' or both")
        if minimum is not None and maximum is not None and minimum > maximum:
            params.fail(f"'min' ({minimum!r}) is greater than 'max' ({maximum!r})")
        unit = params.choice("unit", ("chars", "words", "items"), "chars")
        return _LengthOptions(minimum, maximum, unit)

    def judge(self, subject: Subject, options: _LengthOptions, threshold: float | None) -> Score:
        output = subject.output
        if options.unit == "items":
            data = as_json(output)
            if not isinstance(data, (list, Mapping)):
                return self.verdict(0.0, threshold, "output is not a JSON list or object")
            length = len(data)
        elif options.unit == "words":
            length = len(as_text(output).split())
        else:
            length = len(as_text(output))
        ok = (options.minimum is None or length >= options.minimum) and (
            options.maximum is None or length <= options.maximum
        )
        low = "" if options.minimum is None else f"{options.minimum:g}"
        high = "" if options.maximum is None else f"{options.maximum:g}"
        explanation = f"{length} {options.unit}, bounds [{low}, {high}]"
        return self.verdict(float(ok), threshold, explanation, label=str(length))


#: The output evaluators, in the order of the plugin's docs.
OUTPUT_EVALUATORS = (Equals, Contains, NotContains, Regex, JsonSchema, JsonPath, Numeric, Length)
