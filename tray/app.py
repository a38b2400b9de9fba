"""The tray icon: a thin front end over the agent facade.

It only calls the facade (``status``, ``request_sync``, ``pause``, ``resume``, ``try_unlock``, ``subscribe``), never the
engine's insides. The engine runs its event loop on another thread; the tray's own thread only draws: it polls
``status()`` from pystray's setup thread, and anything slow — the PIN dialog and the card I/O of unlocking, the
status window — runs on one UI worker thread.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from l10n import say
from l10n.times import local_text
from tray.icons import draw_icon
from tray.state import TrayView, tray_view

log = logging.getLogger("eport.tray")


class AgentFacade(Protocol):
    def status(self) -> dict[str, Any]: ...

    def request_sync(self, force: bool = False) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def try_unlock(self, pin: str) -> Mapping[str, Any]: ...

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None: ...

    def page_link(self) -> str | None: ...


class Dialogs(Protocol):
    """tray.dialogs, or a stand-in in tests."""

    def ask_pin(self, unlock: Callable[[str], Mapping[str, Any]], tries_left: int | None) -> bool: ...

    def show_status(self, lines: Sequence[str]) -> None: ...


def load_backend() -> ModuleType | None:
    """pystray, ready to draw; None when there is no desktop to draw on (the reason is logged, once)."""
    explicit = os.environ.get("PYSTRAY_BACKEND")
    if sys.platform.startswith("linux") and not explicit and not os.environ.get("DISPLAY"):
        log.info("no display (DISPLAY is not set): running headless, without the tray icon")
        return None
    try:
        import pystray
    except Exception as exc:  # without a desktop pystray raises Xlib's errors, not only ImportError
        log.info("no tray icon (%s): running headless", exc)
        return None
    return pystray


def load_dialogs() -> Dialogs | None:
    try:
        from tray import dialogs
    except ImportError:  # Python built without Tk
        return None
    return dialogs


def open_folder(path: Path) -> None:
    """Show a folder in the desktop's file manager."""
    try:
        if sys.platform == "win32":
            os.startfile(path)  # type: ignore[attr-defined]  # Windows only
        else:
            subprocess.Popen(["open" if sys.platform == "darwin" else "xdg-open", str(path)])
    except OSError as exc:  # no file manager: the clerk still has the path in the log
        log.warning("cannot open %s: %s", path, exc)


def open_link(url: str) -> None:
    """Open the status page in the clerk's browser."""
    import webbrowser

    if not webbrowser.open(url):
        log.warning("no browser to open the status page: open %s", url.partition("?")[0])


def _notice(event: dict[str, Any]) -> tuple[str, str] | None:
    """A notification's title and text, naming the clerk's file (its outputs are named after it); None for what
    comes without one (update pages)."""
    path = Path(event["path"])
    source = path.name.split(".", 1)[0]
    if event["type"] == "errors":
        return say("notice.errors_title"), say("notice.errors", name=source, report=f"{path.parent.name}/{path.name}")
    if event["type"] == "result":
        return say("notice.result_title"), say("notice.result", name=source, result=path.name)
    return None


class TrayApp:
    def __init__(
        self,
        agent: AgentFacade,
        pystray: ModuleType,
        inbox: Path,
        outbox: Path,
        poll: float = 1.0,
        dialogs: Dialogs | None = None,
        show_folder: Callable[[Path], None] = open_folder,
        show_page: Callable[[str], None] = open_link,
        guide: Path | None = None,
    ) -> None:
        self.agent = agent
        self.inbox, self.outbox = inbox, outbox
        self.guide = guide  # 业务规范: the workspace's guide/ folder (agent.guide)
        self._poll = poll
        self._dialogs = dialogs
        self._show_folder = show_folder
        self._show_page = show_page
        self._stopped = threading.Event()
        self._ui = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tray-ui")
        self._refreshing = threading.Lock()  # the poll, the menu and the UI thread all refresh
        self._status = agent.status()
        self.view = tray_view(self._status)
        # Plain X shows no tooltip, and pystray's X backend sets the window name as Latin-1: a Chinese one fails there.
        self._plain_x = pystray.Icon.__module__.endswith("_xorg")
        self.icon = pystray.Icon("eport-agent", draw_icon(self.view.level), self._title(self.view), self._menu(pystray))
        agent.subscribe(self._written)

    def _menu(self, pystray: ModuleType) -> Any:
        item, menu = pystray.MenuItem, pystray.Menu
        return menu(
            # On X the icon has no menu, only a click: it unlocks a locked card, else shows the status.
            item(
                say("menu.unlock"),
                self.unlock,
                default=self._locked,
                enabled=lambda _item: self.view.card != "unlocked",
            ),
            item(say("menu.sync"), self.sync_now),
            item(say("menu.inbox"), lambda: self._show_folder(self.inbox)),
            item(say("menu.outbox"), lambda: self._show_folder(self.outbox)),
            item(lambda _item: say("menu.resume") if self.view.paused else say("menu.pause"), self.toggle_pause),
            item(say("menu.status"), self.show_status, default=lambda menu_item: not self._locked(menu_item)),
            item(say("menu.page"), self.open_page),
            item(say("menu.guide"), self.open_guide, visible=self.guide is not None),
            menu.SEPARATOR,
            item(say("menu.quit"), self.stop),
        )

    def _title(self, view: TrayView) -> str:
        return "eport-agent" if self._plain_x else view.tooltip

    def _locked(self, _item: Any) -> bool:
        return self.view.card == "locked"

    # -- running --------------------------------------------------------------------------------------------

    def run(self) -> None:
        """Show the icon until Quit, Ctrl-C or SIGTERM; call from the main thread."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda _signum, _frame: self.stop())
        self.icon.run(self._watch)
        self._ui.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        self._stopped.set()
        self.icon.stop()

    def _watch(self, icon: Any) -> None:
        icon.visible = True
        while not self._stopped.wait(self._poll):
            try:
                self.refresh()
            except Exception:  # a failed look is logged; the icon stays and looks again
                log.exception("tray: status failed")

    def refresh(self) -> TrayView:
        """Ask the agent and redraw what changed."""
        with self._refreshing:
            self._status = self.agent.status()
            view = tray_view(self._status)
            if view.level is not self.view.level:
                self.icon.icon = draw_icon(view.level)
            if view.tooltip != self.view.tooltip:
                self.icon.title = self._title(view)
            if (view.card, view.paused) != (self.view.card, self.view.paused):
                self.icon.update_menu()
            self.view = view
            return view

    # -- menu actions (pystray's thread: quick, or handed to the UI thread) ------------------------------------

    def sync_now(self) -> None:
        self.agent.request_sync(force=True)  # the clerk asked: no waiting for a retry

    def toggle_pause(self) -> None:
        if self.view.paused:
            self.agent.resume()
        else:
            self.agent.pause()
        self.refresh()

    def unlock(self) -> None:
        self._ui.submit(self._ask_pin)

    def open_page(self) -> None:
        """The status page in the browser, through a one-time link the agent makes now."""
        link = self.agent.page_link()
        if link is not None:
            self._ui.submit(self._show_page, link)

    def open_guide(self) -> None:
        """业务规范: the guide pages copied into the workspace (业务介绍, 操作指南, 填写规范)."""
        if self.guide is not None:
            self._show_folder(self.guide)

    def show_status(self) -> None:
        self._ui.submit(self._show_status)

    def _ask_pin(self) -> None:
        if self._dialogs is None:
            self._notify(say("notice.locked_title"), say("notice.locked"))
            return
        try:
            if self._dialogs.ask_pin(self.agent.try_unlock, self._tries_left()):
                self.refresh()
        except Exception:
            log.exception("tray: the PIN dialog failed")

    def _tries_left(self) -> int | None:
        tries = self._status.get("pin_tries_left")
        return tries if isinstance(tries, int) else None

    def _show_status(self) -> None:
        view = self.refresh()
        lines = [*view.reasons, "", *view.tooltip.splitlines()[1:]]
        if self._status.get("last_sync"):
            lines.append(say("status.last_sync", time=local_text(self._status["last_sync"])))
        if self._dialogs is None:
            self._notify(say("tray.title"), "; ".join(view.reasons))
            return
        try:
            self._dialogs.show_status(lines)
        except Exception:
            log.exception("tray: the status window failed")

    # -- notifications (the engine's worker thread) ------------------------------------------------------------

    def _written(self, event: dict[str, Any]) -> None:
        notice = _notice(event)
        if notice is not None:
            self._notify(*notice)

    def _notify(self, title: str, message: str) -> None:
        if self.icon.HAS_NOTIFICATION:
            try:
                self.icon.notify(message, title)
                return
            except NotImplementedError:
                pass
        log.info("%s: %s", title, message)  # the backend shows no notifications (plain X): the log has it
