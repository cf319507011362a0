"""The public names of ``spanlink.receiver.compare`` and the README section agree."""

from __future__ import annotations

import re
from pathlib import Path

import spanlink.receiver.compare as compare

README = Path(__file__).parents[2] / "backend" / "README.md"


def test_all_names_exist_and_are_documented() -> None:
    section = README.read_text(encoding="utf-8").split("## Comparison")[1].split("\n## ")[0]
    for name in compare.__all__:
        item = getattr(compare, name)
        if callable(item):
            assert item.__doc__, f"{name} has no docstring"
    for name in ("diff_traces", "compare_runs", "first_seen", "Thresholds", "TraceTooLarge"):
        assert name in compare.__all__
        assert re.search(rf"`{name}\b", section), f"{name} is not in the README section"
