"""Child processes of the tests: stopping one, and a real Celery worker on Redis.

Imported as ``worker_helpers``. ``celery_worker`` is ``spanlink-receiver worker`` as an
operator runs it, on a queue of the test's own from ``redis_queue``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from services import require_service

REDIS_URL = os.environ.get("SPANLINK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate a child process: 15 s to exit, then killed."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextmanager
def redis_queue(prefix: str) -> Iterator[str]:
    """A queue name of the test's own (so no other worker takes its tasks), deleted after.

    Skips the test (fails it under ``SPANLINK_REQUIRE_SERVICES=1``) when Redis is not
    reachable at ``SPANLINK_TEST_REDIS_URL``.
    """
    import redis

    try:
        up = bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        up = False
    if not up:
        require_service(f"Redis not reachable at {REDIS_URL} (set SPANLINK_TEST_REDIS_URL)")
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        redis.Redis.from_url(REDIS_URL).delete(name)


@dataclass
class Worker:
    """A running worker process and the lines it has logged so far."""

    process: subprocess.Popen[str]
    lines: list[str]


@contextmanager
def celery_worker(database_url: str, queue: str, *options: str) -> Iterator[Worker]:
    """``spanlink-receiver worker [options]`` on ``queue``, once it is ready to take tasks.

    Fails the test with the worker's last log lines if it is not ready within 60 s; stopped
    after.
    """
    command = [sys.executable, "-m", "spanlink.receiver.cli", "worker", *options]
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
        yield Worker(process, lines)
    finally:
        stop_process(process)
