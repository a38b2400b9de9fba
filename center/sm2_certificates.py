"""Certificates signed by an SM2 CA (``eport-center init --algorithm sm2``): X.509 v3, signature SM2-with-SM3
(1.2.156.10197.1.501, over the TBSCertificate with the default user ID, as GM/T 0015 and OpenSSL do), the subject's
key an SM2 key (id-ecPublicKey on 1.2.156.10197.1.301) or, for the center's TLS server, a P-256 key.

``cryptography`` builds the P-256 CA's certificates (center.ca) but cannot sign with SM2, so these are assembled
with asn1crypto from the same parts: names and extensions are made by ``cryptography`` and carried over as DER, the
result is loaded back as a ``cryptography`` certificate, like every other certificate of the center.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sync import sm2
from sync.algorithms import PublicKey
from sync.sm2 import Sm2PrivateKey, Sm2PublicKey


def key_identifier(key: PublicKey) -> bytes:
    """The SHA-1 of the subjectPublicKey BIT STRING (RFC 5280, 4.2.1.2, method 1), as cryptography computes it."""
    if isinstance(key, Sm2PublicKey):
        return hashlib.sha1(key.encoded).digest()  # an identifier, not a security function
    return x509.SubjectKeyIdentifier.from_public_key(key).digest


def _public_key_info(key: PublicKey) -> object:
    from asn1crypto import keys

    if isinstance(key, Sm2PublicKey):
        return sm2.public_key_info(key)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return keys.PublicKeyInfo.load(der)


def _time(moment: dt.datetime) -> object:
    from asn1crypto import x509 as asn1_x509

    moment = moment.astimezone(dt.UTC).replace(microsecond=0)
    # RFC 5280, 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on.
    return asn1_x509.Time(name="utc_time" if moment.year < 2050 else "general_time", value=moment)


def sign(
    signer: Sm2PrivateKey,
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: PublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    """A certificate for ``public_key`` signed SM2-with-SM3 by ``signer``; ``extensions`` as (value, critical)."""
    from asn1crypto import algos, core
    from asn1crypto import x509 as asn1_x509

    sm2.asn1()  # the SM2 curve known by name
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": x509.random_serial_number(),
            "signature": algos.SignedDigestAlgorithm({"algorithm": sm2.SIGNATURE_OID}),
            "issuer": asn1_x509.Name.load(issuer.public_bytes()),
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": asn1_x509.Name.load(subject.public_bytes()),
            "subject_public_key_info": _public_key_info(public_key),
            "extensions": [
                asn1_x509.Extension(
                    {
                        "extn_id": value.oid.dotted_string,
                        "critical": critical,
                        "extn_value": core.ParsableOctetString(value.public_bytes()),
                    }
                )
                for value, critical in extensions
            ],
        }
    )
    body = tbs.dump()
    signature = sm2.der_signature(signer.sign_digest(sm2.message_digest(signer.public_key(), body)))
    certificate = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": sm2.SIGNATURE_OID}),
            "signature_value": signature,
        }
    )
    return x509.load_der_x509_certificate(certificate.dump())


def _key_usage(*, signs: bool) -> x509.KeyUsage:
    """A CA's (certificates and CRLs) or an end entity's (digital signatures) key usage."""
    return x509.KeyUsage(
        digital_signature=signs,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signs,
        crl_sign=not signs,
        encipher_only=False,
        decipher_only=False,
    )


def ca_certificate(
    key: Sm2PrivateKey, name: x509.Name, not_before: dt.datetime, not_after: dt.datetime
) -> x509.Certificate:
    """The self-signed SM2 CA certificate, with the extensions of the P-256 CA's (center.ca)."""
    extensions = [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (_key_usage(signs=False), True),
        (x509.SubjectKeyIdentifier(key_identifier(key.public_key())), False),
    ]
    return sign(
        key,
        subject=name,
        issuer=name,
        public_key=key.public_key(),
        not_before=not_before,
        not_after=not_after,
        extensions=extensions,
    )


def issue(
    ca_key: Sm2PrivateKey,
    ca: x509.Certificate,
    public_key: PublicKey,
    subject: x509.Name,
    not_before: dt.datetime,
    not_after: dt.datetime,
    server_names: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    """An end-entity certificate signed by the SM2 CA: an operator card's, a PC's or the receipt key's (digital
    signatures), or with ``server_names`` the center's TLS server certificate."""
    extensions: list[tuple[x509.ExtensionType, bool]] = [(x509.BasicConstraints(ca=False, path_length=None), True)]
    if server_names:
        extensions += [
            (x509.SubjectAlternativeName(server_names), False),
            (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ]
    else:
        extensions += [
            (_key_usage(signs=True), True),
            (x509.SubjectKeyIdentifier(key_identifier(public_key)), False),
        ]
    authority = x509.AuthorityKeyIdentifier(key_identifier(ca_key.public_key()), None, None)
    extensions.append((authority, False))
    return sign(
        ca_key,
        subject=subject,
        issuer=ca.subject,
        public_key=public_key,
        not_before=not_before,
        not_after=not_after,
        extensions=extensions,
    )
