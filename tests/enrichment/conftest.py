"""Enrichment tests: the receiver fixtures of ``tests/receiver_fixtures.py`` plus helpers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _load(name: str, path: Path) -> ModuleType:
    """Import a helper module by path (tests run with --import-mode=importlib)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_here = Path(__file__).resolve().parent
receiver_fixtures = _load("receiver_fixtures", _here.parent / "receiver_fixtures.py")
helpers = _load("receiver_helpers", _here.parent / "receiver" / "helpers.py")

api_key = receiver_fixtures.api_key
client = receiver_fixtures.client
database_url = receiver_fixtures.database_url
project = receiver_fixtures.project
receiver = receiver_fixtures.receiver
server_url = receiver_fixtures.server_url

_load("tests_conftest", _here.parent / "conftest.py")
_load("enrichment_helpers", _here / "helpers.py")
