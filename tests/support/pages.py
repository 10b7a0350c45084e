"""Driving the admin pages with a cookie-keeping HTTP client, as a browser without scripts would."""

from __future__ import annotations

import re

import httpx

from tests.support.accounts import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
_KEY = re.compile(r'<code id="new-api-key" class="secret">([0-9a-f]{64})</code>')


def csrf_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "page has no CSRF token"
    return found.group(1)


def shown_api_key(html: str) -> str | None:
    found = _KEY.search(html)
    return found.group(1) if found else None


async def submit(
    client: httpx.AsyncClient, form_page: str, action: str, data: dict[str, str]
) -> httpx.Response:
    """GET ``form_page`` for a fresh token, then POST ``data`` with it to ``action``."""
    page = await client.get(form_page)
    assert page.status_code == 200, (form_page, page.status_code, page.text[:300])
    return await client.post(action, data={**data, "csrf_token": csrf_token(page.text)})


async def setup_admin(client: httpx.AsyncClient, username: str = "admin") -> httpx.Response:
    return await submit(
        client,
        "/setup",
        "/setup",
        {"username": username, "password": PASSWORD, "confirm": PASSWORD},
    )


async def login(
    client: httpx.AsyncClient, username: str = "admin", password: str = PASSWORD
) -> httpx.Response:
    return await submit(client, "/login", "/login", {"username": username, "password": password})
