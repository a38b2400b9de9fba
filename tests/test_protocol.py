"""The wire's signatures: what one side signs, the other verifies, and nothing else verifies."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.card.emulated import self_signed_certificate
from sync.protocol import (
    DEVICE_SCHEME,
    SignatureError,
    canonical_json,
    canonical_payload_chunks,
    device_authorization,
    sha256_hex,
    sign_compact,
    sign_detached,
    sign_detached_stream,
    software_signer,
    verify_detached,
    verify_device_authorization,
)
from sync.vocabulary import expand_range


def issued(
    ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture
def ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, self_signed_certificate(key, "test CA")


def test_a_streamed_signature_is_the_signature_of_the_whole_payload() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = self_signed_certificate(key)
    header = {"v": 1, "batch_id": "b1", "created_at": "t", "enterprise": "1101230001", "kind": "filings"}
    records = [{"seq": n, "form_no": f"26000{n:04d}", "port": "上海海关"} for n in range(2, 5003)]
    whole = canonical_json({**header, "records": records})
    texts = [",".join(canonical_json(r).decode() for r in records[i : i + 7]) for i in range(0, len(records), 7)]
    assert b"".join(canonical_payload_chunks(header, texts)) == whole
    signature = sign_detached_stream(canonical_payload_chunks(header, texts), [cert], software_signer(key))
    assert verify_detached(signature, whole)[0] == cert
    with pytest.raises(SignatureError):
        verify_detached(signature, whole.replace(b"5002", b"5003"))


def test_the_signer_is_asked_once() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    calls: list[bytes] = []

    def card(digest: bytes) -> bytes:
        calls.append(digest)
        return software_signer(key)(digest)

    sign_detached(b"{}", [self_signed_certificate(key)], card)
    assert len(calls) == 1 and len(calls[0]) == 32


def test_ranges_count_up_their_last_digits() -> None:
    assert expand_range("260000098", 3) == ["260000098", "260000099", "260000100"]
    assert expand_range("AB0000998", 2) == ["AB0000998", "AB0000999"]
    for start, count in (("26000000A", 2), ("999999999", 2), ("260000001", 0)):
        with pytest.raises(ValueError):
            expand_range(start, count)


def test_device_authorization_is_bound_to_the_request_and_the_moment(ca: tuple) -> None:
    ca_key, ca_cert = ca
    key, cert = issued(ca_key, ca_cert)
    header = device_authorization("GET", "/api/v1/updates?after=5", b"", [cert], software_signer(key), now=1000)
    authorization = verify_device_authorization(header, "GET", "/api/v1/updates?after=5", b"", ca_cert, now=1100)
    assert (authorization.certificate, authorization.issued_at, authorization.good_until) == (cert, 1000, 1300)
    for method, path, body, now in (
        ("POST", "/api/v1/updates?after=5", b"", 1100),
        ("GET", "/api/v1/updates?after=0", b"", 1100),
        ("GET", "/api/v1/updates?after=5", b"x", 1100),
        ("GET", "/api/v1/updates?after=5", b"", 1000 + 301),
    ):
        with pytest.raises(SignatureError):
            verify_device_authorization(header, method, path, body, ca_cert, now=now)
    other_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(SignatureError):
        verify_device_authorization(
            header, "GET", "/api/v1/updates?after=5", b"", self_signed_certificate(other_key), now=1100
        )


def test_every_device_authorization_carries_a_nonce_of_its_own(ca: tuple) -> None:
    """Two authorizations of the same request in the same second differ by their nonce (the center lets each through
    once); one without a nonce, as an older agent made it, is not good."""
    ca_key, ca_cert = ca
    key, cert = issued(ca_key, ca_cert)
    signer = software_signer(key)
    nonces = {
        verify_device_authorization(
            device_authorization("GET", "/api/v1/updates", b"", [cert], signer, now=1000),
            "GET", "/api/v1/updates", b"", ca_cert, now=1000,
        ).nonce
        for _ in range(20)
    }  # fmt: skip
    assert len(nonces) == 20 and all(len(n) == 22 for n in nonces)
    claims = {"m": "GET", "p": "/api/v1/updates", "b": sha256_hex(b""), "t": 1000}
    for nonce in (None, "", "short", "x" * 65, "not base64url!!!!!!!!!!!", 12345):
        if nonce is not None:
            claims["n"] = nonce
        header = f"{DEVICE_SCHEME} {sign_compact(canonical_json(claims), [cert], signer)}"
        with pytest.raises(SignatureError, match="nonce"):
            verify_device_authorization(header, "GET", "/api/v1/updates", b"", ca_cert, now=1000)
