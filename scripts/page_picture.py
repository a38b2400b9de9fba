"""Draws the README's picture of the status page from the real page: a center on loopback and an agent (emulated card,
in process) take three dropped files — one all OK, one with a refused row, one with a mistake — and headless chromium
(Debian's, as the tests drive it: tests/browser.py) photographs the page at 1366×768.

    .venv/bin/python scripts/page_picture.py docs/status-page.png
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import chromium, quietly  # noqa: E402
from tests.center_support import open_center, wait_for, wait_until  # noqa: E402
from tests.rigs import ENTERPRISE, loopback_agent  # noqa: E402


def drop(inbox: Path, name: str, rows: list[tuple[str, str]]) -> None:
    lines = ["form_no,port", *(f"{form},{port}" for form, port in rows)]
    (inbox / "filings" / name).write_bytes("\r\n".join(lines).encode("utf-8"))


async def draw(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with open_center(root, [ENTERPRISE]) as center:
            forms = center.issue_forms(ENTERPRISE, 6)
            async with loopback_agent(center, root / "ws", device=True) as (agent, workspace, _port):
                drop(workspace.inbox, "备案0601.csv", [(f, "2200") for f in forms[:3]])
                await wait_for(workspace.results / "备案0601.result.csv")
                drop(workspace.inbox, "备案0602.csv", [(forms[3], "2200"), ("ZZZ999999", "2200")])
                await wait_for(workspace.results / "备案0602.result.csv")
                drop(workspace.inbox, "备案0603.csv", [(forms[4], "9999")])
                await wait_for(workspace.errors / "备案0603.errors.csv")
                link = agent.page_link()
                assert link is not None

                def photograph() -> None:
                    with chromium() as browser:
                        browser.get(link)  # type: ignore[attr-defined]
                        wait_until(
                            quietly(lambda: len(browser.find_elements(By.CSS_SELECTOR, "tr.file")) == 3),  # type: ignore[attr-defined]
                            10,
                            "the three files did not show",
                        )
                        browser.save_screenshot(str(target))  # type: ignore[attr-defined]

                await asyncio.to_thread(photograph)


if __name__ == "__main__":
    asyncio.run(draw(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/status-page.png")))
