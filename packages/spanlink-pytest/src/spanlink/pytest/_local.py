"""``--spanlink-local``: a receiver (and database) of the session's own.

The receiver runs as its command, ``spanlink-receiver serve`` (``python -m
spanlink.receiver.cli``), in a child process: on a free loopback port, with
``SPANLINK_DATABASE_URL`` when set, else the receiver's embedded Postgres. It writes its URL
and a new API key to a ready file once it answers, and stops with the session. Nothing is
imported from the receiver, and its own work is never traced into the session's run.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from spanlink.pytest._errors import SpanlinkPytestError

__all__ = ["LocalReceiver", "local_available", "start_local_receiver"]

#: The project the local receiver's runs are reported to.
LOCAL_PROJECT = "pytest"
#: The most the session waits for the receiver to answer (a first embedded Postgres
#: initializes its data directory).
START_TIMEOUT_S = 120.0
# The session's trace context must not become the parent of the receiver's work.
_NOT_INHERITED = ("TRACEPARENT", "TRACESTATE", "BAGGAGE")


@dataclass
class LocalReceiver:
    """A receiver serving for this session only."""

    url: str
    api_key: str
    database_url: str
    process: subprocess.Popen[bytes]
    directory: Path

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving (SIGTERM: the receiver finishes its requests and stops the embedded
        Postgres it started); killed when it has not stopped within ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        shutil.rmtree(self.directory, ignore_errors=True)


def local_available() -> bool:
    """True when ``spanlink-receiver`` is installed (``spanlink-pytest[local]``)."""
    try:
        return importlib.util.find_spec("spanlink.receiver") is not None
    except (ImportError, ValueError):
        return False


def _failed(directory: Path, why: str) -> SpanlinkPytestError:
    log = directory / "receiver.log"
    output = log.read_text(errors="replace").strip()[-2000:] if log.exists() else ""
    shutil.rmtree(directory, ignore_errors=True)
    return SpanlinkPytestError(
        f"the local receiver could not start: {why}{': ' + output if output else ''}. "
        "Set SPANLINK_DATABASE_URL to a Postgres you can use, or give --spanlink-url."
    )


def start_local_receiver(
    project: str = LOCAL_PROJECT, timeout: float = START_TIMEOUT_S
) -> LocalReceiver:
    """Start the receiver on a free loopback port with a fresh API key for ``project``."""
    if not local_available():
        raise SpanlinkPytestError(
            "--spanlink-local needs the receiver: pip install 'spanlink-pytest[local]' "
            "(or give --spanlink-url of a running receiver)"
        )
    directory = Path(tempfile.mkdtemp(prefix="spanlink-local-"))
    ready = directory / "ready.json"
    command = [
        sys.executable,
        "-m",
        "spanlink.receiver.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--log-level",
        "warning",
        "--ready-file",
        str(ready),
        "--create-key",
        project,
    ]
    env = {name: value for name, value in os.environ.items() if name not in _NOT_INHERITED}
    with (directory / "receiver.log").open("wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
        )
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if process.poll() is not None:
            raise _failed(directory, f"`spanlink-receiver serve` exited with {process.returncode}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait(5.0)
            raise _failed(directory, f"it did not answer within {timeout:g} s")
        time.sleep(0.05)
    found = json.loads(ready.read_text())
    receiver = LocalReceiver(
        url=found["url"],
        api_key=found["api_key"],
        database_url=found["database_url"],
        process=process,
        directory=directory,
    )
    atexit.register(receiver.stop)  # a session that ends abnormally leaves no receiver behind
    return receiver
