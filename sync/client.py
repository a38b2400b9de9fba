"""The agent's HTTP client of the center."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography import x509

from sync.protocol import (
    API_BATCHES,
    API_PORTS,
    API_UPDATES,
    DigestSigner,
    canonical_json,
    device_authorization,
)


class CenterUnavailable(Exception):
    """The center could not be reached or failed (network, timeout, 5xx): try again later."""


class BatchRefused(Exception):
    """The center refused the whole batch (4xx): final, reported to the clerk, never retried."""

    def __init__(self, status: int, code: str, zh: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.status, self.code, self.zh, self.en = status, code, zh, en


@dataclass(frozen=True)
class DeviceCredential:
    """The agent's own key and certificate: unattended requests are made with it, never with the card."""

    chain: list[x509.Certificate]
    sign_digest: DigestSigner


class CenterClient:
    def __init__(
        self,
        base_url: str,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30,
        device: DeviceCredential | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.device = device
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

    async def _request(self, method: str, path: str, json: Any = None) -> Any:
        session = await self._http()
        body = b"" if json is None else canonical_json(json)
        headers = {"Content-Type": "application/json"} if json is not None else {}
        if self.device is not None:
            chain, signer = self.device.chain, self.device.sign_digest
            headers["Authorization"] = device_authorization(method, path, body, chain, signer)
        try:
            tls = self._ssl if self._ssl is not None else True
            url = self.base_url + path
            async with session.request(method, url, data=body or None, headers=headers, ssl=tls) as response:
                if response.status >= 500:
                    raise CenterUnavailable(f"the center answered HTTP {response.status}")
                body = await response.json(content_type=None)
                if response.status >= 400:
                    raise BatchRefused(
                        response.status,
                        str(body.get("code", "")),
                        str(body.get("message_zh", "")),
                        str(body.get("message_en", "")),
                    )
                return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise CenterUnavailable(f"the center at {self.base_url} is unreachable: {exc!r}") from exc

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
