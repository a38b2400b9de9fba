"""Unlocking the card as plain data for front ends (the tray's PIN dialog): the card's errors become words once."""

from __future__ import annotations

from typing import Any

from agent.card.errors import CardError, InvalidPinError, PinBlockedError
from agent.operator_card import CardState, OperatorCard
from l10n import say


def try_unlock(card: OperatorCard, pin: str) -> dict[str, Any]:
    """``unlocked``, ``tries_left``, ``blocked`` and a ``message`` a clerk can act on. The PIN is tried once."""
    outcome: dict[str, Any] = {"unlocked": False, "tries_left": None, "blocked": False, "message": ""}
    if card.state is CardState.UNLOCKED:
        return {**outcome, "unlocked": True, "message": say("pin.already")}
    try:
        card.unlock(pin)
    except InvalidPinError as exc:
        outcome.update(tries_left=exc.tries_left, message=say("pin.wrong", tries=exc.tries_left))
    except PinBlockedError:
        outcome.update(tries_left=0, blocked=True, message=say("pin.blocked"))
    except (CardError, ValueError) as exc:  # no card, the card's own trouble, a PIN of the wrong form
        outcome.update(message=str(exc))
    else:
        outcome.update(unlocked=True, message=say("pin.unlocked"))
    return outcome
