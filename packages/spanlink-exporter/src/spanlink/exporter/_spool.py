"""Durable on-disk spool of request bodies that could not be delivered in time.

One file per request body, holding the body exactly as it would be sent (already compressed)
behind a small header with a checksum. Files are written to a temporary name, synced, then
renamed into place, so a reader only ever sees complete files; a torn or corrupted one fails
its checksum and is reported and removed instead of crashing the exporter. The total size is
bounded: the oldest files are removed first to make room, and the spans they held counted.

A spool belongs to one target: a receiver URL and the request headers that carry its
credentials (the API key). Exporters with other targets may share the directory; each only
lists, re-sends and evicts the files of its own target, so a batch is never delivered to
another receiver or under another key (another project). The target is a hash in the file
name and in the checksummed header, never the key itself.

File names sort oldest first: ``<unix ns>-<pid>-<sequence>-<target>-<span count>.spool``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import struct
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Spool", "SpoolCorruptError", "SpooledBatch", "span_count_from_name", "target_of"]

# Version 2 added the target; files of version 1 have no target and are never re-sent.
_MAGIC = b"SPANLINK-SPOOL\x02\n"
# crc32 of the body, body length, span count, content type and content encoding lengths.
_HEADER = struct.Struct("<IQIHH")
_TARGET_CHARS = 24  # hex digits of the target hash: 96 bits, no collision between targets
_SUFFIX = ".spool"
_TMP_SUFFIX = ".tmp"
_STALE_TMP_SECONDS = 60.0


def target_of(url: str, headers: Mapping[str, str]) -> str:
    """The spool target of a receiver URL and its request headers: a hash, not the key."""
    canonical = json.dumps([url, sorted((k.lower(), v) for k, v in headers.items())])
    return hashlib.sha256(b"spanlink-spool\0" + canonical.encode()).hexdigest()[:_TARGET_CHARS]


class SpoolCorruptError(Exception):
    """A spool file is torn or damaged; it has been removed."""

    def __init__(self, message: str, span_count: int) -> None:
        super().__init__(message)
        #: Spans the file held, as its name says (its content cannot be trusted).
        self.span_count = span_count


@dataclass(frozen=True)
class SpooledBatch:
    """A request body read back from the spool."""

    name: str
    body: bytes
    span_count: int
    content_type: str
    content_encoding: str


class Spool:
    """A bounded directory of spooled request bodies, shared by the exporter's threads.

    Only the files of ``target`` (see :func:`target_of`) are listed, read, counted against
    ``max_bytes`` and evicted; those of other targets in the same directory are left alone.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int, target: str) -> None:
        if max_bytes <= 0:
            raise ValueError(
                f"spanlink exporter: spool_max_bytes must be positive, not {max_bytes!r}"
            )
        self.directory = Path(directory).expanduser()
        self.max_bytes = max_bytes
        self.target = target
        self._own_suffix = f"-{target}-"
        self._lock = threading.Lock()
        self._sequence = itertools.count()
        self._in_flight: str | None = None
        self._evicted_in_flight: set[str] = set()
        try:
            # Spans may carry prompts and user data: only this user may read the spool.
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(
                f"spanlink exporter: cannot create the spool directory {str(self.directory)!r}: "
                f"{error.strerror}; pass a writable spool_dir or none to disable the spool"
            ) from error
        self._remove_stale_temporaries()

    def write(
        self, body: bytes, span_count: int, content_type: str, content_encoding: str
    ) -> list[int]:
        """Store one body; returns the span counts of the oldest files removed to make room.

        Raises ``OSError`` when the body is larger than the whole spool or the disk fails.
        """
        ctype, cenc = content_type.encode(), content_encoding.encode()
        header = _HEADER.pack(zlib.crc32(body), len(body), span_count, len(ctype), len(cenc))
        data = b"".join((_MAGIC, self.target.encode(), header, ctype, cenc, body))
        if len(data) > self.max_bytes:
            raise OSError(f"a batch of {len(data)} bytes exceeds spool_max_bytes={self.max_bytes}")
        with self._lock:
            evicted = self._make_room(len(data))
            sequence = next(self._sequence)
            name = (
                f"{time.time_ns():020d}-{os.getpid()}-{sequence:08d}-{self.target}-"
                f"{span_count}{_SUFFIX}"
            )
            temporary = self.directory / f".{name}{_TMP_SUFFIX}"
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with open(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.directory / name)
                _sync_directory(self.directory)  # make the rename itself durable
            except OSError:
                temporary.unlink(missing_ok=True)
                raise
        return evicted

    def names(self) -> list[str]:
        """This target's spooled files, oldest first."""
        own = self._own_suffix
        try:
            return sorted(n for n in os.listdir(self.directory) if n.endswith(_SUFFIX) and own in n)
        except FileNotFoundError:
            return []

    def total_bytes(self) -> int:
        """Bytes currently held by the spool."""
        return sum(size for _, size in self._sizes())

    def read(self, name: str) -> SpooledBatch | None:
        """Read and verify one file; ``None`` if it is gone or not this target's.

        Marks it as being resent. Raises ``SpoolCorruptError`` (after removing the file)
        when it fails verification.
        """
        path = self.directory / name
        if self._own_suffix not in name:
            return None  # another target's: never read, sent or removed from here
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            batch = _decode(name, data, self.target)
        except ValueError as error:
            path.unlink(missing_ok=True)
            raise SpoolCorruptError(
                f"spool file {str(path)!r} is corrupt ({error}); removed",
                span_count_from_name(name),
            ) from None
        with self._lock:
            self._in_flight = name
        return batch

    def remove(self, name: str) -> None:
        """Delete a file once its body was delivered (or rejected for good)."""
        with self._lock:
            if self._in_flight == name:
                self._in_flight = None
            self._evicted_in_flight.discard(name)
            (self.directory / name).unlink(missing_ok=True)

    def release(self, name: str) -> int:
        """Keep a file that could not be delivered this time.

        Returns the spans it held if it was evicted while being sent (now lost), else 0.
        """
        with self._lock:
            if self._in_flight == name:
                self._in_flight = None
            if name in self._evicted_in_flight:
                self._evicted_in_flight.discard(name)
                return span_count_from_name(name)
            return 0

    def _sizes(self) -> list[tuple[str, int]]:
        sizes = []
        for name in self.names():
            try:
                sizes.append((name, (self.directory / name).stat().st_size))
            except FileNotFoundError:
                continue
        return sizes

    def _make_room(self, needed: int) -> list[int]:
        """Remove oldest files until ``needed`` more bytes fit (caller holds the lock)."""
        sizes = self._sizes()
        total = sum(size for _, size in sizes)
        evicted = []
        for name, size in sizes:
            if total + needed <= self.max_bytes:
                break
            (self.directory / name).unlink(missing_ok=True)
            total -= size
            if name == self._in_flight:
                # Being re-sent right now: lost only if that send fails (see release()).
                self._evicted_in_flight.add(name)
            else:
                evicted.append(span_count_from_name(name))
        return evicted

    def _remove_stale_temporaries(self) -> None:
        """This target's temporary files left by a process that died while writing."""
        now = time.time()
        for entry in os.scandir(self.directory):
            if entry.name.endswith(_TMP_SUFFIX) and self._own_suffix in entry.name:
                try:
                    if now - entry.stat().st_mtime > _STALE_TMP_SECONDS:
                        os.unlink(entry.path)
                except FileNotFoundError:
                    continue


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not possible on every platform; the data itself is synced
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def span_count_from_name(name: str) -> int:
    """Spans a spool file holds, from its name (0 when the name is not one of ours)."""
    try:
        return int(name[: -len(_SUFFIX)].rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


def _decode(name: str, data: bytes, target: str) -> SpooledBatch:
    if not data.startswith(_MAGIC):
        raise ValueError("bad magic")
    offset = len(_MAGIC)
    # The name says whose it is; the header must agree (a renamed file is not sent).
    if data[offset : offset + _TARGET_CHARS] != target.encode():
        raise ValueError("written for another target")
    offset += _TARGET_CHARS
    if len(data) < offset + _HEADER.size:
        raise ValueError("truncated header")
    crc, body_len, span_count, ctype_len, cenc_len = _HEADER.unpack_from(data, offset)
    offset += _HEADER.size
    end = offset + ctype_len + cenc_len + body_len
    if len(data) != end:
        raise ValueError(f"expected {end} bytes, found {len(data)}")
    content_type = data[offset : offset + ctype_len].decode("ascii", "replace")
    offset += ctype_len
    content_encoding = data[offset : offset + cenc_len].decode("ascii", "replace")
    offset += cenc_len
    body = data[offset:]
    if zlib.crc32(body) != crc:
        raise ValueError("checksum mismatch")
    return SpooledBatch(name, body, span_count, content_type, content_encoding)
