"""Terraform values on the wire: the MessagePack encoding of cty values, and the Unknown sentinel.

Terraform sends configs, plans and states as DynamicValue.msgpack (docs/plugin-protocol/object-wire-format.md).
Only the parts of MessagePack that cty uses are handled: nil, bool, ints, floats, str, bin, arrays, maps and the
extension types for unknown values (code 0, and code 12 for unknowns with refinements, read as plain unknown).
Numbers that do not fit a float arrive as decimal strings; `as_number` turns them back into int/float.
Written here (about 150 lines) instead of depending on the msgpack package: it keeps provider start-up small.
"""

from __future__ import annotations

import json
import struct
from typing import Any


class _Unknown:
    """A value Terraform will only know after apply (`(known after apply)`)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Unknown"

    def __bool__(self) -> bool:
        return False


Unknown = _Unknown()

_UNKNOWN_EXT = 0
_REFINED_UNKNOWN_EXT = 12


def is_known(value: Any) -> bool:
    """True when the value and everything inside it is known."""
    if value is Unknown:
        return False
    if isinstance(value, list):
        return all(is_known(v) for v in value)
    if isinstance(value, dict):
        return all(is_known(v) for v in value.values())
    return True


def as_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# -- decoding ------------------------------------------------------------------------------------------------


def unpack(data: bytes) -> Any:
    if not data:
        return None
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError(f"trailing bytes in msgpack value ({len(data) - end})")
    return value


def _decode(b: bytes, i: int) -> tuple[Any, int]:
    t = b[i]
    i += 1
    if t <= 0x7F:
        return t, i
    if t >= 0xE0:
        return t - 0x100, i
    if 0xA0 <= t <= 0xBF:
        n = t & 0x1F
        return b[i : i + n].decode(), i + n
    if 0x90 <= t <= 0x9F:
        return _array(b, i, t & 0x0F)
    if 0x80 <= t <= 0x8F:
        return _map(b, i, t & 0x0F)
    if t == 0xC0:
        return None, i
    if t == 0xC2:
        return False, i
    if t == 0xC3:
        return True, i
    if t in _LEN:  # str/bin/array/map with an explicit length
        fmt, kind = _LEN[t]
        (n,) = struct.unpack_from(fmt, b, i)
        i += struct.calcsize(fmt)
        if kind == "str":
            return b[i : i + n].decode(), i + n
        if kind == "bin":
            return bytes(b[i : i + n]), i + n
        if kind == "array":
            return _array(b, i, n)
        return _map(b, i, n)
    if t in _INTS:
        fmt = _INTS[t]
        (v,) = struct.unpack_from(fmt, b, i)
        return v, i + struct.calcsize(fmt)
    if t == 0xCA:
        return struct.unpack_from(">f", b, i)[0], i + 4
    if t == 0xCB:
        return struct.unpack_from(">d", b, i)[0], i + 8
    if 0xD4 <= t <= 0xD8:  # fixext 1/2/4/8/16
        n = 1 << (t - 0xD4)
        return _ext(b[i], i + 1 + n), i + 1 + n
    if t in (0xC7, 0xC8, 0xC9):
        fmt = {0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}[t]
        (n,) = struct.unpack_from(fmt, b, i)
        i += struct.calcsize(fmt)
        return _ext(b[i], i + 1 + n), i + 1 + n
    raise ValueError(f"unsupported msgpack type byte 0x{t:02x}")


def _ext(code: int, _end: int) -> Any:
    if code in (_UNKNOWN_EXT, _REFINED_UNKNOWN_EXT):
        return Unknown
    raise ValueError(f"unsupported msgpack extension type {code}")


def _array(b: bytes, i: int, n: int) -> tuple[list[Any], int]:
    out = []
    for _ in range(n):
        v, i = _decode(b, i)
        out.append(v)
    return out, i


def _map(b: bytes, i: int, n: int) -> tuple[dict[Any, Any], int]:
    out = {}
    for _ in range(n):
        k, i = _decode(b, i)
        v, i = _decode(b, i)
        out[k] = v
    return out, i


_LEN = {
    0xD9: (">B", "str"), 0xDA: (">H", "str"), 0xDB: (">I", "str"),
    0xC4: (">B", "bin"), 0xC5: (">H", "bin"), 0xC6: (">I", "bin"),
    0xDC: (">H", "array"), 0xDD: (">I", "array"),
    0xDE: (">H", "map"), 0xDF: (">I", "map"),
}
_INTS = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}


# -- encoding ------------------------------------------------------------------------------------------------


def pack(value: Any) -> bytes:
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _encode(v: Any, out: bytearray) -> None:
    if v is None:
        out.append(0xC0)
    elif v is Unknown:
        out += b"\xd4\x00\x00"
    elif v is True:
        out.append(0xC3)
    elif v is False:
        out.append(0xC2)
    elif isinstance(v, int):
        _encode_int(v, out)
    elif isinstance(v, float):
        if v.is_integer() and abs(v) < 2**63:
            _encode_int(int(v), out)
        else:
            out += b"\xcb" + struct.pack(">d", v)
    elif isinstance(v, str):
        raw = v.encode()
        n = len(raw)
        if n < 32:
            out.append(0xA0 | n)
        elif n < 2**8:
            out += b"\xd9" + struct.pack(">B", n)
        elif n < 2**16:
            out += b"\xda" + struct.pack(">H", n)
        else:
            out += b"\xdb" + struct.pack(">I", n)
        out += raw
    elif isinstance(v, (list, tuple)):
        n = len(v)
        out += bytes([0x90 | n]) if n < 16 else (b"\xdc" + struct.pack(">H", n) if n < 2**16
                                                 else b"\xdd" + struct.pack(">I", n))
        for item in v:
            _encode(item, out)
    elif isinstance(v, dict):
        n = len(v)
        out += bytes([0x80 | n]) if n < 16 else (b"\xde" + struct.pack(">H", n) if n < 2**16
                                                 else b"\xdf" + struct.pack(">I", n))
        for key, item in v.items():
            _encode(str(key), out)
            _encode(item, out)
    else:
        raise TypeError(f"cannot encode {type(v).__name__} as a Terraform value")


def _encode_int(v: int, out: bytearray) -> None:
    if 0 <= v <= 0x7F:
        out.append(v)
    elif -32 <= v < 0:
        out.append(v & 0xFF)
    elif -(2**63) <= v < 2**63:
        out += b"\xd3" + struct.pack(">q", v)
    elif 0 <= v < 2**64:
        out += b"\xcf" + struct.pack(">Q", v)
    else:
        _encode(str(v), out)  # cty's encoding of numbers too big for 64 bits


def from_json_state(raw: bytes) -> Any:
    """Decode a JSON state document (UpgradeResourceState.raw_state.json)."""
    return json.loads(raw) if raw else None
