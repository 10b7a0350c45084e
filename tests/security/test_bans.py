"""Abuse control: repeated invalid keys or logins ban an address, the ban is enforced before
anything else, survives a restart, expires, and can be listed and lifted."""

from __future__ import annotations

from datetime import timedelta

import pytest
import websockets
from fastapi import WebSocket
from sqlalchemy import select

from openalgo.db.models.security import IpBan, SecurityEvent
from openalgo.db.session import transaction
from openalgo.security.bans import BanList, lift_ban
from tests.support.accounts import committed_account
from tests.support.appfixtures import LiveApp, StartApp, served

BANNED = {"status": "error", "message": "Access denied: this address is temporarily banned"}
ADDRESS = "127.0.0.1"


async def _invalid_keys(live: LiveApp, count: int) -> list[int]:
    return [
        (await live.client.post("/api/v1/ping", json={"apikey": f"{i:064x}"})).status_code
        for i in range(count)
    ]


async def test_invalid_keys_lead_to_a_ban(start_app: StartApp) -> None:
    async with start_app(ban_apikey_threshold=3, ban_duration_seconds=600) as live:
        account = await committed_account(live.runtime.sessionmaker, live.clock)
        assert await _invalid_keys(live, 3) == [403, 403, 403]
        # Banned now: even a valid key and unauthenticated paths are refused, in the envelope.
        r = await live.client.post("/api/v1/ping", json={"apikey": account.api_key})
        assert r.status_code == 403
        assert r.json() == BANNED
        assert (await live.client.get("/health")).json() == BANNED
        # Another address is unaffected.
        async with live.client_for("127.0.0.2") as other:
            ok = await other.post("/api/v1/ping", json={"apikey": account.api_key})
            assert ok.status_code == 200

        async with live.runtime.read_sessionmaker() as session:
            ban = (await session.execute(select(IpBan))).scalar_one()
            events = (await session.execute(select(SecurityEvent.event))).scalars().all()
        assert ban.address == ADDRESS
        assert ban.expires_at == live.clock.now() + timedelta(seconds=600)
        assert "3 invalid API keys" in ban.reason
        assert "address_banned" in events


async def test_ban_survives_a_restart_and_expires(start_app: StartApp) -> None:
    async with start_app(ban_apikey_threshold=2, ban_duration_seconds=300) as live:
        await _invalid_keys(live, 2)
        assert (await live.client.get("/health")).status_code == 403
        clock = live.clock
    # A new process on the same database: the ban is loaded at start-up.
    async with start_app(ban_apikey_threshold=2, ban_duration_seconds=300) as restarted:
        assert (await restarted.client.get("/health")).status_code == 403
        clock.advance(299)
        assert (await restarted.client.get("/health")).status_code == 403
        clock.advance(2)
        assert (await restarted.client.get("/health")).status_code == 200


async def test_lifting_a_ban_elsewhere_reaches_the_server(live: LiveApp) -> None:
    await live.security.abuse.ban(ADDRESS, reason="test", duration=timedelta(hours=1))
    assert (await live.client.get("/health")).status_code == 403
    # The CLI (another process) lifts it in the database...
    async with transaction(live.runtime.sessionmaker) as session:
        assert await lift_ban(session, ADDRESS, now=live.clock.now())
    # ...and the server's poll of the change counter picks it up.
    assert await live.security.sync_now()
    assert (await live.client.get("/health")).status_code == 200


async def test_failures_below_the_threshold_do_not_ban(start_app: StartApp) -> None:
    async with start_app(ban_apikey_threshold=5) as live:
        assert await _invalid_keys(live, 4) == [403] * 4
        assert (await live.client.get("/health")).status_code == 200


async def test_exempt_addresses_are_never_banned(start_app: StartApp) -> None:
    async with start_app(ban_apikey_threshold=2, ban_exempt="127.0.0.1,::1") as live:
        assert await _invalid_keys(live, 5) == [403] * 5
        assert (await live.client.get("/health")).status_code == 200
        async with live.runtime.read_sessionmaker() as session:
            assert (await session.execute(select(IpBan))).first() is None


async def test_bans_can_be_switched_off(start_app: StartApp) -> None:
    async with start_app(ban_apikey_threshold=1, ban_enabled=False) as live:
        await _invalid_keys(live, 3)
        assert (await live.client.get("/health")).status_code == 200


async def test_websocket_from_a_banned_address_is_refused(live: LiveApp) -> None:
    @live.app.websocket("/ws-probe")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(await ws.receive_text())
        await ws.close()

    async with served(live) as host:
        # The perimeter middleware lets a WebSocket through untouched...
        async with websockets.connect(f"ws://{host}/ws-probe") as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
        # ...and refuses the handshake of a banned address.
        live.security.bans.add(ADDRESS, None)
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(f"ws://{host}/ws-probe"):
                pass
        assert refused.value.response.status_code == 403


def test_ban_list_expiry_and_replace() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    bans = BanList()
    assert not bans.is_banned("1.2.3.4", now)
    bans.add("1.2.3.4", now + timedelta(seconds=5))
    bans.add("5.6.7.8", None)
    assert bans.is_banned("1.2.3.4", now)
    assert bans.is_banned("5.6.7.8", now + timedelta(days=999))
    assert not bans.is_banned("1.2.3.4", now + timedelta(seconds=5))
    assert len(bans) == 1
    bans.replace([("9.9.9.9", None)])
    assert not bans.is_banned("5.6.7.8", now)
    assert bans.is_banned("9.9.9.9", now)


async def test_websocket_style_authentication_counts_failures(start_app: StartApp) -> None:
    """`SecurityRuntime.authenticate` is what the WebSocket authenticate step calls: no request,
    no session, the same verification and the same ban accounting."""
    async with start_app(ban_apikey_threshold=3) as live:
        account = await committed_account(live.runtime.sessionmaker, live.clock)
        principal = await live.security.authenticate(account.api_key, "127.0.0.44")
        assert principal is not None and principal.username == "alice"
        for bad in ("0" * 64, "not-a-key", None):
            assert await live.security.authenticate(bad, "127.0.0.44") is None
        assert live.security.bans.is_banned("127.0.0.44", live.clock.now())
        async with live.client_for("127.0.0.44") as banned:
            assert (await banned.get("/health")).status_code == 403


def test_a_reload_keeps_a_ban_whose_write_has_not_committed() -> None:
    """A request writes its ban with its own commit; a reload reading the database before that
    commit must not drop the ban (it did, under load: the next request got through)."""
    from datetime import UTC, datetime

    from openalgo.security.bans import BanList

    bans = BanList()
    now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    bans.add("203.0.113.9", None, pending=True)
    bans.replace([])  # the reload saw no row yet
    assert bans.is_banned("203.0.113.9", now)
    bans.settled("203.0.113.9")
    bans.replace([])  # committed and then lifted elsewhere: the database wins
    assert not bans.is_banned("203.0.113.9", now)
