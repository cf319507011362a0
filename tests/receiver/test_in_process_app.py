"""An app and a receiver in one process: the receiver's own request spans never loop back.

FastAPI traces requests natively through the global tracer provider; if it traced
``POST /v1/traces``, every export would create spans that the next export sends again,
and ``flush()`` would never finish. Runs in a subprocess: the global provider is per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = """
import json, sys, time
import httpx
from opentelemetry import trace
from spanlink.receiver.storage import create_api_key
from spanlink.receiver.server import start_in_thread
from spanlink.receiver.settings import Settings
from spanlink.tracer import configure, flush

url = sys.argv[1]
receiver = start_in_thread(Settings(database_url=url))
key = create_api_key(url, "in-process")
configure(endpoint=receiver.url, api_key=key, service_name="same-process")
with trace.get_tracer("app").start_as_current_span("work"):
    pass
started = time.monotonic()
first = flush(timeout=10)
elapsed = time.monotonic() - started
second = flush(timeout=10)
with httpx.Client(base_url=receiver.url, headers={"Authorization": f"Bearer {key}"}) as c:
    listing = c.get("/api/v1/traces").json()
receiver.stop()
print(json.dumps({"first": first, "second": second, "elapsed": elapsed,
                  "names": [row.get("root_name") or row.get("name") for row in listing["items"]],
                  "total": listing["total"]}))
"""


def test_flush_finishes_and_only_the_app_span_is_stored(database_url: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), database_url],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["first"] is True and out["second"] is True
    assert out["elapsed"] < 5
    assert out["total"] == 1
    assert out["names"] == ["work"]
