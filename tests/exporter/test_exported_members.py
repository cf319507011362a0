"""``spanlink.exporter.__all__`` and the documented API agree, and nothing private leaks."""

from __future__ import annotations

import re
from pathlib import Path

import spanlink.exporter

README = Path(__file__).parents[2] / "packages" / "spanlink-exporter" / "README.md"


def test_all_names_import_and_are_unique() -> None:
    names = spanlink.exporter.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(spanlink.exporter, name) is not None, name


def test_public_objects_are_exported() -> None:
    for name, value in vars(spanlink.exporter).items():
        module = getattr(value, "__module__", "") or ""
        if not name.startswith("_") and module.startswith("spanlink.exporter"):
            assert name in spanlink.exporter.__all__, name


def test_readme_api_lists_exactly_the_exported_names() -> None:
    text = README.read_text("utf-8")
    api = text.split("## API", 1)[1]
    listed = {
        name
        for line in api.splitlines()
        if line.startswith("- ")
        for name in re.findall(r"`([A-Za-z_][A-Za-z_0-9]*)`", line.split(":", 1)[0])
    }
    assert listed == set(spanlink.exporter.__all__) - {"__version__"}


def test_readme_imports_work() -> None:
    text = README.read_text("utf-8")
    imported = {
        name.strip()
        for names in re.findall(r"from spanlink\.exporter import ([A-Za-z_, ]+)", text)
        for name in names.split(",")
    }
    assert imported
    assert imported <= set(spanlink.exporter.__all__)
