"""Protobuf wire-format primitives: varints and length-delimited fields.

OTLP messages are written straight to bytes instead of being built as message objects first:
the per-span work is then a handful of byte concatenations, which is what makes the
protobuf path fast in pure Python.
"""

from __future__ import annotations

import struct

__all__ = ["encode_varint", "len_field", "pack_double", "pack_fixed64", "utf8"]

_SMALL = tuple(bytes((n,)) for n in range(128))
# Two-byte varints cover every length below 16 KiB, which is nearly every field we write.
_TWO = tuple(bytes((0x80 | (n & 0x7F), n >> 7)) for n in range(128, 1 << 14))

pack_fixed64 = struct.Struct("<Q").pack
pack_double = struct.Struct("<d").pack


def encode_varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer, or of a negative int64 as 10 bytes."""
    if value < 128:
        if value >= 0:
            return _SMALL[value]
        value += 1 << 64  # two's complement, as protobuf writes a negative int64
    elif value < 16384:
        return _TWO[value - 128]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def len_field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, the payload length, then the payload."""
    n = len(payload)
    if n < 128:
        return tag + _SMALL[n] + payload
    if n < 16384:
        return tag + _TWO[n - 128] + payload
    return tag + encode_varint(n) + payload


def utf8(text: str) -> bytes:
    """UTF-8 bytes of a string; lone surrogates become U+FFFD instead of failing the batch."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        # Round trip through UTF-16 turns each lone surrogate into U+FFFD.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()
