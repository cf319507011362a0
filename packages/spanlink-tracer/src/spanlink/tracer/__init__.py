"""spanlink-tracer: OpenTelemetry-native tracing for AI applications.

``configure()`` once, ``@observe`` your functions, run test code inside ``test_context``;
or add ``SpanlinkProcessor`` to the ``TracerProvider`` you already have.

Names are imported on first use, so ``import spanlink.tracer.semconv`` (as the receiver
and plugins do) stays light. The implementation modules are private (``_observe``,
``_context``, ``_processor``...); the public modules are ``semconv``, ``model``,
``hookspecs``, ``plugins`` and ``support``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanlink.tracer._config import ConfigurationError, configure, flush, shutdown
    from spanlink.tracer._content import configure_content
    from spanlink.tracer._context import (
        ContextThreadPoolExecutor,
        SessionContext,
        TestContext,
        context_environment,
        current_session,
        current_test_context,
        session,
        test_context,
        with_current_context,
    )
    from spanlink.tracer._llm_response import set_llm_usage
    from spanlink.tracer._observe import observe
    from spanlink.tracer._processor import SpanlinkProcessor
    from spanlink.tracer._span_handle import Observation, current_observation
    from spanlink.tracer.model import Case, Evaluator, EvaluatorConfig, Score, SpanRecord, Trace
    from spanlink.tracer.plugins import hookimpl

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "ConfigurationError": "_config",
    "configure": "_config",
    "flush": "_config",
    "shutdown": "_config",
    "configure_content": "_content",
    "ContextThreadPoolExecutor": "_context",
    "SessionContext": "_context",
    "TestContext": "_context",
    "context_environment": "_context",
    "current_session": "_context",
    "current_test_context": "_context",
    "session": "_context",
    "test_context": "_context",
    "with_current_context": "_context",
    "Case": "model",
    "Evaluator": "model",
    "EvaluatorConfig": "model",
    "Score": "model",
    "SpanRecord": "model",
    "Trace": "model",
    "Observation": "_span_handle",
    "current_observation": "_span_handle",
    "observe": "_observe",
    "hookimpl": "plugins",
    "SpanlinkProcessor": "_processor",
    "set_llm_usage": "_llm_response",
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
    "context_environment",
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
