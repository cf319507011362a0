"""spanlink-tracer: OpenTelemetry-native tracing for AI applications.

``configure()`` once, ``@observe`` your functions, run test code inside ``test_context``;
or add ``SpanlinkProcessor`` to the ``TracerProvider`` you already have.

Names are imported on first use, so ``import spanlink.tracer.semconv`` (as the receiver
and plugins do) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanlink.tracer.config import ConfigurationError, configure, flush, shutdown
    from spanlink.tracer.content import configure_content
    from spanlink.tracer.context import (
        ContextThreadPoolExecutor,
        SessionContext,
        TestContext,
        current_session,
        current_test_context,
        session,
        test_context,
        with_current_context,
    )
    from spanlink.tracer.model import Case, Evaluator, EvaluatorConfig, Score, SpanRecord, Trace
    from spanlink.tracer.observe import Observation, current_observation, observe
    from spanlink.tracer.plugins import hookimpl
    from spanlink.tracer.processor import SpanlinkProcessor
    from spanlink.tracer.usage import set_llm_usage

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "ConfigurationError": "config",
    "configure": "config",
    "flush": "config",
    "shutdown": "config",
    "configure_content": "content",
    "ContextThreadPoolExecutor": "context",
    "SessionContext": "context",
    "TestContext": "context",
    "current_session": "context",
    "current_test_context": "context",
    "session": "context",
    "test_context": "context",
    "with_current_context": "context",
    "Case": "model",
    "Evaluator": "model",
    "EvaluatorConfig": "model",
    "Score": "model",
    "SpanRecord": "model",
    "Trace": "model",
    "Observation": "observe",
    "current_observation": "observe",
    "observe": "observe",
    "hookimpl": "plugins",
    "SpanlinkProcessor": "processor",
    "set_llm_usage": "usage",
}

__all__ = [
    "Case",
    "ConfigurationError",
    "ContextThreadPoolExecutor",
    "Evaluator",
    "EvaluatorConfig",
    "Observation",
    "Score",
    "SessionContext",
    "SpanRecord",
    "SpanlinkProcessor",
    "TestContext",
    "Trace",
    "configure",
    "configure_content",
    "current_observation",
    "current_session",
    "current_test_context",
    "flush",
    "hookimpl",
    "observe",
    "session",
    "set_llm_usage",
    "shutdown",
    "test_context",
    "with_current_context",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'spanlink.tracer' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"spanlink.tracer.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
