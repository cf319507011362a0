"""spanlink-pytest: a pytest session is a spanlink test run, every test a case.

Turn it on with ``pytest --spanlink`` (or ini ``spanlink = true``). Every span a test makes
is linked to its result; the ``spanlink`` fixture scores the test, runs evaluators and reads
the test's own spans; ``@pytest.mark.spanlink(evaluators=[...])`` scores its output.
Importing this package is light: the tracing machinery loads only when the plugin is on.
"""

from spanlink.pytest._errors import EvaluationFailed, SpanlinkPytestError
from spanlink.pytest._fixture import SpanlinkFixture
from spanlink.pytest._version import __version__

__all__ = [
    "EvaluationFailed",
    "SpanlinkFixture",
    "SpanlinkPytestError",
    "__version__",
]
