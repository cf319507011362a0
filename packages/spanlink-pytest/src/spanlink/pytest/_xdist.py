"""pytest-xdist: the controller owns the run and hands it to every worker."""

from __future__ import annotations

from typing import Any

from spanlink.pytest._session import WORKER_KEY, SpanlinkSession

__all__ = ["XdistController"]


class XdistController:
    """Registered on the controller only when xdist is active."""

    def __init__(self, session: SpanlinkSession) -> None:
        self._session = session

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_KEY] = self._session.worker_input()
