"""The clerk's status page, through a real browser (Debian's chromium, tests/browser.py): an agent with the emulated
card in process and a real center on loopback (tests/rigs.py). The agent runs on the test's event loop; the clerk's
browser is driven from a thread of its own, waiting for what the clerk would see with deadlines."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from center.service import Center
from tests.browser import chromium, quietly, skip_without_browser
from tests.center_support import open_access, open_center, wait_until
from tests.rigs import ENTERPRISE, PIN, loopback_agent

pytestmark = pytest.mark.slow


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    skip_without_browser()
    with chromium() as driver:
        yield driver  # type: ignore[misc]


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    """A center whose enterprise has no 17999 account yet: its business is refused until one is registered."""
    with open_center(tmp_path, [ENTERPRISE], access=False) as center:
        yield center


def clerk(work: Callable[..., Any], *args: Any) -> Any:
    """What the clerk does in the browser, off the event loop the agent runs on."""
    return asyncio.to_thread(work, *args)


def text_of(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def row(driver: WebDriver, name: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, f'tr.file[data-name="{name}"]')


def step_done(driver: WebDriver, name: str, step: str) -> bool:
    found = row(driver, name).find_element(By.CSS_SELECTOR, f'li[data-step="{step}"]')
    return "done" in str(found.get_attribute("class"))


def drop(inbox: Path, name: str, forms: list[str], port: str = "2200") -> float:
    """A filing file dropped as Excel would save it; the moment it was complete."""
    lines = ["form_no,port", *(f"{form},{port}" for form in forms)]
    (inbox / "filings" / name).write_bytes("\r\n".join(lines).encode("utf-8"))
    return time.monotonic()


def post_without_csrf(driver: WebDriver, path: str) -> int:
    """A form posted by a script that knows the cookie's page but not the form token: the status it got."""
    answer = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {method: 'POST', body: new URLSearchParams({}), credentials: 'same-origin'})"
        ".then(r => done(r.status), () => done(0));",
        path,
    )
    return int(answer)


async def test_the_clerk_follows_a_dropped_file_from_drop_to_its_result_and_receipt(
    center: Center, tmp_path: Path, browser: WebDriver
) -> None:
    open_access(center, ENTERPRISE)
    forms = center.issue_forms(ENTERPRISE, 2)
    async with loopback_agent(center, tmp_path / "ws", device=True) as (agent, workspace, _port):
        link = agent.page_link()
        assert link is not None and json.loads((workspace.state / "control.json").read_text())["token"] not in link

        def open_page_and_drop() -> float:
            browser.get(link)
            assert browser.title == "出口收汇 状态"
            wait_until(
                quietly(lambda: text_of(browser, "[data-card]") == "已解锁"), 5, "the card was not shown unlocked"
            )
            assert "可以连接" in text_of(browser, "#center-fact")
            dropped = drop(workspace.inbox, "备案0601.csv", forms)
            wait_until(quietly(lambda: row(browser, "备案0601.csv")), 10, "the dropped file did not appear")
            appeared = time.monotonic() - dropped
            wait_until(
                quietly(lambda: step_done(browser, "备案0601.csv", "written")), 10, "the file did not reach its result"
            )
            shown = row(browser, "备案0601.csv").text
            assert "口岸备案" in shown and "全部成功" in shown and "成功 2 / 拒绝 0" in shown
            return appeared

        appeared = await clerk(open_page_and_drop)
        assert appeared < 2.0, f"the dropped file took {appeared:.2f} s to appear on the page"

        def open_result_and_receipt() -> None:
            row(browser, "备案0601.csv").find_element(By.CSS_SELECTOR, '[data-link="result"]').click()
            wait_until(quietly(lambda: text_of(browser, "#viewed") == "备案0601.result.csv"), 5, "no result shown")
            cells = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "table.sheet td")]
            assert cells.count("OK") >= 2 and forms[0] in cells
            browser.back()
            wait_until(quietly(lambda: row(browser, "备案0601.csv")), 5, "the files page did not come back")
            row(browser, "备案0601.csv").find_element(By.CSS_SELECTOR, '[data-link="verify"]').click()
            wait_until(quietly(lambda: text_of(browser, "#verdict") == "有效"), 5, "the receipt was not found valid")

        await clerk(open_result_and_receipt)

        # A receipt that no longer matches this batch is said to be invalid.
        receipt = workspace.receipts / "备案0601.receipt.jws"
        head, payload, signature = receipt.read_text().split(".")
        receipt.write_text(f"{head}.{payload[:-4]}AAAA.{signature}")

        def check_again() -> None:
            browser.refresh()
            wait_until(quietly(lambda: text_of(browser, "#verdict") == "无效"), 5, "a changed receipt was found valid")

        await clerk(check_again)

        def see_the_forms() -> None:  # the forms as the update feed told them, with a form's history
            def listed() -> bool:
                browser.get(link.partition("/page/")[0] + f"/page/forms?q={forms[0]}")
                return "已上传海关" in text_of(browser, f'tr[data-form="{forms[0]}"]')

            wait_until(quietly(listed), 10, "the filed form did not show in the forms list")
            browser.find_element(By.LINK_TEXT, forms[0]).click()
            wait_until(quietly(lambda: "已上传海关" in text_of(browser, "table.forms tbody")), 5, "no history shown")

        await clerk(see_the_forms)


async def test_a_refused_batch_is_sent_again_from_the_page_once_its_cause_is_put_right(
    center: Center, tmp_path: Path, browser: WebDriver
) -> None:
    forms = center.issue_forms(ENTERPRISE, 1)
    async with loopback_agent(center, tmp_path / "ws", device=True) as (agent, workspace, _port):
        link = agent.page_link()

        def see_it_refused() -> None:
            browser.get(link)
            drop(workspace.inbox, "june.csv", forms)
            wait_until(quietly(lambda: "整批拒绝" in row(browser, "june.csv").text), 10, "the refusal was not shown")

        await clerk(see_it_refused)
        open_access(center, ENTERPRISE)  # the enterprise registers its 17999 account

        def send_again() -> None:
            line = row(browser, "june.csv")
            line.find_element(By.CSS_SELECTOR, "details.confirm summary").click()
            line.find_element(By.CSS_SELECTOR, "details.confirm button").click()
            wait_until(
                quietly(lambda: "june.重发1.csv" in text_of(browser, "#note")), 5, "the resend was not confirmed"
            )
            wait_until(
                quietly(lambda: step_done(browser, "june.重发1.csv", "written")), 10, "the copy did not get its result"
            )
            again = row(browser, "june.重发1.csv").text
            assert "全部成功" in again and "第 1 次重发" in again
            assert "整批拒绝" in row(browser, "june.csv").text  # the first copy stays as it was

        await clerk(send_again)
        assert (workspace.results / "june.重发1.result.csv").exists()


async def test_a_locked_card_is_unlocked_from_the_page_once_per_pin_entered(
    center: Center, tmp_path: Path, browser: WebDriver
) -> None:
    async with loopback_agent(center, tmp_path / "ws", unlocked=False) as (agent, _workspace, _port):
        assert agent.card is not None
        await asyncio.to_thread(
            agent.card.certificate
        )  # the card is looked at, as a reader's watcher does at insertion
        link = agent.page_link()

        def unlock(pin: str) -> None:
            browser.find_element(By.CSS_SELECTOR, "#unlock-form input[name=pin]").send_keys(pin)
            browser.find_element(By.CSS_SELECTOR, "#unlock-form button").click()

        def unlock_from_the_page() -> None:
            browser.get(link)
            wait_until(quietly(lambda: text_of(browser, "[data-card]") == "已锁定"), 5, "the card was not shown locked")
            assert "剩余 3 次" in text_of(browser, "#card-fact")
            unlock("000000")
            wait_until(quietly(lambda: "还剩 2 次" in text_of(browser, "#note")), 5, "the wrong PIN was not told")
            assert "剩余 2 次" in text_of(browser, "#card-fact")  # tried once: nothing tried it again
            unlock(PIN)
            wait_until(quietly(lambda: text_of(browser, "#note") == "IC卡已解锁"), 5, "the unlock was not told")
            wait_until(
                quietly(lambda: text_of(browser, "[data-card]") == "已解锁"), 5, "the card did not show unlocked"
            )

        await clerk(unlock_from_the_page)
        assert agent.status()["card"] == "unlocked"


async def test_without_the_link_the_page_is_refused_and_so_is_a_post_without_its_form_token(
    center: Center, tmp_path: Path, browser: WebDriver
) -> None:
    async with loopback_agent(center, tmp_path / "ws") as (agent, _workspace, _port):
        link = agent.page_link()
        assert link is not None
        page = link.partition("/page/")[0] + "/page/"

        def refused_then_let_in() -> int:
            browser.get(page)
            assert "需要访问令牌" in browser.find_element(By.TAG_NAME, "body").text
            browser.get(link)
            wait_until(quietly(lambda: browser.find_element(By.ID, "live")), 5, "the link did not open the page")
            assert "ticket" not in browser.current_url  # the one-time ticket leaves the address bar at once
            return post_without_csrf(browser, "/page/pause")

        assert await clerk(refused_then_let_in) == 403
        assert agent.status()["paused"] is False

        def used_again(url: str) -> int:  # another browser (no cookie) with the link already used
            try:
                with urllib.request.urlopen(url) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as refused:
                return refused.code

        assert await asyncio.to_thread(used_again, link) == 403
        assert await asyncio.to_thread(used_again, page) == 403
