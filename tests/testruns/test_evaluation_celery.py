"""Evaluation on Celery workers (``SPANLINK_EVALUATION=celery`` and ``spanlink-receiver
worker --evaluation``, a real Redis broker), and the in-process fallback when the broker
is down."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from services import require_service

from spanlink.receiver.server import start_in_thread
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import create_api_key

REDIS_URL = os.environ.get("SPANLINK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
EVALUATORS = [
    {"name": "contains", "params": {"value": "answer"}},
    {"name": "max_llm_calls", "params": {"max": 1}},
]


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def worker(database_url: str) -> Iterator[tuple[str, list[str]]]:
    """``spanlink-receiver worker --evaluation`` on a queue of its own: (queue, log lines)."""
    if not _redis_up():
        require_service(f"Redis not reachable at {REDIS_URL} (set SPANLINK_TEST_REDIS_URL)")
    queue = f"spanlink-eval-test-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "spanlink.receiver.cli", "worker", "--evaluation"]
    process = subprocess.Popen(
        [*command, "--broker", REDIS_URL, "--queue", queue, "--database-url", database_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if " ready." in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(60):
            pytest.fail("the worker did not get ready:\n" + "".join(lines[-40:]))
        yield queue, lines
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        import redis

        redis.Redis.from_url(REDIS_URL).delete(queue)


def _run(settings: Settings, database_url: str, endpoint_app: Any) -> dict[str, Any]:
    running = start_in_thread(settings)
    try:
        key = create_api_key(database_url, f"celery-{uuid.uuid4().hex[:8]}")
        endpoint_app(running.url, key)
        with httpx.Client(
            base_url=running.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http:
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
    finally:
        running.stop()


def _verdicts(run: dict[str, Any]) -> dict[str, tuple[str, list[bool | None]]]:
    return {r["case_id"]: (r["status"], [s["passed"] for s in r["scores"]]) for r in run["results"]}


def test_celery_workers_judge_the_results(
    database_url: str, worker: tuple[str, list[str]], endpoint_app: Any
) -> None:
    queue, lines = worker
    settings = Settings(
        database_url=database_url,
        evaluation="celery",
        broker_url=REDIS_URL,
        evaluation_celery_queue=queue,
    )
    run = _run(settings, database_url, endpoint_app)
    assert _verdicts(run) == {
        "one-call": ("passed", [True, True]),
        "three-calls": ("failed", [True, False]),
    }
    done = [line for line in lines if "spanlink.evaluate_result" in line and "succeeded" in line]
    assert len(done) == 2, "".join(lines[-40:])  # both judged by the worker process


def test_a_broker_that_is_down_means_in_process_evaluation(
    database_url: str, endpoint_app: Any
) -> None:
    settings = Settings(
        database_url=database_url, evaluation="celery", broker_url="redis://127.0.0.1:1/0"
    )
    run = _run(settings, database_url, endpoint_app)
    assert _verdicts(run) == {
        "one-call": ("passed", [True, True]),
        "three-calls": ("failed", [True, False]),
    }
