"""``spanlink.protocol.__all__`` and the documented API agree, and nothing private leaks."""

from __future__ import annotations

import re
from pathlib import Path

import spanlink.protocol

README = Path(__file__).parents[2] / "packages" / "spanlink-protocol" / "README.md"


def test_all_names_import_and_are_unique() -> None:
    names = spanlink.protocol.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(spanlink.protocol, name) is not None, name


def test_public_objects_are_exported() -> None:
    for name, value in vars(spanlink.protocol).items():
        module = getattr(value, "__module__", "") or ""
        if not name.startswith("_") and module.startswith("spanlink.protocol"):
            assert name in spanlink.protocol.__all__, name


def test_readme_names_are_exported() -> None:
    documented = set(re.findall(r"`([A-Za-z_][A-Za-z_0-9]*)`", README.read_text("utf-8")))
    exported = set(spanlink.protocol.__all__)
    assert documented & exported, "the README documents no name of __all__"
    api = README.read_text("utf-8").split("## API", 1)[1]
    listed = {
        name
        for line in api.splitlines()
        if line.startswith("- ")
        for name in re.findall(r"`([A-Za-z_][A-Za-z_0-9]*)`", line.split(":", 1)[0])
    }
    assert listed == exported - {"__version__"}
