"""A short-lived self-signed certificate for developing with WebTransport (extra: ``webtransport``).

HTTP/3 has no plain-text mode. For a page on ``localhost`` without a certificate from a trusted
authority, Chrome accepts a self-signed certificate whose SHA-256 hash the page passes to
``new WebTransport(url, {serverCertificateHashes: [{algorithm: "sha-256", value}]})`` (the official
client: ``transportOptions: {webtransport: {serverCertificateHashes: [...]}}``), if the certificate
is valid for at most 14 days and its key is ECDSA (P-256). :func:`development_certificate` makes one.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["DevCertificate", "development_certificate"]

MAX_DAYS = 14


@dataclass(frozen=True, slots=True)
class DevCertificate:
    """A certificate and key written as PEM files, and the hashes a client needs to trust it."""

    certfile: str
    keyfile: str
    sha256: bytes
    """The SHA-256 of the DER certificate: the page's ``serverCertificateHashes`` value."""
    spki_sha256: bytes
    """The SHA-256 of the public key (SPKI), for Chromium's ``--ignore-certificate-errors-spki-list``."""
    not_after: datetime.datetime

    @property
    def sha256_hex(self) -> str:
        return self.sha256.hex()

    def hash_js(self) -> str:
        """The ``serverCertificateHashes`` entry as JavaScript: ``{algorithm: "sha-256", value: ...}``."""
        numbers = ", ".join(str(b) for b in self.sha256)
        return f'{{algorithm: "sha-256", value: new Uint8Array([{numbers}])}}'


def development_certificate(
    directory: str | os.PathLike[str],
    *,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1"),
    days: int = 10,
) -> DevCertificate:
    """Write ``dev-cert.pem`` and ``dev-key.pem`` in ``directory``: self-signed, ECDSA P-256, valid
    from a minute ago for ``days`` (at most 14, as Chrome requires for certificate hashes)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS} (Chrome refuses longer ones)")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else "localhost")])
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.timezone.utc)
    # Chrome counts the validity from not_before to not_after: keep the total under 14 days
    not_before = now - datetime.timedelta(minutes=1)
    not_after = not_before + datetime.timedelta(days=days) - datetime.timedelta(minutes=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    certfile = folder / "dev-cert.pem"
    keyfile = folder / "dev-key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.touch(mode=0o600)
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return DevCertificate(
        str(certfile),
        str(keyfile),
        hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest(),
        hashlib.sha256(spki).digest(),
        not_after,
    )
