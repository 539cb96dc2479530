"""Throw-away certificates for TLS tests: a CA, a server cert for 127.0.0.1, a client cert.

Tests, benchmarks and `make demo` need a broker that speaks TLS (and mTLS) without anything
from outside the machine. Keys are P-256 (fast to generate); the client key can be written
encrypted, as `mqtt.auth.keyfile_password` expects. Nothing here is fit for production.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY: Final = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Certificates:
    """PEM files of one throw-away PKI."""

    cafile: Path
    server_certfile: Path
    server_keyfile: Path
    client_certfile: Path
    client_keyfile: Path
    client_key_password: str | None


def make_certificates(
    directory: Path, *, key_password: str | None = None, name: str = "mqtt-kube test"
) -> Certificates:
    """Write a CA, a server cert (IP 127.0.0.1, DNS localhost) and a client cert to `directory`.

    `key_password` encrypts the client key; `name` goes into every subject, so two sets
    made with different names are told apart in error messages.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{name} CA")
    ca_cert = (
        _builder(subject=ca_name, issuer=ca_name, public_key=ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    cafile = directory / "ca.crt"
    cafile.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _leaf(
        subject=_name(f"{name} server"),
        public_key=server_key.public_key(),
        ca_cert=ca_cert,
        ca_key=ca_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        alt_names=[
            x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
            x509.DNSName("localhost"),
        ],
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _leaf(
        subject=_name(f"{name} client"),
        public_key=client_key.public_key(),
        ca_cert=ca_cert,
        ca_key=ca_key,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        alt_names=[],
    )
    files = Certificates(
        cafile=cafile,
        server_certfile=directory / "server.crt",
        server_keyfile=directory / "server.key",
        client_certfile=directory / "client.crt",
        client_keyfile=directory / "client.key",
        client_key_password=key_password,
    )
    files.server_certfile.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.server_keyfile.write_bytes(_key_pem(server_key, password=None))
    files.client_certfile.write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    files.client_keyfile.write_bytes(_key_pem(client_key, password=key_password))
    for key_file in (files.server_keyfile, files.client_keyfile):
        key_file.chmod(0o600)
    return files


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    *, subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _leaf(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
    alt_names: list[x509.GeneralName],
) -> x509.Certificate:
    builder = (
        _builder(subject=subject, issuer=ca_cert.subject, public_key=public_key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _key_pem(key: ec.EllipticCurvePrivateKey, *, password: str | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if password is not None:
        encryption = serialization.BestAvailableEncryption(password.encode())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
