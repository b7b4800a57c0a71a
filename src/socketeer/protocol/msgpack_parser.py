"""The msgpack Socket.IO parser, wire-compatible with the npm ``socket.io-msgpack-parser``.

Every packet is one binary Engine.IO message: a msgpack map ``{type, data, id, nsp}``. ``data`` and
``id`` are left out when absent; binary values stay inline as msgpack ``bin``, so there are no
BINARY_EVENT / BINARY_ACK packets and no attachments. Needs the ``msgpack`` package (extra
``socketeer[msgpack]``).

The JavaScript side (``notepack.io``) adds an extension type 0 that this module maps as follows:
``undefined`` (fixext 1) is dropped from maps and read as ``None`` in arrays, the way ``JSON.stringify``
treats it; a ``Date`` (fixext 8) is an aware :class:`~datetime.datetime` in UTC, and an aware datetime
is sent as a ``Date``; a typed array / ``ArrayBuffer`` (ext 8/16/32) is ``bytes``; fixext 2, 4 and 16 of
type 0 come back as ``[0, bytes]``. Other extension types, msgpack timestamps (type -1) included, come
back as ``[type, bytes]``, as notepack.io gives them to the official server.

Map keys must be strings (or bytes): a map with other keys is refused on decoding, because
attacker-chosen integer keys make hash flooding cheap. A ``bin`` key is read as the string it encodes
(UTF-8, bad bytes replaced), as the JavaScript decoder does when it makes the key a property name; when
it names the same key as a ``str`` key of the same map, the later value wins there too. A
``"__proto__"`` key refuses the packet: the JavaScript decoder would not keep it as a key but make its
value the object's prototype (and the payload then passes or fails the parser's checks by that value),
so no official client's packet carries one to an official server.
"""

from __future__ import annotations

import re
import struct
from datetime import datetime, timedelta, timezone
from typing import Any

from ..exceptions import RemoteProtocolError
from .models import to_plain
from .socketio_packets import DecodeLimits, SocketPacket, SocketPacketType, valid_payload
from .wire import WireMessage

try:
    import msgpack as _msgpack
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the msgpack parser needs the msgpack package: install socketeer[msgpack] (pip install msgpack)"
    ) from _exc

__all__ = ["MsgpackDecoder", "MsgpackParser"]

_T = SocketPacketType
_TYPES = tuple(SocketPacketType)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # noqa: UP017 (Python 3.10)
_INT64 = struct.Struct(">q")
_packb = _msgpack.packb
_unpackb = _msgpack.unpackb
_ExtType = _msgpack.ExtType


def _fail(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message)


# -- encoding -------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TypeError("a naive datetime has no instant: give it a timezone to send it as a Date")
        ms = (value - _EPOCH) // timedelta(milliseconds=1)
        return _ExtType(0, _INT64.pack(ms))
    plain = to_plain(value)  # pydantic models, dataclasses, enums
    if plain is not value:
        return plain
    raise TypeError(f"msgpack cannot carry a {type(value).__name__!r} value")


def _pack(envelope: dict[str, Any]) -> bytes:
    try:
        blob: bytes = _packb(envelope, default=_default)
    except OverflowError as exc:
        raise TypeError("msgpack carries integers from -2**63 to 2**64-1 only") from exc
    except UnicodeEncodeError as exc:
        raise TypeError(f"a string is not valid Unicode (lone surrogate?): {exc}") from exc
    except ValueError as exc:  # "recursion limit exceeded"
        raise TypeError(f"cannot encode with msgpack: {exc}") from exc
    except struct.error as exc:  # a datetime beyond the int64 milliseconds range
        raise TypeError(f"cannot encode with msgpack: {exc}") from exc
    return blob


class MsgpackParser:
    """The Socket.IO msgpack parser (``socket.io-msgpack-parser``), for server and client."""

    name = "msgpack"

    def encode(self, packet: SocketPacket, volatile: bool = False) -> WireMessage:
        """One binary message holding the whole packet.

        Keys come in the order the JavaScript server writes them, so the common packets are
        byte-identical to what ``socket.io`` sends. Raises :class:`TypeError` for values msgpack
        cannot carry (unknown types, integers beyond 64 bits, strings with lone surrogates).
        """
        ptype = packet.type
        data = packet.data
        envelope: dict[str, Any]
        if ptype is _T.ACK or ptype is _T.BINARY_ACK:
            envelope = {"id": packet.id, "type": 3, "data": [] if data is None else data}
            if packet.id is None:
                del envelope["id"]
        else:
            envelope = {"type": 2 if ptype is _T.BINARY_EVENT else int(ptype)}
            if data is not None:
                envelope["data"] = data
            if packet.id is not None:
                envelope["id"] = packet.id
        envelope["nsp"] = packet.namespace
        return WireMessage(None, (_pack(envelope),), volatile)

    def decoder(self, limits: DecodeLimits) -> MsgpackDecoder:
        return MsgpackDecoder(limits)


# -- decoding -------------------------------------------------------------------------------------


class _Undefined:
    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"


_UNDEFINED = _Undefined()


class _Ext0:
    """An extension of type 0 whose meaning depends on its format byte (see :func:`_ext0_formats`)."""

    __slots__ = ("data", "index")

    def __init__(self, index: int, data: bytes) -> None:
        self.index = index
        self.data = data


_FIXED_SIZES: dict[int, int] = {
    0xC0: 1, 0xC2: 1, 0xC3: 1,
    0xCA: 5, 0xCB: 9, 0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9,
    0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9,
}  # fmt: skip
_FIXEXT_SIZES = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
_LENGTH_PREFIXED = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}  # bin, str: bytes of length
_EXT_HEADERS = {0xC7: 1, 0xC8: 2, 0xC9: 4}


def _ext_layout(buf: bytes) -> list[tuple[int, int, bool]]:
    """Every extension in ``buf``, in document order: (offset of its type byte, type, is it a fixext?).

    ``msgpack`` hands extension data to the hook without its format, but ``notepack.io`` gives the
    format a meaning: fixext 1 is ``undefined`` and fixext 8 a ``Date``, while ext 8/16/32 is an
    ``ArrayBuffer`` of any length. Raises :class:`IndexError` on a truncated ``buf``.
    """
    out: list[tuple[int, int, bool]] = []
    pos = 0
    pending = 1  # items still to read; containers add their elements (depth first = byte order)
    while pending:
        pending -= 1
        b = buf[pos]
        if b < 0x80 or b >= 0xE0:  # fixint
            pos += 1
        elif b < 0x90:  # fixmap
            pending += 2 * (b & 0x0F)
            pos += 1
        elif b < 0xA0:  # fixarray
            pending += b & 0x0F
            pos += 1
        elif b < 0xC0:  # fixstr
            pos += 1 + (b & 0x1F)
        elif b in _FIXED_SIZES:
            pos += _FIXED_SIZES[b]
        elif b in _LENGTH_PREFIXED:
            n = _LENGTH_PREFIXED[b]
            pos += 1 + n + int.from_bytes(buf[pos + 1 : pos + 1 + n], "big")
        elif b in _FIXEXT_SIZES:
            code = buf[pos + 1]
            out.append((pos + 1, code - 256 if code > 127 else code, True))
            pos += 2 + _FIXEXT_SIZES[b]
        elif b in _EXT_HEADERS:
            n = _EXT_HEADERS[b]
            code = buf[pos + 1 + n]
            out.append((pos + 1 + n, code - 256 if code > 127 else code, False))
            pos += 2 + n + int.from_bytes(buf[pos + 1 : pos + 1 + n], "big")
        elif b == 0xC1:  # never used: msgpack refuses it
            raise IndexError("0xc1")
        else:  # array 16/32 (0xDC/0xDD), map 16/32 (0xDE/0xDF)
            n = 2 if b in (0xDC, 0xDE) else 4
            count = int.from_bytes(buf[pos + 1 : pos + 1 + n], "big")
            pending += count if b <= 0xDD else 2 * count
            pos += 1 + n
    return out


# an extension of type -1 (a msgpack timestamp) may be in the message: fixext or ext 8/16/32, type 0xff
_MAYBE_TIMESTAMP = re.compile(rb"[\xd4-\xd8]\xff|\xc7.\xff|\xc8..\xff|\xc9....\xff", re.DOTALL)
_RETYPED = 1  # what a timestamp's type byte becomes, so that msgpack hands it to the hook


Layout = list[tuple[int, int, bool]]


def _resolve_ext0(item: _Ext0, formats: Layout) -> Any:
    data = item.data
    if formats[item.index][2]:
        if len(data) == 1:
            return _UNDEFINED
        if len(data) == 8:
            try:
                return _EPOCH + timedelta(milliseconds=_INT64.unpack(data)[0])
            except OverflowError as exc:
                raise _fail("Date out of range") from exc
        return [0, data]  # fixext 2, 4 and 16 of type 0 are nothing to notepack.io: [type, data]
    return data


def _resolve_tree(value: Any, formats: Layout) -> Any:
    """Replace every :class:`_Ext0` below ``value`` (iteratively: no recursion limit to hit)."""
    if isinstance(value, _Ext0):
        resolved = _resolve_ext0(value, formats)
        return None if resolved is _UNDEFINED else resolved
    stack = [value]
    while stack:
        container = stack.pop()
        if isinstance(container, list):
            for i, item in enumerate(container):
                if isinstance(item, _Ext0):
                    resolved = _resolve_ext0(item, formats)
                    container[i] = None if resolved is _UNDEFINED else resolved
                elif isinstance(item, (list, dict)):
                    stack.append(item)
        elif isinstance(container, dict):
            for key, item in list(container.items()):
                if isinstance(item, _Ext0):
                    resolved = _resolve_ext0(item, formats)
                    if resolved is _UNDEFINED:
                        del container[key]
                    else:
                        container[key] = resolved
                elif isinstance(item, (list, dict)):
                    stack.append(item)
    return value


_PROTO = "__proto__"
_JS_KEY_MARKERS = (b"\xc4", b"\xc5", b"\xc6", _PROTO.encode())  # bin 8/16/32 prefixes, the prototype key


def _needs_js_keys(value: Any) -> bool:
    """Whether a map below ``value`` has a ``bin`` key (refusing a ``__proto__`` key on the way)."""
    found = False
    stack = [value]
    while stack:
        container = stack.pop()
        if isinstance(container, dict):
            for key, item in container.items():
                if isinstance(key, bytes):
                    found = True
                elif key == _PROTO:
                    raise _fail("a __proto__ key (the JavaScript decoder would set a prototype)")
                if isinstance(item, (list, dict)):
                    stack.append(item)
        elif isinstance(container, list):
            stack.extend(item for item in container if isinstance(item, (list, dict)))
    return found


def _js_object(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    """A map the way the JavaScript decoder builds it: keys as property names, later values win."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        if key == _PROTO:
            raise ValueError("a __proto__ key (the JavaScript decoder would set a prototype)")
        out[key] = value
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class MsgpackDecoder:
    """Decodes one connection's packets; each binary message is a whole packet."""

    __slots__ = ("_ext0_count", "_ext_count", "_limits", "_retyped")

    def __init__(self, limits: DecodeLimits) -> None:
        self._limits = limits
        self._ext0_count = 0
        self._ext_count = 0
        self._retyped: frozenset[int] = frozenset()

    @property
    def awaiting_attachments(self) -> bool:
        return False  # msgpack packets carry their binary data inline

    def reset(self) -> None:
        self._ext0_count = self._ext_count = 0
        self._retyped = frozenset()

    def _ext_hook(self, code: int, data: bytes) -> Any:
        index = self._ext_count  # the extension's place in document order, as in _ext_layout
        self._ext_count = index + 1
        if code == 0:
            self._ext0_count += 1
            return _Ext0(index, data)
        if index in self._retyped:
            return [-1, data]  # notepack.io does not know msgpack timestamps either
        return [code, data]  # what notepack.io gives for extension types it does not know

    def _unpack(self, data: bytes, js_maps: bool) -> Any:
        self._ext0_count = self._ext_count = 0
        try:
            if js_maps:
                return _unpackb(
                    data,
                    raw=False,
                    ext_hook=self._ext_hook,
                    strict_map_key=True,
                    object_pairs_hook=_js_object,
                )
            return _unpackb(data, raw=False, ext_hook=self._ext_hook, strict_map_key=True)
        except (ValueError, TypeError, OverflowError, RecursionError, _msgpack.UnpackException) as exc:
            raise _fail(f"invalid msgpack: {exc}") from exc

    def _without_timestamps(self, data: bytes) -> tuple[bytes, Layout | None]:
        """``data`` with msgpack timestamps retyped so that they reach the hook (as ``[-1, data]``)."""
        self._retyped = frozenset()
        if _MAYBE_TIMESTAMP.search(data) is None:
            return data, None
        try:
            layout = _ext_layout(data)
        except IndexError:
            return data, None  # malformed: msgpack says how
        retyped = [i for i, (_, code, _) in enumerate(layout) if code == -1]
        if not retyped:
            return data, layout
        buf = bytearray(data)
        for i in retyped:
            buf[layout[i][0]] = _RETYPED
        self._retyped = frozenset(retyped)
        return bytes(buf), layout

    def feed_text(self, text: str) -> SocketPacket | None:
        raise _fail("text message: the msgpack parser only takes binary messages")

    def feed_binary(self, data: bytes) -> SocketPacket | None:
        data, layout = self._without_timestamps(data)
        obj = self._unpack(data, False)
        if not isinstance(obj, dict):
            raise _fail("a packet must be a msgpack map")
        if any(marker in data for marker in _JS_KEY_MARKERS) and _needs_js_keys(obj):
            obj = self._unpack(data, True)  # rare (a bin key): maps built as the JavaScript decoder does
        if self._ext0_count:
            try:
                formats = layout if layout is not None else _ext_layout(data)
                for key, value in list(obj.items()):
                    if isinstance(value, _Ext0) and _resolve_ext0(value, formats) is _UNDEFINED:
                        del obj[key]  # a key set to undefined is an absent key
                    else:
                        obj[key] = _resolve_tree(value, formats)
            except (IndexError, KeyError) as exc:  # pragma: no cover - msgpack accepted the input
                raise _fail("invalid msgpack") from exc
        return self._packet(obj)

    def _packet(self, obj: dict[Any, Any]) -> SocketPacket:
        limits = self._limits
        code = obj.get("type")
        if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 4:
            raise _fail("invalid packet type")
        ptype = _TYPES[code]
        namespace = obj.get("nsp")
        if not isinstance(namespace, str) or not namespace.startswith("/"):
            raise _fail("invalid namespace")
        if len(namespace) > limits.max_namespace_length:
            raise _fail("namespace too long")
        ack_id = obj.get("id", _UNDEFINED)
        if ack_id is _UNDEFINED:
            ack_id = None
            if ptype is _T.ACK:
                raise _fail("ack without id")
        else:
            if not _is_int(ack_id) or ack_id < 0:  # null is no id: the JS decoder refuses it too
                raise _fail("invalid packet id")
            if ack_id >= 10**limits.max_ack_id_digits:
                raise _fail("ack id too large")
        if "data" in obj:
            payload = obj["data"]
            if not valid_payload(ptype, payload, limits):
                raise _fail("invalid payload")
        elif ptype is _T.CONNECT or ptype is _T.DISCONNECT:
            payload = None
        else:
            raise _fail("missing payload")
        return SocketPacket(ptype, namespace, payload, ack_id)
