"""No secret in plain text: not in any table (raw SQL over every table the schema has), not in the
logs (captured at DEBUG with SQLAlchemy's statement log on), whatever a user did through the pages,
the API and the broker-session service."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from openalgo.db.models import Base
from openalgo.db.session import transaction
from openalgo.logging import setup_logging
from openalgo.security.totp import code_at
from openalgo.services.broker_sessions import save_broker_credentials, store_broker_session
from tests.support.accounts import PASSWORD
from tests.support.appfixtures import LiveApp
from tests.support.pages import csrf_token, login, setup_admin, shown_api_key, submit

BROKER_TOKEN = "broker-access-token-Zx81"
FEED_TOKEN = "broker-feed-token-Qq42"
BROKER_SECRET = "broker-api-secret-Lm77"
NEW_PASSWORD = "N3w!password"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = setup_logging("DEBUG", "text", stream)
    engine_log = logging.getLogger("sqlalchemy.engine")
    previous = engine_log.level
    engine_log.setLevel(logging.INFO)  # every SQL statement and its parameters
    yield stream
    engine_log.setLevel(previous)
    logging.getLogger().removeHandler(handler)


async def test_no_secret_in_tables_or_logs(live: LiveApp, captured: io.StringIO) -> None:
    c = live.client
    await setup_admin(c)
    await login(c)
    created = await submit(c, "/account/apikeys", "/account/apikeys", {"name": "bot"})
    api_key = shown_api_key(created.text)
    assert api_key is not None
    assert (await c.post("/api/v1/ping", json={"apikey": api_key})).status_code == 200
    assert (await c.post("/api/v1/ping", headers={"X-API-KEY": api_key})).status_code == 200
    await c.post("/api/v1/ping", json={"apikey": api_key[::-1]})  # a wrong key, logged nowhere

    totp_page = await c.get("/account/totp")
    totp_secret = totp_page.text.split('Secret: <code class="secret">')[1].split("<")[0]
    sealed = totp_page.text.split('name="sealed_secret" value="')[1].split('"')[0]
    await c.post(
        "/account/totp/enable",
        data={
            "csrf_token": csrf_token(totp_page.text),
            "sealed_secret": sealed,
            "code": code_at(totp_secret, live.clock.now()),
        },
    )
    await submit(
        c,
        "/account/password",
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    async with transaction(live.runtime.sessionmaker) as session:
        await store_broker_session(
            session,
            live.security.box,
            user_id=1,
            broker="zerodha",
            auth_token=BROKER_TOKEN,
            feed_token=FEED_TOKEN,
            now=live.clock.now(),
            expiry_time=live.security.expiry_time,
        )
        await save_broker_credentials(
            session,
            live.security.box,
            user_id=1,
            broker="zerodha",
            secrets={"secret": BROKER_SECRET},
        )
    await live.security.flush_last_used()

    secrets = {
        "api key": api_key,
        "password": PASSWORD,
        "new password": NEW_PASSWORD,
        "totp secret": totp_secret,
        "broker token": BROKER_TOKEN,
        "feed token": FEED_TOKEN,
        "broker secret": BROKER_SECRET,
        "pepper": live.settings.pepper_value(),
        "app secret": live.settings.secret_key_value(),
    }

    dump: list[str] = []
    async with live.runtime.read_sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(text(f'SELECT * FROM "{table.name}"'))).all()
            dump.extend(repr(tuple(row)) for row in rows)
    raw = "\n".join(dump)
    assert "apikey_created" in raw and "zerodha" in raw  # the dump did see the data
    for name, value in secrets.items():
        assert value not in raw, f"{name} stored in plain text"
        assert value.lower() not in raw.lower(), f"{name} stored in plain text"
    assert api_key[:8] in raw  # only the prefix, for the list page

    logs = captured.getvalue()
    assert "SELECT" in logs and "api_keys" in logs  # the statement log was on
    for name, value in secrets.items():
        assert value not in logs, f"{name} appears in the logs"
