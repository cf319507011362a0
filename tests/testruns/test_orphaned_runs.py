"""A run whose executing receiver stops is finished by another receiver's sweep."""

from __future__ import annotations

from typing import Any

import httpx

from spanlink.receiver.server import start_in_thread
from spanlink.receiver.settings import Settings
from spanlink.receiver.testruns.store import ORPHANED_CASE_ERROR


def test_cases_never_started_fail_when_the_executing_receiver_stops(
    database_url: str, project: Any, endpoint_app: Any, run_waiter: Any
) -> None:
    headers = {"Authorization": f"Bearer {project.api_key}"}
    survivor_settings = Settings(database_url=database_url, linking_sweep_interval_s=0.3)
    with start_in_thread(survivor_settings) as survivor:
        endpoint_app(survivor.url, project.api_key)  # the endpoint stays reachable
        executor = start_in_thread(Settings(database_url=database_url))
        try:
            with httpx.Client(base_url=executor.url, headers=headers, timeout=30) as http:
                cases = [{"id": f"c{n}", "inputs": {"seconds": 1.5}} for n in range(3)]
                created = http.post(
                    "/api/v1/test-runs",
                    json={"function": "slow", "cases": cases, "concurrency": 1},
                )
                assert created.status_code == 201, created.text
                run_id = created.json()["id"]
                run_waiter(http, run_id, lambda run: run["progress"]["counts"]["running"] == 1)
        finally:
            executor.stop()  # its queued cases will never be invoked by it
        with httpx.Client(base_url=survivor.url, headers=headers, timeout=30) as http:
            run = run_waiter(http, run_id)
    assert run["status"] == "completed"
    by_case = {result["case_id"]: result for result in run["results"]}
    # The case in flight was answered by the endpoint through the surviving receiver.
    assert by_case["c0"]["status"] == "passed" and by_case["c0"]["output"] == "done"
    for case_id in ("c1", "c2"):
        assert by_case[case_id]["status"] == "error"
        assert by_case[case_id]["error"] == ORPHANED_CASE_ERROR
    assert "executor_seen" not in run["metadata"]


def test_a_live_executor_keeps_its_queued_cases(
    database_url: str, project: Any, endpoint_app: Any, run_waiter: Any
) -> None:
    headers = {"Authorization": f"Bearer {project.api_key}"}
    settings = Settings(database_url=database_url, linking_sweep_interval_s=0.2)
    with start_in_thread(settings) as first, start_in_thread(settings) as second:
        endpoint_app(second.url, project.api_key)
        with httpx.Client(base_url=first.url, headers=headers, timeout=30) as http:
            cases = [{"id": f"c{n}", "inputs": {"seconds": 0.5}} for n in range(3)]
            created = http.post(
                "/api/v1/test-runs", json={"function": "slow", "cases": cases, "concurrency": 1}
            ).json()
            run = run_waiter(http, created["id"])
    # Both receivers swept many times meanwhile; nothing was failed for a live executor.
    assert run["status"] == "completed"
    assert [result["status"] for result in run["results"]] == ["passed"] * 3
