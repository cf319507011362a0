"""``Reporter``: posts results from a background thread, in batches, never blocking a test.

Results are queued (bounded: when the receiver cannot keep up, the newest are dropped and
counted) and upserted by id, so a test's "running" and final reports sent in one batch
collapse into one. The run is created (idempotently) before the first batch. Problems are
kept as one message for the session's summary instead of being printed mid-test.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from spanlink.pytest._client import ApiError, KeyRefused, TestRunClient, Unreachable

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
_RETRY_S = 2.0


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
        self._heartbeat_s = heartbeat_s
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
        """Send what is queued, waiting at most ``timeout`` seconds; True when all went."""
        self._stop.set()
        self._thread.join(max(0.0, timeout))
        return not self._thread.is_alive() and not self._pending and self._queue.empty()

    def _note(self, message: str) -> None:
        if self.problem is None:
            self.problem = message

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
            self.created = self.client.create_run(self._create)
        except KeyRefused as error:
            self.refused = str(error)
            self._note(str(error))
            return False
        except ApiError as error:
            self.refused = str(error)
            self._note(f"the run could not be created, results are not reported: {error}")
            return False
        except Unreachable as error:
            self._note(str(error))
            return False
        return True

    def _send(self) -> bool:
        """One attempt at sending the pending results (or a heartbeat); True when done."""
        if not self._ensure_created():
            return False
        batch = list(self._pending.values())[:BATCH_SIZE]
        try:
            self.client.post_results(self.run_id, batch)
        except KeyRefused as error:
            self.refused = str(error)
            self._note(str(error))
            return False
        except ApiError as error:
            # The receiver refuses this batch for good (a bug or a limit): drop it, go on.
            self._note(f"results were refused: {error}")
            self.dropped += len(batch)
        except Unreachable as error:
            self._note(str(error))
            return False
        else:
            self.sent += len(batch)
        for result in batch:
            self._pending.pop(result["id"], None)
        return True

    def _loop(self) -> None:
        last_sent = time.monotonic()
        while self.refused is None:
            stopping = self._stop.is_set()
            if not self._pending:
                self._take(0.05 if stopping else min(self._heartbeat_s, 0.5))
            if self._pending:
                ok = self._send()
                if ok:
                    last_sent = time.monotonic()
                elif not stopping:
                    self._stop.wait(_RETRY_S)  # the receiver is away: try again later
                    continue
                elif self.refused is None:
                    return  # stopping and the receiver is away: give up now
            elif stopping:
                if self.created is None:
                    self._ensure_created()  # an empty session still is a run
                return
            elif time.monotonic() - last_sent >= self._heartbeat_s and self.created is not None:
                last_sent = time.monotonic()
                with contextlib.suppress(ApiError, Unreachable):
                    self.client.post_results(self.run_id, [])
        # Refused: whatever is left is dropped (tests go on; the summary says why).
        self.dropped += len(self._pending) + self._queue.qsize()
        self._pending.clear()
