"""The admin pages over real ASGI requests: first-run setup, sign-in, CSRF, the daily expiry,
the session cap, TOTP, password change, API keys and the security page."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from openalgo.db.models.security import SecurityEvent
from openalgo.db.session import transaction
from openalgo.domain.clock import IST
from openalgo.security.sessions import SESSION_COOKIE
from openalgo.security.totp import code_at
from openalgo.services.users import create_user
from tests.conftest import TEST_PEPPER
from tests.support.accounts import PASSWORD
from tests.support.appfixtures import LiveApp, StartApp
from tests.support.pages import csrf_token, login, setup_admin, shown_api_key, submit

NEW_PASSWORD = "N3w!password"


async def _events(live: LiveApp) -> list[str]:
    async with live.runtime.read_sessionmaker() as session:
        rows = await session.execute(select(SecurityEvent.event).order_by(SecurityEvent.id))
        return list(rows.scalars())


async def test_first_run_setup(live: LiveApp) -> None:
    c = live.client
    assert (await c.get("/login")).headers["location"] == "/setup"
    form = await c.get("/setup")
    assert form.status_code == 200
    assert "Create the admin account" in form.text
    assert form.headers["cache-control"] == "no-store"

    mismatch = await submit(
        c, "/setup", "/setup", {"username": "admin", "password": PASSWORD, "confirm": "other"}
    )
    assert mismatch.status_code == 400 and "do not match" in mismatch.text
    weak = await submit(
        c, "/setup", "/setup", {"username": "admin", "password": "weak", "confirm": "weak"}
    )
    assert weak.status_code == 400 and "password too weak" in weak.text

    done = await setup_admin(c)
    assert done.status_code == 303
    assert done.headers["location"] == "/login?msg=setup_done"
    assert "Admin account created" in (await c.get("/login?msg=setup_done")).text
    # Setup is closed once a user exists; a second POST creates nobody.
    assert (await c.get("/setup")).headers["location"] == "/login"
    again = await c.post(
        "/setup",
        data={
            "username": "intruder",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "csrf_token": csrf_token((await c.get("/login")).text),
        },
    )
    assert again.headers["location"] == "/login"
    assert await _events(live) == ["user_created"]


async def test_forms_without_a_valid_csrf_token_are_refused(live: LiveApp) -> None:
    c = live.client
    await c.get("/setup")  # sets the CSRF cookie
    body = {"username": "admin", "password": PASSWORD, "confirm": PASSWORD}
    for data in (body, {**body, "csrf_token": "0" * 64}, {**body, "csrf_token": "short"}):
        r = await c.post("/setup", data=data)
        assert r.status_code == 403
        assert "This form expired or did not come from this site" in r.text
    # Without the cookie the token alone is worthless.
    token = csrf_token((await c.get("/setup")).text)
    async with live.client_for("127.0.0.1") as fresh:
        r = await fresh.post("/setup", data={**body, "csrf_token": token})
        assert r.status_code == 403
    # A valid token from another site's form is refused too.
    r = await c.post(
        "/setup", data={**body, "csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403
    r = await c.post(
        "/setup", data={**body, "csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert r.status_code == 403
    assert await _events(live) == []
    # JSON bodies are not forms.
    r = await c.post("/setup", json={**body, "csrf_token": token})
    assert r.status_code == 400


async def test_login_sets_a_hardened_cookie(live: LiveApp) -> None:
    c = live.client
    await setup_admin(c)
    wrong = await login(c, password="Wr0ng!pass")
    assert wrong.status_code == 401 and "Wrong username or password." in wrong.text
    unknown = await login(c, username="nobody")
    assert unknown.status_code == 401 and "Wrong username or password." in unknown.text

    ok = await login(c)
    assert ok.status_code == 303
    assert ok.headers["location"] == "/account/apikeys"
    cookie = next(h for h in ok.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    page = await c.get("/account/apikeys")
    assert page.status_code == 200
    assert "Sign out (admin)" in page.text
    assert await _events(live) == [
        "user_created",
        "login_failed",
        "login_failed",
        "login_succeeded",
    ]


async def test_pages_redirect_to_login_and_forged_cookies_fail(live: LiveApp) -> None:
    r = await live.client.get("/account/apikeys")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/account/apikeys"
    live.client.cookies.set(SESSION_COOKIE, "eyJhbGciOiJIUzI1NiJ9.e30.forged")
    assert (await live.client.get("/account/apikeys")).status_code == 303


async def test_api_key_page_lifecycle(live: LiveApp) -> None:
    c = live.client
    await setup_admin(c)
    await login(c)
    created = await submit(c, "/account/apikeys", "/account/apikeys", {"name": "TradingView"})
    assert created.status_code == 200
    key = shown_api_key(created.text)
    assert key is not None
    assert created.text.count(key) == 1
    # Shown once: the list afterwards has the prefix and label only.
    listing = (await c.get("/account/apikeys")).text
    assert key not in listing
    assert f"{key[:8]}…" in listing and "TradingView" in listing and "never" in listing
    assert (await c.post("/api/v1/ping", json={"apikey": key})).status_code == 200

    key_id = listing.split('data-key-id="')[1].split('"')[0]
    rotated = await submit(c, "/account/apikeys", f"/account/apikeys/{key_id}/rotate", {})
    new_key = shown_api_key(rotated.text)
    assert new_key is not None and new_key != key
    assert (await c.post("/api/v1/ping", json={"apikey": key})).status_code == 403
    assert (await c.post("/api/v1/ping", json={"apikey": new_key})).status_code == 200

    new_id = (await c.get("/account/apikeys")).text.split('data-key-id="')[1].split('"')[0]
    revoked = await submit(c, "/account/apikeys", f"/account/apikeys/{new_id}/revoke", {})
    assert revoked.headers["location"] == "/account/apikeys?msg=key_revoked"
    # In-process revocation needs no poll: the very next call fails.
    assert (await c.post("/api/v1/ping", json={"apikey": new_key})).status_code == 403
    missing = await submit(c, "/account/apikeys", "/account/apikeys/999999/revoke", {})
    assert missing.status_code == 404
    assert (await _events(live))[-4:] == [
        "apikey_created",
        "apikey_revoked",
        "apikey_rotated",
        "apikey_revoked",
    ]


async def test_a_token_from_before_login_is_useless_after_it(live: LiveApp) -> None:
    c = live.client
    await setup_admin(c)
    before = csrf_token((await c.get("/login")).text)
    await login(c)
    r = await c.post("/account/apikeys", data={"name": "x", "csrf_token": before})
    assert r.status_code == 403


async def test_session_expires_at_the_daily_boundary(live: LiveApp) -> None:
    c = live.client
    await setup_admin(c)
    live.clock.set(datetime(2026, 12, 1, 2, 50, tzinfo=IST))
    ok = await login(c)
    cookie = next(h for h in ok.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "max-age=600" in cookie.lower()  # ten minutes to 03:00 IST
    assert (await c.get("/account/apikeys")).status_code == 200
    live.clock.advance(timedelta(minutes=9, seconds=59))
    assert (await c.get("/account/apikeys")).status_code == 200
    live.clock.advance(timedelta(seconds=1))
    r = await c.get("/account/apikeys")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    # A login after the boundary lasts until the next day's.
    await login(c)
    live.clock.advance(timedelta(hours=23, minutes=59))
    assert (await c.get("/account/apikeys")).status_code == 200
    live.clock.advance(timedelta(minutes=1))
    assert (await c.get("/account/apikeys")).status_code == 303


async def test_at_most_n_sessions_per_user(start_app: StartApp) -> None:
    async with start_app(max_sessions_per_user=2) as live:
        await setup_admin(live.client)
        devices = [live.client_for("127.0.0.1", port) for port in (1, 2, 3)]
        try:
            for device in devices:
                assert (await login(device)).status_code == 303
            statuses = [(await d.get("/account/apikeys")).status_code for d in devices]
            assert statuses == [303, 200, 200]  # the oldest session was evicted
        finally:
            for device in devices:
                await device.aclose()
        assert "session_evicted" in await _events(live)


async def test_logout_ends_the_session_on_the_server(live: LiveApp) -> None:
    c = live.client
    await setup_admin(c)
    await login(c)
    stolen = c.cookies.get(SESSION_COOKIE)
    assert stolen
    out = await submit(c, "/account/apikeys", "/logout", {})
    assert out.headers["location"] == "/login?msg=logged_out"
    assert c.cookies.get(SESSION_COOKIE) is None
    # Replaying the old cookie does not work: the server revoked the session.
    async with live.client_for("127.0.0.1") as thief:
        thief.cookies.set(SESSION_COOKIE, stolen)
        assert (await thief.get("/account/apikeys")).status_code == 303


async def test_totp_second_factor(live: LiveApp) -> None:
    c = live.client
    await setup_admin(c)
    await login(c)
    page = await c.get("/account/totp")
    secret = page.text.split('Secret: <code class="secret">')[1].split("<")[0]
    sealed = page.text.split('name="sealed_secret" value="')[1].split('"')[0]
    token = csrf_token(page.text)
    bad = await c.post(
        "/account/totp/enable",
        data={"csrf_token": token, "sealed_secret": sealed, "code": "000000"},
    )
    assert bad.status_code == 400 and "does not match" in bad.text
    tampered = await c.post(
        "/account/totp/enable",
        data={"csrf_token": token, "sealed_secret": sealed[:-4] + "AAAA", "code": "1"},
    )
    assert tampered.headers["location"] == "/account/totp"
    on = await c.post(
        "/account/totp/enable",
        data={
            "csrf_token": token,
            "sealed_secret": sealed,
            "code": code_at(secret, live.clock.now()),
        },
    )
    assert on.headers["location"] == "/account/totp?msg=totp_enabled"
    await submit(c, "/account/apikeys", "/logout", {})

    live.clock.advance(60)
    step1 = await login(c)
    assert step1.headers["location"].startswith("/login/totp")
    assert (await c.get("/account/apikeys")).status_code == 303  # not signed in yet
    wrong = await submit(c, "/login/totp", "/login/totp", {"code": "123456"})
    assert wrong.status_code == 401
    code = code_at(secret, live.clock.now())
    right = await submit(c, "/login/totp", "/login/totp", {"code": code})
    assert right.headers["location"] == "/account/apikeys"
    assert (await c.get("/account/apikeys")).status_code == 200

    # The same code cannot be used twice, even for a fresh sign-in within its window.
    async with live.client_for("127.0.0.1", 2) as other:
        await login(other)
        replay = await submit(other, "/login/totp", "/login/totp", {"code": code})
        assert replay.status_code == 401
        live.clock.advance(30)
        fresh = await submit(
            other, "/login/totp", "/login/totp", {"code": code_at(secret, live.clock.now())}
        )
        assert fresh.status_code == 303
    # The pending step expires after five minutes.
    async with live.client_for("127.0.0.1", 3) as slow:
        await login(slow)
        form = await slow.get("/login/totp")
        live.clock.advance(301)
        late = await slow.post(
            "/login/totp",
            data={"csrf_token": csrf_token(form.text), "code": code_at(secret, live.clock.now())},
        )
        assert late.headers["location"] == "/login?msg=expired"
    events = await _events(live)
    assert "totp_enabled" in events and events.count("totp_failed") == 2


async def test_change_password_signs_out_other_sessions(live: LiveApp) -> None:
    c = live.client
    await setup_admin(c)
    await login(c)
    async with live.client_for("127.0.0.1", 2) as other:
        await login(other)
        for data, message in (
            (
                {
                    "current_password": "Wr0ng!pass",
                    "new_password": NEW_PASSWORD,
                    "confirm": NEW_PASSWORD,
                },
                "current password is wrong",
            ),
            (
                {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": "x"},
                "do not match",
            ),
            (
                {"current_password": PASSWORD, "new_password": "weakweak", "confirm": "weakweak"},
                "password too weak",
            ),
        ):
            r = await submit(c, "/account/password", "/account/password", data)
            assert r.status_code == 400 and message in r.text
        ok = await submit(
            c,
            "/account/password",
            "/account/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        )
        assert ok.headers["location"] == "/account/password?msg=password_changed"
        assert (await c.get("/account/password")).status_code == 200  # this session stays
        assert (await other.get("/account/password")).status_code == 303  # that one ended
    async with live.client_for("127.0.0.1", 3) as fresh:
        assert (await login(fresh)).status_code == 401
        assert (await login(fresh, password=NEW_PASSWORD)).status_code == 303
    assert "password_changed" in await _events(live)


async def test_security_page_is_for_admins_and_lifts_bans(live: LiveApp) -> None:
    c = live.client
    await setup_admin(c)
    async with transaction(live.runtime.sessionmaker) as session:
        await create_user(session, username="trader", password=PASSWORD, pepper=TEST_PEPPER)
    async with live.client_for("127.0.0.1", 2) as trader:
        await login(trader, username="trader")
        denied = await trader.get("/admin/security")
        assert denied.status_code == 403
        assert "Administrators only" in denied.text
        assert denied.headers["content-type"].startswith("text/html")
    await login(c)
    await live.security.abuse.ban("127.0.0.77", reason="manual test", duration=timedelta(hours=1))
    page = await c.get("/admin/security")
    assert page.status_code == 200
    assert (
        "127.0.0.77" in page.text and "manual test" in page.text and "address_banned" in page.text
    )
    lifted = await submit(
        c, "/admin/security", "/admin/security/bans/lift", {"address": "127.0.0.77"}
    )
    assert lifted.headers["location"] == "/admin/security?msg=ban_lifted"
    assert not live.security.bans.is_banned("127.0.0.77", live.clock.now())
    assert "No address is banned." in (await c.get("/admin/security")).text


async def test_login_is_rate_limited(start_app: StartApp) -> None:
    async with start_app(login_rate_limit="2 per minute") as live:
        await setup_admin(live.client)
        codes = [(await login(live.client, password="Wr0ng!pass")).status_code for _ in range(2)]
        limited = await login(live.client)
        assert codes == [401, 401]
        assert limited.status_code == 429
        assert "Too many attempts" in limited.text
        assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_repeated_failed_logins_ban_the_address(start_app: StartApp) -> None:
    async with start_app(ban_login_threshold=3) as live:
        await setup_admin(live.client)
        for _ in range(3):
            assert (await login(live.client, password="Wr0ng!pass")).status_code == 401
        banned = await live.client.get("/login")
        assert banned.status_code == 403
        assert banned.json()["message"].startswith("Access denied")


async def test_next_is_only_followed_within_the_site(live: LiveApp) -> None:
    c = live.client
    await setup_admin(c)
    for target, expected in (
        ("/account/password", "/account/password"),
        ("//evil.example/x", "/account/apikeys"),
        ("https://evil.example", "/account/apikeys"),
        ("/\\evil.example", "/account/apikeys"),
    ):
        page = await c.get("/login")
        r = await c.post(
            "/login",
            data={
                "username": "admin",
                "password": PASSWORD,
                "next": target,
                "csrf_token": csrf_token(page.text),
            },
        )
        assert r.headers["location"] == expected
        c.cookies.delete(SESSION_COOKIE)


async def test_home_page_links_to_sign_in(client: httpx.AsyncClient) -> None:
    assert 'href="/login"' in (await client.get("/")).text
