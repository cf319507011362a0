"""``spanlink-receiver redaction set|show`` against a real database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from receiver_fixtures import TestProject

from spanlink.receiver.cli import main


def test_set_then_show(
    project: TestProject, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--project", project.name, "--database-url", database_url]
    status = main(
        [
            "redaction",
            "set",
            *common,
            "--builtin",
            "email,jwt",
            "--rule",
            r"ssn=\d{3}-\d{2}-\d{4}",
            "--keys",
            "pw=*password*,*secret*",
            "--rule",
            "order=ORD-[0-9]+",
            "--keys",
            "order=shop.*",
        ]
    )
    assert status == 0
    capsys.readouterr()
    assert main(["redaction", "show", *common]) == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert shown == {
        "builtin": ["email", "jwt"],
        "rules": [
            {"name": "ssn", "pattern": r"\d{3}-\d{2}-\d{4}", "keys": []},
            {"name": "order", "pattern": "ORD-[0-9]+", "keys": ["shop.*"]},
            {"name": "pw", "pattern": None, "keys": ["*password*", "*secret*"]},
        ],
    }


def test_invalid_rules_are_refused(
    project: TestProject, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "redaction",
            "set",
            "--project",
            project.name,
            "--database-url",
            database_url,
            "--builtin",
            "nope",
        ]
    )
    assert status == 2
    assert "unknown builtin detector 'nope'" in capsys.readouterr().err
