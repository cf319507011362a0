"""Plugin discovery: ``spanlink-receiver plugins``, a throwaway plugin found through its entry
point by a real ``serve`` process, and ``SPANLINK_DISABLE_PLUGINS``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from enrichment_helpers import enrichment_of, helpers, llm_span, poll, send
from plugin_helpers import install_module_plugin
from worker_helpers import stop_process

COMMAND = [sys.executable, "-m", "spanlink.receiver.cli"]

PLUGIN = """
from spanlink.tracer.plugins import hookimpl


@hookimpl
def spanlink_enrich_span(span):
    return {"name_length": len(span.name)}


@hookimpl
def spanlink_enrich_trace(trace, span_results):
    return {"spans_seen": sum(1 for r in span_results.values() if "throwaway" in r)}
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a plugin module and the dist-info that declares its entry point."""
    root = tmp_path_factory.mktemp("throwaway")
    install_module_plugin(root, "spanlink_throwaway", PLUGIN, "throwaway", version="0.3.0")
    return root


def _env(plugin_path: Path, disabled: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_path), env.get("PYTHONPATH")]))
    env["SPANLINK_DISABLE_PLUGINS"] = disabled
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_plugins_lists_names_versions_and_hooks(plugin_path: Path) -> None:
    listed = _run(_env(plugin_path), "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    plugins = {p["name"]: p for p in document["plugins"]}
    assert plugins["throwaway"] == {
        "name": "throwaway",
        "distribution": "spanlink-throwaway",
        "version": "0.3.0",
        "hooks": ["spanlink_enrich_span", "spanlink_enrich_trace"],
    }
    assert plugins["cost"]["distribution"] == "spanlink-plugin-cost"
    assert "spanlink_enrich_span" in plugins["anomaly"]["hooks"]
    assert document["disabled"] == []


def test_disabled_plugins_are_not_loaded(plugin_path: Path) -> None:
    table = _run(_env(plugin_path, "throwaway,anomaly"), "plugins")
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith("│")]
    names = {row.split("│")[1].strip() for row in rows} - {""}
    assert "cost" in names and "throwaway" not in names and "anomaly" not in names
    assert "disabled by SPANLINK_DISABLE_PLUGINS: anomaly, throwaway" in table.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def serve_process(database_url: str, plugin_path: Path) -> Iterator[object]:
    """Start ``spanlink-receiver serve`` with the throwaway plugin importable."""
    started: list[subprocess.Popen[str]] = []

    def start(*disabled_lists: str) -> list[str]:
        """One receiver per ``SPANLINK_DISABLE_PLUGINS`` value, started side by side."""
        urls, launched = [], []
        for disabled in disabled_lists:
            port = _free_port()
            launched.append(
                subprocess.Popen(
                    [*COMMAND, "serve", "--port", str(port), "--database-url", database_url],
                    env=_env(plugin_path, disabled),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        started.extend(launched)
        deadline = time.monotonic() + 60
        for process, url in zip(launched, urls, strict=True):
            while True:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        return urls

    yield start
    for process in started:
        stop_process(process)


def test_serve_discovers_and_runs_an_installed_plugin(serve_process, project) -> None:
    # Two receivers side by side: one finds the plugin, one has it disabled.
    urls = dict(zip(("", "throwaway"), serve_process("", "throwaway"), strict=True))
    enrichments = {}
    for disabled, url in urls.items():
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {project.api_key}"}, timeout=30
        ) as http:
            tid = helpers.trace_id()
            span = llm_span(tid)
            send(http, [span])
            trace = poll(lambda h=http, t=tid: enrichment_of(h, t), lambda t: t["enrichment"])
            enrichments[disabled] = (span.span_id.hex(), trace["enrichment"])

    span_id, found = enrichments[""]
    assert found["data"]["spans"][span_id]["throwaway"] == {"name_length": len("chat gpt-4o-mini")}
    assert found["data"]["trace"]["throwaway"] == {"spans_seen": 1}
    assert found["plugin_versions"]["throwaway"] == "0.3.0"

    span_id, off = enrichments["throwaway"]
    assert "cost" in off["data"]["spans"][span_id]
    assert "throwaway" not in off["data"]["spans"][span_id]
    assert "throwaway" not in off["plugin_versions"]


def test_serve_celery_without_a_broker_is_a_clear_error(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPANLINK_BROKER_URL"}
    result = _run(env, "serve", "--enrichment", "celery", "--database-url", database_url)
    assert result.returncode != 0
    assert "--enrichment celery needs --broker" in result.stderr
