"""agent.toml, read once at start-up into plain values."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apscheduler.triggers.base import BaseTrigger

from agent.workspace import Workspace
from inbox.watcher import CLOSE_SETTLE_SECONDS, QUIET_SECONDS
from l10n import LANGUAGES, use
from sync.access import ACCOUNT_SUFFIX, is_account
from sync.schedule import sync_trigger

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


class ConfigError(Exception):
    """agent.toml is missing, unreadable or holds a value the agent cannot use."""


def _access_account(section: dict[str, object]) -> str | None:
    account = str(section.get("account", "")).strip()
    if account and not is_account(account):
        raise ConfigError(
            f"[access] account {account!r} is not a 17999 account: it is xxxxxxxxxxx{ACCOUNT_SUFFIX}, and the suffix "
            "can be neither left out nor changed"
        )
    return account or None


def check_center_url(url: str, what: str = "the center's address") -> str:
    """The center's address without a trailing slash; plain http only on loopback (docs/ARCHITECTURE.md, The wire)."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} {url!r} is not an http(s) address")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(f"{what} {url!r}: plain http is allowed on loopback only; use https")
    return url


def _flag(section: dict[str, object], key: str, name: str) -> bool:
    value = section.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, not {value!r}")
    return value


def _whole(section: dict[str, object], key: str, default: int, name: str) -> int:
    value = section.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{name} must be a whole number of at least 0, not {value!r}")
    return value


def _language(section: dict[str, object]) -> str:
    language = str(section.get("language", "zh")).strip().lower()
    if language not in LANGUAGES:
        raise ConfigError(f"[ui] language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    return language


def _seconds(section: dict[str, Any], key: str, default: float) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 600:
        raise ConfigError(f"[inbox] {key} must be a number of seconds from 0 to 600, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class AgentConfig:
    center_url: str
    ca_file: Path
    card_reader: str
    sync_interval: float | None
    sync_cron: str | None = None
    retry_cap: float = 300.0
    access_account: str | None = None  # the 17999 account this PC is online through (sync.access)
    inbox_polling: bool = False  # poll the inbox (network shares) instead of the system's file events
    inbox_quiet: float = QUIET_SECONDS  # [inbox] quiet_seconds: a file unchanged this long is complete
    inbox_settle: float = CLOSE_SETTLE_SECONDS  # [inbox] close_settle_seconds: the same after its writer closed it
    log_max_bytes: int = 1 << 20
    log_backups: int = 5
    language: str = "zh"  # [ui] language: the agent's own words, "zh" or "en" (l10n)
    keep_days: int = 730  # [outbox] keep_days: older outputs move into month folders (outbox.tidy)

    def sync_trigger(self) -> BaseTrigger:
        return sync_trigger(self.sync_interval, self.sync_cron)

    @classmethod
    def load(cls, workspace: Workspace) -> AgentConfig:
        try:
            data = tomllib.loads(workspace.config_file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{workspace.config_file} not found: run 'eport-agent init' first") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{workspace.config_file} is not valid TOML: {exc}") from exc
        center, card, sync = data.get("center", {}), data.get("card", {}), data.get("sync", {})
        url = check_center_url(str(center.get("url", "")), "[center] url")
        cron = sync.get("cron")
        interval = sync.get("interval_seconds", None if cron else 60)
        if interval is not None and float(interval) < 1:
            raise ConfigError("[sync] interval_seconds must be at least 1")
        ca_file = Path(str(center.get("ca_file", "state/center-ca.pem")))
        config = cls(
            center_url=url,
            ca_file=ca_file if ca_file.is_absolute() else workspace.root / ca_file,
            card_reader=str(card.get("reader", "auto")),
            sync_interval=None if interval is None else float(interval),
            sync_cron=None if cron is None else str(cron),
            retry_cap=float(sync.get("retry_max_seconds", 300)),
            access_account=_access_account(data.get("access", {})),
            inbox_polling=_flag(data.get("inbox", {}), "polling", "[inbox] polling"),
            inbox_quiet=_seconds(data.get("inbox", {}), "quiet_seconds", QUIET_SECONDS),
            inbox_settle=_seconds(data.get("inbox", {}), "close_settle_seconds", CLOSE_SETTLE_SECONDS),
            log_max_bytes=_whole(data.get("logs", {}), "max_bytes", 1 << 20, "[logs] max_bytes"),
            log_backups=_whole(data.get("logs", {}), "backups", 5, "[logs] backups"),
            language=_language(data.get("ui", {})),
            keep_days=_whole(data.get("outbox", {}), "keep_days", 730, "[outbox] keep_days"),
        )
        try:
            config.sync_trigger()
        except ValueError as exc:
            raise ConfigError(f"[sync] cron {cron!r} is not a cron expression: {exc}") from exc
        return config


def use_workspace_language(workspace: Workspace) -> None:
    """Speak the language agent.toml's [ui] sets (Chinese when there is none, or it cannot be read: the command
    reports that itself)."""
    try:
        use(AgentConfig.load(workspace).language if workspace.config_file.exists() else "zh")
    except ConfigError:
        use("zh")
