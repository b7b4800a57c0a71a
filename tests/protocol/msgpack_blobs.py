"""Random msgpack messages over a wide input space, for the differential search against the npm parser.

Byte-level: every msgpack format (ext types 0, -1 and others, each fixext size, bin and str keys, keys
the JavaScript decoder treats specially, invalid UTF-8, the never-used 0xc1), shaped like Socket.IO
packets, a third of them with a few bytes overwritten. Deterministic for a given ``random.Random``.
"""

from __future__ import annotations

import random
import struct

__all__ = ["random_message"]

_INTS = [(0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8), (0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)]
_FIXEXT = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
_STRINGS = ["", "a", "type", "nsp", "data", "id", "é", "x" * 40]
_KEYS = ["a", "b", "__proto__", "1", "constructor", "toString", "é"]


def _str(text: str) -> bytes:
    raw = text.encode()
    return (bytes([0xA0 | len(raw)]) if len(raw) < 32 else b"\xd9" + bytes([len(raw)])) + raw


def _some(r: random.Random, n: int) -> bytes:
    return bytes(r.randrange(256) for _ in range(n))


def _scalar(r: random.Random, kind: int) -> bytes:
    if kind == 0:
        return bytes([r.randrange(0, 0x80)])  # positive fixint
    if kind == 1:
        return bytes([r.randrange(0xE0, 0x100)])  # negative fixint
    if kind == 2:
        return r.choice([b"\xc0", b"\xc2", b"\xc3"])
    if kind == 3:
        return b"\xca" + struct.pack(">f", r.uniform(-1e6, 1e6))
    if kind == 4:
        value = r.choice([r.uniform(-1e9, 1e9), 2.0, -0.0, float("nan"), float("inf")])
        return b"\xcb" + struct.pack(">d", value)
    if kind == 5:
        prefix, size = r.choice(_INTS)
        return bytes([prefix]) + r.getrandbits(8 * size).to_bytes(size, "big")
    if kind == 6:
        return _str(r.choice(_STRINGS))
    if kind == 7:
        data = _some(r, r.randrange(5))
        return b"\xc4" + bytes([len(data)]) + data
    if kind == 8:
        size = r.choice(list(_FIXEXT))
        code = r.choice([0, 0, 1, -1, 5, 127, -128])
        return bytes([_FIXEXT[size], code & 0xFF]) + _some(r, size)
    if kind == 9:
        size = r.randrange(10)
        return bytes([0xC7, size, r.choice([0, 1, -1, 3]) & 0xFF]) + _some(r, size)
    if kind == 10:
        data = bytes(r.randrange(0x80, 0x100) for _ in range(r.randrange(1, 4)))  # invalid UTF-8 str
        return bytes([0xA0 | len(data)]) + data
    if kind == 11:
        return b"\xc1"
    if kind == 12:
        return b"\xdc\x00\x00"  # array 16, empty
    return b"\xde\x00\x00"  # map 16, empty


def _item(r: random.Random, depth: int = 0) -> bytes:
    kind = r.randrange(22 if depth < 3 else 14)
    if kind < 14:
        return _scalar(r, kind)
    if kind < 17:
        n = r.randrange(4)
        return bytes([0x90 | n]) + b"".join(_item(r, depth + 1) for _ in range(n))
    n = r.randrange(4)
    out = bytes([0x80 | n])
    for _ in range(n):
        choice = r.randrange(6)
        if choice == 0:
            key = b"\xc4\x01a"  # a bin key
        elif choice == 1:
            key = _item(r, 5)
        else:
            key = _str(r.choice(_KEYS))
        out += key + _item(r, depth + 1)
    return out


def random_message(r: random.Random) -> bytes:
    """One message: a map with type, data, id, nsp (some missing, odd or extra), maybe overwritten."""
    fields = []
    ptype = r.choice([0, 1, 2, 3, 4, None, "x"])
    if ptype is not None:
        fields.append((b"\xa4type", bytes([ptype]) if isinstance(ptype, int) else b"\xa1x"))
    if r.random() < 0.9:
        if ptype in (2, 3, "x"):
            n = r.randrange(1, 4)
            name = r.choice([b"\xa1e", _item(r, 2)])
            data = bytes([0x90 | n]) + name + b"".join(_item(r, 1) for _ in range(n - 1))
        else:
            data = _item(r)
        fields.append((b"\xa4data", data))
    if r.random() < 0.4:
        fields.append((b"\xa2id", _item(r, 5)))
    fields.append((b"\xa3nsp", r.choice([b"\xa1/", b"\xa2/a", _item(r, 5)])))
    if r.random() < 0.2:
        fields.append((_item(r, 5), _item(r, 2)))
    r.shuffle(fields)
    blob = bytearray([0x80 | len(fields)]) + b"".join(k + v for k, v in fields)
    if r.random() < 0.3:
        for _ in range(r.randrange(1, 3)):
            blob[r.randrange(len(blob))] = r.randrange(256)
    return bytes(blob)
