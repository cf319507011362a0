"""Health-check latency while endpoint clients send huge ``register`` messages.

One receiver process (``spanlink-receiver serve``); ``--clients`` WebSocket connections each
send ``--messages`` registers of 30,000 functions (~475 KB, refused: over MAX_FUNCTIONS) and
of MAX_FUNCTIONS functions with schemas (~1 MB, accepted), back to back, while the main
thread times ``GET /healthz`` in a loop. Printed: the protocol's decode time of both
messages in this process, and health latency percentiles with and without the load.

Usage: ``hatch run bench:python bench/bench_ws_register.py [--database-url URL]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time

import httpx
from _receiver_bench import receiver_process, scratch_database
from _report import add_database_url, load_average, machine, percentile
from websockets.sync.client import connect

import spanlink.protocol as p
from spanlink.receiver.storage import create_api_key, create_project


def _refused() -> str:
    functions = [{"name": f"tool_{index:05d}"} for index in range(30_000)]
    return json.dumps({"type": "register", "v": 1, "functions": functions, "sdk_version": "1"})


def _largest_accepted() -> str:
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(20)}}
    functions = [
        {"name": f"tool_{index:04d}", "parameters": schema, "description": "d" * 200}
        for index in range(p.MAX_FUNCTIONS)
    ]
    return json.dumps({"type": "register", "v": 1, "functions": functions, "sdk_version": "1"})


def _decode_ms(text: str) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        with contextlib.suppress(p.ProtocolError):  # the refused one raises: that is the point
            p.decode(text, max_bytes=len(text))
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _health(url: str, seconds: float) -> list[float]:
    latencies = []
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=30) as http:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
    return latencies


def _flood(url: str, key: str, texts: list[str], messages: int, stop: threading.Event) -> None:
    ws_url = url.replace("http://", "ws://") + "/ws/endpoints"
    headers = {"Authorization": f"Bearer {key}"}
    with connect(ws_url, additional_headers=headers, max_size=None, open_timeout=10) as ws:
        for index in range(messages):
            if stop.is_set():
                return
            ws.send(texts[index % len(texts)])
            ws.recv(timeout=60)  # the error or registered answer


def main() -> None:
    parser = argparse.ArgumentParser()
    add_database_url(parser, "SPANLINK_TEST_DATABASE_URL")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    texts = [_refused(), _largest_accepted()]
    date = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())
    print(f"Machine: {machine()}. Date: {date}.")
    print(f"Load average before: {load_average()}")
    labels = ("30,000 functions (refused)", "1,000 functions (accepted)")
    for label, text in zip(labels, texts, strict=True):
        print(f"decode {label}, {len(text) / 1024:.0f} KiB: {_decode_ms(text):.1f} ms (best of 5)")
    with scratch_database(args.database_url) as database_url:
        key = create_api_key(database_url, "bench")
        create_project(database_url, "bench")
        with receiver_process(database_url) as url:
            quiet = _health(url, args.seconds)
            stop = threading.Event()
            threads = [
                threading.Thread(target=_flood, args=(url, key, texts, args.messages, stop))
                for _ in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            loaded = _health(url, args.seconds)
            stop.set()
            for thread in threads:
                thread.join(120)
    print("| /healthz | p50 | p95 | max |")
    print("|---|---|---|---|")
    for label, values in (("idle", quiet), (f"{args.clients} clients sending registers", loaded)):
        print(
            f"| {label} | {percentile(values, 0.5):.1f} ms | {percentile(values, 0.95):.1f} ms"
            f" | {max(values):.1f} ms |"
        )
    print(f"Load average after: {load_average()}")


if __name__ == "__main__":
    main()
