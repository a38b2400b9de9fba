"""The gates before business, on the wire (DESIGN.md §4 rules 11 and 12, §6): 17999 access accounts and operator-card
permissions. Shared by the agent and the center: the endpoints, the header, the account names, the card roles and the
names of the account types; the types' rules are the center's (center.access).

Access accounts are plain endpoints of the center's API (DESIGN.md §6), authenticated by the agent's device
credential (``Authorization: EPort-Device ...``, see :mod:`sync.protocol`):

- ``GET /api/v1/access/accounts``: the enterprise's registered accounts, whether its business is open, and any
  emergency authorisation.
- ``POST /api/v1/access/accounts`` ``{"account", "type", "months"?, "password"?}``: register (注册卡号).
- ``GET|DELETE /api/v1/access/accounts/{account}``: one account (帐号管理), or delete it.

**The account a request arrives through.** The original system asked the 17999 network which account the request's
connection was dialled in with (its "online state"). Here the agent declares it in the ``X-EPort-Access-Account``
header, from ``[access] account`` of agent.toml: the header plays the part of the network, which a deployment behind
a real 17999 access server would fill in instead. A header without the ``@17999.e163`` suffix names no account, as
on the original ("如果没有使用这个后缀，系统是不会检测到在线状态的").

Permission extensions (IC卡权限延期) are signed by the enterprise's legal-person card (法人卡):
``POST /api/v1/permissions`` takes ``{"payload": {"v": 1, "request_id", "enterprise", "card", "created_at"},
"signature"}`` (the detached JWS of a batch, :mod:`sync.protocol`); ``GET /api/v1/permissions`` (device credential)
lists the enterprise's requests.
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from sync.protocol import canonical_json, device_authorization

if TYPE_CHECKING:
    from sync.client import DeviceCredential

API_ACCESS_ACCOUNTS = "/api/v1/access/accounts"
API_ACCESS_ACCOUNT = API_ACCESS_ACCOUNTS + "/{account}"
API_PERMISSIONS = "/api/v1/permissions"
ARRIVING_ACCOUNT_HEADER = "X-EPort-Access-Account"

ACCOUNT_SUFFIX = "@17999.e163"
# The card's user name: letters, digits and a few marks, then the suffix, exactly (case as on the card).
ACCOUNT = re.compile(r"[0-9A-Za-z._-]{1,40}@17999\.e163")

# The role an operator certificate carries in OU when it is the enterprise's legal-person card (法人卡).
LEGAL_PERSON_ROLE = "legal-person"
OPERATOR_ROLE = "operator"


# The five kinds of 17999 card (the manual's part one, 4.1): the names a batch, a command and an answer use, in
# English and Chinese. Their rules (terms, password, online-state check, deletion) are the center's: center.access.
ACCOUNT_TYPES: dict[str, str] = {
    "timed": "计时卡",
    "new-annual": "新年卡",
    "broadband": "宽带卡",
    "leased-line": "专线卡",
    "old-annual": "旧年卡",
}


def account_type_name(text: str) -> str | None:
    """The English name of the type named in English or Chinese (``broadband`` or ``宽带卡``)."""
    text = text.strip()
    return next((name for name, zh in ACCOUNT_TYPES.items() if text in (name, zh)), None)


def is_account(text: str) -> bool:
    return ACCOUNT.fullmatch(text) is not None


def role_of(certificate: x509.Certificate) -> str:
    """``legal-person`` for the legal-person card's certificate, else ``operator``."""
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return LEGAL_PERSON_ROLE if any(u.value == LEGAL_PERSON_ROLE for u in units) else OPERATOR_ROLE


class AccessUnavailable(Exception):
    """The center could not be reached or failed (network, timeout, 5xx)."""


class AccessRefused(Exception):
    """The center refused the request: a stable code and the reason in Chinese and English."""

    def __init__(self, status: int, code: str, zh: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.status, self.code, self.zh, self.en = status, code, zh, en


class AccessClient:
    """The agent's client of these endpoints. Blocking: its users are one-shot commands."""

    def __init__(
        self,
        base_url: str,
        device: DeviceCredential | None,
        arriving: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.device = device
        self.arriving = arriving
        self.ssl_context = ssl_context
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None, device: bool = True) -> dict[str, Any]:
        data = b"" if body is None else canonical_json(body)
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.arriving:
            headers[ARRIVING_ACCOUNT_HEADER] = self.arriving
        if device and self.device is not None:
            headers["Authorization"] = device_authorization(
                method, path, data, self.device.chain, self.device.sign_digest
            )
        request = urllib.request.Request(self.base_url + path, data=data or None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.ssl_context) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise AccessUnavailable(f"the center answered HTTP {exc.code}") from exc
            try:
                refusal = json.loads(exc.read())
            except ValueError:
                raise AccessUnavailable(f"the center answered HTTP {exc.code} without a reason") from exc
            raise AccessRefused(
                exc.code,
                str(refusal.get("code", "")),
                str(refusal.get("message_zh", "")),
                str(refusal.get("message_en", "")),
            ) from None
        except (urllib.error.URLError, TimeoutError, ValueError, OSError) as exc:
            raise AccessUnavailable(f"the center at {self.base_url} is unreachable: {exc}") from exc

    def accounts(self) -> dict[str, Any]:
        return self._request("GET", API_ACCESS_ACCOUNTS)

    def account(self, account: str) -> dict[str, Any]:
        return self._request("GET", API_ACCESS_ACCOUNT.format(account=account))

    def register(self, account: str, type_name: str, months: int | None, password: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"account": account, "type": type_name}
        if months is not None:
            body["months"] = months
        if password is not None:
            body["password"] = password
        return self._request("POST", API_ACCESS_ACCOUNTS, body)

    def delete(self, account: str) -> dict[str, Any]:
        return self._request("DELETE", API_ACCESS_ACCOUNT.format(account=account))

    def permissions(self) -> dict[str, Any]:
        return self._request("GET", API_PERMISSIONS)

    def request_permission(self, document: dict[str, Any]) -> dict[str, Any]:
        """A request signed by the legal-person card: the card's signature is its authentication."""
        return self._request("POST", API_PERMISSIONS, document, device=False)
