"""Headless Debian Chromium through Selenium, for the tests that look at pages as a user does.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make`` installs them when run as root);
`NEEDS_CHROMIUM` skips a test cleanly when either is absent.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

__all__ = ["CHROMEDRIVER", "CHROMIUM", "NEEDS_CHROMIUM", "chromium", "shown"]

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (make installs them when run as root)",
)


@contextmanager
def chromium(width: int, height: int) -> Iterator[Any]:
    """A headless Chromium window of ``width`` x ``height``, quit on leaving."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def shown(wait: Any, css: str) -> Any:
    """The first element matching ``css`` once it is displayed and enabled (a page may show it late)."""
    from selenium.webdriver.common.by import By

    return wait.until(
        lambda d: next(
            (e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed() and e.is_enabled()),
            False,
        )
    )
