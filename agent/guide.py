"""业务规范 from the installed agent (the manual's chapter 12): 业务介绍 and 操作指南 (l10n.guide) and 填写规范
(inbox.rules), printed by ``eport-agent guide``, copied into the workspace's guide/ folder at init (and kept current
there), and shown in docs/CLERK.md between its guide markers.

    python -m agent.guide docs/CLERK.md     # rewrite the generated part of the clerk's guide
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from inbox.rules import filling_rules
from l10n.guide import PAGES

FOLDER = "guide"
RULES = "填写规范"
NAMES = {"intro": "业务介绍", "operations": "操作指南", "rules": RULES}  # the pages' English aliases
START, END = "<!-- guide:start -->", "<!-- guide:end -->"


def pages() -> dict[str, str]:
    """The three pages, in the manual's order, as Markdown text."""
    return {**{name: f"# {name}\n\n{text}" for name, text in PAGES.items()}, RULES: filling_rules()}


def page(name: str) -> str | None:
    """One page by its Chinese name or English alias (intro, operations, rules)."""
    return pages().get(NAMES.get(name.lower(), name))


def write_pages(folder: Path) -> list[Path]:
    """The pages as guide/<name>.md (UTF-8 with a byte-order mark, which Notepad needs to show Chinese), each
    rewritten only when it changed."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in pages().items():
        path = folder / f"{name}.md"
        data = "\ufeff".encode() + text.encode("utf-8")
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    return written


def with_guide(text: str) -> str:
    """docs/CLERK.md with its generated part (业务介绍, 操作指南) brought up to date."""
    body = "\n".join(f"## {name}\n\n{content}" for name, content in PAGES.items())
    block = f"{START}\n{body}{END}"
    return re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.write_text(with_guide(target.read_text(encoding="utf-8")), encoding="utf-8")
