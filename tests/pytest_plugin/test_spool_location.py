"""Where a session spools the spans its receiver did not take: one folder per receiver and API
key (named by a hash, never the key), in pytest's cache or else in the user's own cache
folder (mode 0700), never in a temporary folder every session on the machine shares. A later
session so never re-sends another project's spans to its own receiver under its own key."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pytest_plugin_helpers import PLUGIN

from spanlink.pytest._session import spool_key

SUITE = """
from opentelemetry import trace

def test_traced():
    with trace.get_tracer("t").start_as_current_span("work"):
        pass
"""
KEYS = ("key-of-project-a", "key-of-project-b")


def _closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed


def _run(pytester: pytest.Pytester, url: str, key: str, *args: str) -> None:
    result = pytester.runpytest_subprocess(
        *PLUGIN,
        *args,
        "--spanlink",
        "--spanlink-url",
        url,
        "--spanlink-api-key",
        key,
        "--spanlink-flush-timeout",
        "1",
    )
    result.assert_outcomes(passed=1)


def _two_sessions(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, provider: str
) -> tuple[Path, Path, list[str]]:
    """Run one session per key, receiver down; the user cache and shared temporary folders
    and the spool folder names expected. ``pytester`` is ``child_pytester``."""
    cache_home, shared_tmp = tmp_path / "user-cache", tmp_path / "shared-tmp"
    shared_tmp.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.setenv("TMPDIR", str(shared_tmp))
    pytester.makepyfile(SUITE)
    url = _closed_url()
    for key in KEYS:
        _run(pytester, url, key, "-p", provider)
    return cache_home, shared_tmp, sorted(f"spool-{spool_key(url, key)}-main" for key in KEYS)


def _assert_no_key_on_disk(root: Path) -> None:
    for path in root.rglob("*"):
        for key in KEYS:
            assert key not in str(path)
            assert not path.is_file() or key.encode() not in path.read_bytes()


def test_without_pytest_cache_spans_wait_in_a_private_folder_per_receiver_and_key(
    child_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cache_home, shared_tmp, expected = _two_sessions(
        child_pytester, monkeypatch, tmp_path, "no:cacheprovider"
    )
    base = cache_home / "spanlink" / "pytest"
    assert sorted(p.name for p in base.iterdir()) == expected
    for folder in (base.parent, base, *(base / name for name in expected)):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    for name in expected:  # each session's spans wait in its own folder
        assert [p for p in (base / name).iterdir() if p.name.endswith(".spool")]
    _assert_no_key_on_disk(cache_home)
    assert list(shared_tmp.rglob("*spool*")) == []


def test_with_pytest_cache_the_spool_is_keyed_too(
    child_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cache_home, _, expected = _two_sessions(child_pytester, monkeypatch, tmp_path, "cacheprovider")
    spanlink_cache = child_pytester.path / ".pytest_cache" / "d" / "spanlink"
    assert sorted(p.name for p in spanlink_cache.iterdir()) == expected
    _assert_no_key_on_disk(spanlink_cache)
    assert not cache_home.exists()


def test_the_spool_key_depends_on_receiver_and_key_only() -> None:
    url = "http://127.0.0.1:4318"
    assert spool_key(url, "a") == spool_key(url + "/", "a")
    assert spool_key(url, "a") != spool_key(url, "b")
    assert spool_key(url, "a") != spool_key("http://127.0.0.1:4319", "a")
    assert spool_key(url, None) != spool_key(url, "a")
