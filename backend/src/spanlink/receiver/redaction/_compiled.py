"""Rules compiled once per project: one combined expression for the builtin detectors,
one per user pattern, one per rule's key globs, and a bounded cache of what applies to a key.

User patterns run on the ``regex`` engine with a timeout, inside a budget per call (a
batch): a pattern that backtracks catastrophically stops at its timeout and the value it
was searching is replaced whole (fail closed: nothing unsearched is stored); once a
budget is spent, every later value that pattern applies to is replaced whole too.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import regex

from spanlink.receiver.redaction._config import RedactionConfig
from spanlink.receiver.redaction._detectors import BUILTIN_DETECTORS, MARKER_PATTERN, Detector

__all__ = [
    "BUDGET_S",
    "PATTERN_TIMEOUT_S",
    "CompiledRules",
    "RedactionBudget",
    "compile_rules",
    "marker",
]

#: Longest one user pattern may search one value (seconds).
PATTERN_TIMEOUT_S = 0.25
#: What user patterns may spend in one call of ``redact_span``/``redact_value`` or one batch.
BUDGET_S = 2.0
#: Distinct keys whose applicable rules are remembered per rule set.
_KEY_CACHE_SIZE = 8192

#: Texts up to this length have their redacted form cached per rule set.
_TEXT_CACHE_LENGTH = 256

_MARKER_SPLIT = re.compile(f"({MARKER_PATTERN})")


def marker(rule: str) -> str:
    """The replacement of whatever rule ``rule`` matched; it holds nothing of the match."""
    return f"[REDACTED:{rule}]"


class RedactionBudget:
    """Time user patterns may still spend; shared by the values of one batch."""

    def __init__(self, seconds: float = BUDGET_S) -> None:
        self._deadline = time.monotonic() + seconds
        #: Rules that ran out of time (their values were replaced whole).
        self.timed_out: set[str] = set()

    def timeout(self) -> float:
        """The timeout for the next search (0 when the budget is spent)."""
        return max(0.0, min(PATTERN_TIMEOUT_S, self._deadline - time.monotonic()))


@dataclass(frozen=True, slots=True)
class UserPattern:
    """A user rule's compiled pattern."""

    name: str
    compiled: regex.Pattern[str]
    marker: str


@dataclass(frozen=True, slots=True)
class KeyRules:
    """What applies to one attribute key: a whole-value rule, or extra patterns."""

    whole: str | None = None
    patterns: tuple[UserPattern, ...] = ()


@dataclass(frozen=True, slots=True)
class _KeyRule:
    globs: re.Pattern[str]
    marker: str | None  # a keys-only rule replaces the whole value
    pattern: UserPattern | None  # a rule with both applies its pattern within the keys


def _globs(keys: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(fnmatch.translate(key.lower()) for key in keys))


class _Builtins:
    """The enabled builtin detectors as one expression per subset that a text may match.

    One alternation tried at every offset is slow; the detectors' hints (substring scans
    at C speed) pick the few that can match a given text, and the alternation of just
    those is compiled once and kept (there are at most 2^6 subsets).
    """

    def __init__(self, detectors: list[Detector]) -> None:
        self.detectors = detectors
        self._groups = {f"d{index}": index for index in range(len(detectors))}
        self._keeps = [tuple(re.findall(r"\(\?P<(keep_[a-z_]+)>", d.pattern)) for d in detectors]
        self._combos: dict[tuple[int, ...], re.Pattern[str]] = {}
        self._lock = threading.Lock()

    def _compiled(self, chosen: tuple[int, ...]) -> re.Pattern[str]:
        found = self._combos.get(chosen)
        if found is None:
            parts = [f"(?P<keep>{MARKER_PATTERN})"]
            parts += [f"(?P<d{index}>{self.detectors[index].pattern})" for index in chosen]
            found = re.compile("|".join(parts))
            with self._lock:
                self._combos[chosen] = found
        return found

    def sub(self, text: str) -> str:
        """``text`` with every match of the detectors replaced."""
        chosen = tuple(index for index, d in enumerate(self.detectors) if d.may_match(text))
        if not chosen:
            return text
        return self._compiled(chosen).sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        group = match.lastgroup
        if group is None or group == "keep":
            return match.group(0)
        index = self._groups[group]
        detector = self.detectors[index]
        prefix = ""
        for keep in self._keeps[index]:
            kept = match.group(keep)
            if kept is not None:
                prefix = kept
                break
        replacement = marker(detector.name)
        if detector.replace is not None:
            custom = detector.replace(match.group(0)[len(prefix) :], replacement)
            if custom is None:
                return match.group(0)
            replacement = custom
        return prefix + replacement


@dataclass(eq=False)
class CompiledRules:
    """A project's rules ready to apply; build with :func:`compile_rules`. Thread-safe."""

    config: RedactionConfig
    _builtin: _Builtins | None = None
    _global: tuple[UserPattern, ...] = ()
    _key_rules: tuple[_KeyRule, ...] = ()
    _keys: dict[str, KeyRules] = field(default_factory=dict)
    _names: dict[str, str] = field(default_factory=dict)
    _texts: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def is_empty(self) -> bool:
        """True when these rules redact nothing (the ingest path then skips redaction)."""
        return self._builtin is None and not self._global and not self._key_rules

    @property
    def scans_numbers(self) -> bool:
        """True when long integers are searched too (a card number sent as a number)."""
        return "credit_card" in self.config.builtin or bool(self._global)

    # --- keys ----------------------------------------------------------------------

    def for_key(self, path: str) -> KeyRules:
        """The rules that apply to the value at key path ``path`` (dotted, as flattened)."""
        found = self._keys.get(path)
        if found is not None:
            return found
        lowered = path.lower()
        whole: str | None = None
        patterns: list[UserPattern] = []
        for rule in self._key_rules:
            if rule.globs.match(lowered) is None:
                continue
            if rule.marker is not None:
                whole = rule.marker
                break
            if rule.pattern is not None:
                patterns.append(rule.pattern)
        result = KeyRules(whole=whole, patterns=() if whole else tuple(patterns))
        with self._lock:
            if len(self._keys) >= _KEY_CACHE_SIZE:  # bounded: forget rather than grow
                self._keys.clear()
            self._keys[path] = result
        return result

    def redact_key(self, key: str) -> str:
        """A mapping key with the builtin detectors applied (cached).

        User patterns are not applied to keys: a pattern out of time replaces what it
        searched whole, and keys replaced whole would merge into one.
        """
        if self._builtin is None:
            return key
        cached = self._names.get(key)
        if cached is not None:
            return cached
        result = self._builtin.sub(key)
        with self._lock:
            if len(self._names) >= _KEY_CACHE_SIZE:
                self._names.clear()
            self._names[key] = result
        return result

    # --- text ----------------------------------------------------------------------

    def redact_text(
        self, text: str, extra: tuple[UserPattern, ...], budget: RedactionBudget
    ) -> str:
        """``text`` with the builtin detectors, the global patterns and ``extra`` applied.

        Short texts repeat across the spans of a batch (names, roles, models): their
        results are remembered (bounded), except a result forced by a spent budget.
        """
        cacheable = not extra and len(text) <= _TEXT_CACHE_LENGTH
        if cacheable:
            cached = self._texts.get(text)
            if cached is not None:
                return cached
        timed_out = len(budget.timed_out)
        result = text
        if self._builtin is not None:
            result = self._builtin.sub(result)
        for pattern in (*self._global, *extra) if extra else self._global:
            result = _apply_user(pattern, result, budget)
        if cacheable and len(budget.timed_out) == timed_out:
            with self._lock:
                if len(self._texts) >= _KEY_CACHE_SIZE:
                    self._texts.clear()
                self._texts[text] = result
        return result


def _replace_match(match: regex.Match[str], replacement: str) -> str:
    return replacement if match.end() > match.start() else match.group(0)


def _apply_user(pattern: UserPattern, text: str, budget: RedactionBudget) -> str:
    """One user pattern on the parts of ``text`` that are not markers already."""
    if not text:
        return text
    parts = _MARKER_SPLIT.split(text) if "[REDACTED:" in text else [text]
    changed = False
    for index in range(0, len(parts), 2):  # even indexes: text between markers
        part = parts[index]
        if not part:
            continue
        timeout = budget.timeout()
        if timeout <= 0:
            budget.timed_out.add(pattern.name)
            return pattern.marker
        replace: Callable[[regex.Match[str]], str] = lambda m: _replace_match(m, pattern.marker)  # noqa: E731
        try:
            result = pattern.compiled.sub(replace, part, timeout=timeout, concurrent=True)
        except TimeoutError:
            budget.timed_out.add(pattern.name)
            return pattern.marker  # fail closed: what was not searched is not stored
        if result != part:
            parts[index] = result
            changed = True
    return "".join(parts) if changed else text


def compile_rules(config: RedactionConfig) -> CompiledRules:
    """Compile validated rules (see ``parse_config``) for :func:`redact_span` and friends."""
    detectors = [BUILTIN_DETECTORS[name] for name in config.builtin]
    builtin = _Builtins(detectors) if detectors else None
    global_patterns: list[UserPattern] = []
    key_rules: list[_KeyRule] = []
    for detector in detectors:
        if detector.keys:
            key_rules.append(_KeyRule(_globs(detector.keys), marker(detector.name), None))
    for rule in config.rules:
        user = (
            UserPattern(rule.name, regex.compile(rule.pattern), marker(rule.name))
            if rule.pattern is not None
            else None
        )
        if rule.keys:
            key_rules.append(_KeyRule(_globs(rule.keys), None if user else marker(rule.name), user))
        elif user is not None:
            global_patterns.append(user)
    return CompiledRules(
        config=config,
        _builtin=builtin,
        _global=tuple(global_patterns),
        _key_rules=tuple(key_rules),
    )
