"""Everything security needs at run time, built in the app's lifespan.

`SecurityRuntime.start` builds the verifier, rate limiter, ban list and abuse monitor, loads the
active bans and starts two background tasks:

- *sync*: polls the ``auth`` change counter every ``OPENALGO_AUTH_SYNC_INTERVAL`` seconds; when
  another process (the CLI, another worker) revoked a key, changed settings or (un)banned an address,
  the principal cache is cleared and the bans reloaded.
- *flush*: writes the batched API-key last-used times every ``OPENALGO_LAST_USED_FLUSH_INTERVAL``.

Both use short transactions of their own. On SQLite the flush waits at most a quarter of a second
for the write lock and otherwise retries next time, so it never queues behind a long writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import time

from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.db.engine import create_engine
from openalgo.db.repositories.api_keys import ApiKeyRepository
from openalgo.db.repositories.security import ChangeCounterRepository
from openalgo.db.session import SessionMaker, create_sessionmaker, transaction
from openalgo.domain.clock import Clock
from openalgo.security.apikeys import ApiKeyVerifier, ApiPrincipal
from openalgo.security.audit import AUTH_COUNTER
from openalgo.security.bans import AbuseMonitor, BanList, FailureKind
from openalgo.security.clientaddr import AddressSet
from openalgo.security.crypto import SecretBox
from openalgo.security.csrf import CsrfProtector
from openalgo.security.expiry import parse_hhmm
from openalgo.security.ratelimit import RateLimiter
from openalgo.security.sessions import SessionCodec
from openalgo.settings import Settings

log = logging.getLogger("openalgo.security")
_SQLITE_FLUSH_BUSY_MS = 250


@dataclass
class SecurityRuntime:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessionmaker: SessionMaker
    read_sessionmaker: SessionMaker
    box: SecretBox
    verifier: ApiKeyVerifier
    limiter: RateLimiter
    bans: BanList
    abuse: AbuseMonitor
    sessions: SessionCodec
    csrf: CsrfProtector
    trusted_proxies: AddressSet
    expiry_time: time
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _generation: int | None = None
    _flush_engine: AsyncEngine | None = None
    _flush_maker: SessionMaker | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        engine: AsyncEngine,
        sessionmaker: SessionMaker,
        read_sessionmaker: SessionMaker,
        clock: Clock,
    ) -> SecurityRuntime:
        secret = settings.secret_key_value()
        limiter = RateLimiter.from_settings(settings)
        bans = BanList()
        return cls(
            settings=settings,
            clock=clock,
            engine=engine,
            sessionmaker=sessionmaker,
            read_sessionmaker=read_sessionmaker,
            box=SecretBox(secret),
            verifier=ApiKeyVerifier(
                pepper=settings.pepper_value(),
                read_sessionmaker=read_sessionmaker,
                clock=clock,
                ttl=settings.apikey_cache_ttl,
            ),
            limiter=limiter,
            bans=bans,
            abuse=AbuseMonitor(
                limiter=limiter,
                bans=bans,
                sessionmaker=sessionmaker,
                read_sessionmaker=read_sessionmaker,
                clock=clock,
                enabled=settings.ban_enabled,
                thresholds={
                    FailureKind.API_KEY: settings.ban_apikey_threshold,
                    FailureKind.LOGIN: settings.ban_login_threshold,
                },
                window_seconds=settings.ban_window_seconds,
                duration_seconds=settings.ban_duration_seconds,
                exempt=AddressSet.parse(settings.ban_exempt),
            ),
            sessions=SessionCodec(secret),
            csrf=CsrfProtector(secret),
            trusted_proxies=AddressSet.parse(settings.trusted_proxies),
            expiry_time=parse_hhmm(settings.session_expiry_time),
        )

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        engine: AsyncEngine,
        sessionmaker: SessionMaker,
        read_sessionmaker: SessionMaker,
        clock: Clock,
    ) -> SecurityRuntime:
        runtime = cls.build(
            settings,
            engine=engine,
            sessionmaker=sessionmaker,
            read_sessionmaker=read_sessionmaker,
            clock=clock,
        )
        await runtime.limiter.start()
        try:
            runtime._generation = await runtime._read_generation()
            await runtime.abuse.reload()
        except Exception:
            # An unmigrated or unreachable database must not stop the app from starting: /ready
            # reports it, and the sync task keeps trying.
            log.warning("could not load bans at start-up", exc_info=True)
        runtime._tasks = [asyncio.create_task(runtime._sync_loop(), name="openalgo-auth-sync")]
        if runtime.writes_in_background:
            runtime._tasks.append(
                asyncio.create_task(runtime._flush_loop(), name="openalgo-last-used-flush")
            )
        return runtime

    @property
    def writes_in_background(self) -> bool:
        """False under ``OPENALGO_BACKGROUND_TASKS=false`` (main's switch for tests that hold the
        write lock, and for workers where another process does the upkeep): last-used times are
        then not written. The change-counter poll only reads, so it always runs."""
        return bool(getattr(self.settings, "background_tasks", True))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.writes_in_background:
            await self.flush_last_used()
        if self._flush_engine is not None:
            await self._flush_engine.dispose()
            self._flush_engine = None
            self._flush_maker = None
        await self.limiter.close()

    # --- the transport-agnostic entry point ----------------------------------------------------

    async def authenticate(self, api_key: str | None, address: str) -> ApiPrincipal | None:
        """Verify a key and count a failure against ``address`` (the WebSocket authenticate step
        uses this; HTTP goes through `api/auth.py`, which does the same with the request session)."""
        principal = await self.verifier.verify(api_key)
        if principal is None:
            await self.abuse.failure(FailureKind.API_KEY, address)
        return principal

    # --- background work -------------------------------------------------------------------------

    async def _read_generation(self) -> int:
        async with self.read_sessionmaker() as session:
            try:
                return await ChangeCounterRepository(session).value(AUTH_COUNTER)
            finally:
                await session.rollback()

    async def sync_now(self) -> bool:
        """Check the change counter once; True if something changed and caches were dropped."""
        generation = await self._read_generation()
        if generation == self._generation:
            return False
        self._generation = generation
        self.verifier.clear()
        await self.abuse.reload()
        return True

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.auth_sync_interval)
            try:
                await self.sync_now()
            except Exception:
                log.debug("auth sync failed; retrying", exc_info=True)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.last_used_flush_interval)
            await self.flush_last_used()

    async def flush_last_used(self) -> int:
        """Write pending last-used times in one short transaction; returns how many keys."""
        pending = self.verifier.take_last_used()
        if not pending:
            return 0
        try:
            async with transaction(self._flush_sessionmaker()) as session:
                await ApiKeyRepository(session).record_last_used(pending)
        except Exception as exc:
            self.verifier.restore_last_used(pending)
            log.debug("last-used flush postponed: %s", exc)
            return 0
        return len(pending)

    def _flush_sessionmaker(self) -> SessionMaker:
        """On a SQLite file, a one-connection engine that gives up on the write lock quickly."""
        if self._flush_maker is not None:
            return self._flush_maker
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            quick = self.settings.model_copy(
                update={"sqlite_busy_timeout_ms": _SQLITE_FLUSH_BUSY_MS}
            )
            self._flush_engine = create_engine(
                quick, url.render_as_string(hide_password=False), pool_size=1
            )
            self._flush_maker = create_sessionmaker(self._flush_engine)
        else:
            self._flush_maker = self.sessionmaker
        return self._flush_maker
