"""The receiver hook ``spanlink_redact_ingest``: plugins' own detectors at ingest.

Called for every span of an ingested batch after the project's rules (builtin detectors and
patterns) and after normalization, with the attributes exactly as they are about to be
stored; the columns (test ids, model, tokens) are read from its result. Implementations run
in pluggy's call order, each seeing the previous one's output (``call_each``). A plugin
that raises on a span makes that span rejected (named in the partial-success answer), never
stored without the redaction it was meant to get; the error is logged once per plugin.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pluggy

from spanlink.tracer.plugins import call_each

__all__ = ["HOOK", "IngestRedaction", "RedactionPluginError"]

logger = logging.getLogger("spanlink.receiver")

HOOK = "spanlink_redact_ingest"


class RedactionPluginError(Exception):
    """A ``spanlink_redact_ingest`` implementation raised; the span is not stored."""


class IngestRedaction:
    """The ``spanlink_redact_ingest`` implementations of a plugin manager, and their context.

    ``plugins`` returns the manager on first use (loading entry points is deferred until a
    batch arrives); :meth:`use_plugins` replaces it, e.g. with plugins registered in-process.
    """

    def __init__(
        self,
        plugins: Callable[[], pluggy.PluginManager],
        config: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._load = plugins
        self._manager: pluggy.PluginManager | None = None
        self._config = dict(config or {})
        self._lock = threading.Lock()
        self._failed: set[str] = set()

    def use_plugins(self, manager: pluggy.PluginManager) -> None:
        """Call these plugins' implementations from now on (the manager must know the hook)."""
        with self._lock:
            self._manager = manager

    def _plugins(self) -> pluggy.PluginManager:
        with self._lock:
            if self._manager is None:
                self._manager = self._load()
            return self._manager

    def for_project(self, project_id: int) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
        """The function applying the hook to one span's attributes (None: no implementation).

        The function returns the attributes to store (the argument itself when nothing
        changed) and raises :class:`RedactionPluginError` when an implementation failed.
        """
        manager = self._plugins()
        hook = getattr(manager.hook, HOOK, None)
        if hook is None or not hook.get_hookimpls():
            return None
        context = {"project": project_id, "config": self._config}

        def apply(attributes: dict[str, Any]) -> dict[str, Any]:
            current = dict(attributes)  # changed in place: each implementation sees the last

            def merge(_plugin: str, replacement: Any) -> None:
                if not isinstance(replacement, Mapping):
                    return
                for key, value in replacement.items():
                    if value is None:
                        current.pop(key, None)
                    else:
                        current[key] = value

            _, errors = call_each(manager, HOOK, merge, attributes=current, context=context)
            if errors:
                names = ", ".join(sorted(errors))
                for name, error in errors.items():
                    if name not in self._failed:
                        self._failed.add(name)
                        logger.error(
                            "spanlink: %s (hook %s); the spans it fails on are rejected",
                            error,
                            HOOK,
                        )
                raise RedactionPluginError(f"redaction plugin(s) {names} failed")
            return current

        return apply
