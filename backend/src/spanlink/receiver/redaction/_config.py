"""A project's redaction rules as sent to ``PUT /api/v1/redaction``, validated.

``{"builtin": ["email", ...], "rules": [{"name": ..., "pattern": ..., "keys": [...]}]}``:
``pattern`` is a regular expression searched in values, ``keys`` are attribute-key globs
(``fnmatch``, case-insensitive) whose whole value is replaced; a rule with both applies
its pattern only within the values of matching keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import regex

from spanlink.receiver.redaction._detectors import BUILTIN_DETECTORS

__all__ = [
    "MAX_KEYS_PER_RULE",
    "MAX_KEY_LENGTH",
    "MAX_PATTERN_LENGTH",
    "MAX_RULES",
    "RedactionConfig",
    "RedactionConfigError",
    "RedactionRule",
    "parse_config",
]

#: Most user rules per project.
MAX_RULES = 64
#: Longest pattern (characters).
MAX_PATTERN_LENGTH = 1024
#: Most key globs per rule, and the longest glob.
MAX_KEYS_PER_RULE = 32
MAX_KEY_LENGTH = 256

_NAME = re.compile(r"[a-z0-9_-]{1,64}")


class RedactionConfigError(ValueError):
    """Redaction rules that cannot be used; ``problems`` lists each one, saying what to fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class RedactionRule:
    """One user rule: a value pattern, key globs, or both (the pattern within those keys)."""

    name: str
    pattern: str | None = None
    keys: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The rule in its API form."""
        return {"name": self.name, "pattern": self.pattern, "keys": list(self.keys)}


@dataclass(frozen=True, slots=True)
class RedactionConfig:
    """A project's redaction rules: builtin detector names and user rules, in order."""

    builtin: tuple[str, ...] = ()
    rules: tuple[RedactionRule, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing is redacted."""
        return not self.builtin and not self.rules

    def to_dict(self) -> dict[str, Any]:
        """The rules in their API form (what ``parse_config`` reads back)."""
        return {"builtin": list(self.builtin), "rules": [rule.to_dict() for rule in self.rules]}


def _check_pattern(where: str, pattern: Any, problems: list[str]) -> str | None:
    if not isinstance(pattern, str) or not pattern:
        problems.append(f"{where}.pattern must be a non-empty string (or left out)")
        return None
    if len(pattern) > MAX_PATTERN_LENGTH:
        problems.append(
            f"{where}.pattern is {len(pattern)} characters; the limit is {MAX_PATTERN_LENGTH}"
        )
        return None
    try:
        compiled = regex.compile(pattern)
    except (regex.error, ValueError, OverflowError, RecursionError) as error:
        problems.append(f"{where}.pattern is not a valid regular expression: {error}")
        return None
    if compiled.fullmatch("", timeout=0.1) is not None:
        problems.append(f"{where}.pattern matches the empty string; make it match the secret")
        return None
    return pattern


def _check_keys(where: str, keys: Any, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(keys, list) or not all(isinstance(key, str) and key for key in keys):
        problems.append(f"{where}.keys must be a list of non-empty key globs")
        return ()
    if len(keys) > MAX_KEYS_PER_RULE:
        problems.append(f"{where}.keys has {len(keys)} globs; the limit is {MAX_KEYS_PER_RULE}")
        return ()
    too_long = [key for key in keys if len(key) > MAX_KEY_LENGTH]
    if too_long:
        problems.append(f"{where}.keys: a glob is longer than {MAX_KEY_LENGTH} characters")
        return ()
    return tuple(keys)


def _parse_rule(index: int, item: Any, problems: list[str]) -> RedactionRule | None:
    where = f"rules[{index}]"
    if not isinstance(item, Mapping):
        problems.append(f"{where} must be an object with name and pattern and/or keys")
        return None
    unknown = sorted(set(item) - {"name", "pattern", "keys"})
    if unknown:
        problems.append(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}")
    name = item.get("name")
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        problems.append(f"{where}.name must match [a-z0-9_-]{{1,64}} (got {name!r:.80})")
        name = None
    pattern = item.get("pattern")
    keys = item.get("keys")
    if pattern is None and not keys:
        problems.append(f"{where} needs a pattern, keys, or both")
        return None
    checked_pattern = _check_pattern(where, pattern, problems) if pattern is not None else None
    checked_keys = _check_keys(where, keys, problems) if keys is not None else ()
    if name is None:
        return None
    return RedactionRule(name=name, pattern=checked_pattern, keys=checked_keys)


def parse_config(document: Any) -> RedactionConfig:
    """Validate a rules document; raises :class:`RedactionConfigError` listing every problem."""
    if not isinstance(document, Mapping):
        raise RedactionConfigError(
            ['the body must be an object {"builtin": [...], "rules": [...]}']
        )
    problems: list[str] = []
    unknown = sorted(set(document) - {"builtin", "rules"})
    if unknown:
        problems.append(f"unknown field(s) {', '.join(map(repr, unknown))}: use builtin, rules")
    builtin_raw = document.get("builtin", [])
    builtin: list[str] = []
    if not isinstance(builtin_raw, list) or not all(isinstance(n, str) for n in builtin_raw):
        problems.append("builtin must be a list of detector names")
    else:
        for name in builtin_raw:
            if name not in BUILTIN_DETECTORS:
                problems.append(
                    f"unknown builtin detector {name!r:.80}; known: {', '.join(BUILTIN_DETECTORS)}"
                )
            elif name not in builtin:
                builtin.append(name)
    rules_raw = document.get("rules", [])
    rules: list[RedactionRule] = []
    if not isinstance(rules_raw, list):
        problems.append("rules must be a list of rule objects")
    elif len(rules_raw) > MAX_RULES:
        problems.append(f"{len(rules_raw)} rules; the limit is {MAX_RULES}")
    else:
        seen: set[str] = set()
        for index, item in enumerate(rules_raw):
            rule = _parse_rule(index, item, problems)
            if rule is None:
                continue
            if rule.name in seen or rule.name in BUILTIN_DETECTORS:
                problems.append(
                    f"rules[{index}].name {rule.name!r} is already used (by another rule or a "
                    "builtin detector): names must be unique"
                )
                continue
            seen.add(rule.name)
            rules.append(rule)
    if problems:
        raise RedactionConfigError(problems)
    return RedactionConfig(builtin=tuple(builtin), rules=tuple(rules))
