"""Our own certificate authority: the broker's TLS listener, the stations' client certificates.

Keys are ECDSA P-256: an ESP32's mbedTLS handles them, and a handshake costs far less than with
RSA-2048. The CA key stays in the run folder's 0600 secrets; the broker gets the CA certificate,
its server certificate and key; each station gets the CA certificate and its own certificate
(common name = station id) and key, in DER as MicroPython's `ssl` loads them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from quantrac_common.files import write_private

CA_DAYS = 3650
LEAF_DAYS = 825  # the longest server certificate clients accept; re-credential well within it
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Quantrac"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key_bytes(key: ec.EllipticCurvePrivateKey, encoding: serialization.Encoding) -> bytes:
    fmt = (serialization.PrivateFormat.PKCS8 if encoding == PEM
           else serialization.PrivateFormat.TraditionalOpenSSL)
    return key.private_bytes(encoding, fmt, serialization.NoEncryption())


def _builder(subject: x509.Name, issuer: x509.Name, public, days: int) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days)))


class Authority:
    """The CA: created once (`ensure`), then it signs the broker's and stations' certificates."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert, self.key = cert, key

    @classmethod
    def ensure(cls, cert_path: Path, key_path: Path) -> Authority:
        if cert_path.exists() and key_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            return cls(cert, key)
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name("Quantrac station network CA")
        cert = (_builder(name, name, key.public_key(), CA_DAYS)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        write_private(key_path, _key_bytes(key, PEM).decode())
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(cert.public_bytes(PEM))
        return cls(cert, key)

    def _leaf(self, common: str, usage, sans: list[x509.GeneralName]):
        key = ec.generate_private_key(ec.SECP256R1())
        b = (_builder(_name(common), self.cert.subject, key.public_key(), LEAF_DAYS)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return b.sign(self.key, hashes.SHA256()), key

    def server(self, directory: Path, hosts: list[str]) -> None:
        """server.crt + server.key (0600) for the broker, valid for `hosts` (names or IPs)."""
        sans: list[x509.GeneralName] = []
        for h in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        cert, key = self._leaf(hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, sans)
        (directory / "server.crt").write_bytes(cert.public_bytes(PEM))
        write_private(directory / "server.key", _key_bytes(key, PEM).decode())

    def client(self, station_id: str) -> tuple[bytes, bytes]:
        """(certificate, key) in DER for a station; common name = its id = its MQTT user."""
        cert, key = self._leaf(station_id, ExtendedKeyUsageOID.CLIENT_AUTH, [])
        return cert.public_bytes(DER), _key_bytes(key, DER)

    def ca_der(self) -> bytes:
        return self.cert.public_bytes(DER)

