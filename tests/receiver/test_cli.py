"""The ``spanlink-receiver`` command, run as a user would: embedded Postgres from nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from receiver_helpers import make_request, make_span, post_proto, span_id, trace_id

from spanlink.receiver.cli import main
from spanlink.receiver.storage import head_revision

COMMAND = [sys.executable, "-m", "spanlink.receiver.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def embedded_env() -> Iterator[dict[str, str]]:
    data = tempfile.mkdtemp(prefix="slcli")  # short: the server's socket lives inside
    # As in a container or a CI job: no SPANLINK_DATABASE_URL, no XDG_RUNTIME_DIR.
    unset = {"SPANLINK_DATABASE_URL", "XDG_RUNTIME_DIR"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["SPANLINK_DATA_DIR"] = data
    env["COLUMNS"] = "200"
    yield env
    shutil.rmtree(data, ignore_errors=True)


def _run(env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``serve`` with ``args`` and warnings only, its output (stdout and stderr) piped."""
    return subprocess.Popen(
        [*COMMAND, "serve", "--log-level", "warning", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    process = _start(env, "--port", str(port))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited early:\n{process.stdout.read() if process.stdout else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail("serve did not become ready within 90 s")


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGINT) -> str:
    process.send_signal(sig)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output or ""


def test_serve_from_nothing_then_reuse(
    embedded_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    first = _serve(embedded_env, port)
    try:
        created = _run(embedded_env, "keys", "create", "--project", "cli-demo")
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        assert key.startswith("slk_") and "shown only this once" in created.stderr
        assert "Warning" not in created.stderr, created.stderr  # nothing but what a user needs
        tid = trace_id()
        root = span_id()
        request = make_request(
            [
                make_span(tid, root, name="answer_question"),
                make_span(tid, span_id(), parent=root, name="chat gpt-4o", error="rate limited"),
            ]
        )
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
            assert post_proto(client, request).status_code == 200
        # The client commands run in this process (they only talk HTTP).
        assert main(["traces", "ls", "--url", url, "--api-key", key]) == 0
        listed = capsys.readouterr().out
        assert tid.hex() in listed and "answer_question" in listed
        assert main(["traces", "show", tid.hex(), "--url", url, "--api-key", key]) == 0
        shown = capsys.readouterr().out
        assert "answer_question" in shown and "chat gpt-4o" in shown
        assert "ERROR rate limited" in shown
        # A port already taken gets a clear message, not a traceback.
        with pytest.raises(SystemExit) as clash:
            main(["serve", "--port", str(port)])
        assert f"port {port}" in str(clash.value) and "already in use" in str(clash.value)
    finally:
        _stop(first, signal.SIGTERM)  # as a service manager stops it
    data = Path(embedded_env["SPANLINK_DATA_DIR"]) / "postgres"
    assert (data / "PG_VERSION").exists()
    _wait_for_postgres_to_stop(data)

    # A second serve on the same data directory finds the data again.
    second = _serve(embedded_env, port)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
            trace = client.get(f"/api/v1/traces/{tid.hex()}").json()
        assert [span["name"] for span in trace["spans"]] == ["answer_question", "chat gpt-4o"]
    finally:
        _stop(second)
    _wait_for_postgres_to_stop(data)  # the embedded server does not outlive its receiver


def _wait_for_postgres_to_stop(data: Path) -> None:
    deadline = time.monotonic() + 30
    while (data / "postmaster.pid").exists():
        assert time.monotonic() < deadline, "the embedded Postgres is still running"
        time.sleep(0.2)


def test_unreachable_database_is_a_clear_message() -> None:
    port = _free_port()  # nothing listens there
    result = _run(
        dict(os.environ),
        "migrate",
        "--database-url",
        f"postgresql://postgres@127.0.0.1:{port}/nothing",
        timeout=60,
    )
    assert result.returncode != 0
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_traces_ls_against_no_receiver_is_a_clear_message() -> None:
    port = _free_port()
    result = _run(
        dict(os.environ), "traces", "ls", "--url", f"http://127.0.0.1:{port}", "--api-key", "k"
    )
    assert result.returncode != 0 and "cannot reach the receiver" in result.stderr


def test_traces_show_unknown_trace(receiver, api_key: str) -> None:
    result = _run(
        dict(os.environ), "traces", "show", "ab" * 16, "--url", receiver.url, "--api-key", api_key
    )
    assert result.returncode != 0 and "404" in result.stderr


def test_migrate_and_keys_create_on_a_given_database(database_url: str) -> None:
    migrated = _run(dict(os.environ), "migrate", "--database-url", database_url)
    assert migrated.returncode == 0 and f"revision {head_revision()}" in migrated.stdout
    created = _run(
        dict(os.environ), "keys", "create", "--project", "given", "--database-url", database_url
    )
    assert created.returncode == 0 and created.stdout.startswith("slk_")


def test_serve_with_an_unreachable_database_is_a_clear_message() -> None:
    url = f"postgresql://postgres@127.0.0.1:{_free_port()}/nothing"
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--port", str(_free_port()), "--database-url", url])
    assert "cannot reach the database" in str(stopped.value)
    assert "--database-url" in str(stopped.value)


def test_serve_on_a_free_port_writes_the_ready_file(database_url: str, tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    args = ["--port", "0", "--database-url", database_url, "--ready-file", str(ready)]
    project = f"ready-{uuid.uuid4().hex[:8]}"  # the database is shared with other tests
    process = _start(dict(os.environ), *args, "--create-key", project)
    try:
        deadline = time.monotonic() + 90
        while not ready.exists():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "no ready file within 90 s"
            time.sleep(0.05)
        found = json.loads(ready.read_text())
        assert stat.S_IMODE(ready.stat().st_mode) == 0o600  # it holds an API key
        assert found["pid"] == process.pid and found["project"] == project
        assert found["database_url"] == database_url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", found["url"])
        assert not found["url"].endswith(":0")
        headers = {"Authorization": f"Bearer {found['api_key']}"}
        # Once the file is there, the receiver answers, with the key it created.
        answer = httpx.get(f"{found['url']}/api/v1/test-runs", headers=headers, timeout=10)
        assert answer.status_code == 200 and answer.json()["items"] == []
    finally:
        output = _stop(process, signal.SIGTERM)
    assert process.returncode == 0, output
    assert f"listening on {found['url']}" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--create-key", "p"], "--create-key needs --ready-file"),
        (["--port", "0", "--workers", "2"], "need one worker process"),
        (["--ready-file", "r.json", "--workers", "2"], "need one worker process"),
    ],
)
def test_serve_refuses_ready_options_it_cannot_honour(args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", *args])
    assert message in str(stopped.value)


def _client_env(**variables: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SPANLINK_ENDPOINT", "SPANLINK_RECEIVER_URL", "SPANLINK_API_KEY")
    }
    env.update(variables)
    return env


def test_client_commands_find_the_receiver_through_spanlink_endpoint(
    receiver, api_key: str
) -> None:
    env = _client_env(SPANLINK_ENDPOINT=receiver.url, SPANLINK_API_KEY=api_key)
    result = _run(env, "traces", "show", "ab" * 16)
    # Reached the receiver (a 404 for the unknown trace, not "cannot reach"), no warning.
    assert result.returncode != 0 and "404" in result.stderr
    assert "deprecated" not in result.stderr


def test_the_old_receiver_url_variable_still_works_with_a_warning(receiver, api_key: str) -> None:
    env = _client_env(SPANLINK_RECEIVER_URL=receiver.url, SPANLINK_API_KEY=api_key)
    result = _run(env, "traces", "show", "ab" * 16)
    assert result.returncode != 0 and "404" in result.stderr
    assert "SPANLINK_RECEIVER_URL is deprecated" in result.stderr
    assert "SPANLINK_ENDPOINT" in result.stderr
    # The new name wins when both are set, silently.
    port = _free_port()  # nothing listens there: the old variable must be ignored
    env["SPANLINK_ENDPOINT"] = receiver.url
    env["SPANLINK_RECEIVER_URL"] = f"http://127.0.0.1:{port}"
    both = _run(env, "traces", "show", "ab" * 16)
    assert "404" in both.stderr and "deprecated" not in both.stderr
