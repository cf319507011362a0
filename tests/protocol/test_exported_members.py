"""``spanlink.protocol.__all__`` and the documented API agree, and nothing private leaks."""

from __future__ import annotations

from exported_members import api_section_names, check_exported_members

import spanlink.protocol

README = "packages/spanlink-protocol/README.md"


def test_all_names_import_and_the_public_objects_are_exported() -> None:
    check_exported_members(spanlink.protocol, README)


def test_readme_names_are_exported() -> None:
    assert api_section_names(README) == set(spanlink.protocol.__all__) - {"__version__"}
