"""The tray's menu calls the agent facade, with pystray's dummy backend (no display needed).

The agent here is a fake facade on purpose: these tests are about which facade call each menu item makes, and on
which thread; the real agent behind the real xorg tray is in test_tray_xorg.py.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tray.app import TrayApp
from tray.state import Level


class FakeAgent:
    """Records the facade calls; ``try_unlock`` accepts 246810 and refuses anything else like a card would."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.unlock_threads: list[str] = []
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.state: dict[str, Any] = {"card": "locked", "pin_tries_left": 3, "batches": {}, "paused": False}

    def status(self) -> dict[str, Any]:
        return dict(self.state)

    def request_sync(self, force: bool = False) -> None:
        self.calls.append("request_sync")

    def pause(self) -> None:
        self.calls.append("pause")
        self.state["paused"] = True

    def resume(self) -> None:
        self.calls.append("resume")
        self.state["paused"] = False

    def try_unlock(self, pin: str) -> dict[str, Any]:
        self.calls.append("unlock")
        self.unlock_threads.append(threading.current_thread().name)
        if pin != "246810":
            self.state["pin_tries_left"] -= 1
            tries = self.state["pin_tries_left"]
            message = f"密码错误：再输错 {tries} 次，卡将被锁死。"
            return {"unlocked": False, "tries_left": tries, "blocked": False, "message": message}
        self.state.update(card="unlocked", pin_tries_left=None)
        return {"unlocked": True, "tries_left": None, "blocked": False, "message": "unlocked"}

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self.listeners.append(listener)

    def page_link(self) -> str:
        self.calls.append("page_link")
        return f"http://127.0.0.1:4321/page/login?ticket=t{len(self.calls)}"


class TypedPins:
    """Stands in for the Tk PIN dialog: "types" the given PINs one after the other, as a clerk would."""

    def __init__(self, *pins: str) -> None:
        self.pins = list(pins)
        self.shown_tries: list[int | None] = []
        self.errors: list[str] = []
        self.status_lines: list[Sequence[str]] = []
        self.done = threading.Event()

    def ask_pin(self, unlock: Callable[[str], Mapping[str, Any]], tries_left: int | None) -> bool:
        self.shown_tries.append(tries_left)
        try:
            for pin in self.pins:
                outcome = unlock(pin)
                if outcome["unlocked"]:
                    return True
                self.errors.append(outcome["message"])
            return False
        finally:
            self.done.set()

    def show_status(self, lines: Sequence[str]) -> None:
        self.status_lines.append(lines)
        self.done.set()


@pytest.fixture
def pystray(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("PYSTRAY_BACKEND", "dummy")
    module = importlib.import_module("pystray")
    assert module.Icon.__module__ == "pystray._base", "pystray was imported with another backend"
    yield module


@pytest.fixture
def agent() -> FakeAgent:
    return FakeAgent()


def make_tray(
    pystray: ModuleType, agent: FakeAgent, dialogs: TypedPins, opened: list[Path], pages: list[str] | None = None
) -> TrayApp:
    tray = TrayApp(
        agent,
        pystray,
        Path("/ws/inbox"),
        Path("/ws/outbox"),
        dialogs=dialogs,
        show_folder=opened.append,
        show_page=(pages if pages is not None else []).append,
    )
    tray.icon.update_menu = lambda: None  # type: ignore[method-assign]  # the dummy backend has no native menu
    return tray


def click(tray: TrayApp, text: str) -> None:
    for item in tray.icon.menu:
        if item.text == text:
            assert item.enabled, f"{text!r} is greyed out"
            item(tray.icon)
            return
    raise AssertionError(f"no menu item {text!r} in {[i.text for i in tray.icon.menu]}")


def test_the_menu_has_the_clerks_actions(pystray: ModuleType, agent: FakeAgent) -> None:
    tray = make_tray(pystray, agent, TypedPins(), [])
    assert [item.text for item in tray.icon.menu] == [
        "解锁操作员卡…",
        "立即同步",
        "打开待发文件夹（inbox）",
        "打开结果文件夹（outbox）",
        "暂停",
        "状态",
        "打开状态页",
        "- - - -",
        "退出",
    ]
    assert tray.view.level is Level.ATTENTION  # the card is locked


def test_sync_pause_resume_and_folders_call_the_facade(pystray: ModuleType, agent: FakeAgent) -> None:
    opened: list[Path] = []
    tray = make_tray(pystray, agent, TypedPins(), opened)
    click(tray, "立即同步")
    click(tray, "暂停")
    assert agent.calls == ["request_sync", "pause"]
    click(tray, "恢复")  # the item now offers the way back
    click(tray, "打开待发文件夹（inbox）")
    click(tray, "打开结果文件夹（outbox）")
    assert agent.calls == ["request_sync", "pause", "resume"]
    assert opened == [Path("/ws/inbox"), Path("/ws/outbox")]


def test_the_status_page_opens_in_the_browser_through_a_fresh_link(pystray: ModuleType, agent: FakeAgent) -> None:
    pages: list[str] = []
    tray = make_tray(pystray, agent, TypedPins(), [], pages)
    click(tray, "打开状态页")
    click(tray, "打开状态页")
    tray._ui.shutdown(wait=True)
    assert pages == ["http://127.0.0.1:4321/page/login?ticket=t1", "http://127.0.0.1:4321/page/login?ticket=t2"]


def test_unlock_runs_the_dialog_and_the_card_io_off_the_trays_thread(pystray: ModuleType, agent: FakeAgent) -> None:
    dialogs = TypedPins("111111", "246810")
    tray = make_tray(pystray, agent, dialogs, [])
    tray.refresh()
    click(tray, "解锁操作员卡…")
    assert dialogs.done.wait(5)
    assert dialogs.shown_tries == [3]
    assert dialogs.errors == ["密码错误：再输错 2 次，卡将被锁死。"]
    assert agent.calls == ["unlock", "unlock"]  # one call per PIN typed: the tray never tries one again itself
    assert all(name.startswith("tray-ui") for name in agent.unlock_threads)
    assert tray.refresh().level is Level.OK
    assert not next(item for item in tray.icon.menu if item.text == "解锁操作员卡…").enabled


def test_clicking_the_icon_unlocks_a_locked_card_and_otherwise_shows_the_status(
    pystray: ModuleType, agent: FakeAgent
) -> None:
    """Plain X has no menus, only the click (the menu's default item)."""
    dialogs = TypedPins("246810")
    tray = make_tray(pystray, agent, dialogs, [])
    tray.icon()  # the click
    assert dialogs.done.wait(5) and agent.calls == ["unlock"]
    dialogs.done.clear()
    tray.refresh()
    tray.icon()
    assert dialogs.done.wait(5)
    assert dialogs.status_lines[0][0] == "一切正常：没有等待处理的文件"


def test_written_files_are_announced(pystray: ModuleType, agent: FakeAgent) -> None:
    tray = make_tray(pystray, agent, TypedPins(), [])
    shown: list[tuple[str, str | None]] = []
    tray.icon.notify = lambda message, title=None: shown.append((message, title))  # type: ignore[method-assign]
    (listener,) = agent.listeners
    listener({"type": "result", "path": "/ws/outbox/results/a.result.xlsx"})
    listener({"type": "errors", "path": "/ws/outbox/errors/b.errors.xlsx"})
    listener({"type": "updates", "path": "/ws/outbox/updates/updates-2026-06-01.xlsx"})
    assert shown == [
        ("a 的结果：a.result.xlsx", "结果已写入"),
        ("b 有错误，未发送：请看 errors/b.errors.xlsx", "文件未发送"),
    ], "results and errors name the clerk's file; update pages come without a notification"


def test_quit_stops_the_icon(pystray: ModuleType, agent: FakeAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    tray = make_tray(pystray, agent, TypedPins(), [])
    stopped: list[bool] = []
    monkeypatch.setattr(tray.icon, "stop", lambda: stopped.append(True))
    click(tray, "退出")
    assert stopped == [True]
