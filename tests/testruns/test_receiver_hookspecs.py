"""The receiver's own hooks: added by the receiver, documented like the tracer's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanlink.receiver import hookspecs
from spanlink.tracer.plugins import call_each, get_plugin_manager, hookimpl


def test_receiver_hookspecs_are_documented_and_added_by_the_receiver() -> None:
    manager = get_plugin_manager()
    assert not hasattr(manager.hook, "spanlink_redact_ingest")
    manager.add_hookspecs(hookspecs)
    for name in ("spanlink_linking_strategy", "spanlink_redact_ingest"):
        spec = getattr(manager.hook, name).spec
        assert spec is not None and spec.function is getattr(hookspecs, name)
        for parameter in spec.argnames:
            assert f":param {parameter}:" in (spec.function.__doc__ or ""), (name, parameter)
    assert manager.hook.spanlink_linking_strategy.spec.opts["firstresult"]


def test_redact_ingest_implementations_are_called_by_call_each() -> None:
    manager = get_plugin_manager()
    manager.add_hookspecs(hookspecs)

    class Redactor:
        @hookimpl
        def spanlink_redact_ingest(
            self, attributes: Mapping[str, Any], context: Mapping[str, Any]
        ) -> dict[str, Any] | None:
            return {"user.email": None} if "user.email" in attributes else None

    manager.register(Redactor(), name="redactor")
    results, errors = call_each(
        manager, "spanlink_redact_ingest", attributes={"user.email": "a@b"}, context={}
    )
    assert results == {"redactor": {"user.email": None}} and not errors
