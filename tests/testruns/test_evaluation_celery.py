"""Evaluation on Celery workers (``SPANLINK_EVALUATION=celery`` and ``spanlink-receiver
worker --evaluation``, a real Redis broker), and the in-process fallback when the broker
is down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from worker_helpers import REDIS_URL, celery_worker, redis_queue

from spanlink.receiver.settings import Settings

EVALUATORS = [
    {"name": "contains", "params": {"value": "answer"}},
    {"name": "max_llm_calls", "params": {"max": 1}},
]


@pytest.fixture
def worker(database_url: str) -> Iterator[tuple[str, list[str]]]:
    """``spanlink-receiver worker --evaluation`` on a queue of its own: (queue, log lines)."""
    with (
        redis_queue("spanlink-eval-test") as queue,
        celery_worker(database_url, queue, "--evaluation") as running,
    ):
        yield queue, running.lines


def _run(own_receiver: Any, settings: Settings) -> dict[str, Any]:
    with own_receiver(settings) as http:
        cases = [
            {"id": "one-call", "inputs": {"question": "a", "spans": 2}},
            {"id": "three-calls", "inputs": {"question": "b", "spans": 4}},
        ]
        body = {"function": "answer", "cases": cases, "evaluators": EVALUATORS}
        created = http.post("/api/v1/test-runs", json=body)
        assert created.status_code == 201, created.text
        deadline = time.monotonic() + 60
        while True:
            run: dict[str, Any] = http.get(f"/api/v1/test-runs/{created.json()['id']}").json()
            if run["status"] == "completed" or time.monotonic() > deadline:
                return run
            time.sleep(0.1)


def _verdicts(run: dict[str, Any]) -> dict[str, tuple[str, list[bool | None]]]:
    return {r["case_id"]: (r["status"], [s["passed"] for s in r["scores"]]) for r in run["results"]}


def test_celery_workers_judge_the_results(
    database_url: str, worker: tuple[str, list[str]], own_receiver: Any
) -> None:
    queue, lines = worker
    settings = Settings(
        database_url=database_url,
        evaluation="celery",
        broker_url=REDIS_URL,
        evaluation_celery_queue=queue,
    )
    run = _run(own_receiver, settings)
    assert _verdicts(run) == {
        "one-call": ("passed", [True, True]),
        "three-calls": ("failed", [True, False]),
    }
    done = [line for line in lines if "spanlink.evaluate_result" in line and "succeeded" in line]
    assert len(done) == 2, "".join(lines[-40:])  # both judged by the worker process


def test_a_broker_that_is_down_means_in_process_evaluation(
    database_url: str, own_receiver: Any
) -> None:
    settings = Settings(
        database_url=database_url, evaluation="celery", broker_url="redis://127.0.0.1:1/0"
    )
    run = _run(own_receiver, settings)
    assert _verdicts(run) == {
        "one-call": ("passed", [True, True]),
        "three-calls": ("failed", [True, False]),
    }
