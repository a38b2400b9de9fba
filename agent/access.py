"""The agent's side of the gates before business (sync.access).

17999 access accounts: asked of the center with the agent's device credential, declaring the account this PC is
online through (``[access] account``); `eport-agent status` shows them and warns ahead of their end, falling back to
what it last heard when the center does not answer at once. Permission extensions: the request that the
legal-person card signs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from cryptography import x509

from agent.card.piv import PivSession
from agent.center_link import load_device, pinned_tls
from agent.config import AgentConfig, ConfigError
from agent.workspace import Workspace
from l10n import say
from l10n.times import local_text
from sync.access import LEGAL_PERSON_ROLE, role_of
from sync.client import CenterClient, CenterError
from sync.protocol import PROTOCOL_VERSION, batch_document, canonical_json, sign_detached

ACCESS_WARNING = dt.timedelta(days=30)  # warn this long before the enterprise's last account ends
HOURS_WARNING = 100  # warn when an annual card has this few online hours left
STATUS_TIMEOUT = 3.0  # seconds `status` waits for the center before showing what it last heard
CACHE_NAME = "access.json"

T = TypeVar("T")


def access_client(
    workspace: Workspace, config: AgentConfig | None = None, timeout: float = 10.0, need_device: bool = True
) -> CenterClient:
    """The client of the center's access endpoints; ``need_device=False`` for a request a card signs instead."""
    config = config or AgentConfig.load(workspace)
    device = load_device(workspace)
    if device is None and need_device:
        raise ConfigError(
            f"this agent has no device certificate ({workspace.state / 'device-cert.pem'}): have the center enroll "
            "its key (eport-center device enroll) before asking about access accounts"
        )
    return CenterClient(config.center_url, pinned_tls(config), timeout, device, access_account=config.access_account)


def call(client: CenterClient, request: Coroutine[Any, Any, T]) -> T:
    """One request of a one-shot command (``call(client, client.access_accounts())``): run to its end on an event
    loop of its own, the client's connection closed after it. Not for use on a running event loop."""

    async def once() -> T:
        try:
            return await request
        finally:
            await client.close()

    return asyncio.run(once())


def remember(workspace: Workspace, overview: dict[str, Any]) -> None:
    """Keep the center's latest answer for `status` to show when the center is away."""
    kept = {**overview, "as_of": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    (workspace.state / CACHE_NAME).write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")


def _remembered(workspace: Workspace) -> dict[str, Any] | None:
    try:
        kept: dict[str, Any] = json.loads((workspace.state / CACHE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return kept


def last_heard(workspace: Workspace) -> dict[str, Any]:
    """The account this PC declares (``[access] account``) and the center's last answer about the enterprise's
    accounts (``as_of`` tells when), without asking the center: for a page that must not wait for it."""
    try:
        account = AgentConfig.load(workspace).access_account
    except ConfigError:
        account = None
    return {"account": account, "overview": _remembered(workspace)}


def warnings(overview: dict[str, Any], now: dt.datetime) -> list[str]:
    """What the clerk should hear before business stops: no account, an emergency running out, the last account
    ending within 30 days, an annual card nearly out of hours."""
    valid = [a for a in overview["accounts"] if a["status"] == "valid"]
    emergency = overview.get("emergency")
    if not valid and emergency is None:
        return [say("warn.no_access")]
    if emergency is not None and not valid:
        return [say("warn.emergency_only", until=emergency["until"])]
    found = []
    last = max(valid, key=lambda a: a["expires_at"])
    left = dt.datetime.fromisoformat(last["expires_at"]) - now
    if left <= ACCESS_WARNING:
        found.append(say("warn.access_ends", until=last["until"], days=left.days, account=last["account"]))
    for account in valid:
        limit = account["hour_limit"]
        if limit is not None and limit - account["hours_used"] <= HOURS_WARNING:
            hours = limit - account["hours_used"]
            found.append(say("warn.hours_left", account=account["account"], hours=hours, limit=limit))
    return found


def with_access(workspace: Workspace, status: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """``status`` with the enterprise's access accounts (``access``) and their warnings, when this agent can ask:
    the center's answer, else the last one it gave (``as_of`` tells when)."""
    try:
        client = access_client(workspace, timeout=STATUS_TIMEOUT)
    except ConfigError:
        return status  # no device certificate (or no configuration): nothing to ask with
    try:
        overview = call(client, client.access_accounts())
        remember(workspace, overview)
    except CenterError:
        overview = _remembered(workspace) or {}
    if not overview:
        return status
    found = warnings(overview, now or dt.datetime.now(dt.UTC))
    return {**status, "access": overview, **({"warnings": [*status.get("warnings", []), *found]} if found else {})}


def describe(overview: dict[str, Any]) -> list[str]:
    """Lines for a person: each account, the emergency authorisation, and whether business is open."""
    lines = [say("access.open" if overview["open"] else "access.closed")]
    if "as_of" in overview:
        lines[0] += say("access.as_of", time=local_text(overview["as_of"]))
    if overview.get("enterprise_name"):  # the enterprise with its 组织机构代码, as the center registered it
        org = overview.get("org_code") or "-"
        lines.insert(0, say("fx.enterprise", code=overview["enterprise"], name=overview["enterprise_name"], org=org))
    for a in overview["accounts"]:
        hours = say("access.hours", used=a["hours_used"], limit=a["hour_limit"]) if a["hour_limit"] is not None else ""
        lines.append(
            say(
                "access.account",
                account=a["account"],
                type=a["type"],
                type_zh=a["type_zh"],
                until=a["until"],
                hours=hours,
                status=a["status"],
            )
        )
    if overview.get("emergency"):
        lines.append(say("access.emergency", until=overview["emergency"]["until"]))
    return lines


# Permission extensions (the manual's FAQ 3): requested with the legal-person card.


def legal_person_certificate(session: PivSession) -> x509.Certificate:
    """The certificate of the card in the reader, if it is the enterprise's legal-person card (no PIN needed)."""
    certificate = session.get_certificate()
    if role_of(certificate) != LEGAL_PERSON_ROLE:
        raise ConfigError(
            "the card in the reader is an operator card: an IC card permission extension is requested with the "
            "enterprise's legal-person card (法人卡); insert it and try again"
        )
    return certificate


def permission_request(session: PivSession, certificate: x509.Certificate, card: str) -> dict[str, Any]:
    """The extension request for ``card``, signed by the (unlocked) legal-person card."""
    organisation = certificate.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    payload = {
        "v": PROTOCOL_VERSION,
        "request_id": uuid.uuid4().hex,
        "enterprise": str(organisation[0].value) if organisation else "",
        "card": card,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return batch_document(payload, sign_detached(canonical_json(payload), [certificate], session.sign_digest))
