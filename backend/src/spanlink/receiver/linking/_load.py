"""Choosing the linking strategy: the ``spanlink_linking_strategy`` hook of the plugins."""

from __future__ import annotations

from spanlink.receiver import hookspecs
from spanlink.receiver.linking._strategies import ReceiverLinkingStrategy
from spanlink.tracer.plugins import get_plugin_manager, load_plugins

__all__ = ["load_strategy"]


def load_strategy(name: str) -> ReceiverLinkingStrategy:
    """The linking strategy called ``name``, from the plugins of group ``spanlink``."""
    manager = get_plugin_manager()
    manager.add_hookspecs(hookspecs)
    manager, _ = load_plugins(manager)
    strategy = manager.hook.spanlink_linking_strategy(config={"name": name})
    if strategy is None:
        raise ValueError(
            f"no installed plugin provides the linking strategy {name!r}; the builtin ones "
            f"are 'hybrid' and 'trace_id' (set SPANLINK_LINKING_STRATEGY)"
        )
    for method in ("link_ingested", "link_result", "sweep"):
        if not callable(getattr(strategy, method, None)):
            raise ValueError(f"linking strategy {name!r} has no {method}() method")
    return strategy  # type: ignore[no-any-return]
