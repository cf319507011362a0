"""The pytest entry point (``pytest11``): options, the marker, the ``spanlink`` fixture.

Importing it is cheap (pytest and the standard library): OpenTelemetry, httpx and the
exporter load only when ``--spanlink`` turns the plugin on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from spanlink.pytest._fixture import SpanlinkFixture
from spanlink.pytest._options import add_options, read_settings
from spanlink.pytest._state import STATE

__all__ = ["pytest_addoption", "pytest_configure", "spanlink"]

_PLUGIN_NAME = "spanlink-session"
_MARKER = (
    "spanlink(evaluators=[...], case_id=None): with --spanlink, run these evaluators on the "
    "test's return value (or spanlink.output(...)); case_id replaces the node id"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER)
    settings = read_settings(config)
    if not settings.enabled:
        return
    from spanlink.pytest._errors import SpanlinkPytestError
    from spanlink.pytest._session import SpanlinkSession

    try:
        session = SpanlinkSession(config, settings)
    except SpanlinkPytestError as error:
        raise pytest.UsageError(f"spanlink: {error}") from None
    config.pluginmanager.register(session, _PLUGIN_NAME)
    if session.role == "controller":  # xdist is loaded (its options are), so its hooks are
        from spanlink.pytest._xdist import XdistController

        config.pluginmanager.register(XdistController(session), f"{_PLUGIN_NAME}-xdist")


@pytest.fixture
def spanlink(request: pytest.FixtureRequest) -> Iterator[SpanlinkFixture]:
    """Score this test, run evaluators on its output, read the spans it made."""
    state = request.node.stash.get(STATE, None)
    if state is not None:
        yield SpanlinkFixture(state)
        return
    from spanlink.pytest._offline import offline_state

    with offline_state(request.node) as local:
        yield SpanlinkFixture(local)
