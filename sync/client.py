"""The agent's HTTP client of the center (aiohttp): batches, the update feed, ports, and the plain endpoints of the
17999 access accounts and card permissions (sync.access).

Every failure is a :class:`CenterError`: :class:`CenterUnavailable` when the center could not be reached or failed
(try again later), :class:`CenterRefused` when it refused the request with a stable code and the reason in Chinese
and English (final).
"""

from __future__ import annotations

import json
import logging
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography import x509

from sync.access import API_ACCESS_ACCOUNT, API_ACCESS_ACCOUNTS, API_PERMISSIONS, ARRIVING_ACCOUNT_HEADER
from sync.protocol import (
    API_BATCHES,
    API_PORTS,
    API_UPDATES,
    DigestSigner,
    SignatureError,
    canonical_json,
    device_authorization,
)
from sync.sm2_tls import ServerPin, tls_for

log = logging.getLogger("eport.sync")


class CenterError(Exception):
    """The center did not answer the request."""


# The statuses of a center (or the proxy in front of it) that is away for now: the queue waits and retries.
AWAY = (502, 503, 504)


class CenterUnavailable(CenterError):
    """The center could not be reached (network, timeout, 502/503/504): try again later, in order."""


class CenterFailed(CenterError):
    """The center failed on this very request (HTTP 500 and the like, not 502/503/504): the request's own trouble, not
    the center's absence; a batch that keeps meeting it is set aside so that the batches behind it go on."""

    def __init__(self, status: int) -> None:
        super().__init__(f"数据中心处理时出错（HTTP {status}） / the center failed on the request (HTTP {status})")
        self.status = status


class CenterRefused(CenterError):
    """The center refused the request (4xx): final, reported to the clerk with its reason, never retried."""

    def __init__(self, status: int, code: str, zh: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.status, self.code, self.zh, self.en = status, code, zh, en


# The center's certificate is not the pinned CA's; the last two from an SM2 center's check (sync.sm2_tls).
CERTIFICATE_TROUBLE = (
    aiohttp.ClientConnectorCertificateError,
    aiohttp.ClientSSLError,
    aiohttp.ServerFingerprintMismatch,
    SignatureError,
)


def _unreachable(url: str, exc: BaseException) -> str:
    """Why the center did not answer, in words (the exception itself goes to the log)."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        why = "数据中心没有及时回答", "the center did not answer in time"
    elif isinstance(exc, CERTIFICATE_TROUBLE):
        why = "数据中心的证书不可信（与注册时固定的CA不符）", "the center's certificate is not the pinned CA's"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        why = "连不上数据中心（网络不通或中心未运行）", "cannot connect (network down, or the center not running)"
    elif isinstance(exc, ValueError):
        why = "数据中心的回答无法识别", "the center's answer could not be read"
    else:
        why = "与数据中心的连接中断", "the connection to the center broke off"
    return f"{why[0]}：{url}，稍后自动重试 / {why[1]}: {url}; tried again later"


def _refusal(status: int, body: bytes) -> CenterError:
    """The error a 4xx answer means: the center's refusal, or, without a reason in it, an unusable answer."""
    try:
        reason = json.loads(body)
    except ValueError:
        reason = None
    if not isinstance(reason, dict):
        return CenterUnavailable(f"the center answered HTTP {status} without a reason")
    return CenterRefused(
        status, str(reason.get("code", "")), str(reason.get("message_zh", "")), str(reason.get("message_en", ""))
    )


@dataclass(frozen=True)
class DeviceCredential:
    """The agent's own key and certificate: unattended requests are made with it, never with the card."""

    chain: list[x509.Certificate]
    sign_digest: DigestSigner


class CenterClient:
    """One agent's client. ``device`` signs each request's authorization (unattended work, never the card);
    ``access_account`` is the 17999 account this PC is online through, declared on every request (sync.access)."""

    def __init__(
        self,
        base_url: str,
        ssl_context: ssl.SSLContext | ServerPin | None = None,
        timeout: float = 30,
        device: DeviceCredential | None = None,
        access_account: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.device = device
        self.arriving = access_account
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(self, method: str, path: str, json: Any = None, device: bool = True) -> Any:
        """One request; ``device=False`` for a request that carries its own credential (a card's signature)."""
        session = await self._http()
        body = b"" if json is None else canonical_json(json)
        headers = {"Accept": "application/json"}
        if json is not None:
            headers["Content-Type"] = "application/json"
        if self.arriving:
            headers[ARRIVING_ACCOUNT_HEADER] = self.arriving
        if device and self.device is not None:
            chain, signer = self.device.chain, self.device.sign_digest
            headers["Authorization"] = device_authorization(method, path, body, chain, signer)
        try:
            tls = await tls_for(self.base_url, self._ssl)  # an SM2 center's certificate is checked by sync.sm2_tls
            url = self.base_url + path
            async with session.request(method, url, data=body or None, headers=headers, ssl=tls) as response:
                if response.status in AWAY:
                    raise CenterUnavailable(
                        f"数据中心暂时无法服务（HTTP {response.status}），稍后自动重试"
                        f" / the center is unavailable (HTTP {response.status}); tried again later"
                    )
                if response.status >= 500:
                    raise CenterFailed(response.status)
                if response.status >= 400:
                    raise _refusal(response.status, await response.read())
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError, SignatureError) as exc:
            if isinstance(exc, aiohttp.ServerFingerprintMismatch) and isinstance(self._ssl, ServerPin):
                self._ssl.forget(self.base_url)  # a renewed certificate: checked anew at the next request
            log.info("the center at %s did not answer: %r", self.base_url, exc)  # the detail, for whoever reads logs
            raise CenterUnavailable(_unreachable(self.base_url, exc)) from exc

    async def send_batch(self, document: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self._request("POST", API_BATCHES, json=document)
        return answer

    async def updates(self, after: int, limit: int) -> list[dict[str, Any]]:
        """Form changes of the device's enterprise with sequence numbers above ``after``, oldest first."""
        answer: dict[str, Any] = await self._request("GET", f"{API_UPDATES}?after={after}&limit={limit}")
        updates: list[dict[str, Any]] = answer["updates"]
        return updates

    async def ports(self) -> list[dict[str, str]]:
        ports: list[dict[str, str]] = await self._request("GET", API_PORTS)
        return ports

    # 17999 access accounts and card permissions (sync.access).

    async def access_accounts(self) -> dict[str, Any]:
        """The enterprise's accounts, whether its business is open, and any emergency authorisation."""
        answer: dict[str, Any] = await self._request("GET", API_ACCESS_ACCOUNTS)
        return answer

    async def access_account(self, account: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._request("GET", API_ACCESS_ACCOUNT.format(account=account))
        return answer

    async def register_access(
        self, account: str, type_name: str, months: int | None = None, password: str | None = None
    ) -> dict[str, Any]:
        """注册卡号; ``type_name`` in English or Chinese."""
        body: dict[str, Any] = {"account": account, "type": type_name}
        if months is not None:
            body["months"] = months
        if password is not None:
            body["password"] = password
        answer: dict[str, Any] = await self._request("POST", API_ACCESS_ACCOUNTS, json=body)
        return answer

    async def delete_access(self, account: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._request("DELETE", API_ACCESS_ACCOUNT.format(account=account))
        return answer

    async def permissions(self) -> dict[str, Any]:
        """The enterprise's permission extension requests."""
        answer: dict[str, Any] = await self._request("GET", API_PERMISSIONS)
        return answer

    async def request_permission(self, document: dict[str, Any]) -> dict[str, Any]:
        """A request signed by the legal-person card: the card's signature is its authentication."""
        answer: dict[str, Any] = await self._request("POST", API_PERMISSIONS, json=document, device=False)
        return answer
