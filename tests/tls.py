"""TLS for the tests: a key and a self-signed certificate like the ones site.yml makes (ECDSA
P-256, the addresses as subject alternative names), and what a client checks of a server's
certificate (its SHA-256 fingerprint, what a plain-HTTP request gets)."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import socket
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def self_signed(common_name: str, addresses: list[str]) -> tuple[str, str]:
    """(key PEM, certificate PEM): an ECDSA P-256 key and a certificate for `addresses` (IPs
    or DNS names), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for address in addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(address))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


def served_certificate(host: str, port: int, timeout: float = 10.0) -> bytes:
    """The DER certificate the server at host:port presents (not verified: to be checked)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der, f"{host}:{port} presented no certificate"
    return der


def fingerprint(der: bytes) -> str:
    """The certificate's SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` and the
    outputs print it: AB:CD:..."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def plain_http_refused(host: str, port: int, timeout: float = 10.0) -> str:
    """What a plain-HTTP GET / gets from a TLS-only port: "" when no HTTP answer came (the
    connection closed or reset), else the answer's first line (the test fails on it)."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        raw.sendall(f"GET /login HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        try:
            data = raw.recv(4096)
        except (ConnectionResetError, TimeoutError):
            return ""
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    return line if line.startswith("HTTP/") else ""
