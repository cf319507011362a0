"""``spanlink.endpoint.__all__`` is the documented API; implementation modules are private."""

from __future__ import annotations

import pkgutil

from exported_members import check_exported_members

import spanlink.endpoint


def test_endpoint_exports_match_the_readme() -> None:
    check_exported_members(spanlink.endpoint, "packages/spanlink-endpoint/README.md")


def test_implementation_modules_are_private() -> None:
    names = {info.name for info in pkgutil.iter_modules(spanlink.endpoint.__path__)}
    assert all(name.startswith("_") for name in names), sorted(names)
