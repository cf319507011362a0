"""A project's stored rules: one row of ``redaction_rules`` (row-level security applies)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from spanlink.receiver.redaction._config import RedactionConfig, parse_config

__all__ = ["load_config", "save_config"]


def load_config(connection: Connection, project_id: int) -> tuple[RedactionConfig, datetime | None]:
    """The project's rules and when they were stored (empty rules, None: never set)."""
    row = connection.execute(
        text("SELECT config, updated_at FROM redaction_rules WHERE project_id = :p"),
        {"p": project_id},
    ).first()
    if row is None:
        return RedactionConfig(), None
    document: Any = row[0]
    return parse_config(document), row[1]


def save_config(connection: Connection, project_id: int, config: RedactionConfig) -> datetime:
    """Replace the project's rules; returns the time they were stored."""
    stored: datetime = connection.execute(
        text(
            "INSERT INTO redaction_rules (project_id, config, updated_at) "
            "VALUES (:p, CAST(:c AS jsonb), now()) ON CONFLICT (project_id) DO UPDATE "
            "SET config = excluded.config, updated_at = excluded.updated_at RETURNING updated_at"
        ),
        {"p": project_id, "c": json.dumps(config.to_dict())},
    ).scalar_one()
    return stored
