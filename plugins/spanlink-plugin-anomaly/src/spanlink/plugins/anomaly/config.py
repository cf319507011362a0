"""Rule settings: defaults, ``SPANLINK_ANOMALY_*`` environment variables, host configuration.

Precedence, lowest to highest: ``DEFAULTS``, then the environment (read once per process;
``clear_config_cache()`` re-reads it), then ``context["config"]["anomaly"]`` given by the host
(in the receiver: the project's settings). Every parameter of every rule can be set::

    SPANLINK_ANOMALY_SLOW_SPAN_THRESHOLD_MS=30000
    SPANLINK_ANOMALY_TOOL_LOOP_ENABLED=false

    context["config"]["anomaly"] = {"tool_loop": {"repeats": 4, "severity": "error"}}

A misspelt rule or parameter, or a value of the wrong type, raises ``AnomalyConfigError``
naming it, instead of being silently ignored.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULTS",
    "ENV_PREFIX",
    "SEVERITIES",
    "AnomalyConfigError",
    "Settings",
    "clear_config_cache",
    "env_settings",
    "merge_settings",
    "settings_for",
]

#: Severity levels, mildest first; the rollup reports the worst one present.
SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")
ENV_PREFIX = "SPANLINK_ANOMALY_"

#: Rule name → parameter → default. The type of each default is the parameter's type.
DEFAULTS: dict[str, dict[str, Any]] = {
    "slow_span": {
        "enabled": True,
        "severity": "warning",
        "threshold_ms": 60_000.0,  # absolute: any span longer than this
        "relative_factor": 1.5,  # relative: longer than factor x the name's p95 baseline
        "min_baseline_count": 20,  # ...when the baseline has at least this many spans
        "min_ms": 50.0,  # ...and the span took at least this long (ignore µs jitter)
    },
    "error_span": {"enabled": True, "severity": "error"},
    "token_spike": {
        "enabled": True,
        "severity": "warning",
        "max_tokens": 100_000,  # absolute: input + output tokens of one call
        "relative_factor": 5.0,  # relative: above factor x the trace's median LLM call
        "min_llm_spans": 4,  # ...when the trace has at least this many LLM calls
        "min_tokens": 1_000,  # ...and the call used at least this many tokens
    },
    "cost_spike": {
        "enabled": True,
        "severity": "warning",
        "max_span_usd": 0.5,  # absolute: one call
        "max_trace_usd": 5.0,  # absolute: the whole trace (finding without a span id)
        "relative_factor": 5.0,
        "min_llm_spans": 4,
        "min_usd": 0.001,
    },
    "tool_loop": {
        "enabled": True,
        "severity": "warning",
        "repeats": 3,  # same tool, same arguments, this many times in a row
    },
    "empty_output": {"enabled": True, "severity": "warning"},
}

Settings = Mapping[str, Mapping[str, Any]]


class AnomalyConfigError(ValueError):
    """A rule setting is unknown or has a bad value; the message says which and why."""


def _coerce(rule: str, param: str, value: Any, where: str) -> Any:
    default = DEFAULTS[rule][param]
    label = f"{where}: {rule}.{param}"
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
            return False
        raise AnomalyConfigError(f"{label} must be true or false, got {value!r}")
    if param == "severity":
        if value not in SEVERITIES:
            raise AnomalyConfigError(
                f"{label} must be one of {', '.join(SEVERITIES)}, got {value!r}"
            )
        return value
    if isinstance(default, int):
        try:
            number = int(value) if isinstance(value, str) else value
        except ValueError:
            number = None
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise AnomalyConfigError(f"{label} must be a whole number >= 1, got {value!r}")
        if param == "repeats" and number < 2:
            raise AnomalyConfigError(f"{label} must be at least 2 (a loop repeats), got {value!r}")
        return number
    try:
        number = (
            float(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else value
        )
    except ValueError:
        number = None
    if not isinstance(number, float) or not math.isfinite(number) or number <= 0:
        raise AnomalyConfigError(f"{label} must be a number > 0, got {value!r}")
    return number


def merge_settings(base: Settings, overrides: Any, *, where: str) -> dict[str, dict[str, Any]]:
    """``base`` with ``overrides`` (rule → parameter → value) applied and validated."""
    if not isinstance(overrides, Mapping):
        raise AnomalyConfigError(
            f"{where} must map rule names to settings, got {type(overrides).__name__}"
        )
    merged = {rule: dict(params) for rule, params in base.items()}
    for rule, params in overrides.items():
        if rule not in DEFAULTS:
            raise AnomalyConfigError(
                f"{where}: unknown rule {rule!r}; rules are {', '.join(DEFAULTS)}"
            )
        if not isinstance(params, Mapping):
            raise AnomalyConfigError(f"{where}: {rule} must be a mapping of settings")
        for param, value in params.items():
            if param not in DEFAULTS[rule]:
                raise AnomalyConfigError(
                    f"{where}: unknown setting {rule}.{param}; "
                    f"{rule} has {', '.join(DEFAULTS[rule])}"
                )
            merged[rule][param] = _coerce(rule, param, value, where)
    return merged


_lock = threading.Lock()
_env: dict[str, dict[str, Any]] | None = None
# The last host configuration merged, with a copy to notice in-place edits.
_host_cache: tuple[Any, dict[str, Any], Settings, Settings] | None = None


def env_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults overridden by ``SPANLINK_ANOMALY_<RULE>_<SETTING>`` variables.

    With ``environ=None`` the process environment is read once and cached.
    """
    global _env
    if environ is None and _env is not None:
        return _env
    source = os.environ if environ is None else environ
    overrides: dict[str, dict[str, Any]] = {}
    for rule, params in DEFAULTS.items():
        for param in params:
            name = f"{ENV_PREFIX}{rule}_{param}".upper()
            if name in source:
                overrides.setdefault(rule, {})[param] = source[name]
    known = {f"{ENV_PREFIX}{rule}_{param}".upper() for rule in DEFAULTS for param in DEFAULTS[rule]}
    for name in source:
        if name.startswith(ENV_PREFIX) and name not in known:
            raise AnomalyConfigError(
                f"unknown environment variable {name}; anomaly settings are "
                f"{ENV_PREFIX}<RULE>_<SETTING>, e.g. {ENV_PREFIX}SLOW_SPAN_THRESHOLD_MS"
            )
    settings = merge_settings(DEFAULTS, overrides, where="environment")
    if environ is None:
        with _lock:
            _env = settings
    return settings


def settings_for(context: Mapping[str, Any] | None) -> Settings:
    """The effective settings for one hook call (environment + ``context["config"]["anomaly"]``)."""
    global _host_cache
    base = env_settings()
    config = context.get("config") if context else None
    if not config:
        return base
    if not isinstance(config, Mapping):
        raise AnomalyConfigError(
            f'context["config"] must be a mapping, got {type(config).__name__}'
        )
    overrides = config.get("anomaly")
    if not overrides:
        return base
    cached = _host_cache
    if (
        cached is not None
        and cached[0] is overrides
        and cached[2] is base
        and cached[1] == overrides
    ):
        return cached[3]
    merged = merge_settings(base, overrides, where='context["config"]["anomaly"]')
    snapshot = {
        rule: dict(params) if isinstance(params, Mapping) else params
        for rule, params in overrides.items()
    }
    _host_cache = (overrides, snapshot, base, merged)
    return merged


def clear_config_cache() -> None:
    """Forget cached settings so the environment is read again on the next call."""
    global _env, _host_cache
    with _lock:
        _env = None
        _host_cache = None
