"""Deprecated: moved to ``spanlink.receiver.ingest``; this path works for one more release."""

from spanlink.receiver._deprecated import moved

__getattr__ = moved(
    __name__,
    "spanlink.receiver.ingest",
    (
        "iter_otlp_spans",
        "span_record_from_otlp",
        "span_record_from_row",
        "any_value",
        "attributes_from_otlp",
        "KIND_NAMES",
        "STATUS_NAMES",
    ),
)
