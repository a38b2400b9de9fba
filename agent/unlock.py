"""Unlocking the card as plain data for front ends (the tray's PIN dialog): the card's errors become words once."""

from __future__ import annotations

from typing import Any

from agent.card.errors import CardError, InvalidPinError, PinBlockedError
from agent.operator_card import CardState, OperatorCard

ALREADY_UNLOCKED = "IC卡已解锁，无需再次输入密码 / the card is already unlocked; the PIN was not sent to it"


def try_unlock(card: OperatorCard, pin: str) -> dict[str, Any]:
    """``unlocked``, ``tries_left``, ``blocked`` and a ``message`` a clerk can act on. The PIN is tried once."""
    outcome: dict[str, Any] = {"unlocked": False, "tries_left": None, "blocked": False, "message": ""}
    if card.state is CardState.UNLOCKED:
        return {**outcome, "unlocked": True, "message": ALREADY_UNLOCKED}
    try:
        card.unlock(pin)
    except InvalidPinError as exc:
        outcome.update(
            tries_left=exc.tries_left, message=f"Wrong PIN: {exc.tries_left} tries left before the card locks."
        )
    except PinBlockedError as exc:
        outcome.update(tries_left=0, blocked=True, message=str(exc))
    except (CardError, ValueError) as exc:  # no card, the card's own trouble, a PIN of the wrong form
        outcome.update(message=str(exc))
    else:
        outcome.update(unlocked=True, message="unlocked")
    return outcome
