"""A headless Chromium for page tests: Debian's ``/usr/bin/chromium`` driven through Playwright's
Python package, which talks to an existing browser binary and downloads nothing.

Usage::

    async with chromium() as browser:
        page = await new_page(browser, base_url)
        await page.goto("/login")

Tests skip with the reason when Chromium (or the playwright package) is missing, and fail instead
when ``OPENALGO_TEST_REQUIRE_SERVICES=1`` (CI installs Chromium: ``apt-get install -y chromium``).
Every page records console messages and failed requests, so a test can assert that the Content
Security Policy blocked nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest

from tests.support.services import REQUIRE_SERVICES

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = os.environ.get("OPENALGO_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def _unavailable(reason: str) -> None:
    message = (
        f"{reason}: install it with `apt-get install -y chromium` (or set OPENALGO_TEST_CHROMIUM)"
    )
    if REQUIRE_SERVICES:
        pytest.fail(f"OPENALGO_TEST_REQUIRE_SERVICES=1 but {message}")
    pytest.skip(message)


def require_chromium() -> str:
    path = CHROMIUM if os.path.isabs(CHROMIUM) else (shutil.which(CHROMIUM) or CHROMIUM)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        _unavailable(f"Chromium not found at {path}")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed")
    return path


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    executable = require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=executable, headless=True, args=FLAGS
        )
        try:
            yield browser
        finally:
            await browser.close()


class PageLog:
    """What the browser complained about while a page was open."""

    def __init__(self) -> None:
        self.console: list[str] = []
        self.failed_requests: list[str] = []

    @property
    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m]


async def new_page(browser: Browser, base_url: str) -> tuple[Page, PageLog]:
    context = await browser.new_context(base_url=base_url)
    page = await context.new_page()
    log = PageLog()
    page.on("console", lambda message: log.console.append(f"{message.type}: {message.text}"))
    page.on("requestfailed", lambda request: log.failed_requests.append(request.url))
    return page, log
