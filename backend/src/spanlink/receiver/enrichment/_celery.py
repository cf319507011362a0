"""Scale-out: enrichment as Celery tasks (``pip install 'spanlink-receiver[celery]'``).

The receiver still debounces traces itself and sends ``(project id, trace id)`` of each
quiet trace to the broker; ``spanlink-receiver worker`` consumes them and runs exactly the
code the in-process workers run (``EnrichmentService.enrich_now``), so the stored
results are the same. Celery is imported only when this executor is used.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from spanlink.receiver._celery import CeleryMissing, broker_app, close_app
from spanlink.receiver._celery import run_worker as run_celery_worker
from spanlink.receiver.enrichment._executors import Enricher

if TYPE_CHECKING:
    from celery import Celery

__all__ = [
    "TASK_NAME",
    "CeleryExecutor",
    "CeleryMissing",
    "create_celery_app",
    "run_worker",
]

#: The Celery task name: ``spanlink.enrich_trace(project_id: int, trace_id: str)``.
TASK_NAME = "spanlink.enrich_trace"

logger = logging.getLogger("spanlink.receiver.enrichment")


def create_celery_app(broker_url: str, queue: str, service: Enricher | None = None) -> Celery:
    """A Celery app sending to / consuming ``queue`` on ``broker_url``.

    With ``service`` (worker side), the task enriches through it.
    """
    app = broker_app(broker_url, queue)

    @app.task(name=TASK_NAME, ignore_result=True)  # type: ignore[untyped-decorator,unused-ignore]
    def enrich_trace(project_id: int, trace_id: str) -> None:
        if service is None:
            raise RuntimeError("this Celery app only sends tasks; run `spanlink-receiver worker`")
        service.enrich_now(int(project_id), str(trace_id))

    return app


class CeleryExecutor:
    """The Celery executor: sends traces to the workers; False (logged once) while it is down.

    After a failure the broker is not tried again for ``retry_after`` seconds, so a dead
    broker costs one connection attempt per period, not one per trace.
    """

    def __init__(self, broker_url: str, queue: str, retry_after: float = 10.0) -> None:
        self.broker_url = broker_url
        self.queue = queue
        self.retry_after = retry_after
        self._app = create_celery_app(broker_url, queue)
        self._down_until = 0.0
        self._down = False
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    def send(self, project_id: int, trace_id: str) -> bool:
        """Queue the trace for a worker; False when the broker is unreachable."""
        if self._down and time.monotonic() < self._down_until:
            self.failed += 1
            return False
        try:
            self._app.send_task(
                TASK_NAME, args=[project_id, trace_id], queue=self.queue, retry=False
            )
        except Exception as error:  # kombu/redis connection errors of every kind
            with self._lock:
                self.failed += 1
                self._down_until = time.monotonic() + self.retry_after
                if not self._down:
                    self._down = True
                    logger.warning(
                        "celery broker %s unreachable (%s: %s); enriching in-process until it "
                        "is back",
                        _safe_url(self.broker_url),
                        type(error).__name__,
                        error,
                    )
            return False
        with self._lock:
            self.sent += 1
            if self._down:
                self._down = False
                logger.warning(
                    "celery broker %s reachable again; enrichment goes to the workers",
                    _safe_url(self.broker_url),
                )
        return True

    def close(self) -> None:
        """Release the broker connections."""
        close_app(self._app, logger)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def run_worker(
    service: Enricher,
    broker_url: str,
    queue: str,
    concurrency: int,
    loglevel: str = "INFO",
    extra_args: list[str] | None = None,
) -> Any:
    """Run a Celery worker consuming ``queue`` until it is stopped (blocks)."""
    app = create_celery_app(broker_url, queue, service)
    return run_celery_worker(app, queue, concurrency, loglevel, *(extra_args or []))
