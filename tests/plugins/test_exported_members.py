"""The builtin plugins' ``__all__`` and their READMEs agree."""

from __future__ import annotations

from exported_members import check_exported_members

import spanlink.plugins.anomaly
import spanlink.plugins.cost


def test_cost_plugin_exports_match_its_readme() -> None:
    check_exported_members(spanlink.plugins.cost, "plugins/spanlink-plugin-cost/README.md")


def test_anomaly_plugin_exports_match_its_readme() -> None:
    check_exported_members(spanlink.plugins.anomaly, "plugins/spanlink-plugin-anomaly/README.md")
