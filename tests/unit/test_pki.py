"""The cluster's certificates: identities in SAN URIs, expiry, another CA's certificates refused, the files."""

from __future__ import annotations

import datetime
import stat

import pytest
from cryptography import x509

from component_base.pki import (CA_FILE, CertificateError, Identity, Listener, identity_of, issue, make_ca,
                                make_cluster, verify)

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)


def test_identities_round_trip_through_their_uri():
    for identity in (Identity("orchestrator"), Identity("admin"), Identity.agent("edge1"), Identity.agent("s1.h_2")):
        assert Identity.parse(identity.uri) == identity
    assert Identity.agent("edge1").uri == "spiffe://strata/agent/edge1"
    assert Identity("sdn").server_name == "sdn.strata"
    assert Identity.agent("edge1").server_name == "edge1.agent.strata"
    assert Identity.agent("edge1").file_stem == "agent-edge1"


@pytest.mark.parametrize("uri", ["spiffe://other/orchestrator", "spiffe://strata/agent", "spiffe://strata/agent/a/b",
                                 "spiffe://strata/root", "https://strata/admin", "spiffe://strata/agent/../x",
                                 "spiffe://strata/admin/edge1"])
def test_anything_else_is_not_an_identity(uri):
    with pytest.raises(ValueError):
        Identity.parse(uri)


def test_a_certificate_carries_its_identity_and_its_addresses():
    ca = make_ca(NOW)
    issued = issue(ca, Identity.agent("edge1"), NOW, ips=["10.0.0.3", "127.0.0.1"])
    assert verify(issued.cert, ca.cert, NOW, issued.key) == Identity.agent("edge1")
    assert identity_of(issued.cert) == Identity.agent("edge1")
    sans = x509.load_pem_x509_certificate(issued.cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["edge1.agent.strata"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.3", "127.0.0.1"]


def test_a_certificate_of_another_ca_is_refused():
    ours, theirs = make_ca(NOW), make_ca(NOW)  # same name, other key: the signature decides
    forged = issue(theirs, Identity("admin"), NOW)
    with pytest.raises(CertificateError, match="not signed by this cluster's CA"):
        verify(forged.cert, ours.cert, NOW)
    assert verify(issue(ours, Identity("admin"), NOW).cert, ours.cert, NOW) == Identity("admin")


def test_expiry_the_ca_bounds_its_certificates():
    ca = make_ca(NOW, days=30)
    issued = issue(ca, Identity("mesh"), NOW, days=365)
    assert x509.load_pem_x509_certificate(issued.cert).not_valid_after_utc == NOW + datetime.timedelta(days=30)
    assert verify(issued.cert, ca.cert, NOW + datetime.timedelta(days=29)) == Identity("mesh")
    with pytest.raises(CertificateError, match="valid from"):
        verify(issued.cert, ca.cert, NOW + datetime.timedelta(days=31))
    with pytest.raises(CertificateError, match="valid from"):
        verify(issued.cert, ca.cert, NOW - datetime.timedelta(hours=1))


def test_the_ca_is_about_a_year_and_a_leaf_may_sign_nothing():
    ca = x509.load_pem_x509_certificate(make_ca(NOW).cert)
    assert ca.not_valid_after_utc - NOW == datetime.timedelta(days=365)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf = x509.load_pem_x509_certificate(issue(make_ca(NOW), Identity("sdn"), NOW).cert)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_key_that_is_not_the_certificates_is_refused():
    ca = make_ca(NOW)
    one, other = issue(ca, Identity("sdn"), NOW), issue(ca, Identity("sdn"), NOW)
    with pytest.raises(CertificateError, match="key is not the certificate's"):
        verify(one.cert, ca.cert, NOW, other.key)


def test_make_cluster_writes_keys_for_their_owner_only_and_no_ca_key(tmp_path):
    folder = tmp_path / "pki"
    make_cluster(folder, [Listener(Identity("orchestrator")), Listener(Identity.agent("edge1"), ("10.0.0.3",))], NOW)
    assert sorted(p.name for p in folder.iterdir()) == [
        "agent-edge1.key", "agent-edge1.pem", CA_FILE, "orchestrator.key", "orchestrator.pem"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for key in folder.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca = (folder / CA_FILE).read_bytes()
    assert verify((folder / "agent-edge1.pem").read_bytes(), ca, NOW,
                  (folder / "agent-edge1.key").read_bytes()) == Identity.agent("edge1")
    with pytest.raises(FileExistsError):  # never over the files of a run
        make_cluster(folder, [], NOW)
