"""The protobuf wire format, by hand, for the few small messages of a BuildKit session.

The session's services exchange a handful of messages of one to ten scalar fields (a host
name, a secret's id, a byte string, fsutil's file `Stat`). Encoding them by hand keeps the
generated-code toolchain out of the project; the field numbers are those of BuildKit's
`.proto` files, named next to each use. Pure: bytes in, bytes out.

Wire types handled: 0 (varint), 1 (64-bit), 2 (length-delimited), 5 (32-bit). Unknown
fields are kept by `parse_fields` and ignored by the readers, as protobuf requires.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "WireError",
    "bytes_field",
    "decode_varint",
    "encode_varint",
    "first_bytes",
    "first_int",
    "first_str",
    "parse_fields",
    "repeated_bytes",
    "str_field",
    "varint_field",
]

Fields = Mapping[int, list[int | bytes]]


class WireError(ValueError):
    """The bytes are not a protobuf message."""


def encode_varint(value: int) -> bytes:
    # Negative int64 values are sent as their 64-bit two's complement (ten bytes).
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def varint_field(number: int, value: int) -> bytes:
    """A varint field; proto3 leaves zero out."""
    if value == 0:
        return b""
    return encode_varint(number << 3) + encode_varint(value)


def bytes_field(number: int, value: bytes, *, keep_empty: bool = False) -> bytes:
    """A length-delimited field (bytes, string or an embedded message)."""
    if not value and not keep_empty:
        return b""
    return encode_varint(number << 3 | 2) + encode_varint(len(value)) + value


def str_field(number: int, value: str) -> bytes:
    return bytes_field(number, value.encode())


def parse_fields(data: bytes) -> dict[int, list[int | bytes]]:
    """Every field of a message, by number, values in the order they came."""
    fields: dict[int, list[int | bytes]] = {}
    pos = 0
    while pos < len(data):
        key, pos = decode_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        value: int | bytes
        if wire == 0:
            value, pos = decode_varint(data, pos)
        elif wire == 2:
            size, pos = decode_varint(data, pos)
            if pos + size > len(data):
                raise WireError(f"field {number} runs past the message's end")
            value, pos = data[pos : pos + size], pos + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > len(data):
                raise WireError(f"field {number} runs past the message's end")
            value, pos = int.from_bytes(data[pos : pos + width], "little"), pos + width
        else:
            raise WireError(f"unsupported wire type {wire} (field {number})")
        fields.setdefault(number, []).append(value)
    return fields


def first_bytes(fields: Fields, number: int) -> bytes:
    for value in fields.get(number, []):
        if isinstance(value, bytes):
            return value
    return b""


def first_str(fields: Fields, number: int) -> str:
    return first_bytes(fields, number).decode("utf-8", "replace")


def first_int(fields: Fields, number: int, *, signed: bool = False) -> int:
    for value in fields.get(number, []):
        if isinstance(value, int):
            if signed and value >= 1 << 63:
                return value - (1 << 64)
            return value
    return 0


def repeated_bytes(fields: Fields, number: int) -> list[bytes]:
    return [v for v in fields.get(number, []) if isinstance(v, bytes)]
