"""Every error of the HTTP API answers ``{"code": <status>, "message": "..."}``; GET routes
refuse query parameters they do not declare."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from spanlink.receiver.app import create_app
from spanlink.receiver.server import RunningReceiver
from spanlink.receiver.settings import Settings


def _assert_shape(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["code"] == status, body
    assert isinstance(body["message"], str) and body["message"], body
    assert "detail" not in body, body
    return body


def test_401_has_the_documented_shape(receiver: RunningReceiver) -> None:
    with httpx.Client(base_url=receiver.url, timeout=10) as anonymous:
        missing = anonymous.get("/api/v1/traces")
        assert "Authorization: Bearer" in _assert_shape(missing, 401)["message"]
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = anonymous.get("/api/v1/metrics", headers={"Authorization": "Bearer slk_nope"})
        assert "unknown or revoked" in _assert_shape(wrong, 401)["message"]
        assert _assert_shape(anonymous.post("/v1/traces", content=b""), 401)


def test_404_405_and_422_have_the_documented_shape(client: httpx.Client) -> None:
    _assert_shape(client.get("/api/v1/no-such-thing"), 404)
    missing = client.get(f"/api/v1/traces/{'0' * 32}")
    assert "not found" in _assert_shape(missing, 404)["message"]
    _assert_shape(client.delete("/api/v1/traces"), 405)
    body = _assert_shape(client.get("/api/v1/traces", params={"limit": 0}), 422)
    assert "limit" in body["message"]
    assert body["errors"][0]["loc"] == ["query", "limit"]
    _assert_shape(client.get("/api/v1/traces/not-hex"), 422)
    bad_json = client.post(
        "/api/v1/test-runs", content=b"{", headers={"Content-Type": "application/json"}
    )
    _assert_shape(bad_json, 422)


def test_ingest_errors_have_the_documented_shape(client: httpx.Client) -> None:
    too_big = client.post(
        "/v1/traces",
        content=b"\x00" * (8 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/x-protobuf"},
    )
    _assert_shape(too_big, 413)
    csv = client.post("/v1/traces", content=b"x", headers={"Content-Type": "text/csv"})
    _assert_shape(csv, 415)
    _assert_shape(
        client.post("/v1/traces", content=b"\xff", headers={"Content-Type": "application/json"}),
        400,
    )


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_a_nan_in_an_invalid_field_is_a_422_not_a_500(client: httpx.Client, number: str) -> None:
    body = f'{{"function": "f", "cases": [{{"id": "a"}}], "timeout_s": {number}}}'
    response = client.post(
        "/api/v1/test-runs", content=body, headers={"Content-Type": "application/json"}
    )
    answer = _assert_shape(response, 422)
    assert all("input" not in error for error in answer.get("errors", []))  # nothing echoed


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_nan_anywhere_in_a_json_body_is_a_422_and_nothing_is_stored(
    client: httpx.Client, constant: str
) -> None:
    run_id = uuid.uuid4().hex
    headers = {"Content-Type": "application/json"}
    reported = f'{{"source": "pytest", "id": "{run_id}", "metadata": {{"x": {constant}}}}}'
    invoked = f'{{"function": "f", "cases": [{{"inputs": {{"a": [1, {constant}]}}}}]}}'
    score = f'{{"name": "s", "value": 1, "metadata": {{"a": {constant}}}}}'
    for path, body in [("/api/v1/test-runs", reported), ("/api/v1/test-runs", invoked)]:
        answer = _assert_shape(client.post(path, content=body, headers=headers), 422)
        assert constant.lstrip("-") in answer["message"], answer
        assert "not valid JSON" in answer["message"], answer
    _assert_shape(client.post("/api/v1/scores", content=score, headers=headers), 422)
    assert client.get(f"/api/v1/test-runs/{run_id}").status_code == 404
    # The same letters inside a string are only text.
    fine = f'{{"source": "pytest", "id": "{run_id}", "metadata": {{"x": "{constant}"}}}}'
    assert client.post("/api/v1/test-runs", content=fine, headers=headers).status_code == 201
    created = client.get(f"/api/v1/test-runs/{run_id}").json()
    assert created["metadata"] == {"x": constant}


def test_validation_errors_are_listed_briefly(client: httpx.Client) -> None:
    cases = [{"id": "", "inputs": "not an object"} for _ in range(200)]
    response = client.post("/api/v1/test-runs", json={"function": "f", "cases": cases})
    body = _assert_shape(response, 422)
    assert len(body["errors"]) <= 20
    assert "more" in body["message"] and len(body["message"]) <= 2000


@pytest.fixture
def failing_receiver(database_url: str) -> Iterator[RunningReceiver]:
    """The real app with one extra route that fails, served on loopback."""
    app = create_app(Settings(database_url=database_url))

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret connection string postgres://u:p@db")

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    running = RunningReceiver(f"http://127.0.0.1:{port}", "127.0.0.1", port, server, thread)
    try:
        yield running
    finally:
        running.stop()


def test_500_has_the_documented_shape_and_no_details(failing_receiver: RunningReceiver) -> None:
    with httpx.Client(base_url=failing_receiver.url, timeout=10) as http:
        body = _assert_shape(http.get("/api/v1/boom"), 500)
    assert "secret" not in body["message"] and "postgres" not in body["message"]
    assert "log" in body["message"]


def _get_paths() -> list[str]:
    """Every documented GET path, path parameters filled with 32 zeros (a valid id)."""
    app = create_app(Settings(database_url="postgresql://unused@127.0.0.1:1/none"))
    paths = []
    for path, operations in app.openapi()["paths"].items():
        if "get" in operations:
            for param in operations["get"].get("parameters", []):
                if param["in"] == "path":
                    path = path.replace("{" + param["name"] + "}", "0" * 32)
            paths.append(path)
    return paths


@pytest.mark.parametrize("path", _get_paths())
def test_every_get_route_refuses_an_unknown_query_parameter(
    client: httpx.Client, path: str
) -> None:
    response = client.get(path, params={"sesion_id": "x"})
    body = _assert_shape(response, 422)
    assert "'sesion_id'" in body["message"]


def test_known_parameters_still_work_and_the_answer_names_them(client: httpx.Client) -> None:
    assert client.get("/api/v1/traces", params={"limit": 5, "root_only": "true"}).is_success
    body = _assert_shape(client.get("/api/v1/traces", params={"session": "x"}), 422)
    assert "session_id" in body["message"] and "limit" in body["message"]
