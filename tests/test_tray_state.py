"""The tray's picture of the agent: status dict → level, tooltip and reasons; the icons; the README's picture."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import l10n
from tray.icons import COLOURS, draw_icon, states_picture
from tray.state import TOOLTIP_MAX, Level, tray_view

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
README_PICTURE = Path(__file__).resolve().parent.parent / "docs" / "tray-states.png"


def status(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "card": "unlocked",
        "pin_tries_left": None,
        "batches": {"delivered": 4},
        "paused": False,
        "center_unreachable_since": None,
        "refused": None,
        "warnings": [],
    }
    return {**base, **changes}


def ago(minutes: float) -> str:
    return (NOW - dt.timedelta(minutes=minutes)).isoformat()


@pytest.mark.parametrize(
    ("changes", "level", "first_reason"),
    [
        ({}, Level.OK, "一切正常"),
        ({"batches": {"signed": 1, "sent": 1, "delivered": 4}}, Level.WORKING, "2 个文件等待发送/重试中"),
        ({"center_unreachable_since": ago(1), "batches": {"sent": 1}}, Level.WORKING, "数据中心自"),
        ({"card": "absent"}, Level.ATTENTION, "未插入操作员卡"),
        ({"card": "locked", "pin_tries_left": 2}, Level.ATTENTION, "操作员卡未解锁：请解锁（还可尝试 2 次）"),
        ({"batches": {"awaiting_signature": 1}}, Level.ATTENTION, "1 个文件等待操作员卡签名"),
        ({"warnings": ["操作员卡证书将于 2026-06-20 到期"]}, Level.ATTENTION, "操作员卡证书"),
        ({"paused": True}, Level.ATTENTION, "已暂停"),
        ({"center_unreachable_since": ago(6)}, Level.ERROR, "数据中心自"),
        ({"refused": {"batch": "a.csv", "code": "OPERATOR_REVOKED"}}, Level.ERROR, "文件 a.csv 被数据中心整批拒绝"),
        ({"card": "blocked", "pin_tries_left": 0}, Level.ERROR, "操作员卡已锁死"),
    ],
)
def test_each_situation_has_its_level_and_says_why_first(
    changes: dict[str, Any], level: Level, first_reason: str
) -> None:
    view = tray_view(status(**changes), NOW)
    assert view.level is level
    assert view.reasons[0].startswith(first_reason)
    assert view.tooltip.startswith(f"电子口岸出口收汇：{first_reason}")


def test_the_worst_situation_wins_and_every_reason_is_kept() -> None:
    view = tray_view(
        status(card="absent", batches={"awaiting_signature": 2, "sent": 1}, refused={"batch": "b.csv", "code": "X"}),
        NOW,
    )
    assert view.level is Level.ERROR
    assert view.reasons == (
        "文件 b.csv 被数据中心整批拒绝：X",
        "未插入操作员卡：请插入操作员卡",
        "2 个文件等待操作员卡签名",
        "1 个文件等待发送/重试中",
    )


def test_the_tooltip_counts_the_queue_and_fits_windows() -> None:
    batches = {"awaiting_signature": 3, "received": 1, "sent": 2, "delivered": 14, "rejected": 1}
    view = tray_view(status(batches=batches, warnings=["x" * 300]), NOW)
    assert view.tooltip.splitlines()[1] == "待签名 3 · 处理中 3 · 已完成 14 · 被拒绝 1"
    assert len(view.tooltip) <= TOOLTIP_MAX
    assert view.reasons[-2] == "x" * 300  # cut in the tooltip only, whole in the Status window


def test_english_by_the_language_setting() -> None:
    l10n.use("en")
    try:
        view = tray_view(status(card="locked", pin_tries_left=1, batches={"sent": 1}), NOW)
    finally:
        l10n.use("zh")
    assert view.reasons == ("Card locked: unlock it (1 try left)", "1 batch on the way")
    assert view.tooltip.startswith("E-Port agent: Card locked")


def test_a_status_without_optional_fields_still_maps() -> None:
    # `eport-agent status` of a stopped agent has no card or warnings at all.
    assert tray_view({"batches": {}}, NOW).level is Level.OK


@pytest.mark.parametrize("level", list(Level))
def test_each_icon_is_a_disc_of_its_colour(level: Level) -> None:
    icon = draw_icon(level, 32)
    assert icon.size == (32, 32) and icon.mode == "RGBA"
    assert icon.getpixel((16, 3))[:3] == COLOURS[level]  # the disc's rim, away from the sign
    assert icon.getpixel((0, 0))[3] == 0  # transparent corner


def test_the_readme_picture_shows_the_four_states_as_drawn() -> None:
    """docs/tray-states.png is made by `python -m tray.icons docs/tray-states.png`; it shows the icons in order."""
    committed = Image.open(README_PICTURE).convert("RGB")
    drawn = states_picture()
    assert committed.size == drawn.size
    cell = drawn.width // len(Level)
    for i, level in enumerate(Level):
        x, y = i * cell + cell // 2, 24 + 4  # the top of each disc, above its sign
        assert committed.getpixel((x, y)) == COLOURS[level] == drawn.getpixel((x, y))
