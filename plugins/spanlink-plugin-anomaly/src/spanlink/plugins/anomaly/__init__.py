"""spanlink-plugin-anomaly: flags slow, failing, token- and cost-spiking spans, LLM calls
with empty output, and agent tool loops.

Registered through the entry point ``anomaly`` in group ``spanlink``; the hooks live in
``spanlink.plugins.anomaly.plugin``. Settings: see ``spanlink.plugins.anomaly.config``.
"""

from spanlink.plugins.anomaly.config import (
    DEFAULTS,
    SEVERITIES,
    AnomalyConfigError,
    clear_config_cache,
    env_settings,
    merge_settings,
    settings_for,
)
from spanlink.plugins.anomaly.rules import finding, span_findings, trace_findings

__all__ = [
    "DEFAULTS",
    "SEVERITIES",
    "AnomalyConfigError",
    "clear_config_cache",
    "env_settings",
    "finding",
    "merge_settings",
    "settings_for",
    "span_findings",
    "trace_findings",
]
