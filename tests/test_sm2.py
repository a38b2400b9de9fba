"""SM2 with SM3 as the wire signs it (sync.sm2, sync.algorithms): the published known answers of GB/T 32905 (SM3)
and GB/T 32918.2-2016 annex A (SM2 on the recommended curve, the example GM/T 0003 and OpenSSL's own tests use),
and our signatures and certificates checked by an independent implementation, the OpenSSL command line."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from center.sm2_certificates import ca_certificate
from sync import sm2
from sync.algorithms import SM2SM3, SignatureError, verify
from sync.sm2 import Sm2PrivateKey, Sm2PublicKey
from tests.center_support import utc

# GB/T 32905-2016 annex A.
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM3_ABCD_16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"

# GB/T 32918.2-2016 annex A.2: the signature example on the recommended curve, user ID 1234567812345678.
D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
XA = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
YA = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
MESSAGE = b"message digest"
ZA = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
E = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"

PUBLIC = Sm2PublicKey(bytes.fromhex(XA + YA))
SIGNATURE = bytes.fromhex(R + S)


def test_sm3_gives_the_published_digests() -> None:
    assert sm2.sm3(b"abc").hex() == SM3_ABC
    hasher = sm2.Sm3()
    for _ in range(16):  # in pieces, as a batch is fed
        hasher.update(b"abcd")
    assert hasher.digest().hex() == SM3_ABCD_16


def test_the_z_value_and_the_digest_are_the_published_ones() -> None:
    assert sm2.z_value(PUBLIC).hex().upper() == ZA
    assert sm2.message_digest(PUBLIC, MESSAGE).hex().upper() == E


def test_the_published_signature_verifies_and_nothing_else_does() -> None:
    assert sm2.verify_digest(PUBLIC, bytes.fromhex(E), SIGNATURE)
    verify(SM2SM3, PUBLIC, MESSAGE, SIGNATURE)  # as the wire verifies: Z and SM3 from the message
    flipped = bytes([SIGNATURE[0] ^ 1]) + SIGNATURE[1:]
    for message, signature in ((b"message digesT", SIGNATURE), (MESSAGE, flipped), (MESSAGE, SIGNATURE[:63])):
        with pytest.raises(SignatureError):
            verify(SM2SM3, PUBLIC, message, signature)
    assert not sm2.verify_digest(PUBLIC, bytes.fromhex(E), bytes(64))  # r = s = 0 is no signature


def test_the_published_private_key_signs_for_the_published_public_key() -> None:
    key = Sm2PrivateKey(D, PUBLIC)
    first, second = (key.sign_digest(bytes.fromhex(E)) for _ in range(2))
    assert sm2.verify_digest(PUBLIC, bytes.fromhex(E), first) and sm2.verify_digest(PUBLIC, bytes.fromhex(E), second)
    assert first != second  # a fresh nonce every time (the annex's fixed k is for the example only)


def test_points_off_the_curve_are_not_keys() -> None:
    with pytest.raises(ValueError):
        Sm2PublicKey(bytes.fromhex(XA) + (int(YA, 16) + 1).to_bytes(32, "big"))
    with pytest.raises(ValueError):
        Sm2PublicKey.from_encoded(b"\x02" + bytes.fromhex(XA))  # compressed: not what a card or certificate gives


def test_keys_survive_pkcs8_and_spki_round_trips() -> None:
    key = Sm2PrivateKey.generate()
    again = sm2.load_private_key_pem(sm2.private_key_pem(key).encode())
    assert again is not None and again.secret_bytes() == key.secret_bytes() and again.public_key() == key.public_key()
    assert sm2.load_public_key_pem(sm2.public_key_pem(key.public_key()).encode()) == key.public_key()
    assert "Sm2PrivateKey(public=" in repr(key) and key.secret_bytes().hex() not in repr(key)


# The independent check: the OpenSSL command line (Debian 12: OpenSSL 3.0) verifies what we sign and make.


def openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("the openssl command is missing: scripts/install.sh --test installs it")
        pytest.skip("the openssl command is not installed")
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([openssl(), *argv], capture_output=True, text=True, timeout=30, check=False)


def test_openssl_verifies_our_signatures_with_the_standard_user_id(tmp_path: Path) -> None:
    key = Sm2PrivateKey.generate()
    message = "出口收汇 batch, SM2 with SM3".encode()
    (tmp_path / "m").write_bytes(message)
    (tmp_path / "pub.pem").write_text(sm2.public_key_pem(key.public_key()))
    signature = key.sign_digest(sm2.message_digest(key.public_key(), message))
    (tmp_path / "sig").write_bytes(sm2.der_signature(signature))

    def check(distid: str, file: str = "m") -> subprocess.CompletedProcess[str]:
        return run("dgst", "-sm3", "-verify", str(tmp_path / "pub.pem"), "-sigopt", f"distid:{distid}",
                   "-signature", str(tmp_path / "sig"), str(tmp_path / file))  # fmt: skip

    good = check("1234567812345678")
    assert good.returncode == 0 and "Verified OK" in good.stdout, good.stderr
    assert check("1234567812345679").returncode == 1  # the user ID is part of what is signed
    (tmp_path / "other").write_bytes(message + b" ")
    assert check("1234567812345678", "other").returncode == 1


def test_we_verify_what_openssl_signs_and_read_its_keys(tmp_path: Path) -> None:
    assert run("genpkey", "-algorithm", "SM2", "-out", str(tmp_path / "key.pem")).returncode == 0
    (tmp_path / "m").write_bytes(MESSAGE)
    signed = run("dgst", "-sm3", "-sign", str(tmp_path / "key.pem"), "-sigopt", "distid:1234567812345678",
                 "-out", str(tmp_path / "sig"), str(tmp_path / "m"))  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    key = sm2.load_private_key_pem((tmp_path / "key.pem").read_bytes())
    assert key is not None
    verify(SM2SM3, key.public_key(), MESSAGE, sm2.raw_signature((tmp_path / "sig").read_bytes()))


def test_openssl_accepts_our_sm2_ca_certificate(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key = Sm2PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "国密 test CA")])
    cert = ca_certificate(key, name, utc(2024, 1, 1), utc(2100, 1, 1))
    (tmp_path / "ca.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    text = run("x509", "-in", str(tmp_path / "ca.pem"), "-noout", "-text").stdout
    assert "Signature Algorithm: SM2-with-SM3" in text and "ASN1 OID: SM2" in text
    checked = run("verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "ca.pem"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
