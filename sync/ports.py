"""Finding a port as the manual lets a clerk type it (第五章, 第六章: "模糊输入口岸名称或代码…从弹出的下拉列表中选择"):
part of a code or of a name, best matches first. Shared by the agent (its cached table: ``eport-agent ports search``
and the candidates in an errors file) and the center (the candidates in ``PORT_NOT_FOUND``)."""

from __future__ import annotations

from collections.abc import Iterable

CANDIDATES = 5  # how many a message offers
# Words that every port's name shares: left out when a name is matched character by character.
COMMON = frozenset("海关口岸办事处")


def search(ports: Iterable[tuple[str, str]], text: str, limit: int = 20) -> list[tuple[str, str]]:
    """(code, name) pairs for ``text``: the exact code or name, then codes starting with it, names starting with it,
    names containing it; failing all of these, names sharing the most of its characters (a mistyped name)."""
    text = text.strip()
    if not text:
        return []
    ranked: list[tuple[int, int, str, str]] = []
    for code, name in ports:
        if text in (code, name):
            rank = 0
        elif code.startswith(text):
            rank = 1
        elif name.startswith(text):
            rank = 2
        elif text in name:
            rank = 3
        else:
            continue
        ranked.append((rank, 0, code, name))
    if not ranked:
        wanted = set(text) - COMMON
        for code, name in ports:
            shared = len(wanted & set(name))
            if shared:
                ranked.append((4, -shared, code, name))
    return [(code, name) for _, _, code, name in sorted(ranked)[:limit]]


def candidates_text(found: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """The candidates as a message's tail, (Chinese, English): "，您是否要填：5300 深圳海关、5301 皇岗海关"."""
    listed = [f"{code} {name}" for code, name in found]
    if not listed:
        return "", ""
    return f"，您是否要填：{'、'.join(listed)}", f"; did you mean: {', '.join(listed)}"
