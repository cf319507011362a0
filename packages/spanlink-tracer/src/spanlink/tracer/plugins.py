"""spanlink's plugin system: pluggy markers, the entry-point loader and ``call_each``.

A plugin is any module or object with ``@hookimpl`` functions, declared as an entry point
in group ``spanlink``::

    [project.entry-points.spanlink]
    my_plugin = "my_package.plugin"

The receiver and ``SpanlinkProcessor`` both load plugins this way; the builtin plugins get
no special treatment. ``SPANLINK_DISABLE_PLUGINS=name,other`` turns plugins off by entry
point name. The hooks themselves, with the plugin author's manual, are
:mod:`spanlink.tracer.hookspecs`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

import pluggy

from spanlink.tracer import _env, hookspecs
from spanlink.tracer.hookspecs import PROJECT_NAME, hookspec
from spanlink.tracer.support import env_value

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "PluginError",
    "PluginInfo",
    "call_each",
    "disabled_plugins",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "load_plugins",
]

ENTRY_POINT_GROUP = "spanlink"
DISABLE_ENV = _env.SPANLINK_DISABLE_PLUGINS

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

logger = logging.getLogger("spanlink.plugins")


class PluginError(RuntimeError):
    """A plugin failed; ``plugin`` names it and ``__cause__`` holds the original error."""

    def __init__(self, plugin: str, error: BaseException) -> None:
        super().__init__(f"plugin {plugin!r} failed: {type(error).__name__}: {error}")
        self.plugin = plugin


class PluginInfo:
    """What was discovered for one plugin: its name, distribution, version and hooks."""

    __slots__ = ("distribution", "hooks", "name", "version")

    def __init__(self, name: str, distribution: str | None, version: str | None, hooks: list[str]):
        self.name = name
        self.distribution = distribution
        self.version = version
        self.hooks = hooks

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": list(self.hooks),
        }

    def __repr__(self) -> str:
        return f"PluginInfo(name={self.name!r}, version={self.version!r}, hooks={self.hooks!r})"


def disabled_plugins(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Plugin names listed in ``SPANLINK_DISABLE_PLUGINS`` (comma-separated)."""
    raw = env_value(DISABLE_ENV, environ) or ""
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def get_plugin_manager() -> pluggy.PluginManager:
    """A new plugin manager with spanlink's hook specifications and no plugins."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def load_plugins(
    manager: pluggy.PluginManager | None = None,
    *,
    disabled: frozenset[str] | None = None,
) -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    """Load every entry point of group ``spanlink`` into ``manager`` (a new one by default).

    Plugins named in ``disabled`` (default: ``SPANLINK_DISABLE_PLUGINS``) are skipped. A
    plugin that fails to import or register is logged with the reason and skipped; the
    others still load.
    """
    manager = manager if manager is not None else get_plugin_manager()
    disabled = disabled if disabled is not None else disabled_plugins()
    infos: list[PluginInfo] = []
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in disabled:
            manager.set_blocked(entry_point.name)
            logger.info("spanlink plugin %r disabled by %s", entry_point.name, DISABLE_ENV)
            continue
        if manager.get_plugin(entry_point.name) is not None or manager.is_blocked(entry_point.name):
            continue
        try:
            plugin = entry_point.load()
            manager.register(plugin, name=entry_point.name)
        except Exception as error:  # a broken plugin must not stop the others
            logger.error(
                "spanlink plugin %r (%s) could not be loaded and is skipped: %s: %s",
                entry_point.name,
                entry_point.value,
                type(error).__name__,
                error,
            )
            continue
        dist = entry_point.dist
        hooks = sorted(
            caller.name for caller in manager.get_hookcallers(plugin) or () if caller.name
        )
        infos.append(
            PluginInfo(
                entry_point.name,
                dist.metadata["Name"] if dist is not None else None,
                dist.version if dist is not None else None,
                hooks,
            )
        )
    return manager, infos


def _is_wrapper(impl: pluggy.HookImpl) -> bool:
    return bool(impl.hookwrapper or impl.wrapper)


def call_each(
    manager: pluggy.PluginManager,
    hook_name: str,
    on_result: Callable[[str, Any], None] | None = None,
    /,
    **kwargs: Any,
) -> tuple[dict[str, Any], dict[str, PluginError]]:
    """Call every implementation of ``hook_name`` separately, isolating failures.

    Returns ``(results, errors)``, both keyed by plugin name: results hold each non-None
    return value; errors hold a ``PluginError`` for each implementation that raised. One
    plugin's failure never prevents the others from running. Implementations run in
    pluggy's call order. This is the one loop that calls hook implementations.

    ``on_result(plugin, value)``, when given, runs after each non-None result and before
    the next implementation, so a hook whose implementations see each other's output
    (``spanlink_redact``) can update its arguments in place.

    Hook wrappers (``wrapper=True`` and old-style ``hookwrapper=True``) keep working: they
    wrap each implementation's call, through pluggy's own calling machinery, and see (and
    may change) that one implementation's result.
    """
    hook = getattr(manager.hook, hook_name)
    impls = hook.get_hookimpls()
    wrapped = any(_is_wrapper(impl) for impl in impls)
    firstresult = bool(hook.spec is not None and hook.spec.opts.get("firstresult"))
    results: dict[str, Any] = {}
    errors: dict[str, PluginError] = {}
    for impl in reversed(impls):  # pluggy calls LIFO; keep its order
        if _is_wrapper(impl):
            continue
        name = impl.plugin_name
        try:
            if wrapped:
                others = [
                    other.plugin for other in impls if other is not impl and not _is_wrapper(other)
                ]
                outcome = manager.subset_hook_caller(hook_name, others)(**kwargs)
                value = outcome if firstresult else (outcome[0] if outcome else None)
            else:  # the common case, without the cost of a hook call per implementation
                value = impl.function(*(kwargs[arg] for arg in impl.argnames))
        except Exception as error:
            plugin_error = PluginError(name, error)
            plugin_error.__cause__ = error
            errors[name] = plugin_error
            continue
        if value is not None:
            results[name] = value
            if on_result is not None:
                on_result(name, value)
    return results, errors
