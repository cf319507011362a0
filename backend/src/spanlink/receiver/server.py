"""Run the receiver under uvicorn in a background thread (tests, demos, the CLI)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import uvicorn

from spanlink.receiver.app import create_app
from spanlink.receiver.settings import Settings
from spanlink.receiver.testruns.websocket import max_frame_bytes

__all__ = ["ReceiverStartError", "RunningReceiver", "bound_url", "start_in_thread"]


class ReceiverStartError(RuntimeError):
    """The server did not start listening (port taken, bad address...)."""


@dataclass
class RunningReceiver:
    """A receiver serving in a background thread; ``url`` has no trailing slash."""

    url: str
    host: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; returns within about ``timeout`` seconds."""
        self.server.should_exit = True
        self.thread.join(timeout / 2)
        if self.thread.is_alive():  # open connections still draining: cut them
            self.server.force_exit = True
            self.thread.join(timeout / 2)

    def __enter__(self) -> RunningReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def bound_url(server: uvicorn.Server, host: str) -> tuple[str, int]:
    """The base URL (no trailing slash) and port a started server listens on: the port
    the system chose when it was asked for port 0."""
    port = server.config.port
    for listener in server.servers:
        for sock in listener.sockets:
            port = sock.getsockname()[1]
            break
    url_host = f"[{host}]" if ":" in host else host
    return f"http://{url_host}:{port}", port


def start_in_thread(
    settings: Settings, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0
) -> RunningReceiver:
    """Serve ``create_app(settings)`` on ``host:port`` (0 = a free port) in a daemon thread."""
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        ws_max_size=max_frame_bytes(settings),
    )
    server = uvicorn.Server(config)
    # uvicorn installs no signal handlers outside the main thread: the caller keeps its own.
    thread = threading.Thread(target=server.run, name="spanlink-receiver", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise ReceiverStartError(
                f"the receiver could not listen on {host}:{port} (is the port taken?)"
            )
        if time.monotonic() > deadline:
            server.should_exit = True
            raise ReceiverStartError(f"the receiver did not start within {timeout} s")
        time.sleep(0.01)
    url, bound_port = bound_url(server, host)
    return RunningReceiver(url=url, host=host, port=bound_port, server=server, thread=thread)
