"""Datasets: versions on push, add/replace, reading a version back, bad input refused with
nothing stored, redaction of cases, and no project crossing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest
from receiver_helpers import count_rows


def _name() -> str:
    return f"ds-{uuid.uuid4().hex[:8]}"


def _push(client: httpx.Client, name: str, cases: list[dict[str, Any]], **extra: Any):
    return client.post("/api/v1/datasets", json={"name": name, "cases": cases, **extra})


CASES = [
    {"id": "q1", "inputs": {"question": "a"}, "expected_output": "answer to a"},
    {
        "id": "q2",
        "inputs": {"question": "b"},
        "evaluators": [{"name": "contains", "params": {"value": "b"}}],
        "metadata": {"topic": "x"},
    },
]


def test_pushes_make_versions_and_every_version_reads_back(client: httpx.Client) -> None:
    name = _name()
    first = _push(client, name, CASES, description="support questions")
    assert first.status_code == 201, first.text
    assert first.json() | {"id": None} == {
        "id": None,
        "name": name,
        "version": 1,
        "case_count": 2,
        "created": True,
        "new_version": True,
    }
    same = _push(client, name, CASES)
    assert same.status_code == 200 and same.json()["version"] == 1
    assert same.json()["new_version"] is False
    replaced = _push(client, name, [{"id": "q3", "inputs": {"question": "c"}}])
    assert replaced.json()["version"] == 2 and replaced.json()["case_count"] == 1
    added = client.post(
        f"/api/v1/datasets/{name}/cases",
        json={"cases": [{"id": "q3", "inputs": {"question": "C"}}, {"id": "q4"}]},
    )
    assert added.status_code == 200, added.text
    assert added.json()["version"] == 3 and added.json()["case_count"] == 2

    latest = client.get(f"/api/v1/datasets/{name}").json()
    assert latest["version"] == 3 and latest["latest_version"] == 3
    assert [(c["id"], c["inputs"]) for c in latest["cases"]] == [
        ("q3", {"question": "C"}),
        ("q4", {}),
    ]
    assert [v["version"] for v in latest["versions"]] == [1, 2, 3]
    first_version = client.get(f"/api/v1/datasets/{name}", params={"version": 1}).json()
    assert first_version["description"] == "support questions"
    q1, q2 = first_version["cases"]
    assert q1["expected_output"] == "answer to a" and "expected_output" not in q2
    assert q2["evaluators"] == [
        {"name": "contains", "params": {"value": "b"}, "threshold": None, "required": True}
    ]
    assert q2["metadata"] == {"topic": "x"}
    listed = {d["name"]: d for d in client.get("/api/v1/datasets").json()["items"]}
    assert listed[name]["latest_version"] == 3 and listed[name]["case_count"] == 2
    assert client.get(f"/api/v1/datasets/{name}", params={"version": 9}).status_code == 404


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ({"evaluators": [{"name": "no_such_evaluator"}]}, "no evaluator of that name"),
        ({"evaluators": [{"name": "regex", "params": {"pattern": "("}}]}, "regex"),
        (
            {"evaluators": [{"name": "json_schema", "params": {"schema": {"type": "nope"}}}]},
            "json_schema",
        ),
        ({"evaluators": [{"name": "contains", "params": {"mode": "most"}}]}, "contains"),
        ({"evaluators": [{"name": "contains", "threshold": "high"}]}, "threshold"),
        ({"evaluators": [{"name": "contains", "extra": 1}]}, "extra"),
        ({"id": "bad\x00id"}, "NUL"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_cases_are_refused_and_no_version_is_stored(
    client: httpx.Client, database_url: str, project: Any, case: dict[str, Any], says: str
) -> None:
    name = _name()
    assert _push(client, name, CASES).status_code == 201
    answer = _push(client, name, [{"id": "ok", "inputs": {}}, {"id": "bad", **case}])
    assert answer.status_code == 422, answer.text
    assert says.lower() in answer.text.lower(), answer.text
    if "evaluators" in case and says not in ("threshold", "extra"):  # found by the registry
        assert "cases[1].evaluators[0]" in answer.text  # names the case and the evaluator
    assert count_rows(database_url, project.id, "dataset_versions") == 1
    assert client.get(f"/api/v1/datasets/{name}").json()["version"] == 1


def test_other_bad_pushes_are_refused(client: httpx.Client) -> None:
    assert _push(client, "has@at", CASES).status_code == 422
    assert _push(client, _name(), []).status_code == 422
    twice = _push(client, _name(), [{"id": "a"}, {"id": "a"}])
    assert twice.status_code == 422 and "used twice" in twice.text
    # A NUL in the description (Postgres text cannot hold it): the request's fault, not a 500.
    nul = client.post(
        "/api/v1/datasets", json={"name": _name(), "description": "a\x00b", "cases": CASES}
    )
    assert nul.status_code == 422 and "NUL" in nul.text, nul.text
    missing = client.post("/api/v1/datasets/nothing-here/cases", json={"cases": [{"id": "a"}]})
    assert missing.status_code == 404 and "create it first" in missing.text
    assert client.get("/api/v1/datasets/nothing-here").status_code == 404


def test_every_problem_is_listed_in_one_answer(client: httpx.Client) -> None:
    answer = _push(
        client,
        _name(),
        [
            {"id": "a", "evaluators": [{"name": "regex", "params": {"pattern": "["}}]},
            {
                "id": "b",
                "evaluators": [{"name": "nope"}, {"name": "length", "params": {"min": -1}}],
            },
        ],
    )
    assert answer.status_code == 422
    detail = answer.json()["message"]
    for where in ("cases[0].evaluators[0]", "cases[1].evaluators[0]", "cases[1].evaluators[1]"):
        assert where in detail, detail


def test_redaction_applies_to_cases_before_they_are_stored(
    client: httpx.Client, database_url: str, project: Any
) -> None:
    rules = {"builtin": [], "rules": [{"name": "ticket", "pattern": r"TKT-\d{6}"}]}
    assert client.put("/api/v1/redaction", json=rules).status_code == 200
    name = _name()
    case = {
        "id": "about TKT-123456",
        "inputs": {"question": "what about TKT-123456?"},
        "expected_output": "TKT-123456 is closed",
        "metadata": {"source": "TKT-123456"},
    }
    assert _push(client, name, [case]).status_code == 201
    with psycopg.connect(database_url) as connection:
        stored = connection.execute(
            "SELECT case_id, inputs::text, expected_output::text, metadata::text "
            "FROM dataset_cases WHERE project_id = %s",
            (project.id,),
        ).fetchall()
    text = " ".join(str(v) for row in stored for v in row)
    assert "TKT-1" not in text and text.count("[REDACTED:ticket]") == 4


def test_another_projects_dataset_is_not_found(
    client: httpx.Client, receiver: Any, database_url: str
) -> None:
    from spanlink.receiver.storage import create_api_key

    name = _name()
    assert _push(client, name, CASES).status_code == 201
    other_key = create_api_key(database_url, f"other-{uuid.uuid4().hex[:8]}")
    with httpx.Client(
        base_url=receiver.url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as other:
        assert other.get(f"/api/v1/datasets/{name}").status_code == 404
        assert name not in {d["name"] for d in other.get("/api/v1/datasets").json()["items"]}
        # The same name is free there: a dataset of its own.
        assert _push(other, name, [{"id": "theirs"}]).status_code == 201
    assert [c["id"] for c in client.get(f"/api/v1/datasets/{name}").json()["cases"]] == [
        "q1",
        "q2",
    ]
