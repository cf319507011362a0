"""``spanlink.exporter.__all__`` and the documented API agree, and nothing private leaks."""

from __future__ import annotations

from exported_members import api_section_names, check_exported_members

import spanlink.exporter

README = "packages/spanlink-exporter/README.md"


def test_all_names_import_the_public_objects_are_exported_and_readme_imports_work() -> None:
    check_exported_members(spanlink.exporter, README)


def test_readme_api_lists_exactly_the_exported_names() -> None:
    assert api_section_names(README) == set(spanlink.exporter.__all__) - {"__version__"}
