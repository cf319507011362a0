"""A spool holds batches for one receiver and one set of credentials: exporters with other
targets sharing its directory never send them anywhere else (another project's receiver or
API key), and the batches still reach their own receiver when it drains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from exporter_helpers import ids, sdk_ids, spool_files

from spanlink.exporter import SpanlinkExporter
from spanlink.exporter._spool import Spool, target_of


def _exporter(url: str, key: str, spool_dir: Path) -> SpanlinkExporter:
    return SpanlinkExporter(
        url,
        api_key=key,
        spool_dir=spool_dir,
        timeout=2.0,
        max_retries=0,
        backoff_initial=0.05,
        backoff_max=0.1,
    )


def _spans_by_key(receiver: Any) -> dict[str, list[tuple[bytes, bytes]]]:
    found: dict[str, list[tuple[bytes, bytes]]] = {}
    for recorded in receiver.delivered():
        spans = [
            s for rs in recorded.decode().resource_spans for ss in rs.scope_spans for s in ss.spans
        ]
        found.setdefault(recorded.headers.get("authorization", ""), []).extend(ids(spans))
    return {key: sorted(value) for key, value in found.items()}


@pytest.mark.parametrize("same_endpoint", [True, False], ids=["same-endpoint", "other-endpoint"])
def test_an_exporter_never_drains_the_batches_of_another_target(
    receiver: Any, span_factory: Any, tmp_path: Path, same_endpoint: bool
) -> None:
    first_receiver = receiver
    second_receiver = receiver if same_endpoint else type(receiver)()
    try:
        first_spans, second_spans = span_factory(3), span_factory(2)
        # The first target's receiver is down: its batch is spooled.
        first_receiver.stop()
        first = _exporter(first_receiver.url, "key-first", tmp_path)
        first.export(first_spans)
        first.shutdown()
        assert len(spool_files(tmp_path)) == 1
        if same_endpoint:
            first_receiver.start()
        # A second target sharing the directory sends its own spans and drains its spool...
        second = _exporter(second_receiver.url, "key-second", tmp_path)
        try:
            assert second.export(second_spans).name == "SUCCESS"
            assert second.force_flush(5_000) is True
        finally:
            second.shutdown()
        # ...but never the first one's: they stay on disk, untouched.
        assert _spans_by_key(second_receiver).get("Bearer key-first", []) == []
        assert _spans_by_key(second_receiver)["Bearer key-second"] == sdk_ids(second_spans)
        assert second.stats().spans_resent == 0
        assert len(spool_files(tmp_path)) == 1
        # The first target's next start delivers them to its own receiver with its own key.
        if not same_endpoint:
            first_receiver.start()
        again = _exporter(first_receiver.url, "key-first", tmp_path)
        try:
            assert again.force_flush(10_000) is True
        finally:
            again.shutdown()
        assert _spans_by_key(first_receiver)["Bearer key-first"] == sdk_ids(first_spans)
        assert spool_files(tmp_path) == []
    finally:
        if not same_endpoint:
            second_receiver.stop()


def test_spool_files_do_not_hold_the_api_key_in_clear(
    receiver: Any, span_factory: Any, tmp_path: Path
) -> None:
    receiver.stop()
    exporter = _exporter(receiver.url, "secret-key-in-clear", tmp_path)
    exporter.export(span_factory(1))
    exporter.shutdown()
    (name,) = spool_files(tmp_path)
    assert b"secret-key-in-clear" not in name.encode()
    assert b"secret-key-in-clear" not in (tmp_path / name).read_bytes()


def test_a_full_spool_evicts_only_its_own_target(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/v1/traces"
    mine = Spool(tmp_path, 200, target_of(url, {"authorization": "Bearer a"}))
    theirs = Spool(tmp_path, 200, target_of(url, {"authorization": "Bearer b"}))
    theirs.write(b"x" * 100, 1, "application/x-protobuf", "identity")
    (their_file,) = theirs.names()
    assert mine.names() == []
    for _ in range(3):  # more than the bound holds: the oldest of mine go, theirs stays
        mine.write(b"y" * 100, 1, "application/x-protobuf", "identity")
    assert len(mine.names()) == 1
    assert theirs.names() == [their_file]
    assert mine.read(their_file) is None
    assert theirs.read(their_file) is not None


def test_the_target_depends_on_endpoint_and_credentials() -> None:
    base = target_of("http://a/v1/traces", {"authorization": "Bearer k"})
    assert base == target_of("http://a/v1/traces", {"Authorization": "Bearer k"})
    assert base != target_of("http://b/v1/traces", {"authorization": "Bearer k"})
    assert base != target_of("http://a/v1/traces", {"authorization": "Bearer other"})
    assert base != target_of("http://a/v1/traces", {})
