"""Hook specifications only the receiver calls, added to spanlink's where it creates its
plugin manager (``manager.add_hookspecs(spanlink.receiver.hookspecs)``, as pytest plugins
add theirs with ``pytest_addhooks``).

The hooks every host calls are :mod:`spanlink.tracer.hookspecs`; implementations of both
use the same ``@spanlink.tracer.hookimpl`` marker and the same entry point group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from spanlink.tracer.hookspecs import hookspec

__all__ = ["LinkingStrategy", "spanlink_linking_strategy", "spanlink_redact_ingest"]


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

    The receiver's builtin ``hybrid`` and ``trace_id`` strategies are a working example of
    all three. A strategy works on the receiver's tables, so it is a receiver contract, not
    a hook of the tracer.
    """

    name: str


@hookspec(firstresult=True)
def spanlink_linking_strategy(config: Mapping[str, Any]) -> LinkingStrategy | None:
    """Return the linking strategy the receiver should use, or None to pass.

    :param config: ``config["name"]`` is the configured strategy name (default
        ``"hybrid"``, set with ``SPANLINK_LINKING_STRATEGY``).
    :returns: A :class:`LinkingStrategy`, or None unless ``config["name"]`` is yours: the
        first non-None result wins.
    """


@hookspec
def spanlink_redact_ingest(
    attributes: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Server side: replace span attributes of an ingested span before it is stored.

    The receiver's counterpart of ``spanlink_redact`` (which runs in the application before
    export): for data an application must not keep, whatever its SDK sent. Called once
    per span of an ingested batch, with the attributes as they are about to be stored.
    Implementations run in pluggy's call order, each seeing the previous one's output. Must
    not mutate ``attributes``; must be fast (it runs for every span).

    :param attributes: The span's attributes as they are so far.
    :param context: What the receiver knows beyond the span: ``"project"`` (the project id)
        and ``"config"`` (plugin settings by plugin name). It may hold fewer keys; never
        require one.
    :returns: Attributes to merge over the span's (a value of None removes the key), or
        None to leave them unchanged.
    """
