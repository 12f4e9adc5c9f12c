"""The cluster's certificates: a CA, one certificate per identity (a SPIFFE ID in a SAN URI), checks, files.

An identity is `spiffe://strata/<component>` for a daemon and the operator (`admin`), and
`spiffe://strata/agent/<node>` for a node agent. Every certificate serves both ends of a
connection: it is the server's when the component listens and the client's when it calls.
Keys are EC P-256. The clock is passed in (`now`), never read here.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TRUST_DOMAIN = "strata"
COMPONENTS = ("placement", "sdn", "orchestrator", "mesh", "mano", "admin")  # identities without a node
AGENT = "agent"
CA_DAYS = 365
SKEW = datetime.timedelta(minutes=5)  # certificates start a little in the past: clocks of a cluster differ
_NODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")  # the orchestrator's node names (RegisterNode)


class CertificateError(ValueError):
    """A certificate that is not the cluster's, not valid now, malformed, or not its key's."""


@dataclass(frozen=True)
class Identity:
    """Who a certificate speaks for: a component, or an agent of one node."""
    component: str
    node: str = ""

    def __post_init__(self):
        if self.component == AGENT:
            if not _NODE.fullmatch(self.node):
                raise ValueError(f"an agent's node name is 1-63 letters, digits, '.', '_', '-', got {self.node!r}")
        elif self.component not in COMPONENTS:
            raise ValueError(f"unknown identity {self.component!r}: one of {', '.join(COMPONENTS)} or an agent")
        elif self.node:
            raise ValueError(f"{self.component} is not a node's identity")

    @classmethod
    def agent(cls, node: str) -> "Identity":
        return cls(AGENT, node)

    @classmethod
    def parse(cls, uri: str) -> "Identity":
        """The identity of `spiffe://strata/...`; ValueError for anything else."""
        prefix = f"spiffe://{TRUST_DOMAIN}/"
        if not uri.startswith(prefix):
            raise ValueError(f"not an identity of this cluster: {uri!r}")
        parts = uri[len(prefix):].split("/")
        if parts[0] == AGENT and len(parts) == 2:
            return cls.agent(parts[1])
        if len(parts) == 1:
            return cls(parts[0])
        raise ValueError(f"not an identity of this cluster: {uri!r}")

    @property
    def uri(self) -> str:
        return f"spiffe://{TRUST_DOMAIN}/{self.component}" + (f"/{self.node}" if self.node else "")

    @property
    def server_name(self) -> str:
        """The DNS name in its certificate, which callers check (over a Unix socket they name it)."""
        return f"{self.node}.{AGENT}.{TRUST_DOMAIN}" if self.node else f"{self.component}.{TRUST_DOMAIN}"

    @property
    def file_stem(self) -> str:
        """Its files' names in the PKI folder: STEM.pem (certificate), STEM.key (private key)."""
        return f"{AGENT}-{self.node}" if self.node else self.component

    def __str__(self) -> str:
        return self.uri


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, PEM."""
    cert: bytes
    key: bytes


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(now: datetime.datetime, *, name: str = "Strata cluster CA", days: int = CA_DAYS) -> Issued:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - SKEW).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(_cert_pem(cert), _key_pem(key))


def issue(ca: Issued, identity: Identity, now: datetime.datetime, *, dns_names: Sequence[str] = (),
          ips: Sequence[str] = (), days: int = CA_DAYS) -> Issued:
    """A certificate for `identity` signed by `ca`, valid until the CA expires at the latest.

    Its SANs: the identity's URI, its server name, `dns_names` and `ips` (the addresses it
    listens on, for clients that check those instead of naming it)."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key = serialization.load_pem_private_key(ca.key, password=None)
    key = _new_key()
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.uri), x509.DNSName(identity.server_name)]
    names += [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    until = min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.server_name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - SKEW).not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return Issued(_cert_pem(cert), _key_pem(key))


def identity_of(cert_pem: bytes) -> Identity:
    """The identity a certificate carries (its one `spiffe://strata/...` SAN URI); CertificateError if none."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier)
    except (ValueError, x509.ExtensionNotFound) as exc:
        raise CertificateError(f"no identity in the certificate: {exc}") from None
    spiffe = [u for u in uris if u.startswith("spiffe://")]
    if len(spiffe) != 1:
        raise CertificateError(f"a certificate carries exactly one SPIFFE ID, this one {len(spiffe)}")
    try:
        return Identity.parse(spiffe[0])
    except ValueError as exc:
        raise CertificateError(str(exc)) from None


def verify(cert_pem: bytes, ca_pem: bytes, now: datetime.datetime, key_pem: bytes | None = None) -> Identity:
    """The identity of a certificate the cluster's CA signed that is valid at `now` (and, given
    `key_pem`, whose key that is); CertificateError saying what is wrong otherwise."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from None
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateError(f"{cert.subject.rfc4514_string()} is not signed by this cluster's CA "
                               f"({ca.subject.rfc4514_string()})") from None
    for what, c in (("the CA", ca), ("the certificate", cert)):
        if not c.not_valid_before_utc <= now <= c.not_valid_after_utc:
            raise CertificateError(f"{what} ({c.subject.rfc4514_string()}) is valid from "
                                   f"{c.not_valid_before_utc:%Y-%m-%d %H:%M} to {c.not_valid_after_utc:%Y-%m-%d %H:%M} "
                                   f"UTC, not at {now:%Y-%m-%d %H:%M} UTC")
    if key_pem is not None:
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise CertificateError(f"not a PEM private key: {exc}") from None
        if key.public_key().public_numbers() != cert.public_key().public_numbers():
            raise CertificateError(f"the key is not the certificate's ({cert.subject.rfc4514_string()})")
    return identity_of(cert_pem)


# -- files ------------------------------------------------------------------------------------------

CA_FILE = "ca.pem"


def write_private(path: Path, data: bytes) -> None:
    """A new file readable by its owner only (0600), never written through a symlink or over a file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


@dataclass(frozen=True)
class Listener:
    """An identity and the addresses it listens on (they go into its certificate's SANs)."""
    identity: Identity
    ips: tuple[str, ...] = ()


def make_cluster(folder: Path, listeners: Iterable[Listener], now: datetime.datetime) -> None:
    """A new CA and a certificate per identity in `folder` (made 0700; it must not exist):
    ca.pem, and STEM.pem and STEM.key for each (Identity.file_stem), keys 0600.

    The CA's key is not written: once every certificate is issued nothing signs again, so
    nothing can mint an identity from the files of a run."""
    folder.mkdir(mode=0o700, parents=False, exist_ok=False)
    ca = make_ca(now)
    (folder / CA_FILE).write_bytes(ca.cert)
    for listener in listeners:
        issued = issue(ca, listener.identity, now, ips=listener.ips)
        (folder / f"{listener.identity.file_stem}.pem").write_bytes(issued.cert)
        write_private(folder / f"{listener.identity.file_stem}.key", issued.key)
