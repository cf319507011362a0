"""p95 baselines per span name over the project's history, and the relative slow-span rule."""

from __future__ import annotations

import httpx
import pytest
from enrichment_helpers import enrichment_of, helpers, poll, send
from sqlalchemy import event

from spanlink.receiver.enrichment._store import BaselineCache
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import create_app_engine, project_scope


def test_baseline_is_the_p95_of_the_projects_history(
    client: httpx.Client, database_url: str, project, receiver
) -> None:
    history = []
    for ms in range(1, 21):  # 1..20 ms, one trace each
        tid = helpers.trace_id()
        history.append(
            helpers.make_span(tid, helpers.span_id(), name="retrieve", duration_ns=ms * 10**6)
        )
    send(client, history)

    engine = create_app_engine(Settings(database_url=database_url))
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    cache = BaselineCache(ttl=60, window_hours=1)
    try:
        with engine.begin() as connection:
            project_scope(connection, project.id)
            found = cache.get(connection, project.id, ["retrieve", "never-seen"])
            before = len(statements)
            again = cache.get(connection, project.id, ["retrieve", "never-seen"])
            assert len(statements) == before  # cached, names without history included
        with engine.begin() as connection:
            project_scope(connection, 999_999_999)
            elsewhere = BaselineCache(ttl=60, window_hours=1).get(
                connection, 999_999_999, ["retrieve"]
            )
    finally:
        engine.dispose()
    # percentile_cont: 1 + 0.95 x (20 - 1) = 19.05 ms
    assert found == {"retrieve": {"p95_ms": pytest.approx(19.05), "count": 20}}
    assert again == found
    assert elsewhere == {}


def test_a_span_slower_than_its_baseline_is_flagged(client: httpx.Client) -> None:
    history = [
        helpers.make_span(helpers.trace_id(), helpers.span_id(), name="search", duration_ns=10**7)
        for _ in range(25)
    ]
    send(client, history)
    tid = helpers.trace_id()
    slow = helpers.make_span(tid, helpers.span_id(), name="search", duration_ns=500 * 10**6)
    send(client, [slow])
    trace = poll(lambda: enrichment_of(client, tid), lambda t: t["enrichment"] is not None)
    anomalies = trace["enrichment"]["data"]["trace"]["anomaly"]
    found = [a for a in anomalies["anomalies"] if a["rule"] == "slow_span"]
    assert found and found[0]["span_id"] == slow.span_id.hex()
    assert "p95" in found[0]["message"] and anomalies["counts"]["slow_span"] == 1
