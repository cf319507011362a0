"""Plugins in tests: installed as an installer would, run as a host does (``plugin_helpers``,
imported from every test folder)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy

from spanlink.tracer import SpanRecord, Trace
from spanlink.tracer.plugins import call_each

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def write_distribution(
    site: Path, name: str, version: str, entry_points: Mapping[str, Mapping[str, str]]
) -> Path:
    """Lay out the ``.dist-info`` of distribution ``name`` in ``site`` as an installer would:
    its metadata and ``entry_points`` (group -> entry point name -> target)."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, points in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{point} = {target}" for point, target in points.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return info


def enrich_spans(
    manager: pluggy.PluginManager,
    spans: Sequence[SpanRecord],
    context: Mapping[str, Any] | None = None,
    *,
    checked: Collection[str] | None = None,
    note: Any = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Call ``spanlink_enrich_span`` for each span, then ``spanlink_enrich_trace``.

    Asserts that no plugin (of ``checked``, default every one) raised (``note`` goes into
    the assertion message). Returns ``(results by span id, trace results)``.
    """
    context = dict(context or {})

    def check(errors: Mapping[str, Any]) -> None:
        failed = {n: e for n, e in errors.items() if checked is None or n in checked}
        assert not failed, (failed, note)

    span_results: dict[str, dict[str, Any]] = {}
    for span in spans:
        results, errors = call_each(manager, "spanlink_enrich_span", span=span, context=context)
        check(errors)
        span_results[span.span_id] = results
    trace_results, errors = call_each(
        manager,
        "spanlink_enrich_trace",
        trace=Trace.from_spans(list(spans)),
        span_results=span_results,
        context=context,
    )
    check(errors)
    return span_results, trace_results


def install_module_plugin(
    site: Path, module: str, source: str, entry_point: str, version: str = "0.1.0"
) -> None:
    """Write ``module.py`` and its ``*.dist-info`` (declaring ``entry_point = module`` in group
    ``spanlink``) into ``site``; put ``site`` on ``sys.path``/``PYTHONPATH`` to install it."""
    (site / f"{module}.py").write_text(source)
    write_distribution(site, module.replace("_", "-"), version, {"spanlink": {entry_point: module}})


def install_sample(site: Path, folder: Path) -> str:
    """Lay the sample package in ``folder`` out in ``site`` as an installer would; return its
    module name."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    (module_dir,) = (folder / "src").iterdir()
    shutil.copytree(module_dir, site / module_dir.name)
    name, version = project["name"], project["version"]
    write_distribution(site, name, version, {"spanlink": project["entry-points"]["spanlink"]})
    return module_dir.name
