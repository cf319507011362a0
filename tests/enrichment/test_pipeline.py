"""Enrichment through a live receiver on real Postgres: after ingest, re-enrichment, sync."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from enrichment_helpers import enrichment_of, helpers, llm_span, poll, send, serve

from spanlink.receiver.settings import Settings


def _enriched(trace: dict, spans: int | None = None) -> bool:
    enrichment = trace["enrichment"]
    if enrichment is None:
        return False
    return spans is None or enrichment["span_count"] == spans


def test_enrichment_is_stored_after_ingest_without_sync(
    client: httpx.Client, database_url: str, project
) -> None:
    tid = helpers.trace_id()
    root = helpers.make_span(tid, helpers.span_id(), name="agent run")
    llm = llm_span(tid, parent=root.span_id)
    tool = helpers.make_span(tid, helpers.span_id(), parent=root.span_id, name="lookup")
    send(client, [root, llm, tool])

    trace = poll(lambda: enrichment_of(client, tid), _enriched)
    enrichment = trace["enrichment"]
    data = enrichment["data"]
    assert set(data) == {"spans", "trace", "errors"}
    assert data["errors"] == {}
    assert enrichment["span_count"] == 3
    assert enrichment["plugin_versions"]["cost"] and enrichment["plugin_versions"]["anomaly"]

    cost = data["spans"][llm.span_id.hex()]["cost"]
    assert cost["status"] == "ok" and cost["model"] == "gpt-4o-mini"
    assert cost["input_tokens"] == 1000 and cost["output_tokens"] == 500
    assert cost["price_source"] == "litellm"
    assert data["trace"]["cost"]["total_cost"] == pytest.approx(cost["total_cost"])
    assert data["trace"]["cost"]["llm_spans"] == 1
    assert "anomaly" in data["trace"]

    # A span in full carries its own enrichment; spans without results carry null.
    def span(sid: bytes) -> Any:
        return client.get(f"/api/v1/traces/{tid.hex()}/spans/{sid.hex()}").json()

    assert span(llm.span_id)["enrichment"]["cost"] == cost
    assert span(tool.span_id)["enrichment"] is None
    full = client.get(f"/api/v1/traces/{tid.hex()}", params={"full": "true"}).json()
    by_id = {s["span_id"]: s["enrichment"] for s in full["spans"]}
    assert by_id[llm.span_id.hex()] == data["spans"][llm.span_id.hex()]
    assert by_id[tool.span_id.hex()] is None
    # The list row carries the total cost from the stored enrichment.
    items = client.get("/api/v1/traces").json()["items"]
    row = next(r for r in items if r["trace_id"] == tid.hex())
    assert row["cost_usd"] == pytest.approx(cost["total_cost"])
    assert row["input_tokens"] == 1000 and row["output_tokens"] == 500

    # Results live once per trace: nothing was copied onto the span rows.
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT attributes::text FROM spans WHERE project_id = %s AND trace_id = %s",
            (project.id, tid.hex()),
        ).fetchall()
        stored = connection.execute(
            "SELECT count(*) FROM trace_enrichments WHERE project_id = %s AND trace_id = %s",
            (project.id, tid.hex()),
        ).fetchone()
    assert len(rows) == 3 and not any("spanlink.cost" in text for (text,) in rows)
    assert stored == (1,)


def test_late_spans_re_enrich_the_trace(client: httpx.Client) -> None:
    tid = helpers.trace_id()
    first = llm_span(tid, model="gpt-4o-mini", input_tokens=100, output_tokens=10)
    send(client, [first])
    one = poll(lambda: enrichment_of(client, tid), lambda t: _enriched(t, 1))
    total_one = one["enrichment"]["data"]["trace"]["cost"]["total_cost"]

    late = llm_span(tid, model="gpt-4o", input_tokens=2000, output_tokens=300)
    send(client, [late])
    two = poll(lambda: enrichment_of(client, tid), lambda t: _enriched(t, 2))
    rollup = two["enrichment"]["data"]["trace"]["cost"]
    late_cost = two["enrichment"]["data"]["spans"][late.span_id.hex()]["cost"]["total_cost"]
    assert rollup["llm_spans"] == 2
    assert set(rollup["cost_by_model"]) == {"gpt-4o-mini", "gpt-4o"}
    assert rollup["total_cost"] == pytest.approx(total_one + late_cost)


def test_unknown_model_is_reported_never_zero(client: httpx.Client) -> None:
    tid = helpers.trace_id()
    span = llm_span(tid, model="no-such-model-xyz")
    send(client, [span])
    trace = poll(lambda: enrichment_of(client, tid), _enriched)
    cost = trace["enrichment"]["data"]["spans"][span.span_id.hex()]["cost"]
    assert cost["status"] == "unknown_model" and "total_cost" not in cost
    assert trace["enrichment"]["data"]["trace"]["cost"]["unknown_model_spans"] == 1


def test_sync_query_computes_missing_and_stale_enrichment(
    database_url: str, project, client: httpx.Client
) -> None:
    # A receiver that never enriches by itself: only ?sync=true computes.
    with serve(Settings(database_url=database_url, enrichment="off")) as served:
        with served.client(project.api_key) as http:
            tid = helpers.trace_id()
            first = llm_span(tid)
            send(http, [first])
            assert enrichment_of(http, tid)["enrichment"] is None
            synced = enrichment_of(http, tid, sync=True)
            assert synced["enrichment"]["span_count"] == 1
            assert first.span_id.hex() in synced["enrichment"]["data"]["spans"]
            # Stored: a plain GET (and another receiver) now sees it.
            assert enrichment_of(http, tid)["enrichment"] == synced["enrichment"]
            assert enrichment_of(client, tid)["enrichment"] == synced["enrichment"]

            late = llm_span(tid, model="gpt-4o")
            send(http, [late])
            assert enrichment_of(http, tid)["enrichment"]["span_count"] == 1  # stale
            fresh = enrichment_of(http, tid, sync=True)["enrichment"]
            assert fresh["span_count"] == 2
            assert late.span_id.hex() in fresh["data"]["spans"]
            # Fresh enrichment is not recomputed.
            again = enrichment_of(http, tid, sync=True)["enrichment"]
            assert again["computed_at"] == fresh["computed_at"]

            missing = http.get(f"/api/v1/traces/{'ab' * 16}", params={"sync": "true"})
            assert missing.status_code == 404
            assert served.enrichment.stats["queued"] == 0


def test_queue_full_falls_back_to_direct_enrichment(database_url: str, project) -> None:
    # One queue slot and a debounce far longer than the test: only the fallback can
    # enrich the traces that did not fit.
    settings = Settings(
        database_url=database_url, enrichment_queue_size=1, enrichment_debounce_ms=60_000
    )
    with serve(settings) as served, served.client(project.api_key) as http:
        tids = [helpers.trace_id() for _ in range(4)]
        for tid in tids:
            send(http, [llm_span(tid)])
        stats = served.enrichment.stats
        assert stats["queued"] == 1 and stats["fallback"] == 3
        for tid in tids[1:]:
            poll(lambda tid=tid: enrichment_of(http, tid), _enriched)
        assert enrichment_of(http, tids[0])["enrichment"] is None
        assert len(served.enrichment.queue) == 1  # the queued one still waits its debounce


def test_enrichment_never_fails_ingest_when_the_database_forbids_writes(
    database_url: str, project
) -> None:
    # The enrichment write fails (a trigger rejects it); ingest still answers 200 and
    # the spans are stored.
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "CREATE OR REPLACE FUNCTION reject_enrichment() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN IF NEW.project_id = "
            + str(project.id)
            + " THEN RAISE EXCEPTION 'enrichment rejected'; END IF; RETURN NEW; END $$"
        )
        connection.execute(
            "CREATE TRIGGER reject_enrichment BEFORE INSERT ON trace_enrichments "
            "FOR EACH ROW EXECUTE FUNCTION reject_enrichment()"
        )
    try:
        with serve(Settings(database_url=database_url)) as served:
            with served.client(project.api_key) as http:
                tid = helpers.trace_id()
                send(http, [llm_span(tid)])
                poll(lambda: served.enrichment.stats["failed"], lambda n: n >= 1)
                trace = enrichment_of(http, tid)
                assert trace["span_count"] == 1 and trace["enrichment"] is None
    finally:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute("DROP TRIGGER reject_enrichment ON trace_enrichments")


def test_plugin_config_reaches_the_plugins(database_url: str, project) -> None:
    config = {"anomaly": {"slow_span": {"threshold_ms": 1.0}}}
    settings = Settings(database_url=database_url, enrichment_plugin_config=config)
    with serve(settings) as served, served.client(project.api_key) as http:
        tid = helpers.trace_id()
        span = helpers.make_span(tid, helpers.span_id(), name="step", duration_ns=5 * 10**6)
        send(http, [span])
        trace = poll(lambda: enrichment_of(http, tid), _enriched)
    findings = trace["enrichment"]["data"]["trace"]["anomaly"]["anomalies"]
    assert [f["rule"] for f in findings] == ["slow_span"]
    assert findings[0]["threshold"] == 1.0 and findings[0]["span_id"] == span.span_id.hex()


def test_metrics_cost_by_model_comes_from_the_enrichment(client: httpx.Client) -> None:
    tid = helpers.trace_id()
    spans = [llm_span(tid), llm_span(tid), llm_span(tid, model="gpt-4o")]
    send(client, spans)
    trace = poll(lambda: enrichment_of(client, tid), _enriched)
    by_model = trace["enrichment"]["data"]["trace"]["cost"]["cost_by_model"]
    metrics = client.get("/api/v1/metrics").json()
    models = {m["model"]: m for m in metrics["models"]}
    assert models["gpt-4o"]["cost_usd"] == pytest.approx(by_model["gpt-4o"])
    assert models["gpt-4o-mini"]["cost_usd"] == pytest.approx(by_model["gpt-4o-mini"])
    assert metrics["cost_usd"] == pytest.approx(sum(by_model.values()))
