"""``Reporter``: posts results from a background thread, in batches, never blocking a test.

Results are queued (bounded: when the receiver cannot keep up, the newest are dropped and
counted) and upserted by id, so a test's "running" and final reports sent in one batch
collapse into one. The run is created (idempotently) before the first batch. A receiver
that is away or busy (429, 5xx) is tried again later, and at the session's end again and
again until the flush deadline; a refusal for good (another 4xx) drops that batch only.
Problems are kept as one message for the session's summary instead of being printed
mid-test; a passing problem that a retry cured is not reported.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from spanlink.pytest._client import ApiError, Busy, KeyRefused, TestRunClient, Unreachable

__all__ = ["Reporter"]

#: Results sent in one request.
BATCH_SIZE = 100
#: Results waiting to be sent; beyond this new ones are dropped (and counted).
MAX_PENDING = 10_000
#: With nothing to send, the run is refreshed this often, so the receiver knows the
#: session is alive (a run silent for long is finished by the receiver's sweep).
HEARTBEAT_S = 30.0
#: A short wait lets the results of quick tests travel together.
_LINGER_S = 0.05
#: Pauses between attempts: the first, doubled after each failure up to the longest (a
#: longer ``Retry-After`` is obeyed while the session runs, up to the client's cap).
_FIRST_RETRY_S = 0.1
_RETRY_S = 2.0
#: The longest pause at the session's end, where the flush timeout bounds the whole wait.
_FINAL_RETRY_S = 1.0


class Reporter:
    """Sends one session's results to the receiver from a daemon thread."""

    def __init__(
        self,
        client: TestRunClient,
        run_id: str,
        create: Mapping[str, Any],
        *,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self._create = dict(create)
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(MAX_PENDING)
        self._pending: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._heartbeat_s = heartbeat_s
        # The last "not now" (away, busy) and the receiver's Retry-After with it.
        self._transient: str | None = None
        self._retry_after: float | None = None
        self.created: dict[str, Any] | None = None
        self.refused: str | None = None
        self.problem: str | None = None
        self.sent = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._loop, name="spanlink-reporter", daemon=True)
        self._thread.start()

    def submit(self, result: dict[str, Any]) -> None:
        """Queue a result (a dict of the results API); never blocks."""
        if self.refused is not None:
            return
        try:
            self._queue.put_nowait(result)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float) -> bool:
        """Send what is queued, retrying for at most ``timeout`` seconds; True when all went."""
        self._deadline = time.monotonic() + max(0.0, timeout)
        self._stop.set()
        self._thread.join(max(0.0, timeout) + 0.5)  # the thread keeps the deadline itself
        return not self._thread.is_alive() and not self._pending and self._queue.empty()

    def _note(self, message: str) -> None:
        if self.problem is None:
            self.problem = message

    def _not_now(self, error: Unreachable | Busy) -> bool:
        self._transient = str(error)
        self._retry_after = error.retry_after if isinstance(error, Busy) else None
        return False

    def _request_timeout(self) -> float | None:
        """The client's own timeout, or less once the session's end set a deadline."""
        if not self._stop.is_set():
            return None
        return min(self.client.timeout, max(0.1, self._deadline - time.monotonic()))

    def _take(self, wait: float) -> None:
        try:
            first = self._queue.get(timeout=wait)
        except queue.Empty:
            return
        self._pending[first["id"]] = first
        deadline = time.monotonic() + _LINGER_S
        while len(self._pending) < BATCH_SIZE:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self._pending[item["id"]] = item

    def _ensure_created(self) -> bool:
        if self.created is not None:
            return True
        try:
            self.created = self.client.create_run(self._create, timeout=self._request_timeout())
        except KeyRefused as error:
            self.refused = str(error)
            self._note(str(error))
            return False
        except (Unreachable, Busy) as error:
            return self._not_now(error)
        except ApiError as error:
            self.refused = str(error)
            self._note(f"the run could not be created, results are not reported: {error}")
            return False
        return True

    def _send(self) -> bool:
        """One attempt at sending the pending results; True when done with them."""
        if not self._ensure_created():
            return False
        batch = list(self._pending.values())[:BATCH_SIZE]
        try:
            self.client.post_results(self.run_id, batch, timeout=self._request_timeout())
        except KeyRefused as error:
            self.refused = str(error)
            self._note(str(error))
            return False
        except (Unreachable, Busy) as error:
            return self._not_now(error)  # kept: the next attempt sends the same batch
        except ApiError as error:
            # The receiver refuses this batch for good (a bug or a limit): drop it, go on.
            self._note(f"results were refused: {error}")
            self.dropped += len(batch)
        else:
            self.sent += len(batch)
        for result in batch:
            self._pending.pop(result["id"], None)
        return True

    def _pause(self, stopping: bool, failures: int) -> bool:
        """Wait before the next attempt (backing off, never less than the receiver's
        ``Retry-After``); False when the session's end leaves no time for it."""
        delay = max(min(_FIRST_RETRY_S * 2**failures, _RETRY_S), self._retry_after or 0.0)
        if not stopping:
            self._stop.wait(delay)  # a stop cuts it short
            return True
        delay = min(delay, _FINAL_RETRY_S)
        if time.monotonic() + delay >= self._deadline:
            return False
        time.sleep(delay)
        return True

    def _loop(self) -> None:
        try:
            self._run()
        except Exception as error:  # never die silently: the summary says what happened
            self.refused = f"reporting stopped: {type(error).__name__}: {error}"
            self._note(self.refused)
            self._drop_left()

    def _run(self) -> None:
        last_sent = time.monotonic()
        failures = 0
        while self.refused is None:
            stopping = self._stop.is_set()
            if not self._pending:
                self._take(0.05 if stopping else min(self._heartbeat_s, 0.5))
            if self._pending or (stopping and self.created is None):
                # (An empty session still is a run: it is created at the end.)
                if self._send() if self._pending else self._ensure_created():
                    failures, self._transient = 0, None
                    last_sent = time.monotonic()
                    continue
                if self.refused is not None:
                    break
                if not self._pause(stopping, failures):
                    self._note(self._transient or "the receiver did not take the results")
                    break  # the session's end and the receiver still away or busy
                failures += 1
            elif stopping:
                return
            elif time.monotonic() - last_sent >= self._heartbeat_s and self.created is not None:
                last_sent = time.monotonic()
                with contextlib.suppress(ApiError, Unreachable):
                    self.client.post_results(self.run_id, [])
        self._drop_left()

    def _drop_left(self) -> None:
        """Refused, or given up at the end: what is left is dropped (the summary says why),
        counted once per result (a "running" and a final report of one test are one)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            self._pending[item["id"]] = item
        self.dropped += len(self._pending)
        self._pending.clear()
