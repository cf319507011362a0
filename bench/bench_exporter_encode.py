"""CPU time per span to encode a batch of 512 realistic AI spans as an OTLP request body.

Measured side by side in one run, on the same spans, interleaved round by round:

- (a) spanlink protobuf: ``SpanlinkExporter``'s encoder (direct wire format), spans -> bytes;
- (b) spanlink OTLP/JSON: the same, JSON encoder, spans -> bytes;
- (c) stock protobuf: ``encode_spans(spans).SerializeToString()`` from
  ``opentelemetry-exporter-otlp-proto-common``;
- (d) stock JSON: ``google.protobuf.json_format.MessageToJson`` on the message from (c),
  built beforehand (its construction is not counted, which favours this baseline).

Spans come from a real SDK pipeline: LLM chat spans with 10 attributes each (operation,
provider, request and response model, input/output tokens, temperature, response id, a 1 KB
JSON input message, the test run id). Eight distinct batches are cycled so the encoders'
caches of short repeated values see realistic reuse (model names repeat; ids, token counts
and messages do not). "warm" reuses one encoder across batches, as the exporter does;
"cold" builds a new encoder for every batch.

Targets: (a) >= 2x faster than (c); (b) >= 3x faster than (d).

    python bench/bench_exporter_encode.py [--rounds 15] [--write]

``--write`` appends the result as a section to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

from _report import load_average, report
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from spanlink.exporter._batch import Batcher
from spanlink.exporter._json import JsonEncoder
from spanlink.exporter._protobuf import ProtobufEncoder

BATCH = 512
BATCHES = 8
CAP = 64 * 1024 * 1024


def make_batches(seed: int = 7) -> list[list[ReadableSpan]]:
    rng = random.Random(seed)
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "support-bot", "deployment.environment": "ci"})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("spanlink.tracer", "0.1.0")
    models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.0-flash"]
    batches = []
    for b in range(BATCHES):
        memory.clear()
        for i in range(BATCH):
            model = rng.choice(models)
            words = " ".join(
                rng.choice(["refund", "order", "late", "help", "please"]) for _ in range(170)
            )
            message = json.dumps([{"role": "user", "content": words}])[:1024]
            with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT) as span:
                span.set_attributes(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": model,
                        "gen_ai.response.model": model + "-2025-01-01",
                        "gen_ai.usage.input_tokens": rng.randint(50, 8000),
                        "gen_ai.usage.output_tokens": rng.randint(10, 2000),
                        "gen_ai.request.temperature": rng.choice([0.0, 0.2, 0.7, 1.0]),
                        "gen_ai.response.id": f"chatcmpl-{b}-{i}-{rng.getrandbits(64):x}",
                        "gen_ai.input.messages": message,
                        "spanlink.test.run_id": f"run-{b}",
                    }
                )
        batches.append(list(memory.get_finished_spans()))
    return batches


def ours(encoder_type: type[Any], warm: bool) -> Callable[[list[ReadableSpan]], bytes]:
    shared = Batcher(encoder_type(), CAP)

    def encode(spans: list[ReadableSpan]) -> bytes:
        batcher = shared if warm else Batcher(encoder_type(), CAP)
        result = batcher.encode(spans)
        return b"".join(batcher.body(chunk) for chunk in result.chunks)

    return encode


def stock_protobuf(spans: list[ReadableSpan]) -> bytes:
    return encode_spans(spans).SerializeToString()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args, _ = parser.parse_known_args()

    load_before = load_average()
    batches = make_batches()
    messages = [encode_spans(batch) for batch in batches]  # prebuilt for (d)
    # Warm encoders live across rounds, as in the exporter: built once.
    warm_pb = ours(ProtobufEncoder, True)
    warm_js = ours(JsonEncoder, True)
    cold_pb = ours(ProtobufEncoder, False)
    cold_js = ours(JsonEncoder, False)
    cases: dict[str, Callable[[int], Any]] = {
        "(a) spanlink protobuf, warm": lambda k: warm_pb(batches[k]),
        "(a) spanlink protobuf, cold": lambda k: cold_pb(batches[k]),
        "(b) spanlink OTLP/JSON, warm": lambda k: warm_js(batches[k]),
        "(b) spanlink OTLP/JSON, cold": lambda k: cold_js(batches[k]),
        "(c) stock encode_spans().SerializeToString()": lambda k: stock_protobuf(batches[k]),
        # Compact output (indent=None), the form a sender would use; encoded to bytes.
        "(d) stock json_format.MessageToJson (message prebuilt)": lambda k: (
            json_format.MessageToJson(messages[k], indent=None).encode()
        ),
    }

    # Sanity: our bodies decode to the stock message (checked in tests too).
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    assert ExportTraceServiceRequest.FromString(warm_pb(batches[0])) == messages[0]
    sizes = {
        "protobuf": len(warm_pb(batches[0])),
        "json": len(warm_js(batches[0])),
        "stock json": len(json_format.MessageToJson(messages[0], indent=None).encode()),
    }

    names = list(cases)
    per_round: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            func = cases[name]
            start = time.process_time()
            for k in range(BATCHES):
                func(k)
            per_round[name].append((time.process_time() - start) / (BATCHES * BATCH) * 1e6)
    # Informative: what gzip costs on the same bodies at each level (the exporter uses 3;
    # the stock OTLP/HTTP exporter's GzipFile uses 9).
    import gzip

    bodies = [warm_pb(batch) for batch in batches]
    gzip_rows = []
    for level in (1, 3, 6, 9):
        start = time.process_time()
        packed = [gzip.compress(body, compresslevel=level, mtime=0) for body in bodies]
        cpu = (time.process_time() - start) / (BATCHES * BATCH) * 1e6
        ratio = sum(map(len, packed)) / sum(map(len, bodies))
        gzip_rows.append(f"| {level} | {cpu:.2f} us | {ratio:.3f} |")
    load_after = load_average()

    median = {name: statistics.median(v) for name, v in per_round.items()}
    stock_pb = median["(c) stock encode_spans().SerializeToString()"]
    stock_js = median["(d) stock json_format.MessageToJson (message prebuilt)"]
    rows = []
    for name in names:
        base = stock_js if name.startswith(("(b)", "(d)")) else stock_pb
        base_name = "(d)" if name.startswith(("(b)", "(d)")) else "(c)"
        rows.append(
            f"| {name} | {median[name]:.2f} us | {base / median[name]:.2f}x vs {base_name} |"
        )

    pb_ratio = stock_pb / median["(a) spanlink protobuf, warm"]
    pb_cold = stock_pb / median["(a) spanlink protobuf, cold"]
    js_ratio = stock_js / median["(b) spanlink OTLP/JSON, warm"]
    js_cold = stock_js / median["(b) spanlink OTLP/JSON, cold"]
    date = subprocess.run(["date"], capture_output=True, text=True).stdout.strip()
    report(
        [
            "",
            "## Exporter encoding: CPU per span, 512-span batch (`bench/bench_exporter_encode.py`)",
            "",
            f"Command: `python bench/bench_exporter_encode.py --rounds {args.rounds}`. "
            f"Machine: 2 cores, Python {platform.python_version()}, {platform.system()}. "
            f"Date: {date}.",
            "",
            f"{BATCHES} distinct batches of {BATCH} chat spans (10 attributes incl. a 1 KB JSON "
            "message), spans -> uncompressed request body, `time.process_time`, interleaved "
            "rounds (order reversed every other round), median of the rounds. Targets: protobuf "
            ">= 2x (c), JSON >= 3x (d).",
            "",
            "| path | CPU per span (median) | speed-up |",
            "|---|---|---|",
            *rows,
            "",
            f"Protobuf: {pb_ratio:.2f}x the stock encoder warm, {pb_cold:.2f}x cold "
            f"({'meets' if min(pb_ratio, pb_cold) >= 2 else 'MISSES'} the 2x target"
            f"{'' if pb_cold >= 2 else ' cold'}).",
            f"OTLP/JSON: {js_ratio:.2f}x `MessageToJson` warm, {js_cold:.2f}x cold "
            f"({'meets' if min(js_ratio, js_cold) >= 3 else 'MISSES'} the 3x target).",
            f"Body size for one batch: protobuf {sizes['protobuf']} B, OTLP/JSON {sizes['json']} B "
            f"(MessageToJson, base64 ids: {sizes['stock json']} B).",
            "",
            "gzip on the same protobuf bodies (informative; the exporter uses level 3):",
            "",
            "| gzip level | CPU per span | compressed / raw |",
            "|---|---|---|",
            *gzip_rows,
            "",
        ],
        (load_before, load_after),
        args.write,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
