"""The tray's two small windows, in Tk: the PIN dialog and the status window.

Each runs its own Tk main loop on the calling thread (the tray's UI thread, never the tray's event thread). The
PIN dialog hands the PIN to ``unlock`` once per press of "Unlock" and forgets it: after a wrong PIN it shows the
tries left and waits for the clerk, it never tries again by itself; a blocked card closes the way to typing.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from l10n import say


def _tries(tries_left: int | None) -> str:
    return say("pin.ask") if tries_left is None else say("pin.ask_tries", tries=tries_left)


class PinDialog:
    """One PIN field, Unlock and Cancel. ``unlocked`` tells the caller how it ended."""

    def __init__(self, root: tk.Tk, unlock: Callable[[str], Mapping[str, Any]], tries_left: int | None) -> None:
        self.root = root
        self._unlock = unlock
        self.unlocked = False
        root.title(say("pin.title"))
        root.resizable(False, False)
        self.message = tk.StringVar(root, say("pin.blocked") if tries_left == 0 else _tries(tries_left))
        tk.Label(root, textvariable=self.message, wraplength=320, justify="left").pack(padx=16, pady=(16, 8))
        self.entry = tk.Entry(root, show="•", width=16)
        self.entry.pack(padx=16)
        buttons = tk.Frame(root)
        buttons.pack(padx=16, pady=16, anchor="e")
        self.ok = tk.Button(buttons, text=say("pin.unlock"), command=self.submit, default="active")
        self.ok.pack(side="left", padx=4)
        tk.Button(buttons, text=say("pin.cancel"), command=root.destroy).pack(side="left")
        root.bind("<Return>", lambda _event: self.submit())
        root.bind("<Escape>", lambda _event: root.destroy())
        if tries_left == 0:
            self._close_the_way()
        else:
            self.entry.focus_set()

    def submit(self) -> None:
        pin = self.entry.get()
        self.entry.delete(0, tk.END)  # the field never keeps the PIN after a try
        if not pin:
            return
        self.message.set(say("pin.checking"))
        self.root.update_idletasks()
        outcome = self._unlock(pin)
        if outcome["blocked"]:
            self.message.set(say("pin.blocked"))
            self._close_the_way()
        elif not outcome["unlocked"]:
            self.message.set(outcome["message"])
        else:
            self.unlocked = True
            self.root.destroy()

    def _close_the_way(self) -> None:
        self.entry.configure(state="disabled")
        self.ok.configure(state="disabled")


def ask_pin(unlock: Callable[[str], Mapping[str, Any]], tries_left: int | None) -> bool:
    """Show the PIN dialog until it is closed; True when the card was unlocked."""
    root = tk.Tk()
    root.attributes("-topmost", True)  # asked for from the tray: it must not open behind the clerk's windows
    dialog = PinDialog(root, unlock, tries_left)
    root.mainloop()
    return dialog.unlocked


def show_status(lines: Sequence[str]) -> None:
    """A read-only window with the agent's status, one line per fact."""
    root = tk.Tk()
    root.title(say("status.title"))
    tk.Label(root, text="\n".join(lines), justify="left", anchor="w").pack(padx=16, pady=(16, 8), fill="x")
    tk.Button(root, text=say("status.close"), command=root.destroy).pack(pady=(0, 16))
    root.bind("<Escape>", lambda _event: root.destroy())
    root.mainloop()
