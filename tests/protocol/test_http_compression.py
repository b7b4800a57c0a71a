"""Tests for socketeer.protocol.http_compression: the coding choice against the npm ``accepts`` package
the official server uses (seeded random headers, one Node process), and the codecs against the stdlib."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketeer.protocol.http_compression import ENCODINGS, choose_encoding, decode_body, encode_body

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SEED = 20261204


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, None),
        ("", None),
        ("gzip, deflate, br, zstd", "gzip"),
        ("deflate, gzip", "deflate"),
        ("GZIP", "gzip"),
        ("*", "gzip"),
        ("br, *;q=0.1, deflate;q=0.05", "gzip"),
        ("gzip;q=0, *", "deflate"),
        ("gzip;q=0.5, deflate;q=0.6", "deflate"),
        ("identity, br", None),
        ("gzip;q=x", None),  # an unreadable weight refuses, as parseFloat's NaN
        ("gzip;q=0.7abc, deflate;q=0.6", "gzip"),  # parseFloat reads the leading number
        ("gzip;Q=0", "gzip"),  # the npm parser only knows a lowercase q
    ],
)
def test_choose_encoding_examples(header: str | None, chosen: str | None) -> None:
    assert choose_encoding(header) == chosen


def _random_header(rng: random.Random) -> str:
    codings = ["gzip", "GZip", "deflate", "br", "*", "identity", "zstd", "x-gzip", ""]
    weights = [
        "",
        ";q=0",
        ";q=1",
        ";q=0.5",
        ";q=0.50",
        ";q=x",
        ";q=",
        "; q=0.2",
        ";level=1;q=0.3",
        ";Q=0",
        ";q=1e-1",
    ]
    parts = [rng.choice(codings) + rng.choice(weights) for _ in range(rng.randint(1, 5))]
    return rng.choice([",", ", ", " ,"]).join(parts)


def test_choose_encoding_agrees_with_the_official_server(node_modules: Path) -> None:
    rng = random.Random(SEED)
    headers = sorted({_random_header(rng) for _ in range(1500)})
    script = (
        "const accepts = require('accepts');"
        "const headers = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(headers.map((h) =>"
        " accepts({headers: {'accept-encoding': h}}).encodings(['gzip', 'deflate']) || null)));"
    )
    env = dict(
        os.environ,
        NODE_PATH=str(node_modules / "engine.io" / "node_modules") + os.pathsep + str(node_modules),
    )
    out = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(headers),
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    )
    expected = json.loads(out.stdout)
    mismatches = [
        (h, e, choose_encoding(h)) for h, e in zip(headers, expected, strict=True) if choose_encoding(h) != e
    ]
    assert not mismatches, mismatches[:10]
    assert {e for e in expected} == {"gzip", "deflate", None}  # the sample reaches every answer


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=5000), st.sampled_from(ENCODINGS), st.integers(-1, 9))
def test_encode_decode_round_trip(body: bytes, encoding: str, level: int) -> None:
    encoded = encode_body(body, encoding, level)
    assert decode_body(encoded, encoding, len(body)) == body
    reference = gzip.decompress(encoded) if encoding == "gzip" else zlib.decompress(encoded)
    assert reference == body


def test_decode_body_refuses_bad_input() -> None:
    body = b"a" * 10_000
    with pytest.raises(ValueError, match="exceeds"):
        decode_body(encode_body(body, "gzip"), "gzip", 9_999)
    with pytest.raises(ValueError, match="corrupt"):
        decode_body(b"not gzip at all", "gzip", 100)
    with pytest.raises(ValueError, match="truncated"):
        decode_body(encode_body(body, "deflate")[:-5], "deflate", 100_000)
    with pytest.raises(ValueError, match="unsupported"):
        decode_body(body, "br", 100_000)
    with pytest.raises(ValueError, match="unsupported"):
        encode_body(body, "br")
    assert decode_body(gzip.compress(body), " GZIP ", 10_000) == body
