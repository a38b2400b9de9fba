"""The gates before business, on the wire (rules 11 and 12 in docs/OPERATOR.md): 17999 access accounts and operator-card
permissions. Shared by the agent and the center: the endpoints, the header, the account names, the card roles and the
names of the account types; the types' rules are the center's (center.access).

Access accounts are plain endpoints of the center's API, authenticated by the agent's device
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

The agent's client of these endpoints is :class:`sync.client.CenterClient`.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

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
