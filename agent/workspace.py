"""The agent's workspace folders (README.md, Workspace): fixed names that clerks and tests rely on."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.guide import write_pages
from inbox.rules import write_templates
from inbox.schema import KINDS as BATCH_KINDS
from outbox.folders import OutboxFolders

KINDS = tuple(BATCH_KINDS)
CONFIG_NAME = "agent.toml"

DEFAULT_CENTER_URL = "http://127.0.0.1:8710"

_CONFIG_TEMPLATE = """\
# eport-agent configuration (see README.md, "Configuration").

[center]
# The data center's address. Plain http is accepted on loopback only.
url = "{center_url}"
# The center's CA certificate, pinned: receipts and the connection are checked against it.
ca_file = "state/center-ca.pem"

[card]
# "auto" uses the first PC/SC reader holding a card; a reader name picks one;
# "emulated" uses the emulated card in state/emulated-card.json (demo only, NOT for production).
reader = "{reader}"

[sync]
# Seconds between unattended syncs (a signed batch is also sent at once) ...
interval_seconds = {interval_seconds:g}
# ... and/or a cron schedule, e.g. every 5 minutes in business hours:
# cron = "*/5 8-18 * * mon-fri"
# When the center cannot be reached, retries back off up to this many seconds.
retry_max_seconds = {retry_max_seconds:g}

[inbox]
# true: look at the inbox folders every second instead of waiting for the system's file events
# (for an inbox on a network share, where events do not arrive). Either way the inbox is looked through at every sync.
polling = {polling}
# A file is taken once it has not changed for quiet_seconds (a slow export, a network copy pausing between
# pieces), or for close_settle_seconds after the program writing it closed it. Raise both for a slow network.
quiet_seconds = 3
close_settle_seconds = 1.5

[logs]
# logs/agent.log is rotated at this size, keeping this many older files.
max_bytes = 1048576
backups = 5

[ui]
# The agent's own words (tray, windows, commands, workbook headers): "zh" 中文 or "en" English.
# Errors and result messages in files carry both languages either way.
language = "zh"

[outbox]
# Results, errors, query answers, update pages, receipts and archived files older than this many days move into a
# month folder (e.g. results/2024-05/); nothing is deleted. FX paperwork is kept two years.
keep_days = 730

[access]
# The 17999 account this PC is online through, e.g. "02012345678@17999.e163" (the suffix cannot be left out).
# The center checks it when a timed or new annual card is registered: the account being registered must be this one.
{account_line}
"""


def config_text(
    center_url: str = DEFAULT_CENTER_URL,
    reader: str = "auto",
    interval_seconds: float = 60,
    *,
    retry_max_seconds: float = 300,
    account: str | None = None,
    polling: bool = False,
) -> str:
    """agent.toml with its comments, for these values (init writes the defaults; the demo and tests their own)."""
    return _CONFIG_TEMPLATE.format(
        center_url=center_url,
        reader=reader,
        interval_seconds=interval_seconds,
        retry_max_seconds=retry_max_seconds,
        polling="true" if polling else "false",
        account_line='# account = ""' if account is None else f'account = "{account}"',
    )


def remembered_file() -> Path:
    """Where ``init --workspace DIR`` notes DIR for this user, so that `run` at log-in (the autostart entry, the
    Startup folder) and the sync service find a workspace the clerk can see, e.g. D:\\出口收汇 or ~/出口收汇."""
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "eport-agent" / "workspace.txt"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "eport-agent" / "workspace"


def remember(root: Path) -> Path:
    """Note ``root`` as this user's workspace; returns the note's file."""
    note = remembered_file()
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(str(root.resolve()) + "\n", encoding="utf-8")
    return note


def default_root() -> Path:
    """EPORT_AGENT_HOME, else the workspace this user chose at init (remembered_file), else the per-user data
    folder of the platform."""
    if env := os.environ.get("EPORT_AGENT_HOME"):
        return Path(env)
    try:
        chosen = remembered_file().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        chosen = ""
    if chosen:
        return Path(chosen)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "eport-agent"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "eport-agent"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def out(self) -> OutboxFolders:
        return OutboxFolders(self.outbox)

    @property
    def results(self) -> Path:
        return self.out.results

    @property
    def receipts(self) -> Path:
        return self.out.receipts

    @property
    def errors(self) -> Path:
        return self.out.errors

    @property
    def queries(self) -> Path:
        return self.out.queries

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def store_file(self) -> Path:
        return self.state / "agent.db"

    def folders(self) -> list[Path]:
        fixed = [self.archive, self.root / "templates", self.root / "guide", self.state, self.logs]
        return [self.inbox, *(self.inbox / kind for kind in KINDS), *self.out.all(), *fixed]

    def init(self) -> None:
        """Create every folder, the templates and a default agent.toml; an existing configuration is kept."""
        for folder in self.folders():
            folder.mkdir(parents=True, exist_ok=True)
        write_templates(self.root / "templates", self._cached_ports())
        write_pages(self.root / "guide")  # 业务规范 (agent.guide): the tray's 业务规范 opens this folder
        if not self.config_file.exists():
            self.config_file.write_text(config_text(), encoding="utf-8")

    def _cached_ports(self) -> list[tuple[str, str]]:
        """The center's port table as the agent last fetched it, for the templates' port list (init again to
        refresh it)."""
        if not self.store_file.exists():
            return []
        from agent.store import Store

        return [(p["code"], p["name"]) for p in Store(self.store_file).ports()]

    def is_initialised(self) -> bool:
        return self.config_file.exists() and self.inbox.is_dir()
