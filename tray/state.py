"""What the tray shows, from the agent's status dict alone: a level (the icon's colour), a tooltip, the reasons,
in the clerk's language (l10n).

Pure functions, no GUI: the level answers "do I need to do something?" at a glance.

- ERROR (red): something the clerk cannot fix from the tray — the center refused a batch, has not answered for
  long, or the card is blocked.
- ATTENTION (amber): the clerk is needed — card out or locked, batches waiting for a signature, a certificate or
  permission running out, sync paused.
- WORKING (blue): batches on their way, or a short center outage being retried.
- OK (green): nothing waiting.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from l10n import language, say
from sync.states import IN_FLIGHT, BatchState

TOOLTIP_MAX = 127  # Windows cuts tray tooltips at 128 characters including the terminator
UNREACHABLE_ALERT = dt.timedelta(minutes=5)


class Level(enum.Enum):
    OK = "ok"
    WORKING = "working"
    ATTENTION = "attention"
    ERROR = "error"


LABELS = {Level.OK: "all good", Level.WORKING: "working", Level.ATTENTION: "needs you", Level.ERROR: "error"}


@dataclass(frozen=True)
class TrayView:
    level: Level
    tooltip: str
    reasons: tuple[str, ...]  # most pressing first; the Status window lists them all
    card: str | None
    paused: bool


def _counted(key: str, count: int) -> str:
    """A message about ``count`` things; English says one thing in the singular."""
    return say(f"{key}_one") if count == 1 else say(key, count=count)


def _card_reasons(card: str | None, tries_left: int | None) -> tuple[list[str], list[str]]:
    """(errors, needs-the-clerk) for the card's state."""
    if card == "blocked":
        return [say("tray.card_blocked")], []
    if card == "absent":
        return [], [say("tray.card_out")]
    if card == "locked":
        if tries_left is None:
            return [], [say("tray.card_locked")]
        return [], [say("tray.card_locked_try") if tries_left == 1 else say("tray.card_locked_tries", tries=tries_left)]
    return [], []


def _since(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def tray_view(
    status: Mapping[str, Any], now: dt.datetime | None = None, unreachable_alert: dt.timedelta = UNREACHABLE_ALERT
) -> TrayView:
    now = now or dt.datetime.now(dt.UTC)
    batches: Mapping[str, int] = status.get("batches") or {}
    waiting = batches.get(BatchState.AWAITING_SIGNATURE, 0)
    in_flight = sum(batches.get(state, 0) for state in IN_FLIGHT)
    card = status.get("card")

    errors, attention = _card_reasons(card, status.get("pin_tries_left"))
    working: list[str] = []
    unreachable = _since(status.get("center_unreachable_since"))
    if unreachable is not None:
        since = say("tray.unreachable", time=f"{unreachable.astimezone():%H:%M}")
        (errors if now - unreachable >= unreachable_alert else working).append(since)
    problem = status.get("problem")
    if problem and unreachable is None:  # the center's absence is said above; this is what else went wrong
        attention.append(str(problem))
    refused = status.get("refused")
    if isinstance(refused, Mapping):
        errors.append(say("tray.refused", name=refused.get("batch"), code=refused.get("code")))
    if waiting:
        attention.append(_counted("tray.waiting", waiting))
    attention.extend(str(warning) for warning in status.get("warnings") or ())
    if status.get("paused"):
        attention.append(say("tray.paused"))
    if in_flight:
        working.append(_counted("tray.in_flight", in_flight))

    level = Level.ERROR if errors else Level.ATTENTION if attention else Level.WORKING if working else Level.OK
    reasons = (*errors, *attention, *working) or (say("tray.all_good"),)
    counts = say(
        "tray.counts",
        waiting=waiting,
        in_flight=in_flight,
        done=batches.get("delivered", 0),
        refused=batches.get("rejected", 0),
    )
    tooltip = f"{say('tray.title')}：{reasons[0]}" if language() == "zh" else f"{say('tray.title')}: {reasons[0]}"
    if len(tooltip) > TOOLTIP_MAX - len(counts) - 1:
        tooltip = tooltip[: TOOLTIP_MAX - len(counts) - 2] + "…"
    return TrayView(level, f"{tooltip}\n{counts}", reasons, card, bool(status.get("paused")))
