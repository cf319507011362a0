"""The receiver hook ``spanlink_redact_ingest``: a plugin adds its own detector at ingest.

It runs after the project's rules and before storage, implementations chained in call
order; a plugin that fails on a span gets that span rejected, never stored unredacted.
Registered in-process (``app.state.ingest_redaction.use_plugins``) and, in a receiver
process of its own, through an entry point of group ``spanlink``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from plugin_helpers import install_module_plugin
from receiver_helpers import make_request, make_span, post_proto, span_id, trace_id

from spanlink.receiver import hookspecs
from spanlink.receiver.server import RunningReceiver, start_in_thread
from spanlink.receiver.settings import Settings
from spanlink.tracer.plugins import get_plugin_manager, hookimpl

EMPLOYEE = re.compile(r"EMP-\d{5}")
SECRET_ID = "EMP-48151"
EMAIL = "jane.doe@example.com"


class EmployeeIds:
    """A detector the builtin rules do not have: employee ids, anywhere in a string value."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    @hookimpl
    def spanlink_redact_ingest(
        self, attributes: Mapping[str, Any], context: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        self.seen.append({"attributes": dict(attributes), "context": dict(context)})
        changed = {
            key: EMPLOYEE.sub("[REDACTED:employee_id]", value)
            for key, value in attributes.items()
            if isinstance(value, str) and EMPLOYEE.search(value)
        }
        return changed or None


class DropNotes:
    """Removes a key; registered after ``EmployeeIds``, so pluggy calls it first."""

    @hookimpl
    def spanlink_redact_ingest(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        if "internal.note" in attributes:
            return {"internal.note": None, "note.dropped": True}
        return None


class FailsOnMarker:
    @hookimpl
    def spanlink_redact_ingest(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        if attributes.get("explode"):
            raise RuntimeError("detector crashed")
        return None


@pytest.fixture
def own_receiver(database_url: str) -> Iterator[RunningReceiver]:
    running = start_in_thread(Settings(database_url=database_url, redaction_cache_seconds=0))
    yield running
    running.stop()


def _use(running: RunningReceiver, *plugins: object) -> None:
    manager = get_plugin_manager()
    manager.add_hookspecs(hookspecs)
    for index, plugin in enumerate(plugins):
        manager.register(plugin, name=f"plugin{index}")
    running.server.config.app.state.ingest_redaction.use_plugins(manager)


def _client(running: RunningReceiver, key: str) -> httpx.Client:
    return httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {key}"})


def _dump(database_url: str, project_id: int) -> str:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT s::text FROM spans s WHERE project_id = %s", (project_id,)
        ).fetchall()
    return "\n".join(row[0] for row in rows)


def test_a_plugin_detector_runs_after_the_builtin_rules_and_before_storage(
    own_receiver: RunningReceiver, database_url: str, project
) -> None:
    employees, notes = EmployeeIds(), DropNotes()
    _use(own_receiver, employees, notes)
    with _client(own_receiver, project.api_key) as client:
        assert client.put("/api/v1/redaction", json={"builtin": ["email"]}).status_code == 200
        attributes = {
            "spanlink.input": f"ask {EMAIL} about {SECRET_ID}",
            "user.note": f"badge {SECRET_ID}",
            "internal.note": "keep out",
            "spanlink.test.case_id": "case-1",
        }
        spans = [make_span(trace_id(), span_id(), attributes=attributes) for _ in range(3)]
        response = post_proto(client, make_request(spans))
        assert response.status_code == 200, response.text

    # Each span went through the hook once, after the builtin email rule, with its context.
    assert len(employees.seen) == 3
    for call in employees.seen:
        assert EMAIL not in repr(call["attributes"])
        assert "[REDACTED:email]" in call["attributes"]["spanlink.input"]
        assert call["context"]["project"] == project.id
        assert "config" in call["context"]
        # DropNotes ran first (LIFO): this implementation saw its output.
        assert "internal.note" not in call["attributes"]
        assert call["attributes"]["note.dropped"] is True

    stored = _dump(database_url, project.id)
    assert SECRET_ID not in stored and EMAIL not in stored and "keep out" not in stored
    assert stored.count("[REDACTED:employee_id]") >= 6
    with psycopg.connect(database_url) as connection:
        (case_ids,) = connection.execute(
            "SELECT array_agg(DISTINCT test_case_id) FROM spans WHERE project_id = %s",
            (project.id,),
        ).fetchone()
    assert case_ids == ["case-1"]  # columns come from the attributes the hook returned


def test_a_failing_plugin_rejects_its_spans_and_stores_nothing_unredacted(
    own_receiver: RunningReceiver, database_url: str, project
) -> None:
    _use(own_receiver, EmployeeIds(), FailsOnMarker())
    tid = trace_id()
    spans = [
        make_span(tid, span_id(), name="fine", attributes={"x": SECRET_ID}),
        make_span(tid, span_id(), name="boom", attributes={"explode": True, "y": "raw"}),
    ]
    with _client(own_receiver, project.api_key) as client:
        response = post_proto(client, make_request(spans))
        assert response.status_code == 200, response.text
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        answer = ExportTraceServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_spans == 1
        assert "plugin1" in answer.partial_success.error_message
        assert "not stored" in answer.partial_success.error_message
        # Every span failing: 400 naming the reason, nothing stored.
        only_bad = make_request([make_span(trace_id(), span_id(), attributes={"explode": 1})])
        refused = post_proto(client, only_bad)
        assert refused.status_code == 400, refused.text
    with psycopg.connect(database_url) as connection:
        names = connection.execute(
            "SELECT name FROM spans WHERE project_id = %s", (project.id,)
        ).fetchall()
    assert names == [("fine",)]
    assert SECRET_ID not in _dump(database_url, project.id)


# -- through an entry point ---------------------------------------------------------------

_PLUGIN_SOURCE = """
import re
from spanlink.tracer.plugins import hookimpl

@hookimpl
def spanlink_redact_ingest(attributes, context):
    found = {k: re.sub(r"EMP-\\d{5}", "[REDACTED:employee_id]", v)
             for k, v in attributes.items() if isinstance(v, str) and "EMP-" in v}
    return found or None
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_plugin_installed_with_an_entry_point_redacts_in_a_served_receiver(
    tmp_path: Path, database_url: str, project
) -> None:
    install_module_plugin(tmp_path, "spanlink_test_redactor", _PLUGIN_SOURCE, "employees")
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "SPANLINK_DATABASE_URL": database_url,
    }
    env.pop("SPANLINK_DISABLE_PLUGINS", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "spanlink.receiver.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                pytest.fail(f"serve exited: {process.stdout.read() if process.stdout else ''}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("serve did not become ready")
        headers = {"Authorization": f"Bearer {project.api_key}"}
        with httpx.Client(base_url=url, headers=headers) as client:
            span = make_span(trace_id(), span_id(), attributes={"note": f"badge {SECRET_ID}"})
            response = post_proto(client, make_request([span]))
            assert response.status_code == 200, response.text
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    stored = _dump(database_url, project.id)
    assert SECRET_ID not in stored
    assert "badge [REDACTED:employee_id]" in stored
