"""Datasets in Postgres: push cases as a new version, list datasets, read a version.

A push locks the dataset's row (created on first push), builds the new case list —
the pushed cases (``replace``), or the latest version's cases with the pushed ones
replacing those of the same id and the others appended (``add``) — and stores it as the
next version, unless it equals the latest version (pushing the same file twice makes no
new version). Every function takes a connection in a transaction bound to the project.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, text

from spanlink.receiver.storage._json import iso, json_text

Mode = Literal["replace", "add"]


@dataclass(frozen=True, slots=True)
class DatasetCase:
    """One case of a dataset version."""

    id: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    expected_output: Any = None
    has_expected: bool = False
    evaluators: Sequence[Mapping[str, Any]] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``expected_output`` only when the case has one)."""
        doc: dict[str, Any] = {"id": self.id, "inputs": dict(self.inputs)}
        if self.has_expected:
            doc["expected_output"] = self.expected_output
        doc["evaluators"] = [dict(e) for e in self.evaluators]
        doc["metadata"] = dict(self.metadata)
        return doc


@dataclass(frozen=True, slots=True)
class PushResult:
    """What a push did: the dataset's id and version now, and what it created."""

    dataset_id: str
    version: int
    case_count: int
    created_dataset: bool
    created_version: bool


def _canonical(cases: Sequence[DatasetCase]) -> str:
    return json.dumps([case.as_dict() for case in cases], sort_keys=True, allow_nan=False)


_CASE_COLUMNS = "case_id, inputs, expected_output, has_expected, evaluators, metadata"


def _case(row: Any) -> DatasetCase:
    return DatasetCase(
        id=row[0],
        inputs=row[1] or {},
        expected_output=row[2],
        has_expected=bool(row[3]),
        evaluators=list(row[4] or []),
        metadata=row[5] or {},
    )


def load_cases(
    connection: Connection, project_id: int, dataset_id: str, version: int
) -> list[DatasetCase]:
    """The cases of one version, in their order."""
    rows = connection.execute(
        text(
            f"SELECT {_CASE_COLUMNS} FROM dataset_cases WHERE project_id = :p "
            "AND dataset_id = :d AND version = :v ORDER BY position"
        ),
        {"p": project_id, "d": dataset_id, "v": version},
    )
    return [_case(row) for row in rows]


def _merged(previous: Sequence[DatasetCase], pushed: Sequence[DatasetCase]) -> list[DatasetCase]:
    by_id = {case.id: case for case in pushed}
    merged = [by_id.pop(case.id, case) for case in previous]
    return merged + [case for case in pushed if case.id in by_id]


def push_cases(
    connection: Connection,
    project_id: int,
    name: str,
    cases: Sequence[DatasetCase],
    *,
    mode: Mode = "replace",
    description: str | None = None,
) -> PushResult:
    """Store ``cases`` as the dataset's next version (creating the dataset if needed)."""
    row = connection.execute(
        text(
            "INSERT INTO datasets (project_id, name, description) VALUES (:p, :name, :d) "
            "ON CONFLICT (project_id, name) DO UPDATE SET "
            "description = coalesce(excluded.description, datasets.description) "
            "RETURNING id, latest_version, (xmax = 0) AS inserted"
        ),
        {"p": project_id, "name": name, "d": description},
    ).one()  # the upsert locks the row: concurrent pushes of one dataset take turns
    dataset_id, latest, inserted = str(row[0]), int(row[1]), bool(row[2])
    previous = load_cases(connection, project_id, dataset_id, latest) if latest else []
    new_cases = list(cases) if mode == "replace" else _merged(previous, cases)
    if latest and _canonical(new_cases) == _canonical(previous):
        return PushResult(dataset_id, latest, len(previous), inserted, False)
    version = latest + 1
    connection.execute(
        text(
            "INSERT INTO dataset_versions (project_id, dataset_id, version, case_count) "
            "VALUES (:p, :d, :v, :n)"
        ),
        {"p": project_id, "d": dataset_id, "v": version, "n": len(new_cases)},
    )
    if new_cases:
        connection.execute(
            text(
                f"INSERT INTO dataset_cases (project_id, dataset_id, version, position, "
                f"{_CASE_COLUMNS}) VALUES (:p, :d, :v, :pos, :case_id, CAST(:inputs AS jsonb), "
                "CAST(:expected AS jsonb), :has_expected, CAST(:evaluators AS jsonb), "
                "CAST(:metadata AS jsonb))"
            ),
            [
                {
                    "p": project_id,
                    "d": dataset_id,
                    "v": version,
                    "pos": position,
                    "case_id": case.id,
                    "inputs": json_text(dict(case.inputs)),
                    "expected": json_text(case.expected_output) if case.has_expected else None,
                    "has_expected": case.has_expected,
                    "evaluators": json_text([dict(e) for e in case.evaluators]),
                    "metadata": json_text(dict(case.metadata)),
                }
                for position, case in enumerate(new_cases)
            ],
        )
    connection.execute(
        text(
            "UPDATE datasets SET latest_version = :v, updated_at = now() "
            "WHERE project_id = :p AND id = :d"
        ),
        {"p": project_id, "d": dataset_id, "v": version},
    )
    return PushResult(dataset_id, version, len(new_cases), inserted, True)


def list_datasets(
    connection: Connection, project_id: int, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The project's datasets by name, with their latest version's case count; and the total."""
    total = connection.execute(
        text("SELECT count(*) FROM datasets WHERE project_id = :p"), {"p": project_id}
    ).scalar_one()
    rows = connection.execute(
        text(
            "SELECT d.id, d.name, d.description, d.latest_version, v.case_count, d.created_at, "
            "d.updated_at FROM datasets d LEFT JOIN dataset_versions v ON v.project_id = "
            "d.project_id AND v.dataset_id = d.id AND v.version = d.latest_version "
            "WHERE d.project_id = :p ORDER BY d.name LIMIT :limit OFFSET :offset"
        ),
        {"p": project_id, "limit": limit, "offset": offset},
    )
    items = [
        {
            "id": row[0],
            "name": row[1],
            "description": row[2],
            "latest_version": row[3],
            "case_count": row[4] or 0,
            "created_at": iso(row[5]),
            "updated_at": iso(row[6]),
        }
        for row in rows
    ]
    return items, int(total)


def get_version(
    connection: Connection, project_id: int, name: str, version: int | None = None
) -> dict[str, Any] | None:
    """One version of a dataset (default: the latest) with its cases and the list of
    versions; None when the dataset or that version does not exist."""
    dataset = connection.execute(
        text(
            "SELECT id, name, description, latest_version, created_at, updated_at "
            "FROM datasets WHERE project_id = :p AND name = :name"
        ),
        {"p": project_id, "name": name},
    ).first()
    if dataset is None:
        return None
    wanted = version if version is not None else int(dataset[3])
    versions = [
        {"version": row[0], "case_count": row[1], "created_at": iso(row[2])}
        for row in connection.execute(
            text(
                "SELECT version, case_count, created_at FROM dataset_versions "
                "WHERE project_id = :p AND dataset_id = :d ORDER BY version"
            ),
            {"p": project_id, "d": dataset[0]},
        )
    ]
    if not any(v["version"] == wanted for v in versions):
        return None
    cases = load_cases(connection, project_id, str(dataset[0]), wanted)
    return {
        "id": dataset[0],
        "name": dataset[1],
        "description": dataset[2],
        "latest_version": dataset[3],
        "version": wanted,
        "case_count": len(cases),
        "created_at": iso(dataset[4]),
        "updated_at": iso(dataset[5]),
        "versions": versions,
        "cases": [case.as_dict() for case in cases],
    }
