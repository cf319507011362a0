"""Scale-out on Celery over the real Redis: same results as in-process; broker down falls back."""

from __future__ import annotations

import logging
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from enrichment_helpers import enrichment_of, helpers, llm_span, poll, send, serve
from worker_helpers import REDIS_URL, celery_worker, redis_queue

from spanlink.receiver.settings import Settings


@pytest.fixture
def queue_name() -> Iterator[str]:
    """A queue of this test's own, so no other worker on the broker takes its tasks."""
    with redis_queue("spanlink-test") as name:
        yield name


@pytest.fixture
def worker(database_url: str, queue_name: str) -> Iterator[subprocess.Popen[str]]:
    """``spanlink-receiver worker`` in a subprocess, ready to take tasks."""
    with celery_worker(database_url, queue_name, "--concurrency", "2") as running:
        yield running.process


def _trace(tid: bytes) -> list:
    root = helpers.make_span(tid, b"\x01" * 8, name="agent", duration_ns=30 * 10**6)
    return [
        root,
        llm_span(tid, parent=root.span_id),
        llm_span(
            tid,
            model="gpt-4o",
            parent=root.span_id,
            input_tokens=3000,
            output_tokens=20,
            **{"gen_ai.usage.cache_read.input_tokens": 2048},
        ),
        llm_span(tid, model="no-such-model", parent=root.span_id),
        helpers.make_span(tid, b"\x05" * 8, parent=root.span_id, name="tool", error="boom"),
    ]


def test_celery_workers_store_the_same_results_as_in_process(
    client: httpx.Client, database_url: str, project, worker, queue_name: str
) -> None:
    from spanlink.receiver.storage import create_api_key

    key = create_api_key(database_url, f"celery-{uuid.uuid4().hex[:8]}")
    settings = Settings(
        database_url=database_url,
        enrichment="celery",
        broker_url=REDIS_URL,
        celery_queue=queue_name,
    )
    tids = [helpers.trace_id() for _ in range(3)]
    batches = [_trace(tid) for tid in tids]
    with serve(settings) as served, served.client(key) as celery_client:
        for batch in batches:
            send(client, batch)  # the session receiver: in-process
            send(celery_client, batch)  # the same spans, through Celery
        for tid in tids:
            local = poll(lambda tid=tid: enrichment_of(client, tid), lambda t: t["enrichment"])
            remote = poll(
                lambda tid=tid: enrichment_of(celery_client, tid), lambda t: t["enrichment"]
            )
            assert remote["enrichment"]["data"] == local["enrichment"]["data"]
            assert remote["enrichment"]["plugin_versions"] == local["enrichment"]["plugin_versions"]
            assert remote["enrichment"]["span_count"] == 5
            data = remote["enrichment"]["data"]
            assert data["errors"] == {} and data["trace"]["cost"]["unknown_model_spans"] == 1
            assert data["trace"]["anomaly"]["counts"]["error_span"] == 1
        stats = served.enrichment.stats
        assert stats["celery_sent"] >= 3
        assert stats["enriched"] == 0  # every trace was enriched by the worker process
        assert worker.poll() is None


def test_unreachable_broker_falls_back_to_in_process_and_logs_once(
    database_url: str, project, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=database_url, enrichment="celery", broker_url="redis://127.0.0.1:1/0"
    )
    caplog.set_level(logging.WARNING, logger="spanlink.receiver.enrichment")
    with serve(settings) as served, served.client(project.api_key) as http:
        tids = [helpers.trace_id() for _ in range(3)]
        for tid in tids:
            started = time.monotonic()
            send(http, [llm_span(tid)])
            assert time.monotonic() - started < 30  # ingestion never waits on the broker
        for tid in tids:
            trace = poll(lambda tid=tid: enrichment_of(http, tid), lambda t: t["enrichment"])
            assert trace["enrichment"]["data"]["trace"]["cost"]["priced_spans"] == 1
        stats = served.enrichment.stats
        assert stats["celery_sent"] == 0 and stats["celery_unavailable"] == 3
        assert stats["enriched"] == 3
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1
    assert "127.0.0.1:1" in warnings[0].getMessage()


def test_celery_executor_needs_a_broker(database_url: str) -> None:
    from spanlink.receiver.app import create_app

    with pytest.raises(ValueError, match="needs a broker"):
        create_app(Settings(database_url=database_url, enrichment="celery"))
