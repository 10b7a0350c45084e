"""The admin pages in a real browser against a real server: first-run setup, sign-in, creating an
API key and using it, and a forged CSRF token refused -- with the CSP blocking nothing of ours."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.browser import chromium, new_page, require_chromium
from tests.support.processes import cli_env, free_port, serving

pytestmark = pytest.mark.slow
PASSWORD = "Str0ng!pass"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    require_chromium()
    with serving(cwd=tmp_path, env=cli_env(tmp_path / "data"), port=free_port()) as (_proc, base):
        yield base


async def test_setup_login_and_create_an_api_key(server: str, tmp_path: Path) -> None:
    async with chromium() as browser:
        page, log = await new_page(browser, server)
        await page.goto("/")
        await page.click("text=create the admin")
        assert page.url.endswith("/setup")
        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", PASSWORD)
        await page.fill("input[name=confirm]", PASSWORD)
        await page.click("button[type=submit]")
        assert page.url.endswith("/login?msg=setup_done")
        assert "Admin account created" in await page.inner_text("main")

        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        assert page.url.endswith("/account/apikeys")

        await page.fill("input[name=name]", "TradingView")
        await page.click("#create-key")
        key = (await page.inner_text("#new-api-key")).strip()
        assert re.fullmatch(r"[0-9a-f]{64}", key)
        await page.screenshot(path=str(tmp_path / "apikeys.png"), full_page=True)

        async with httpx.AsyncClient(base_url=server) as api:
            pong = await api.post("/api/v1/ping", json={"apikey": key})
        assert pong.json() == {
            "status": "success",
            "data": {"broker": "simulator", "message": "pong"},
        }

        await page.goto("/account/apikeys")
        listing = await page.inner_text("#api-keys")
        assert key not in listing and f"{key[:8]}…" in listing and "TradingView" in listing
        assert log.csp_violations == []
        assert log.failed_requests == []

        # Sign out, and the pages send us back to sign-in.
        await page.click("text=Sign out")
        assert "/login" in page.url
        await page.goto("/account/apikeys")
        assert "/login?next=/account/apikeys" in page.url


async def test_forged_csrf_token_is_refused(server: str) -> None:
    async with chromium() as browser:
        page, log = await new_page(browser, server)
        await page.goto("/setup")
        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", PASSWORD)
        await page.fill("input[name=confirm]", PASSWORD)
        # Tamper with the hidden token the way a forged cross-site form would carry a wrong one.
        await page.locator("input[name=csrf_token]").evaluate("e => e.value = '0'.repeat(64)")
        async with page.expect_response("**/setup") as answer:
            await page.click("button[type=submit]")
        response = await answer.value
        assert response.status == 403
        assert "This form expired or did not come from this site" in await page.inner_text("main")
        # Nothing was created: the setup page is still offered.
        await page.goto("/setup")
        assert "Create the admin account" in await page.inner_text("main")
        assert log.csp_violations == []
