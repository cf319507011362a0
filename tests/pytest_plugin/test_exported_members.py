"""The public names of ``spanlink.pytest`` are exactly the documented ones."""

from __future__ import annotations

import re
from pathlib import Path

import spanlink.pytest

README = Path(__file__).resolve().parents[2] / "packages" / "spanlink-pytest" / "README.md"


def test_all_matches_the_documented_public_api() -> None:
    section = README.read_text().split("## Public API", 1)[1]
    documented = set(re.findall(r"`([A-Za-z_]+)`", section.split("\n\n", 2)[1]))
    documented.discard("spanlink.pytest")
    assert set(spanlink.pytest.__all__) == documented
    for name in spanlink.pytest.__all__:
        assert getattr(spanlink.pytest, name) is not None
