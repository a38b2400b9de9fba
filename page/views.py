"""What the page shows, from the facade's plain data: the top (the same facts as the tray, through tray.state), local
times, and the words for kinds, states and outcomes. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import l10n
from inbox.schema import CHECK_OPERATIONS, KINDS
from l10n import times
from l10n.catalog import MESSAGES
from tray.state import Level, tray_view

CARD_WORDS = {"absent": "card_absent", "locked": "card_locked", "unlocked": "card_unlocked", "blocked": "card_blocked"}
OUTCOME_KEYS = ("pending", "ok", "partly", "refused", "errors")
FX_REFUSAL = "FX_PERMISSION_EXPIRED"


def local(value: Any, seconds: bool = True) -> str:
    """A UTC ISO time from the store or the agent as the PC's local time, e.g. "2026-06-01 20:00:05"; "" for none."""
    if not isinstance(value, str) or not value:
        return ""
    when = times.parse(value)
    if when is None:
        return value
    return times.local(when).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def zone() -> str:
    """The offset the page's times are in, e.g. "UTC+08:00"."""
    return times.offset_label()


def kinds(lang: str) -> dict[str, str]:
    """Each batch kind's label: 口岸备案 (filings)."""
    return {name: (kind.zh if lang == "zh" else name) for name, kind in KINDS.items()}


def operations(lang: str) -> dict[str, str]:
    """The operations a check (核对) can preview, each with its label: 口岸备案 (filings)."""
    labels = kinds(lang)
    return {name: labels[name] for name in CHECK_OPERATIONS}


def state_word(state: str) -> str:
    """A batch state in the clerk's words (the message table's ``state.*``)."""
    key = f"state.{state}"
    return l10n.say(key) if key in MESSAGES else state


def top(overview: Mapping[str, Any]) -> dict[str, Any]:
    """The top of the page: the card, the center, the 17999 account, the queue and what needs the clerk."""
    status: Mapping[str, Any] = overview["status"]
    card: Mapping[str, Any] = overview.get("card") or {}
    access: Mapping[str, Any] = overview.get("access") or {}
    view = tray_view(status)
    refused = status.get("refused") or {}
    return {
        "level": view.level.value,
        "needs_you": view.level in (Level.ATTENTION, Level.ERROR),
        "reasons": list(view.reasons),
        "card_state": status.get("card"),
        "card_word": CARD_WORDS.get(str(status.get("card")), "card_absent"),
        "tries_left": status.get("pin_tries_left"),
        "operator": card.get("operator"),
        "enterprise": card.get("enterprise"),
        "not_after": card.get("not_after"),
        "fx_ended": isinstance(refused, Mapping) and refused.get("code") == FX_REFUSAL,
        "unreachable_since": status.get("center_unreachable_since"),
        "last_sync": status.get("last_sync"),
        "next_sync": status.get("next_sync"),
        "paused": bool(status.get("paused")),
        "account": access.get("account"),
        "access": access.get("overview"),
        "queue": [(state_word(state), count) for state, count in sorted((status.get("batches") or {}).items())],
    }
