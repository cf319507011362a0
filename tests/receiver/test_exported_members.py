"""The receiver's public ``__init__`` files: ``__all__`` is what they export, and the names
``backend/README.md`` documents import from where it says (old paths warn)."""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import pytest

PUBLIC_PACKAGES = [
    "spanlink.receiver",
    "spanlink.receiver.api",
    "spanlink.receiver.cli",
    "spanlink.receiver.compare",
    "spanlink.receiver.enrichment",
    "spanlink.receiver.ingest",
    "spanlink.receiver.linking",
    "spanlink.receiver.redaction",
    "spanlink.receiver.storage",
    "spanlink.receiver.testruns",
    "spanlink.receiver.ui",
]
README = Path(__file__).resolve().parents[2] / "backend" / "README.md"


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_all_lists_exactly_what_the_package_exports(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "a name is listed twice"
    for name in exported:
        assert getattr(module, name) is not None, f"{package}.{name}"
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, type(importlib))  # submodules are not exports
        # Names imported from other libraries (``APIRouter``, ``Path``) are not exports.
        and getattr(value, "__module__", "spanlink").startswith("spanlink")
        and name not in ("annotations", "TYPE_CHECKING")
    }
    assert public <= set(exported), f"{package} exports names missing from __all__"


def _documented_imports() -> list[tuple[str, list[str]]]:
    block = README.read_text(encoding="utf-8").split("## Python API", 1)[1]
    code = block.split("```python", 1)[1].split("```", 1)[0]
    found = []
    for match in re.finditer(r"^from (\S+) import ([^#\n]+)", code, re.MULTILINE):
        found.append((match.group(1), [name.strip() for name in match.group(2).split(",")]))
    return found


def test_the_readme_documents_some_imports() -> None:
    assert len(_documented_imports()) >= 3


@pytest.mark.parametrize(("module", "names"), _documented_imports())
def test_documented_names_import_without_warnings(module: str, names: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imported = importlib.import_module(module)
        for name in names:
            assert getattr(imported, name) is not None


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("spanlink.receiver.admin", "create_api_key", "spanlink.receiver.storage"),
        ("spanlink.receiver.migrate", "upgrade", "spanlink.receiver.storage"),
        ("spanlink.receiver.db", "project_scope", "spanlink.receiver.storage"),
        ("spanlink.receiver.convert", "span_record_from_otlp", "spanlink.receiver.ingest"),
        ("spanlink.receiver.testruns.linking", "HybridStrategy", "spanlink.receiver.linking"),
        ("spanlink.receiver.testruns.linking", "ResultLink", "spanlink.receiver.linking"),
        ("spanlink.receiver.testruns.service", "load_strategy", "spanlink.receiver.linking"),
    ],
)
def test_moved_names_still_import_from_their_old_module_with_a_warning(
    old: str, name: str, new: str
) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=re.escape(f"{new}.{name}")):
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018
