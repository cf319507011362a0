"""A serving receiver process collects garbage less often and leaves startup objects alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_tune_for_serving_sets_the_thresholds_and_freezes_startup_objects() -> None:
    # In a child: the setting is process-wide and must not leak into the test process.
    code = textwrap.dedent(
        """
        import gc
        before = gc.get_threshold()
        import spanlink.receiver.app  # importing never changes the collector
        assert gc.get_threshold() == before, gc.get_threshold()
        from spanlink.receiver._gc import SERVING_THRESHOLDS, tune_for_serving
        tune_for_serving()
        assert gc.get_threshold() == SERVING_THRESHOLDS, gc.get_threshold()
        assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
