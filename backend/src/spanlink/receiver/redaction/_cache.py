"""Compiled rules per project, loaded on first use, refreshed after a short time, and
dropped at once when this receiver stores new rules (other receivers see them within
``ttl_seconds``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from spanlink.receiver.redaction._compiled import CompiledRules, compile_rules
from spanlink.receiver.redaction._config import RedactionConfig

__all__ = ["EMPTY_RULES", "RulesCache"]

#: The rules of a project that has none: applying them is a no-op.
EMPTY_RULES = compile_rules(RedactionConfig())

#: Most projects whose rules are held; past that the cache starts over.
_MAX_PROJECTS = 10_000


class RulesCache:
    """``get(project_id)`` -> :class:`CompiledRules`; ``loader`` reads a project's stored
    rules (``None``: the project has none) and may raise (the caller's error to handle)."""

    def __init__(
        self, loader: Callable[[int], RedactionConfig | None], ttl_seconds: float = 5.0
    ) -> None:
        self._loader = loader
        self._ttl = ttl_seconds
        self._entries: dict[int, tuple[CompiledRules, float]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, project_id: int) -> CompiledRules:
        """The project's compiled rules (``EMPTY_RULES`` when it has none)."""
        now = time.monotonic()
        entry = self._entries.get(project_id)
        if entry is not None and entry[1] > now:
            return entry[0]
        with self._lock:
            generation = self._generation
        config = self._loader(project_id)
        rules = EMPTY_RULES if config is None or config.is_empty else compile_rules(config)
        with self._lock:
            # An invalidation while loading may mean what was loaded is already stale.
            if generation == self._generation:
                if len(self._entries) >= _MAX_PROJECTS:
                    self._entries.clear()
                self._entries[project_id] = (rules, now + self._ttl)
        return rules

    def invalidate(self, project_id: int | None = None) -> None:
        """Forget one project's rules (or all): the next ``get`` loads them again."""
        with self._lock:
            self._generation += 1
            if project_id is None:
                self._entries.clear()
            else:
                self._entries.pop(project_id, None)

    def put(self, project_id: int, config: RedactionConfig) -> CompiledRules:
        """Cache rules just stored for a project (what a ``PUT`` wrote), returning them."""
        rules = EMPTY_RULES if config.is_empty else compile_rules(config)
        with self._lock:
            self._generation += 1
            self._entries[project_id] = (rules, time.monotonic() + self._ttl)
        return rules
