"""Two receivers on one database, and an endpoint reconnecting after a receiver restart."""

from __future__ import annotations

import time
from typing import Any

import httpx

from spanlink.receiver.server import start_in_thread
from spanlink.receiver.settings import Settings


def test_run_started_on_one_receiver_reaches_an_endpoint_on_another(
    database_url: str, project: Any, endpoint_app: Any, run_waiter: Any
) -> None:
    settings = Settings(database_url=database_url)
    with start_in_thread(settings) as first, start_in_thread(settings) as second:
        endpoint_app(second.url, project.api_key)  # connected to the second receiver only
        assert not list(first.server.config.app.state.testruns.registry)
        headers = {"Authorization": f"Bearer {project.api_key}"}
        with httpx.Client(base_url=first.url, headers=headers) as http:
            cases = [{"id": f"c{n}", "inputs": {"question": f"q{n}", "spans": 5}} for n in range(4)]
            created = http.post(
                "/api/v1/test-runs", json={"function": "answer", "cases": cases}
            ).json()
            run = run_waiter(http, created["id"])
            assert run["status"] == "completed"
            for result in run["results"]:
                assert result["status"] == "passed"
                assert result["span_count"] == 5
            # Cancel through the second receiver reaches the run executed by the first.
            slow = http.post(
                "/api/v1/test-runs",
                json={"function": "slow", "cases": [{"inputs": {"seconds": 30}}]},
            ).json()
            run_waiter(http, slow["id"], lambda run: run["progress"]["counts"]["running"] == 1)
        with httpx.Client(base_url=second.url, headers=headers) as other:
            assert other.post(f"/api/v1/test-runs/{slow['id']}/cancel").status_code == 200
            run = run_waiter(other, slow["id"], lambda run: run["progress"]["done"] == 1)
            assert run["results"][0]["status"] == "cancelled"


def test_endpoint_reconnects_after_the_receiver_restarts(
    database_url: str, project: Any, endpoint_app: Any, run_waiter: Any
) -> None:
    settings = Settings(database_url=database_url)
    first = start_in_thread(settings)
    port = first.port
    app = endpoint_app(first.url, project.api_key)
    first.stop()
    time.sleep(0.3)
    second = start_in_thread(settings, port=port)
    try:
        headers = {"Authorization": f"Bearer {project.api_key}"}
        with httpx.Client(base_url=second.url, headers=headers) as http:
            deadline = time.monotonic() + 20
            while not list(second.server.config.app.state.testruns.registry):
                assert time.monotonic() < deadline, app.stderr()
                time.sleep(0.05)
            created = http.post(
                "/api/v1/test-runs",
                json={"function": "answer", "cases": [{"inputs": {"question": "again"}}]},
            ).json()
            run = run_waiter(http, created["id"])
            assert run["results"][0]["status"] == "passed"
            assert run["results"][0]["span_count"] == 20
    finally:
        second.stop()


def test_run_goes_on_when_the_endpoint_receiver_restarts_mid_invocation(
    database_url: str, project: Any, endpoint_app: Any, run_waiter: Any
) -> None:
    settings = Settings(database_url=database_url)
    with start_in_thread(settings) as runner:
        holder = start_in_thread(settings)
        port = holder.port
        endpoint_app(holder.url, project.api_key)
        headers = {"Authorization": f"Bearer {project.api_key}"}
        with httpx.Client(base_url=runner.url, headers=headers) as http:
            # The first case outlasts the restart however slow the machine is; the others are quick.
            cases = [{"id": "c0", "inputs": {"seconds": 30.0}}] + [
                {"id": f"c{n}", "inputs": {"seconds": 0.2}} for n in (1, 2)
            ]
            created = http.post(
                "/api/v1/test-runs", json={"function": "slow", "cases": cases, "concurrency": 1}
            ).json()
            run_waiter(http, created["id"], lambda run: run["progress"]["counts"]["running"] == 1)
            holder.stop()  # the endpoint's connection goes mid-invocation
            holder = start_in_thread(settings, port=port)
            try:
                run = run_waiter(http, created["id"], timeout=30)
            finally:
                holder.stop()
        first, *rest = run["results"]
        assert first["status"] == "error"
        assert first["error"].startswith("EndpointDisconnected: ")
        # The client reconnected and re-registered; the other cases ran on it.
        assert [r["status"] for r in rest] == ["passed", "passed"]
        assert run["status"] == "completed"


def test_an_over_long_environment_is_announced_to_the_other_receivers(
    database_url: str, project: Any, endpoint_app: Any
) -> None:
    # The environment is an indexed column of endpoint_connections: unbounded, the row's
    # upsert failed (only logged) and no other receiver could find the endpoint.
    import psycopg

    from spanlink.receiver.storage import bound_indexed

    environment = "staging-" + "é" * 3000
    settings = Settings(database_url=database_url)
    with start_in_thread(settings) as holder:
        endpoint_app(holder.url, project.api_key, environment=environment)
        deadline = time.monotonic() + 20
        while True:
            with psycopg.connect(database_url) as connection:
                rows = connection.execute(
                    "SELECT environment FROM endpoint_connections WHERE project_id = %s",
                    (project.id,),
                ).fetchall()
            if rows or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert rows == [(bound_indexed(environment),)]
