"""HTTP content codings for long-polling responses: ``gzip`` and ``deflate`` (RFC 9110 8.4.1), pure.

:func:`choose_encoding` picks a coding from a request's ``Accept-Encoding`` the way the official server
does (the npm ``accepts`` package over ``["gzip", "deflate"]``): a coding named exactly beats ``*``,
then the higher ``q`` wins, then the one listed first in the header, then ``gzip``; ``q=0`` refuses.
No header means no compression. :func:`encode_body` compresses with zlib as Node's ``zlib.createGzip``
and ``zlib.createDeflate`` do (``deflate`` is the zlib format of RFC 1950, as browsers expect).
"""

from __future__ import annotations

import math
import re
import zlib

__all__ = ["ENCODINGS", "choose_encoding", "decode_body", "encode_body"]

ENCODINGS = ("gzip", "deflate")
"""The codings offered, in the official server's order of preference."""

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_ELEMENT = re.compile(r"^\s*([^\s;]+)\s*(?:;(.*))?$")
_FLOAT_PREFIX = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def _weight(text: str) -> float:
    """``q`` as JavaScript's ``parseFloat`` reads it: a leading number, else NaN."""
    match = _FLOAT_PREFIX.match(text)
    return float(match.group(1)) if match else math.nan


def _js_or(*values: float) -> float:
    """JavaScript's ``a || b || c`` over numbers: the first that is neither 0 nor NaN, else the last."""
    for value in values:
        if value and value == value:
            return value
    return values[-1]


def _parse(accept_encoding: str) -> list[tuple[str, float, int]]:
    """``(coding, q, position)`` for each well-formed element of the header."""
    out: list[tuple[str, float, int]] = []
    for position, element in enumerate(accept_encoding.split(",")):
        match = _ELEMENT.match(element.strip())
        if match is None:
            continue
        coding, params = match.groups()
        q = 1.0
        if params:
            for param in params.split(";"):
                name, *values = param.strip().split("=")
                if name == "q":
                    q = _weight(values[0]) if values else math.nan
                    break
        out.append((coding, q, position))
    return out


def choose_encoding(accept_encoding: str | None) -> str | None:
    """The coding to answer with (``"gzip"`` or ``"deflate"``), or ``None`` to send the body as is."""
    if not accept_encoding:
        return None
    specs = _parse(accept_encoding)
    ranked: list[tuple[float, int, int, int, str]] = []
    for index, coding in enumerate(ENCODINGS):
        best_s, best_q, best_o = 0, 0.0, -1  # the npm parser's starting priority
        for name, q, position in specs:
            if name.lower() == coding:
                s = 1
            elif name == "*":
                s = 0
            else:
                continue
            if _js_or(best_s - s, best_q - q, best_o - position) < 0:
                best_s, best_q, best_o = s, q, position
        if best_q > 0:  # False for NaN too
            ranked.append((-best_q, -best_s, best_o, index, coding))
    if not ranked:
        return None
    return min(ranked)[4]


def encode_body(body: bytes, encoding: str, level: int = zlib.Z_DEFAULT_COMPRESSION) -> bytes:
    """``body`` compressed with ``encoding`` (``"gzip"`` or ``"deflate"``); ``ValueError`` otherwise."""
    try:
        wbits = _WBITS[encoding]
    except KeyError:
        raise ValueError(f"unsupported content coding {encoding!r}") from None
    compressor = zlib.compressobj(level, zlib.DEFLATED, wbits)
    return compressor.compress(body) + compressor.flush()


def decode_body(body: bytes, encoding: str, max_size: int) -> bytes:
    """The inverse of :func:`encode_body` (client side), refusing more than ``max_size`` bytes.

    Raises ``ValueError`` for an unknown coding, corrupt data or a body over the limit.
    """
    try:
        wbits = _WBITS[encoding.strip().lower()]
    except KeyError:
        raise ValueError(f"unsupported content coding {encoding!r}") from None
    decompressor = zlib.decompressobj(wbits)
    try:
        data = decompressor.decompress(body, max_size + 1)
    except zlib.error as exc:
        raise ValueError(f"corrupt {encoding} body: {exc}") from None
    if len(data) > max_size:
        raise ValueError(f"decompressed body exceeds {max_size} bytes")
    if not decompressor.eof:
        raise ValueError(f"truncated {encoding} body")
    return data
