"""The card's 出口收汇 permission as the center last described it (rule 11, the manual's FAQ 3), read up front: at
every sync the agent asks the center (device credential) for its enterprise's cards and keeps its own card's
permission in the store, so ``status``, ``card info`` and the tray say "出口收汇不可用" before anything is dropped —
not only once a batch has been refused. What it keeps also names the enterprise (its 组织机构代码)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from l10n import say
from sync.client import CenterClient, CenterError

log = logging.getLogger("eport.agent")

META_KEY = "fx_permission"
AHEAD = dt.timedelta(days=30)  # warn this long before the permission ends
Blocking = Callable[..., Awaitable[Any]]


class FactStore(Protocol):
    def meta(self) -> dict[str, str | None]: ...

    def set_meta(self, **values: str | None) -> None: ...


def fact(store: FactStore) -> dict[str, Any] | None:
    """The card's permission as last heard: ``card``, ``permission`` (valid, expired, not_granted), ``until``,
    ``as_of``, ``enterprise`` ({code, name, org_code}); None before the center was first asked."""
    text = store.meta().get(META_KEY)
    if not text:
        return None
    found: dict[str, Any] = json.loads(text)
    return found


def of_card(answer: dict[str, Any], serial: str | None) -> dict[str, Any] | None:
    """This card's entry in the center's answer (``GET /api/v1/permissions``), by its serial."""
    return next((c for c in answer.get("cards", []) if serial and serial in (c["card"], *c["certificates"])), None)


async def refresh(
    client: CenterClient, store: FactStore, serial: str | None, blocking: Blocking
) -> dict[str, Any] | None:
    """Ask the center and keep the answer for this card (``serial``: the card's, else the one last heard of); the
    last answer stays when the center is away or refuses. Needs the PC's device credential. ``blocking`` runs the
    store's work off the event loop."""
    known = await blocking(fact, store)
    serial = serial or (known or {}).get("card")
    if client.device is None or not serial:
        return known
    try:
        answer = await client.permissions()
    except CenterError as exc:
        log.debug("the card's permission was not refreshed: %s", exc)
        return known
    found = of_card(answer, serial)
    if found is None:
        return known
    kept = {
        "card": found["card"],
        "permission": found["permission"],
        "until": found["until"],
        "as_of": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "enterprise": answer.get("enterprise"),
    }
    await blocking(store.set_meta, **{META_KEY: json.dumps(kept, ensure_ascii=False)})
    return kept


def warning(known: dict[str, Any] | None, today: dt.date | None = None) -> str | None:
    """What the clerk must hear before dropping anything: no permission, an ended one, or one ending soon."""
    if known is None:
        return None
    card, until = known["card"], known.get("until")
    if known["permission"] == "not_granted":
        return say("warn.fx_not_granted", card=card)
    if known["permission"] == "expired":
        return say("warn.fx_expired", card=card, until=until)
    ends = dt.date.fromisoformat(until) if until else None
    today = today or dt.date.today()
    if ends is not None and ends - today <= AHEAD:
        return say("warn.fx_ends", card=card, until=until, days=(ends - today).days)
    return None


def describe(known: dict[str, Any] | None) -> str | None:
    """The permission in a few words (card info, the status page): 有效至…, 已到期…, 未开通."""
    if known is None:
        return None
    if known["permission"] == "not_granted":
        return say("fx.not_granted")
    key = "fx.valid" if known["permission"] == "valid" else "fx.expired"
    return say(key, until=known.get("until"))


def enterprise_line(known: dict[str, Any] | None) -> str | None:
    """The enterprise as the center named it, with its 组织机构代码 (card info, access list)."""
    enterprise = (known or {}).get("enterprise") or {}
    if not enterprise.get("code"):
        return None
    return say(
        "fx.enterprise",
        code=enterprise["code"],
        name=enterprise.get("name") or "",
        org=enterprise.get("org_code") or "-",
    )
