"""Enrollment over the wire (sync.enroll): the operator card, or this PC's device key, certified by the center with
a one-time code, and the center's CA pinned by the fingerprint that the code carries.

Order matters: the CA is fetched and compared with the code's fingerprint before anything else; only a matching CA
is trusted (over https, exactly that CA), and only then do the PIN, the card and the code's secret come into play.
The pinned CA, the certificate and agent.toml's center address are written once the center has answered.

``eport-agent card enroll`` / ``device enroll`` (agent.card_cli) and the demo call the same two functions here.
"""

from __future__ import annotations

import asyncio
import json
import platform
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from agent.card.piv_admin import ManagementKeySource
from agent.card_identity import enroll_card
from agent.config import AgentConfig, check_center_url
from agent.device import device_key, save_device_certificate
from agent.runtime import EMULATED, card_connector, emulated_card_file
from agent.workspace import Workspace, config_text
from sync.algorithms import ALGORITHMS, ES256, SM2SM3, PublicKey, algorithm_of_certificate, public_key_of, same_key
from sync.client import CenterUnavailable
from sync.enroll import (
    API_CA,
    API_ENROLL,
    API_ENROLL_CHECK,
    DEVICE_KIND,
    OPERATOR_KIND,
    EnrollmentCode,
    check_request,
    enrollment_request,
    read_enrollment_answer,
)
from sync.protocol import DigestSigner, SignatureError, check_issued_by, software_signer
from sync.sm2_tls import ServerPin, tls_for

TIMEOUT = aiohttp.ClientTimeout(total=30)


class EnrollmentError(Exception):
    """Enrollment stopped on this side (the center's CA does not match the code, another CA is pinned...)."""


class EnrollmentRefused(Exception):
    """The center refused the request: its stable code and reason in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.code, self.zh, self.en = code, zh, en


async def _call(
    method: str, url: str, tls: ssl.SSLContext | ServerPin | bool, body: dict[str, Any] | None = None
) -> bytes:
    data = None if body is None else json.dumps(body).encode("utf-8")
    headers = {} if body is None else {"Content-Type": "application/json"}
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.request(method, url, data=data, headers=headers, ssl=await tls_for(url, tls)) as response,
        ):
            answer = await response.read()
            if response.status >= 500:
                raise CenterUnavailable(f"the center answered HTTP {response.status}")
            if response.status >= 400:
                refusal = json.loads(answer)
                raise EnrollmentRefused(refusal["code"], refusal["message_zh"], refusal["message_en"])
            return answer
    except (aiohttp.ClientError, TimeoutError, SignatureError) as exc:
        reason = str(exc) or type(exc).__name__
        raise CenterUnavailable(f"数据中心无法连接 / the center cannot be reached at {url}: {reason}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CenterUnavailable(f"the center at {url} answered something that is not its API: {exc!r}") from exc


async def trusted_ca(config: AgentConfig, center_url: str, code: EnrollmentCode) -> x509.Certificate:
    """The center's CA, fetched without trusting anything yet and accepted only if its fingerprint is the code's;
    a PC that already pins another CA is left alone."""
    # Not verified on purpose: there is nothing to verify against yet. The fingerprint decides.
    pem = await _call("GET", center_url + API_CA, False)
    try:
        ca = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise EnrollmentError(
            f"{center_url} 不像是电子口岸数据中心（CA证书无法读取） / {center_url}{API_CA} is not a PEM certificate: "
            "is this an E-Port center?"
        ) from exc
    if not code.matches(ca):
        raise EnrollmentError(
            f"数据中心的CA证书与注册码不符：注册码可能输入有误，或 {center_url} 不是生成该注册码的数据中心；"
            "未发送任何内容。"
            f" / The center's CA certificate does not match the enrollment code: the code may be mistyped, or "
            f"{center_url} is not the center that made it. Nothing was sent."
        )
    if config.ca_file.exists() and config.ca_file.read_bytes().strip() != ca.public_bytes(Encoding.PEM).strip():
        raise EnrollmentError(
            f"本机已固定另一个数据中心的CA证书（{config.ca_file}）。如本机确实改用此数据中心，请删除该文件后重新注册。"
            f" / This PC already pins another center's CA ({config.ca_file}). If it really moves to this center, "
            "delete that file and enroll again."
        )
    return ca


def _tls(center_url: str, ca: x509.Certificate) -> ssl.SSLContext | ServerPin | bool:
    """Over https, trust exactly the CA the code vouched for (plain http is loopback only); an SM2 CA's server
    certificate is checked by sync.sm2_tls (OpenSSL 3.0 cannot)."""
    if not center_url.startswith("https:"):
        return False
    if algorithm_of_certificate(ca) == SM2SM3:
        return ServerPin(ca)
    return ssl.create_default_context(cadata=ca.public_bytes(Encoding.PEM).decode("ascii"))


async def _certify(
    center_url: str, ca: x509.Certificate, public_key: PublicKey, body: dict[str, str]
) -> x509.Certificate:
    """POST the request; the certificate must be for our key and issued by the CA we pinned."""
    try:
        answer = await _call("POST", center_url + API_ENROLL, _tls(center_url, ca), body)
        certificate, _chain = read_enrollment_answer(json.loads(answer))
        check_issued_by(certificate, ca)
    except (ValueError, SignatureError) as exc:
        raise EnrollmentError(
            f"数据中心返回的不是其CA签发的证书 / the center's answer is not a certificate from its CA: {exc}"
        ) from exc
    if not same_key(public_key_of(certificate), public_key):
        raise EnrollmentError("数据中心签发的证书不是本次生成的密钥的 / the center certified another key than ours")
    return certificate


def _settle(workspace: Workspace, config: AgentConfig, center_url: str, ca: x509.Certificate) -> None:
    """Pin the CA and point agent.toml at the center that enrolled us."""
    if not config.ca_file.exists():
        config.ca_file.parent.mkdir(parents=True, exist_ok=True)
        config.ca_file.write_bytes(ca.public_bytes(Encoding.PEM))
    set_center_url(workspace, center_url)


def set_center_url(workspace: Workspace, url: str) -> None:
    """agent.toml's [center] url: a file still at its defaults is written anew, otherwise only that line changes
    (added to [center] when it has none)."""
    text = workspace.config_file.read_text(encoding="utf-8")
    if text == config_text():
        workspace.config_file.write_text(config_text(url), encoding="utf-8")
        return
    line = f"url = {json.dumps(url)}\n"  # a JSON string is a TOML basic string
    lines = text.splitlines(keepends=True)
    header = next((i for i, current in enumerate(lines) if current.strip() == "[center]"), None)
    if header is None:
        lines[:0] = ["[center]\n", line, "\n"]
    else:
        end = next((i for i in range(header + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        at = next((i for i in range(header + 1, end) if lines[i].split("=")[0].strip() == "url"), None)
        if at is None:
            lines.insert(header + 1, line)
        else:
            lines[at] = line
    workspace.config_file.write_text("".join(lines), encoding="utf-8")


async def check_code(center_url: str, ca: x509.Certificate, code: EnrollmentCode, kind: str) -> dict[str, Any]:
    """What the code enrolls, if the center would take it now: asked before the card makes a new key, so that a
    used or expired code does not cost the card the key it has."""
    tls = _tls(center_url, ca)
    terms: dict[str, Any] = json.loads(
        await _call("POST", center_url + API_ENROLL_CHECK, tls, check_request(kind, code.secret))
    )
    return terms


async def enroll_operator_card(
    workspace: Workspace,
    center_url: str,
    code: EnrollmentCode,
    read_pin: Callable[[], str],
    management_key: ManagementKeySource,
    announce: Callable[[dict[str, Any]], None] = lambda terms: None,
) -> x509.Certificate:
    """A new key on the card in the reader (or the emulated card), certified over the wire and written back.
    Once the CA is known to be the code's and the center says the code is good, ``announce(terms)`` tells whose
    card it becomes, ``read_pin`` is asked, and then, with what the card tells of it, ``management_key``."""
    center_url = check_center_url(center_url)
    config = AgentConfig.load(workspace)
    ca = await trusted_ca(config, center_url, code)
    terms = await check_code(center_url, ca, code, OPERATOR_KIND)
    algorithm = terms.get("algorithm", ES256)  # the key the center wants: its own algorithm (before: always P-256)
    if algorithm not in ALGORITHMS:
        raise EnrollmentError(f"数据中心要求未知的签名算法 / the center asks for an unknown algorithm {algorithm!r}")
    announce(terms)
    connection = card_connector(config, workspace)()
    loop = asyncio.get_running_loop()

    def certify(public_key: PublicKey, serial: str | None, sign: DigestSigner) -> x509.Certificate:
        # On the card's thread: the card signs the request here, the HTTP call runs on the event loop.
        body = enrollment_request(OPERATOR_KIND, code.secret, public_key, sign, card_serial=serial)
        return asyncio.run_coroutine_threadsafe(_certify(center_url, ca, public_key, body), loop).result()

    try:
        pin = read_pin()
        certificate = await asyncio.to_thread(enroll_card, connection, pin, certify, management_key, algorithm)
    finally:
        connection.close()
    if config.card_reader == EMULATED:
        from agent.card.emulated import EmulatedConnection

        assert isinstance(connection, EmulatedConnection)
        connection.card.save(emulated_card_file(workspace))
    _settle(workspace, config, center_url, ca)
    return certificate


async def enroll_device(
    workspace: Workspace, center_url: str, code: EnrollmentCode, name: str | None = None
) -> x509.Certificate:
    """This PC's device key (made now if it has none, or if it is not of the center's algorithm: its CA's) certified
    over the wire, for unattended sync."""
    center_url = check_center_url(center_url)
    config = AgentConfig.load(workspace)
    ca = await trusted_ca(config, center_url, code)
    key = device_key(workspace, algorithm_of_certificate(ca))
    body = enrollment_request(
        DEVICE_KIND, code.secret, key.public_key(), software_signer(key), name=name or platform.node()
    )
    certificate = await _certify(center_url, ca, key.public_key(), body)
    save_device_certificate(workspace, certificate)
    _settle(workspace, config, center_url, ca)
    return certificate
