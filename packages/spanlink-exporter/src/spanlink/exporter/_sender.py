"""Sending one request body: bounded retries, ``Retry-After``, one deadline, honest outcomes.

Every outcome says what happened (``Sent.why``), so that the log line written when a batch is
spooled or dropped reports the real cause and the real number of attempts.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from dataclasses import dataclass

import httpx

from spanlink.exporter._http import Cancelled, DeadlineExceeded, InFlight
from spanlink.exporter._responses import partial_success, server_message
from spanlink.exporter._retry import RETRYABLE_STATUS, parse_retry_after
from spanlink.exporter._stats import DropReason, StatsRecorder
from spanlink.tracer.support import backoff_delay

__all__ = ["MAX_PAUSE_S", "FailureLog", "Outcome", "Sender", "Sent"]

_logger = logging.getLogger("spanlink.exporter")

#: The longest pause a ``Retry-After`` imposes on the spool's re-sender (a longer one is
#: capped: the spool is kept on disk and re-sent on the next start anyway).
MAX_PAUSE_S = 3600.0


class Outcome(enum.Enum):
    """What became of one request body."""

    DELIVERED = "delivered"
    #: Not delivered this time (receiver down, busy, slow, or out of time); worth keeping.
    FAILED = "failed"
    #: Refused for good (a 4xx other than 408/429): sending it again cannot help.
    REJECTED = "rejected"
    #: 413: the receiver wants smaller requests.
    TOO_LARGE = "too_large"


@dataclass(frozen=True)
class Sent:
    """The outcome of ``Sender.send`` and what led to it."""

    outcome: Outcome
    attempts: int = 0
    #: What happened, for the logs ("connection refused (ConnectError: ...)", "HTTP 503 ...").
    why: str = ""
    #: The receiver could not be reached at all (no connection): stop trying others too.
    unreachable: bool = False


class FailureLog:
    """Logs a kind of failure once; it is logged again only after a delivery succeeded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logged: set[str] = set()

    def __call__(self, key: str, level: int, message: str, *args: object) -> None:
        """Log ``message`` unless ``key`` was logged since the last successful delivery."""
        with self._lock:
            if key in self._logged:
                return
            self._logged.add(key)
        _logger.log(level, message, *args)

    def recovered(self) -> bool:
        """Forget the failures (a delivery succeeded); True if any had been logged."""
        with self._lock:
            recovered = any(not key.startswith("partial:") for key in self._logged)
            self._logged = {key for key in self._logged if key.startswith("partial:")}
        return recovered


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class Sender:
    """POSTs bodies to one URL over one pooled client, each within its deadline."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        max_retries: int,
        backoff_initial: float,
        backoff_max: float,
        stats: StatsRecorder,
        log: FailureLog,
        stop: threading.Event,
    ) -> None:
        self.url = url
        self.max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._headers = headers
        self._stats = stats
        self._log = log
        self._stop = stop
        self._rng = random.Random()
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self.in_flight = InFlight()
        #: ``time.monotonic()`` before which the receiver asked not to be sent to (its last
        #: ``Retry-After``, at most ``MAX_PAUSE_S`` ahead); 0 once a delivery succeeded.
        self.not_before = 0.0

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                # Created on first use: construction stays free of network and TLS setup.
                self._client = httpx.Client(
                    limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
                    follow_redirects=False,
                )
            return self._client

    def close(self) -> None:
        """Cut what is on the wire and close the connections."""
        self.in_flight.cancel_all()
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def send(
        self,
        body: bytes,
        span_count: int,
        deadline: float,
        content_type: str,
        content_encoding: str,
        *,
        resend: bool = False,
        fail_fast: bool = False,
    ) -> Sent:
        """POST one body with bounded retries until delivered, rejected, or out of time.

        ``fail_fast``: give up at the first failed connection (there is a spool to keep the
        body, and its re-sender retries with backoff) instead of retrying until the deadline.
        """
        headers = {**self._headers, "content-type": content_type}
        if content_encoding != "identity":
            headers["content-encoding"] = content_encoding
        attempts = 0
        why = "the deadline had passed before the first attempt"
        while True:
            if self._stop.is_set():
                return Sent(Outcome.FAILED, attempts, "the exporter was shut down")
            if deadline - time.monotonic() <= 0:
                return Sent(Outcome.FAILED, attempts, why)
            retry_after: float | None = None
            attempts += 1
            try:
                response = self.in_flight.post(self._http(), self.url, body, headers, deadline)
            except Cancelled:
                return Sent(Outcome.FAILED, attempts, "the exporter was shut down mid-request")
            except DeadlineExceeded:
                self._stats.add("failed_requests")
                why = f"no complete answer within the deadline (attempt {attempts})"
                self._log(
                    "deadline",
                    logging.WARNING,
                    "spanlink exporter: %s did not answer in full before the deadline; "
                    "the request was abandoned (not logged again until a delivery succeeds)",
                    self.url,
                )
                return Sent(Outcome.FAILED, attempts, why)
            except httpx.TransportError as error:  # refused, reset, closed, timed out...
                self._stats.add("failed_requests")
                detail = f"{type(error).__name__}: {error or 'no detail'}"
                unreachable = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
                why = f"{'cannot connect' if unreachable else 'transport error'} ({detail})"
                self._log(
                    f"transport:{type(error).__name__}",
                    logging.WARNING,
                    "spanlink exporter: cannot reach %s (%s); retrying with backoff "
                    "(not logged again until a delivery succeeds)",
                    self.url,
                    detail,
                )
                if unreachable and fail_fast:
                    return Sent(Outcome.FAILED, attempts, why, unreachable=True)
            except RuntimeError:  # the client was closed by shutdown() mid-request
                return Sent(Outcome.FAILED, attempts, "the exporter was shut down mid-request")
            else:
                unreachable = False
                self._stats.add("requests")
                status = response.status_code
                if 200 <= status < 300:
                    self.not_before = 0.0
                    self._delivered(response, body, span_count, resend)
                    return Sent(Outcome.DELIVERED, attempts)
                self._stats.add("failed_requests")
                message = server_message(response)
                why = f"HTTP {status} ({message})"
                if status == 413:
                    self._log(
                        "413",
                        logging.WARNING,
                        "spanlink exporter: %s answered 413 (%s); splitting batches "
                        "further (lower max_body_bytes to avoid this)",
                        self.url,
                        message,
                    )
                    return Sent(Outcome.TOO_LARGE, attempts, why)
                if 400 <= status < 500 and status not in RETRYABLE_STATUS:
                    self._log(
                        f"status:{status}",
                        logging.ERROR,
                        "spanlink exporter: %s rejected %d span(s) with HTTP %d: %s. "
                        "They are dropped; check the endpoint URL and the API key.",
                        self.url,
                        span_count,
                        status,
                        message,
                    )
                    return Sent(Outcome.REJECTED, attempts, why)
                if status not in RETRYABLE_STATUS:
                    # A server error the specification does not call retryable: keep the
                    # batch (spool) rather than drop it, but do not hammer the receiver.
                    self._log(
                        f"status:{status}",
                        logging.WARNING,
                        "spanlink exporter: %s answered HTTP %d (%s); not retried now",
                        self.url,
                        status,
                        message,
                    )
                    return Sent(Outcome.FAILED, attempts, why)
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if retry_after is not None:
                    self.not_before = time.monotonic() + min(retry_after, MAX_PAUSE_S)
                self._log(
                    f"status:{status}",
                    logging.WARNING,
                    "spanlink exporter: %s answered HTTP %d (%s); retrying with backoff "
                    "(not logged again until a delivery succeeds)",
                    self.url,
                    status,
                    message,
                )
            tried = _plural(attempts, "attempt")
            if attempts > self.max_retries:
                return Sent(
                    Outcome.FAILED, attempts, f"{why}, {tried} (max_retries={self.max_retries})"
                )
            if retry_after is not None:
                delay = retry_after
            else:
                delay = backoff_delay(attempts, self.backoff_initial, self.backoff_max, self._rng)
            left = deadline - time.monotonic()
            if delay >= left:
                # Waiting past the deadline cannot help this call: give up now.
                if retry_after is not None:
                    why = (
                        f"{why} asking to retry after {retry_after:.0f} s, more than the "
                        f"{max(left, 0.0):.1f} s left of the deadline; {tried}"
                    )
                else:
                    why = f"{why}; {tried} before the deadline"
                return Sent(Outcome.FAILED, attempts, why, unreachable=unreachable)
            self._stats.add("spans_retried", span_count)
            if self._stop.wait(delay):
                return Sent(Outcome.FAILED, attempts, "the exporter was shut down")

    def _delivered(
        self, response: httpx.Response, body: bytes, span_count: int, resend: bool
    ) -> None:
        rejected, message = partial_success(response)
        rejected = min(max(rejected, 0), span_count)
        self._stats.add("bytes_sent", len(body))
        self._stats.add("spans_exported", span_count - rejected)
        if resend:
            self._stats.add("spans_resent", span_count)
        if rejected or message:
            self._stats.drop(DropReason.PARTIALLY_REJECTED, rejected)
            self._log(
                f"partial:{message}",
                logging.WARNING,
                "spanlink exporter: %s accepted the batch but rejected %d span(s): %s",
                self.url,
                rejected,
                message or "no message",
            )
        if self._log.recovered():
            _logger.info("spanlink exporter: delivering to %s again", self.url)
