"""A real browser for the tests and the README's picture: Debian's chromium, driven through its chromedriver by
Selenium (nothing is downloaded at run time). scripts/install.sh --test installs both; locally, without them, the
browser tests are skipped (in CI, CI=true, a missing browser fails them).

Headless, with a fresh profile, and with everything that would reach out to the network switched off (the machines
the tests run on have no network, and chromium stalls on its own connections otherwise).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1366,768",
    "--lang=zh-CN",
)


def skip_without_browser() -> None:
    """Skip the calling test when chromium or its driver is not installed here (a failure in CI instead)."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    message = f"{CHROMIUM} and {CHROMEDRIVER} are needed (scripts/install.sh --test installs them)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless chromium (a ``selenium.webdriver.Chrome``) with a profile of its own, quit and removed after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="eport-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def quietly(look: Callable[[], object]) -> Callable[[], object]:
    """``look`` as a condition to wait for: an element the page's script has just replaced counts as not there yet."""
    from selenium.common.exceptions import WebDriverException

    def condition() -> object:
        try:
            return look()
        except WebDriverException:
            return False

    return condition
