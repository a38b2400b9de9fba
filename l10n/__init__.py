"""What the clerk reads, in the clerk's language: the message table (``l10n.catalog``), the language setting and
local times (``l10n.times``).

Chinese is the default; ``[ui] language = "en"`` in agent.toml switches the agent's own words (tray, dialogs,
commands' output, spreadsheet headers) to English. Files that are records — errors and result messages — carry both
languages whatever the setting, as the center's answers do.
"""

from __future__ import annotations

from l10n.catalog import MESSAGES

__all__ = ["LANGUAGES", "MESSAGES", "both", "language", "pair", "say", "use"]

LANGUAGES = ("zh", "en")
_language = "zh"


def use(language: str) -> None:
    """Set the language of this process (``[ui] language``); ValueError for one the agent does not speak."""
    global _language
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    _language = language


def language() -> str:
    return _language


def say(key: str, **values: object) -> str:
    """The message ``key`` in this process's language, with ``values`` filled in."""
    zh, en = MESSAGES[key]
    return (zh if _language == "zh" else en).format(**values)


def both(key: str, **values: object) -> str:
    """The message in Chinese, then English: for files, whatever the setting."""
    zh, en = pair(key, **values)
    return f"{zh} / {en}"


def pair(key: str, **values: object) -> tuple[str, str]:
    """The message in both languages, filled in."""
    zh, en = MESSAGES[key]
    return zh.format(**values), en.format(**values)
