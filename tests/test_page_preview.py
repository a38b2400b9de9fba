"""The status page's preview before an irreversible operation (核对): the clerk names the operation and a form or a run
of forms, the agent writes a check file into inbox/checks/ and sends it like any other, and the center's answer — what
the operation would do to each form, or why it cannot be done — shows on the page. An agent with the emulated card in
process and a real center on loopback (tests/rigs.py); the browser test drives Debian's chromium (tests/browser.py)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

import l10n
from agent.facade import Agent
from center.service import Center
from tests.browser import chromium, quietly, skip_without_browser
from tests.center_support import eventually, open_center, status, wait_until
from tests.rigs import ENTERPRISE, loopback_agent

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    with open_center(tmp_path, [ENTERPRISE]) as center:
        yield center


def inbox_files(inbox: Path) -> list[Path]:
    return [path for path in inbox.rglob("*") if path.is_file()]


@pytest.fixture
async def page(center: Center, tmp_path: Path) -> AsyncIterator[tuple[Agent, Path, aiohttp.ClientSession, str]]:
    """The agent, its inbox, a browser-like client signed in through the page's one-time link, and the form token."""
    async with loopback_agent(center, tmp_path / "ws") as (agent, workspace, _port):
        link = agent.page_link()
        assert link is not None
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.get(link) as answer:  # the ticket is redeemed for the cookie, then the page itself
                assert answer.status == 200
                found = CSRF.search(await answer.text())
            assert found is not None
            yield agent, workspace.inbox, session, found.group(1)


async def post(session: aiohttp.ClientSession, agent: Agent, **form: str) -> tuple[int, str, str]:
    """A form posted to the preview action: its status, body and where it leads (without following)."""
    base = str(agent.page_link()).partition("/page/")[0]
    async with session.post(f"{base}/page/preview", data=form, allow_redirects=False) as answer:
        return answer.status, await answer.text(), answer.headers.get("Location", "")


async def test_a_preview_without_its_form_token_or_with_a_mistake_writes_nothing_and_names_the_field(
    page: tuple[Agent, Path, aiohttp.ClientSession, str],
) -> None:
    agent, inbox, session, csrf = page
    start = "260000001"

    refused, body, _ = await post(session, agent, operation="filings", start_form_no=start, count="3")
    assert refused == 403 and "请求已过期" in body
    refused, _, _ = await post(session, agent, csrf="0" * 64, operation="filings", start_form_no=start, count="3")
    assert refused == 403

    status_, body, _ = await post(session, agent, csrf=csrf, operation="filings", start_form_no=start, count="0")
    assert status_ == 400
    problems = re.search(r'<div class="bad" id="preview-problems".*?</div>', body, re.S)
    assert problems is not None and 'data-field="count"' in problems.group(0)
    assert "份数：“份数”应为1 至 1000 的整数" in problems.group(0)
    assert 'value="260000001"' in body  # what the clerk typed is kept for the correction

    status_, body, _ = await post(session, agent, csrf=csrf, operation="filings", start_form_no="26000-001", count="2")
    assert status_ == 400 and 'data-field="start_form_no"' in body
    assert "起始核销单号：“起始核销单号”格式不对：应为9 位数字或大写字母，以数字结尾" in body

    status_, body, _ = await post(session, agent, csrf=csrf, operation="filings", form_no=start, count="2")
    assert status_ == 400 and "核销单号与起始核销单号/份数只能填一种" in body

    status_, body, _ = await post(session, agent, csrf=csrf, operation="开户", form_no=start)
    assert status_ == 400 and 'data-field="operation"' in body and "操作：“操作”格式不对" in body

    l10n.use("en")  # the same setting as the rest of the page's words ([ui] language)
    try:
        status_, body, _ = await post(session, agent, csrf=csrf, operation="losses", start_form_no=start, count="x")
    finally:
        l10n.use("zh")
    assert status_ == 400 and "Not previewed; please correct:" in body and "count: &#39;count&#39; must be" in body

    assert inbox_files(inbox) == []  # nothing was written for any of them


async def test_a_preview_is_written_once_and_answered_from_the_store(
    center: Center, page: tuple[Agent, Path, aiohttp.ClientSession, str]
) -> None:
    agent, inbox, session, csrf = page
    forms = center.issue_forms(ENTERPRISE, 2)
    agent.pause()  # the check waits, read but not sent, while it is asked for again
    status_, _, location = await post(session, agent, csrf=csrf, operation="losses", start_form_no=forms[0], count="2")
    assert status_ == 303
    [ref] = parse_qs(urlsplit(location).query)["preview"]
    [written] = inbox_files(inbox)
    assert written.parent == inbox / "checks" and written.name.startswith("预览核销单挂失-")
    assert ref.endswith(written.name)
    await eventually(lambda: (agent.preview_answer(ref) or {}).get("file"), 10, "the check was not read")

    again, _, location_again = await post(
        session, agent, csrf=csrf, operation="losses", start_form_no=forms[0], count="2"
    )
    assert again == 303 and parse_qs(urlsplit(location_again).query)["preview"] == [ref]  # the same one, shown
    assert inbox_files(inbox) == []  # nothing more was written

    agent.resume()

    def answered() -> list[dict[str, Any]]:
        found = agent.preview_answer(ref)
        return found["results"] if found else []

    await eventually(answered, 10, "the check was not answered")
    assert [(r["form_no"], r["status"]) for r in answered()] == [(forms[0], "OK"), (forms[1], "OK")]
    assert status(center, forms[0]) == ("valid", "unused", "not_submitted")  # a check: nothing was done


# The clerk, in a real browser.


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    skip_without_browser()
    with chromium() as driver:
        yield driver  # type: ignore[misc]


def clerk(work: Any, *args: Any) -> Any:
    """What the clerk does in the browser, off the event loop the agent runs on."""
    return asyncio.to_thread(work, *args)


def answer_row(driver: WebDriver, form_no: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, f'#preview tr[data-form="{form_no}"]')


@pytest.mark.slow
async def test_the_clerk_previews_a_filing_of_a_run_of_forms_and_sees_the_answer_for_each_on_the_page(
    center: Center, tmp_path: Path, browser: WebDriver
) -> None:
    first, filed, third = center.issue_forms(ENTERPRISE, 3)
    async with loopback_agent(center, tmp_path / "ws") as (agent, workspace, _port):
        (workspace.inbox / "filings" / "备案0601.csv").write_text(f"form_no,port\n{filed},2200\n", encoding="utf-8")
        await eventually(lambda: (workspace.results / "备案0601.result.csv").exists(), 10, "the filing had no result")
        link = agent.page_link()

        def preview_from_the_page() -> None:
            browser.get(link)
            wait_until(quietly(lambda: browser.find_element(By.ID, "live")), 5, "the page did not open")
            browser.find_element(By.CSS_SELECTOR, "#preview-ask summary").click()
            form = browser.find_element(By.ID, "preview-form")
            Select(form.find_element(By.NAME, "operation")).select_by_visible_text("口岸备案")
            form.find_element(By.NAME, "start_form_no").send_keys(first)
            form.find_element(By.NAME, "count").send_keys("3")
            form.find_element(By.NAME, "port").send_keys("2200")
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            note = quietly(lambda: "已放入收件箱：预览口岸备案-" in browser.find_element(By.ID, "note").text)
            wait_until(note, 5, "the preview was not confirmed")
            wait_until(
                quietly(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#preview tr[data-form]")) == 3),
                15,
                "the answer for the three forms did not show on the page",
            )
            assert answer_row(browser, first).get_attribute("data-status") == "OK"
            assert "可以办理" in answer_row(browser, first).text and "可以口岸备案" in answer_row(browser, first).text
            refused = answer_row(browser, filed)
            assert refused.get_attribute("data-status") == "ERROR"
            assert "不能办理" in refused.text and "FORM_ALREADY_FILED" in refused.text and "2200" in refused.text
            assert "可以办理" in answer_row(browser, third).text
            heading = browser.find_element(By.CSS_SELECTOR, "#preview h2").text
            assert heading.startswith("操作前预览：预览口岸备案-")
            listed = browser.find_element(By.CSS_SELECTOR, 'tr.file[data-name^="预览口岸备案-"]').text
            assert "核对" in listed  # and it is listed with the other files

        await clerk(preview_from_the_page)
        assert status(center, first) == ("valid", "unused", "not_submitted")  # only checked, never filed
