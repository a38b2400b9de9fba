"""The message table speaks both languages for every entry, the setting picks one, and times a clerk reads are the
PC's local time with its offset."""

from __future__ import annotations

import datetime as dt
import string
from pathlib import Path

import pytest

import l10n
from agent.config import AgentConfig, ConfigError, use_workspace_language
from agent.workspace import Workspace
from l10n.catalog import MESSAGES
from l10n.times import local_text, offset_label
from tests.tables import local_zone


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_has_chinese_and_english_with_the_same_blanks(key: str) -> None:
    zh, en = MESSAGES[key]
    assert zh.strip() and en.strip()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), "the Chinese side is in Chinese"
    assert placeholders(zh) == placeholders(en)


def test_the_language_setting_picks_the_words_and_defaults_to_chinese(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    workspace.init()
    assert AgentConfig.load(workspace).language == "zh"
    use_workspace_language(workspace)
    assert l10n.say("menu.sync") == "立即同步"
    workspace.config_file.write_text(
        workspace.config_file.read_text(encoding="utf-8").replace('language = "zh"', 'language = "en"'),
        encoding="utf-8",
    )
    try:
        use_workspace_language(workspace)
        assert l10n.say("menu.sync") == "Sync now"
    finally:
        l10n.use("zh")
    workspace.config_file.write_text('[center]\nurl = "http://127.0.0.1:1"\n[ui]\nlanguage = "fr"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[ui\] language"):
        AgentConfig.load(workspace)


def test_times_are_shown_in_local_time_with_the_offset() -> None:
    with local_zone("Asia/Shanghai"):
        assert local_text("2026-06-01T12:00:05+00:00") == "2026-06-01 20:00:05+08:00"
        assert local_text("2026-06-01T12:00:05") == "2026-06-01 20:00:05+08:00", "the store's times are UTC"
        assert offset_label(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) == "UTC+08:00"
    assert local_text(None) == "" and local_text("not a time") == "not a time"
