"""A 国密 center (``eport-center init --algorithm sm2``): an SM2 CA certifies SM2 cards and PCs, takes their SM2SM3
signatures and signs its receipts SM2-with-SM3; a key or a signature of the other algorithm is refused in so many
words, both ways; tampered SM2 signatures, revoked and expired certificates are refused as with P-256."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import jsonschema
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from center import db
from center.cli import main as center_main
from center.keyring import Passphrase, WrongPassphrase
from center.openapi import openapi_spec
from center.refusals import Refusal
from center.service import Center
from sync import sm2
from sync.algorithms import ES256, SM2SM3, generate_private_key, public_key_of, software_signer
from sync.enroll import API_ENROLL, API_ENROLL_CHECK, OPERATOR_KIND, EnrollmentCode, check_request
from sync.enroll import enrollment_request as make_request
from sync.protocol import (
    API_BATCHES,
    API_UPDATES,
    b64url,
    b64url_decode,
    check_issued_by,
    device_authorization,
    verify_compact,
)
from tests.center_support import (
    ENTERPRISE,
    Clock,
    Desk,
    enroll,
    filing_payload,
    filings,
    loopback_client,
    open_center,
    run_cli,
)
from tests.test_sm2 import openssl, run


@pytest.fixture
def sm2_center(db_url: str) -> Iterator[Center]:
    with open_center(db_url, algorithm=SM2SM3) as center:
        yield center


@pytest.fixture
async def sm2_desk(sm2_center: Center) -> AsyncIterator[Desk]:
    async with loopback_client(sm2_center) as client:
        yield Desk(sm2_center, client, enroll(sm2_center))


def header_of(jws: str) -> dict[str, object]:
    return dict(json.loads(b64url_decode(jws.split(".")[0])))


def test_init_makes_an_sm2_ca_and_receipt_key_with_the_standard_identifiers(tmp_path: Path) -> None:
    url = str(tmp_path / "center.db")
    ran = run_cli(center_main, "init", "--db", url, "--algorithm", "sm2", "--json")
    assert ran.code == 0, ran.err
    assert ran.json()["algorithm"] == SM2SM3
    with Center.open(url) as center:
        ca, receipt = center.ca_certificate(), center._authority.receipt_chain[0]
        for cert in (ca, receipt):
            assert cert.signature_algorithm_oid.dotted_string == "1.2.156.10197.1.501"  # SM2-with-SM3
            assert isinstance(public_key_of(cert), sm2.Sm2PublicKey)  # id-ecPublicKey on 1.2.156.10197.1.301
        check_issued_by(receipt, ca)
        assert center.algorithm == SM2SM3
    text = run_cli(center_main, "init", "--db", str(tmp_path / "p.db")).out
    assert "ECDSA P-256 (ES256)" in text  # the default is P-256, as before


def test_openssl_checks_the_sm2_centers_certificate_signatures(tmp_path: Path, sm2_center: Center) -> None:
    """OpenSSL 3.0's `verify` does not check an SM2-signed certificate below a CA (even its own), so each signature
    is checked as what it is: SM2 with SM3 over the TBSCertificate, by the CA's key, with the standard user ID."""
    openssl()
    ca = sm2_center.ca_certificate()
    ca_key = public_key_of(ca)
    assert isinstance(ca_key, sm2.Sm2PublicKey)
    (tmp_path / "ca.pub").write_text(sm2.public_key_pem(ca_key))
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(Encoding.PEM))
    assert run("verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "ca.pem")).returncode == 0
    card = enroll(sm2_center)
    for cert in (card.certificate, sm2_center._authority.receipt_chain[0], ca):
        (tmp_path / "tbs").write_bytes(cert.tbs_certificate_bytes)
        (tmp_path / "sig").write_bytes(cert.signature)
        checked = run("dgst", "-sm3", "-verify", str(tmp_path / "ca.pub"), "-sigopt", "distid:1234567812345678",
                      "-signature", str(tmp_path / "sig"), str(tmp_path / "tbs"))  # fmt: skip
        assert checked.returncode == 0 and "Verified OK" in checked.stdout, checked.stderr


async def test_an_sm2_card_batch_is_applied_and_its_receipt_is_signed_sm2(sm2_desk: Desk) -> None:
    form_nos = sm2_desk.center.issue_forms(ENTERPRISE, 2)
    answer = await sm2_desk.send(
        "filings", [{"form_no": f, "port": "2200"} for f in form_nos]
    )  # verified as the agent does
    assert [r["code"] for r in answer["results"]] == ["OK", "OK"]
    assert header_of(answer["receipt"])["alg"] == SM2SM3
    assert header_of(sm2_desk.card.sign(filing_payload("x", []))["signature"])["alg"] == SM2SM3
    assert verify_compact(answer["receipt"], sm2_desk.center.ca_certificate())["ok"] == 2


async def test_tampered_sm2_signatures_and_payloads_are_refused(sm2_desk: Desk) -> None:
    [form_no] = sm2_desk.center.issue_forms(ENTERPRISE, 1)
    document = sm2_desk.card.sign(filing_payload("tamper-1", filings((form_no, "2200"))))
    protected, _, signature = document["signature"].partition("..")
    raw = bytearray(b64url_decode(signature))
    raw[40] ^= 0x01
    for changed in (
        {**document, "signature": f"{protected}..{b64url(bytes(raw))}"},  # s changed
        {**document, "payload": filing_payload("tamper-1", filings((form_no, "5100")))},  # content changed
        {**document, "signature": f"{protected}..{b64url(bytes(64))}"},  # r = s = 0
    ):
        response = await sm2_desk.client.post(API_BATCHES, json=changed)
        assert response.status == 401 and (await response.json())["code"] == "SIGNATURE_INVALID"
    assert sm2_desk.center.form(form_no)["customs_status"] == "unused"  # type: ignore[index]


async def test_a_p256_signature_at_an_sm2_center_is_refused_by_its_algorithm(
    sm2_center: Center, tmp_path: Path
) -> None:
    [form_no] = sm2_center.issue_forms(ENTERPRISE, 1)
    with open_center(tmp_path / "p256") as other:  # a P-256 card, certified elsewhere
        card = enroll(other)
    async with loopback_client(sm2_center) as client:
        response = await client.post(API_BATCHES, json=card.sign(filing_payload("p1", filings((form_no, "2200")))))
        refusal = await response.json()
    assert response.status == 403 and refusal["code"] == "ALGORITHM_NOT_ACCEPTED"
    assert "SM2/SM3 国密 (SM2SM3)" in refusal["message_zh"] and "ECDSA P-256 (ES256)" in refusal["message_en"]
    described("Refusal", refusal)


def test_each_center_certifies_keys_of_its_own_algorithm_only(sm2_center: Center, tmp_path: Path) -> None:
    with pytest.raises(Refusal) as refused:
        enroll(sm2_center, algorithm=ES256)
    assert refused.value.code == "ALGORITHM_NOT_ACCEPTED" and "只签发和接受SM2/SM3 国密" in refused.value.zh
    with open_center(tmp_path / "p256") as p256_center, pytest.raises(Refusal) as refused:
        enroll(p256_center, algorithm=SM2SM3)
    assert refused.value.code == "ALGORITHM_NOT_ACCEPTED" and "ECDSA P-256 (ES256) keys and signatures only" in (
        refused.value.en
    )


def described(name: str, instance: object) -> None:
    """``instance`` is what the OpenAPI description says ``name`` is."""
    spec = openapi_spec()
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)


async def test_enrollment_over_the_wire_asks_for_and_certifies_sm2_keys(sm2_center: Center) -> None:
    async with loopback_client(sm2_center) as client:
        code = EnrollmentCode.parse(sm2_center.invite(OPERATOR_KIND, ENTERPRISE, "王五")["code"])
        terms = await (await client.post(API_ENROLL_CHECK, json=check_request(OPERATOR_KIND, code.secret))).json()
        assert terms["algorithm"] == SM2SM3  # the card makes an SM2 key for this center
        described("EnrollmentTerms", terms)

        p256 = generate_private_key(ES256)
        body = make_request(OPERATOR_KIND, code.secret, p256.public_key(), software_signer(p256))
        refused = await client.post(API_ENROLL, json=body)
        assert refused.status == 403 and (await refused.json())["code"] == "ALGORITHM_NOT_ACCEPTED"
        described("Refusal", await refused.json())

        key = generate_private_key(SM2SM3)  # the code was not used up by the refused key
        body = make_request(OPERATOR_KIND, code.secret, key.public_key(), software_signer(key))
        assert '"crv":"SM2"' in b64url_decode(body["request"].split(".")[0]).decode()
        described("EnrollmentRequest", body)
        answer = await client.post(API_ENROLL, json=body)
        assert answer.status == 200, await answer.text()
        described("EnrollmentAnswer", await answer.json())
        certificate = x509.load_pem_x509_certificate((await answer.json())["certificate"].encode())
        assert public_key_of(certificate) == key.public_key()
        check_issued_by(certificate, sm2_center.ca_certificate())

        forged = dict(body)
        signing_input, _, _ = body["request"].rpartition(".")
        forged["request"] = f"{signing_input}.{b64url(bytes(64))}"
        bad = await client.post(API_ENROLL, json=forged)
        assert bad.status == 400 and (await bad.json())["code"] == "ENROLLMENT_REQUEST_INVALID"


async def test_an_sm2_device_key_pulls_updates(sm2_center: Center) -> None:
    device = generate_private_key(SM2SM3)
    cert = sm2_center.enroll_device(ENTERPRISE, device.public_key(), "finance-pc")
    path = f"{API_UPDATES}?after=0&limit=10"
    async with loopback_client(sm2_center) as client:
        header = device_authorization("GET", path, b"", [cert], software_signer(device))
        answer = await client.get(path, headers={"Authorization": header})
        assert answer.status == 200 and (await answer.json()) == {"updates": []}
        other = generate_private_key(SM2SM3)  # the right certificate, another key's signature
        header = device_authorization("GET", path, b"", [cert], software_signer(other))
        refused = await client.get(path, headers={"Authorization": header})
        assert refused.status == 401 and (await refused.json())["code"] == "DEVICE_UNAUTHORIZED"


async def test_revoked_and_expired_sm2_cards_are_refused(tmp_path: Path) -> None:
    clock = Clock()
    with open_center(tmp_path, clock=clock, algorithm=SM2SM3) as center:
        revoked, short = enroll(center), enroll(center, days=1)
        forms = center.issue_forms(ENTERPRISE, 2)
        center.revoke_operator(format(revoked.certificate.serial_number, "x"))
        clock.advance(days=2)
        async with loopback_client(center) as client:
            for card, form_no, code in (
                (revoked, forms[0], "OPERATOR_REVOKED"),
                (short, forms[1], "CERTIFICATE_EXPIRED"),
            ):
                document = card.sign(filing_payload(f"r-{code}", filings((form_no, "2200"))))
                response = await client.post(API_BATCHES, json=document)
                assert (await response.json())["code"] == code


def test_the_sm2_keys_lie_encrypted_at_rest_and_open_with_the_passphrase_only(tmp_path: Path) -> None:
    url = str(tmp_path / "center.db")
    passphrase = Passphrase(b"correct horse battery staple", "test")
    Center.open(url, key_passphrase=passphrase, algorithm=SM2SM3).close()
    engine = sa.create_engine(f"sqlite:///{url}")
    with engine.connect() as conn:
        stored = [row.private_key for row in conn.execute(sa.select(db.keys))]
    engine.dispose()
    assert len(stored) == 2 and all(s.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----") for s in stored)
    (tmp_path / "key.pem").write_text(stored[0])
    if openssl():  # the format openssl reads (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC)
        shown = run("pkey", "-in", str(tmp_path / "key.pem"), "-passin", "pass:correct horse battery staple",
                    "-noout", "-text")  # fmt: skip
        assert shown.returncode == 0 and "ASN1 OID: SM2" in shown.stdout, shown.stderr
    with Center.open(url, key_passphrase=passphrase) as center:
        center.unlock_keys()
        assert center.keys_encrypted and center.algorithm == SM2SM3
    with Center.open(url, key_passphrase=Passphrase(b"wrong", "test")) as center, pytest.raises(WrongPassphrase):
        center.unlock_keys()


def test_operator_enroll_from_the_command_line_takes_an_sm2_public_key(tmp_path: Path) -> None:
    key = generate_private_key(SM2SM3)
    (tmp_path / "card.pub").write_text(sm2.public_key_pem(key.public_key()))
    url = str(tmp_path / "cli.db")
    assert run_cli(center_main, "init", "--db", url, "--algorithm", "sm2").code == 0
    with Center.open(url) as center:
        center.create_enterprise(ENTERPRISE, "国密测试企业")
    ran = run_cli(center_main, "operator", "enroll", "--db", url, "--enterprise", ENTERPRISE, "--name", "王五",
                  "--public-key", str(tmp_path / "card.pub"), "--out", str(tmp_path / "card.pem"))  # fmt: skip
    assert ran.code == 0, ran.err
    certificate = x509.load_pem_x509_certificate((tmp_path / "card.pem").read_bytes())
    assert public_key_of(certificate) == key.public_key()
