"""spanlink's plugin system: pluggy markers, the hook specifications, and the plugin manager.

A plugin is any module or object with ``@hookimpl`` functions, declared as an entry point
in group ``spanlink``::

    [project.entry-points.spanlink]
    my_plugin = "my_package.plugin"

The receiver and ``SpanlinkProcessor`` both load plugins this way; the builtin plugins get
no special treatment. ``SPANLINK_DISABLE_PLUGINS=name,other`` turns plugins off by entry
point name. Each hook's docstring below is the plugin author's manual.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pluggy

if TYPE_CHECKING:
    from spanlink.tracer.model import Evaluator, SpanRecord, Trace

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "LinkingStrategy",
    "PluginError",
    "PluginInfo",
    "call_each",
    "disabled_plugins",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "load_plugins",
]

PROJECT_NAME = "spanlink"
ENTRY_POINT_GROUP = "spanlink"
DISABLE_ENV = "SPANLINK_DISABLE_PLUGINS"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

logger = logging.getLogger("spanlink.plugins")


@runtime_checkable
class LinkingStrategy(Protocol):
    """How the receiver links stored spans to test results (see ``spanlink_linking_strategy``).

    ``name`` identifies the strategy in configuration and results. The receiver calls three
    methods, each inside a database transaction already scoped to one project, each
    returning the number of spans it linked; a strategy sets ``test_result_id`` (and the
    run/case ids) only on spans whose ``test_result_id`` is still NULL, so every call is
    idempotent:

    - ``link_ingested(connection, project_id, trace_ids)``: after a batch is stored;
    - ``link_result(connection, project_id, result)``: after a test result is stored
      (``result`` carries its id, run id, case id and reported trace id);
    - ``sweep(connection, project_id, grace_s)``: periodically, for spans left unlinked
      longer than ``grace_s`` seconds.

    ``spanlink.receiver.testruns.linking`` holds the builtin ``hybrid`` and ``trace_id``
    strategies, a working example of all three.
    """

    name: str


class _HookSpecs:
    """Hook specifications of project ``spanlink``."""

    @hookspec
    def spanlink_enrich_span(
        self, span: SpanRecord, context: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Compute enrichment for one finished span.

        ``context`` is what the host knows beyond the span (an implementation may omit the
        parameter): ``"project"`` (receiver only), ``"prices"`` (per-project price
        overrides: model pattern to per-token prices), and ``"config"`` (plugin settings by
        plugin name). It may be empty; never require a key.

        Called once per span, after ``normalize``: read GenAI attribute names only
        (``gen_ai.request.model``, ``gen_ai.usage.input_tokens``...). Return a JSON-safe
        dict, or None when the plugin has nothing to say about this span. The result is
        stored under the plugin's name; in-process (``SpanlinkProcessor(enrich=True)``) it
        is also written onto the span as attributes ``spanlink.<plugin>.<key>`` for scalar
        values. Must not mutate ``span``. Must be fast: it runs for every span.
        """

    @hookspec
    def spanlink_enrich_trace(
        self,
        trace: Trace,
        span_results: Mapping[str, Mapping[str, Any]],
        context: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        """Compute enrichment for a whole trace (rollups, cross-span rules).

        ``context`` is as for ``spanlink_enrich_span``, plus, in the receiver,
        ``"baselines"``: span name to ``{"p95_ms": float, "count": int}`` over the
        project's recent history (absent when the host has no history).

        ``span_results`` maps span id to ``{plugin name: that plugin's span result}`` from
        ``spanlink_enrich_span``, so a rollup never recomputes per-span work. Return a
        JSON-safe dict or None. Runs in the receiver when a trace has been quiet for the
        debounce interval, and again when later spans arrive.
        """

    @hookspec
    def spanlink_evaluators(self) -> list[Evaluator] | None:
        """Return the evaluators this plugin provides (see ``spanlink.tracer.model.Evaluator``).

        Each evaluator is found by its ``name``; a name given by two plugins resolves to
        the one registered last, with a warning. Called once when the host loads plugins.
        """

    @hookspec(firstresult=True)
    def spanlink_linking_strategy(self, config: Mapping[str, Any]) -> LinkingStrategy | None:
        """Return the linking strategy the receiver should use, or None to pass.

        ``config["name"]`` is the configured strategy name (default ``"hybrid"``). The first
        non-None result wins, so return None unless ``config["name"]`` is yours.
        """

    @hookspec
    def spanlink_span_filter(self, span: SpanRecord) -> bool | None:
        """Client side: return False to drop a span before export, None or True to keep it.

        A span is dropped when any plugin returns False.
        """

    @hookspec
    def spanlink_redact(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Client side: return attributes to replace on a span before export, or None.

        The returned mapping is merged over the span's attributes (a value of None removes
        the key). Plugins run in registration order, each seeing the previous one's output.
        """


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
    raw = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def get_plugin_manager() -> pluggy.PluginManager:
    """A new plugin manager with spanlink's hook specifications and no plugins."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(_HookSpecs)
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


def call_each(
    manager: pluggy.PluginManager, hook_name: str, **kwargs: Any
) -> tuple[dict[str, Any], dict[str, PluginError]]:
    """Call every implementation of ``hook_name`` separately, isolating failures.

    Returns ``(results, errors)``, both keyed by plugin name: results hold each non-None
    return value; errors hold a ``PluginError`` for each implementation that raised. One
    plugin's failure never prevents the others from running. Implementations run in
    pluggy's call order.
    """
    hook = getattr(manager.hook, hook_name)
    results: dict[str, Any] = {}
    errors: dict[str, PluginError] = {}
    for impl in reversed(hook.get_hookimpls()):  # pluggy calls LIFO; keep its order
        name = impl.plugin_name
        try:
            value = impl.function(*(kwargs[arg] for arg in impl.argnames))
        except Exception as error:
            plugin_error = PluginError(name, error)
            plugin_error.__cause__ = error
            errors[name] = plugin_error
            continue
        if value is not None:
            results[name] = value
    return results, errors
