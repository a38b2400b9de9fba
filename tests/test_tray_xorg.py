"""The tray on a real X server (Xvfb) with pystray's xorg backend, docked in a real system tray (trayer).

`eport-agent run` is started as the clerk would start it, with an emulated card; the test moves the agent through
its states with the control channel and the inbox, and reads the icon's colour off screenshots of the X screen.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tkinter as tk
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import ImageGrab

from agent.card.emulated import EmulatedPivCard, self_signed_certificate
from agent.card.errors import InvalidPinError, PinBlockedError
from agent.control import CONTROL_FILE, AgentNotRunning, ControlClient
from agent.workspace import Workspace, config_text
from l10n import say
from tests.center_support import wait_until
from tray.dialogs import PinDialog
from tray.icons import COLOURS
from tray.state import Level

PIN = "135790"
SCREEN = "320x240x24"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private Xvfb server on a free display number (Xvfb picks it and tells us through -displayfd)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (scripts/install.sh --test installs it)")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", SCREEN, "-nolisten", "tcp"],
        pass_fds=(write,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as announced:
            number = announced.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def system_tray(display: str) -> Iterator[None]:
    """trayer, docked at the top left: it owns the tray selection and shows docked icons."""
    if shutil.which("trayer") is None:
        pytest.skip("trayer is not installed (scripts/install.sh --test installs it)")
    import Xlib.display

    # Docked at the top left, sized to its icons; no dock type or strut: there is no window manager to read them.
    options = ["--edge", "top", "--align", "left", "--widthtype", "request", "--height", "32"]
    tray = subprocess.Popen(
        ["trayer", *options, "--SetDockType", "false", "--SetPartialStrut", "false"],
        env={**os.environ, "DISPLAY": display},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # GTK 2 complains about the missing window manager; harmless
    )
    x = Xlib.display.Display(display)
    selection = x.intern_atom("_NET_SYSTEM_TRAY_S0")
    try:
        wait_until(lambda: x.get_selection_owner(selection) != 0, 10, "trayer did not take the tray selection")
        yield
    finally:
        x.close()
        _stop(tray)


def shown_level(display: str) -> Level | None:
    """The level whose colour covers most of the screen's coloured pixels (the screen is black elsewhere)."""
    screen = ImageGrab.grab(xdisplay=display).convert("RGB")
    counts = {level: 0 for level in Level}
    for count, pixel in screen.getcolors(screen.width * screen.height) or []:
        for level, colour in COLOURS.items():
            if sum(abs(a - b) for a, b in zip(pixel, colour, strict=True)) < 30:
                counts[level] += count
    level, count = max(counts.items(), key=lambda item: item[1])
    return level if count > 100 else None  # a docked 32-pixel disc has about 500 pixels of its colour


def wait_for_level(display: str, level: Level, shots: Path, name: str) -> None:
    last: list[Level | None] = []

    def shows() -> bool:
        last.append(shown_level(display))
        return last[-1] is level

    try:
        wait_until(shows, 10, f"the tray did not turn {level.value} (it shows {last[-1:]})")
    finally:
        ImageGrab.grab(xdisplay=display).save(shots / f"{name}.png")  # kept with the test's files for a look


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An emulated card and a center that is not there (a closed loopback port): nothing here needs one."""
    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = self_signed_certificate(key)
    EmulatedPivCard(pin=PIN, key=key, certificate=certificate).save(workspace.state / "emulated-card.json")
    (workspace.state / "center-ca.pem").write_bytes(certificate.public_bytes(Encoding.PEM))
    workspace.config_file.write_text(config_text("http://127.0.0.1:9", "emulated"), encoding="utf-8")
    return workspace


@contextlib.contextmanager
def tray_agent(display: str, workspace: Workspace, tmp_path: Path) -> Iterator[ControlClient]:
    """`eport-agent run` with its tray icon on the virtual display; stopped by SIGTERM, and checked to have
    stopped cleanly."""
    log = (tmp_path / "agent.log").open("wb")
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--workspace", str(workspace.root)],
        env={**os.environ, "DISPLAY": display, "PYSTRAY_BACKEND": "xorg"},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: (workspace.state / CONTROL_FILE).exists(), 20, "the agent did not start")
        yield ControlClient.for_state(workspace.state)
    finally:
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(15)
        log.close()
    output = (tmp_path / "agent.log").read_text(encoding="utf-8")
    assert code == 0, output
    assert "见系统托盘图标" in output and "headless" not in output
    assert not (workspace.state / CONTROL_FILE).exists()  # stopped cleanly: the channel is withdrawn
    with pytest.raises(AgentNotRunning):
        ControlClient.for_state(workspace.state)


def test_the_icon_follows_the_agent_through_its_states(
    display: str, system_tray: None, workspace: Workspace, tmp_path: Path
) -> None:
    with tray_agent(display, workspace, tmp_path) as control:
        wait_for_level(display, Level.ATTENTION, tmp_path, "1-card-locked")
        control.unlock(PIN)
        # Unlocked; the center (nothing listens at its address) has not answered yet: a short outage, retried.
        wait_for_level(display, Level.WORKING, tmp_path, "2-unlocked-center-away")

        # A batch is signed but the center does not answer: it is on its way, retried.
        (workspace.inbox / "filings" / "a.csv").write_text("form_no,port\n000000001,2200\n", encoding="utf-8")
        wait_until(lambda: control.status()["batches"] in ({"signed": 1}, {"sent": 1}), 15, "the batch was not signed")
        wait_for_level(display, Level.WORKING, tmp_path, "3-sending")


def test_the_icon_turns_red_when_wrong_pins_block_the_card(
    display: str, system_tray: None, workspace: Workspace, tmp_path: Path
) -> None:
    with tray_agent(display, workspace, tmp_path) as control:
        wait_for_level(display, Level.ATTENTION, tmp_path, "1-card-locked")
        for tries_left in (2, 1):
            with pytest.raises(InvalidPinError) as wrong:
                control.unlock("000000")
            assert wrong.value.tries_left == tries_left
        with pytest.raises(PinBlockedError):
            control.unlock("000000")
        wait_for_level(display, Level.ERROR, tmp_path, "4-card-blocked")


def test_without_a_display_the_agent_runs_headless_and_says_so(workspace: Workspace, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "PYSTRAY_BACKEND")}
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--workspace", str(workspace.root)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: (workspace.state / CONTROL_FILE).exists(), 20, "the agent did not start")
        assert ControlClient.for_state(workspace.state).status()["card"] == "locked"
    finally:
        agent.send_signal(signal.SIGTERM)
        output, _ = agent.communicate(timeout=15)
    text = output.decode("utf-8")
    assert agent.returncode == 0, text
    assert text.count("running headless") == 1


class CardStandIn:
    """The card behind the dialog: ``unlock`` answers as a card with 3 tries would."""

    def __init__(self) -> None:
        self.tries = 3
        self.pins: list[str] = []

    def unlock(self, pin: str) -> dict[str, Any]:
        """As Agent.try_unlock answers for such a card."""
        self.pins.append(pin)
        if self.tries and pin != PIN:
            self.tries -= 1
        if self.tries == 0:
            return {"unlocked": False, "tries_left": 0, "blocked": True, "message": "blocked"}
        if pin != PIN:
            message = f"密码错误：再输错 {self.tries} 次，卡将被锁死。"
            return {"unlocked": False, "tries_left": self.tries, "blocked": False, "message": message}
        return {"unlocked": True, "tries_left": None, "blocked": False, "message": "unlocked"}


@pytest.fixture
def tk_root(display: str) -> Iterator[tk.Tk]:
    root = tk.Tk(screenName=display)
    yield root
    with contextlib.suppress(tk.TclError):  # the dialog destroys its window itself on success
        root.destroy()


def test_the_pin_dialog_shows_tries_left_and_never_tries_again(tk_root: tk.Tk) -> None:
    card = CardStandIn()
    dialog = PinDialog(tk_root, card.unlock, 3)
    assert "再输错 3 次" in dialog.message.get()
    dialog.entry.insert(0, "000000")
    dialog.submit()
    assert card.pins == ["000000"]
    assert dialog.message.get() == "密码错误：再输错 2 次，卡将被锁死。"
    assert dialog.entry.get() == ""  # the PIN does not stay in the field
    tk_root.update()
    assert card.pins == ["000000"]  # nothing retried while the dialog waits for the clerk

    dialog.entry.insert(0, PIN)
    dialog.submit()
    assert dialog.unlocked and card.pins == ["000000", PIN]


def test_a_blocked_card_closes_the_dialogs_way_and_says_what_to_do(tk_root: tk.Tk) -> None:
    card = CardStandIn()
    dialog = PinDialog(tk_root, card.unlock, 1)
    card.tries = 1
    dialog.entry.insert(0, "000000")
    dialog.submit()
    assert dialog.message.get() == say("pin.blocked")
    assert "发卡机构" in say("pin.blocked")
    assert str(dialog.entry["state"]) == "disabled" and str(dialog.ok["state"]) == "disabled"
    assert not dialog.unlocked


def test_a_card_already_blocked_is_reported_before_any_pin_is_typed(tk_root: tk.Tk) -> None:
    dialog = PinDialog(tk_root, CardStandIn().unlock, 0)
    assert dialog.message.get() == say("pin.blocked")
    assert str(dialog.entry["state"]) == "disabled"
