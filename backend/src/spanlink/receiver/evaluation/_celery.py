"""Scale-out: evaluation as Celery tasks, like enrichment (``spanlink-receiver[celery]``).

The receiver still waits for a result's spans to settle itself, then sends ``(project id,
result id, linked span count)`` to the broker; ``spanlink-receiver worker --evaluation``
consumes them and runs ``EvaluationService.evaluate_now``, the code the in-process path
runs, so the stored verdicts are the same. A broker that is down makes ``send`` say False
(and not be tried again for a while): the receiver evaluates in-process instead.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from spanlink.receiver._celery import broker_app, close_app, run_worker

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["TASK_NAME", "EvaluationSender", "create_evaluation_app", "run_evaluation_worker"]

#: ``spanlink.evaluate_result(project_id: int, result_id: str, span_count: int)``.
TASK_NAME = "spanlink.evaluate_result"

logger = logging.getLogger("spanlink.receiver.evaluation")


class Evaluator(Protocol):
    """What executes one evaluation (``EvaluationService``)."""

    def evaluate_now(self, project_id: int, result_id: str, span_count: int = 0) -> bool:
        """Judge the result now and store the verdict."""


def create_evaluation_app(broker_url: str, queue: str, service: Evaluator | None = None) -> Celery:
    """A Celery app sending to / consuming ``queue``; with ``service`` (worker side) the
    task evaluates through it. Broker settings as enrichment's (deadlines everywhere)."""
    app = broker_app(broker_url, queue)

    @app.task(name=TASK_NAME, ignore_result=True)  # type: ignore[untyped-decorator,unused-ignore]
    def evaluate_result(project_id: int, result_id: str, span_count: int = 0) -> None:
        if service is None:
            raise RuntimeError("this Celery app only sends tasks; run `spanlink-receiver worker`")
        service.evaluate_now(int(project_id), str(result_id), int(span_count))

    return app


class EvaluationSender:
    """Sends results to the evaluation workers; False (logged once) while the broker is down."""

    def __init__(self, broker_url: str, queue: str, retry_after: float = 10.0) -> None:
        self.queue = queue
        self.retry_after = retry_after
        self._app = create_evaluation_app(broker_url, queue)
        self._down_until = 0.0
        self._lock = threading.Lock()

    def send(self, project_id: int, result_id: str, span_count: int) -> bool:
        """Queue the result for a worker; False when the broker cannot be reached."""
        if time.monotonic() < self._down_until:
            return False
        try:
            self._app.send_task(
                TASK_NAME, args=[project_id, result_id, span_count], queue=self.queue, retry=False
            )
        except Exception as error:  # kombu/redis connection errors of every kind
            with self._lock:
                if not self._down_until:
                    logger.warning(
                        "celery broker unreachable (%s: %s); evaluating in-process until it is "
                        "back",
                        type(error).__name__,
                        error,
                    )
                self._down_until = time.monotonic() + self.retry_after
            return False
        self._down_until = 0.0
        return True

    def close(self) -> None:
        """Release the broker connections."""
        close_app(self._app, logger)


def run_evaluation_worker(
    service: Evaluator, broker_url: str, queue: str, concurrency: int, loglevel: str = "INFO"
) -> Any:
    """Run a Celery worker consuming ``queue`` until it is stopped (blocks)."""
    app = create_evaluation_app(broker_url, queue, service)
    return run_worker(app, queue, concurrency, loglevel)
