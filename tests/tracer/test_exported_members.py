"""``spanlink.tracer.__all__`` is the documented API; implementation modules are private."""

from __future__ import annotations

import importlib
import pkgutil

from exported_members import check_exported_members

import spanlink.tracer

#: The modules of the tracer that are API (the rest is private, ``_name``).
PUBLIC_MODULES = {
    "evaluation",
    "hookspecs",
    "model",
    "plugins",
    "prices",
    "protocol",
    "semconv",
    "support",
}


def test_tracer_exports_match_the_readme() -> None:
    check_exported_members(spanlink.tracer, "packages/spanlink-tracer/README.md")


def test_every_name_of_all_resolves_through_the_lazy_loader() -> None:
    for name in spanlink.tracer.__all__:
        value = getattr(spanlink.tracer, name)
        assert not isinstance(value, type(importlib)), name  # a name, never a module


def test_implementation_modules_are_private() -> None:
    names = {info.name for info in pkgutil.iter_modules(spanlink.tracer.__path__)}
    assert {name for name in names if not name.startswith("_")} <= PUBLIC_MODULES


def test_the_tracer_never_imports_the_exporter() -> None:
    root = spanlink.tracer.__path__[0]
    for info in pkgutil.walk_packages([root]):
        source = importlib.util.find_spec(f"spanlink.tracer.{info.name}")
        assert source is not None and source.origin is not None
        with open(source.origin, encoding="utf-8") as handle:
            assert "spanlink.exporter" not in handle.read(), info.name
