"""The facade's unlock for front ends answers in plain data and tries the PIN once (the tray has no card types)."""

from __future__ import annotations

from pathlib import Path

from tests.center_support import free_port, open_center
from tests.rigs import ENTERPRISE, PIN, agent_for, enrolled_card, workspace_for


def test_try_unlock_reports_tries_left_then_blocked_then_never_unlocks(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE], access=False)
    card, port = enrolled_card(center), free_port()
    agent = agent_for(workspace_for(tmp_path / "ws", center, port), center, card, port)
    before = card.verify_attempts
    assert agent.try_unlock("000000") == {
        "unlocked": False,
        "tries_left": 2,
        "blocked": False,
        "message": "密码错误：再输错 2 次，卡将被锁死。",
    }
    assert agent.try_unlock("12")["message"]  # a malformed PIN is explained, not sent
    assert agent.try_unlock("000000")["tries_left"] == 1
    assert agent.try_unlock("000000")["blocked"] is True
    assert agent.try_unlock(PIN)["blocked"] is True
    assert card.verify_attempts == before + 4  # once per call, the malformed one never reached the card
    center.close()
