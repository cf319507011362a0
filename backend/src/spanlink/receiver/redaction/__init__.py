"""Redaction before storage: builtin secret detectors and per-project rules.

A project's rules (``PUT /api/v1/redaction``) are validated by :func:`parse_config`,
compiled once by :func:`compile_rules` (cached per project by :class:`RulesCache`) and
applied by :func:`redact_span` at ingest (then the plugins' ``spanlink_redact_ingest``
hook, :class:`IngestRedaction`), and by :func:`redact_value` to any JSON value the
receiver stores (test case inputs, outputs, expected values, dataset cases, scores'
explanations and labels). A match becomes ``[REDACTED:<rule>]``, which holds nothing of
what it replaced; applying rules twice changes nothing more.
"""

from spanlink.receiver.redaction._apply import (
    redact_attributes,
    redact_evaluators,
    redact_span,
    redact_text,
    redact_value,
)
from spanlink.receiver.redaction._cache import EMPTY_RULES, RulesCache
from spanlink.receiver.redaction._compiled import (
    BUDGET_S,
    PATTERN_TIMEOUT_S,
    CompiledRules,
    RedactionBudget,
    compile_rules,
    marker,
)
from spanlink.receiver.redaction._config import (
    MAX_KEY_LENGTH,
    MAX_KEYS_PER_RULE,
    MAX_PATTERN_LENGTH,
    MAX_RULES,
    RedactionConfig,
    RedactionConfigError,
    RedactionRule,
    parse_config,
)
from spanlink.receiver.redaction._detectors import BUILTIN_DETECTORS, luhn_valid
from spanlink.receiver.redaction._hook import IngestRedaction, RedactionPluginError
from spanlink.receiver.redaction._store import load_config, save_config

__all__ = [
    "BUDGET_S",
    "BUILTIN_DETECTORS",
    "EMPTY_RULES",
    "MAX_KEYS_PER_RULE",
    "MAX_KEY_LENGTH",
    "MAX_PATTERN_LENGTH",
    "MAX_RULES",
    "PATTERN_TIMEOUT_S",
    "CompiledRules",
    "IngestRedaction",
    "RedactionBudget",
    "RedactionConfig",
    "RedactionConfigError",
    "RedactionPluginError",
    "RedactionRule",
    "RulesCache",
    "compile_rules",
    "load_config",
    "luhn_valid",
    "marker",
    "parse_config",
    "redact_attributes",
    "redact_evaluators",
    "redact_span",
    "redact_text",
    "redact_value",
    "save_config",
]
