"""The receiver's test-run API over httpx: every call bounded by a timeout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from spanlink.pytest._errors import SpanlinkPytestError
from spanlink.tracer.support import parse_retry_after

__all__ = ["ApiError", "Busy", "KeyRefused", "TestRunClient", "Unreachable"]

DEFAULT_TIMEOUT_S = 5.0
#: Statuses that say "not now" rather than "never": the same request may succeed later
#: (the receiver answers 503 for a serialization conflict or an unavailable database). A 500
#: is a failure of the receiver that the same request would meet again.
_TRANSIENT = frozenset({408, 425, 429, 502, 503, 504})
#: Longest ``Retry-After`` honoured, in seconds (a longer one is capped, not obeyed).
MAX_RETRY_AFTER_S = 30.0


class Unreachable(SpanlinkPytestError):
    """The receiver did not answer (down, wrong URL, too slow)."""


class ApiError(SpanlinkPytestError):
    """The receiver answered with an error status; ``status`` and the message say which."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class KeyRefused(ApiError):
    """401/403: the API key is missing, unknown or revoked."""


class Busy(ApiError):
    """A status that a later retry may cure (408, 425, 429, 502-504); ``retry_after`` is the
    receiver's ``Retry-After`` in seconds (capped), None when it sent none."""

    def __init__(self, status: int, message: str, retry_after: float | None) -> None:
        super().__init__(status, message)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    seconds = parse_retry_after(response.headers.get("retry-after"))
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER_S)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, Mapping):
        for key in ("detail", "message"):
            if key in body:
                return str(body[key])[:300]
    return str(body)[:300]


class TestRunClient:
    """Client-reported test runs: create, report results, finish, read, compare."""

    __test__ = False

    def __init__(self, url: str, api_key: str | None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        headers = {"user-agent": "spanlink-pytest"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method,
                path,
                json=json,
                params=params,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as error:
            raise Unreachable(
                f"cannot reach the receiver at {self.url}: {type(error).__name__}: {error}"
            ) from error
        if response.status_code in (401, 403):
            raise KeyRefused(
                response.status_code,
                f"the receiver at {self.url} refused the API key ({response.status_code} "
                f"{_detail(response)}); check --spanlink-api-key / SPANLINK_API_KEY",
            )
        return response

    def _ok(self, response: httpx.Response, what: str) -> Any:
        if response.status_code in _TRANSIENT:
            raise Busy(
                response.status_code,
                f"{what}: the receiver answered {response.status_code}: {_detail(response)}",
                _retry_after(response),
            )
        if response.status_code >= 400:
            raise ApiError(
                response.status_code,
                f"{what}: the receiver answered {response.status_code}: {_detail(response)}",
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            # A 2xx that is not JSON: a proxy's or another server's page, not a receiver.
            raise ApiError(
                response.status_code,
                f"{what}: {self.url} answered {response.status_code} with no JSON "
                f"({response.headers.get('content-type') or 'no content type'}); is it a "
                "spanlink receiver? check --spanlink-url / SPANLINK_ENDPOINT",
            ) from None

    def create_run(self, body: Mapping[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """``POST /api/v1/test-runs`` (a client-reported run; idempotent on its id)."""
        answer = self._ok(
            self._request("POST", "/api/v1/test-runs", json=dict(body), timeout=timeout),
            "creating the run",
        )
        return dict(answer or {})

    def post_results(
        self, run_id: str, results: Sequence[Mapping[str, Any]], timeout: float | None = None
    ) -> None:
        """``POST /api/v1/test-runs/{id}/results``: upsert results by id (empty: a heartbeat)."""
        self._ok(
            self._request(
                "POST",
                f"/api/v1/test-runs/{run_id}/results",
                json={"results": list(results)},
                timeout=timeout,
            ),
            "reporting results",
        )

    def finish_run(self, run_id: str, timeout: float | None = None) -> dict[str, Any]:
        """``POST /api/v1/test-runs/{id}/finish``."""
        answer = self._ok(
            self._request("POST", f"/api/v1/test-runs/{run_id}/finish", json={}, timeout=timeout),
            "finishing the run",
        )
        return dict(answer or {})

    def get_run(self, run_id: str, timeout: float | None = None) -> dict[str, Any]:
        """``GET /api/v1/test-runs/{id}``."""
        answer = self._ok(
            self._request("GET", f"/api/v1/test-runs/{run_id}", timeout=timeout), "reading the run"
        )
        return dict(answer or {})

    def compare(
        self, run_id: str, baseline: str, timeout: float | None = None
    ) -> dict[str, Any] | None:
        """``GET /api/v1/test-runs/{id}/compare?baseline=``; None when the receiver has no
        comparison API (404 for the route itself)."""
        response = self._request(
            "GET",
            f"/api/v1/test-runs/{run_id}/compare",
            params={"baseline": baseline},
            timeout=timeout,
        )
        if response.status_code in (404, 405) and _detail(response) in (
            "Not Found",
            "Method Not Allowed",
        ):
            return None
        answer = self._ok(response, "comparing with the baseline")
        return dict(answer or {})
